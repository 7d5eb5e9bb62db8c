"""`minigrad tour`: the whole course on the engine in a few minutes, as one HTML page with pictures.

    page.py          the page: Item and Section records, the self-contained index.html writer
    pictures.py      PNG helpers (matplotlib figures and image grids, written atomically)
    context.py       what every section runner gets: the output folder, the budget (--quick, --train)
    foundations.py   the checklist's summary, the edge filters on a photo, the output-size formula
    case_studies.py  LeNet-5 on the digits, the model zoo's summary() tables, the depth experiment
    detection.py     YOLO's boxes on test scenes and mAP@0.5 (apps.yolo)
    faces.py         a verification grid and rank-1 on unseen identities (apps.faces)
    style.py         neural style transfer and the top-9 patches of hidden units (apps.style, apps.visualize)
    speed.py         a short benchmark table (apps.bench)
    runner.py        the sections in course order, each guarded, with a progress line and the total time
    browser.py       headless Chromium: does every image load, and the page's screenshot (--screenshot)
    cli.py           `minigrad tour`
"""
