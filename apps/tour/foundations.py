"""Foundations (course module 1): the checklist's summary, the edge filters on a photo, the output-size formula."""

import contextlib
import io

import numpy as np

from apps.tour.context import Unavailable
from apps.tour.page import Item
from apps.tour.pictures import image_grid, pyplot, save_figure, to_unit


def checklist(ctx):
    """Run the spec suite in-process (as `minigrad checklist`) and count the proved IDs, per course module."""
    try:
        import pytest
    except ImportError:
        raise Unavailable("the checklist needs pytest and hypothesis: pip install -e '.[test]'") from None
    from apps.checklist.cli import PROVED, SpecCollector, find_spec_dir
    from apps.checklist.items import ITEMS, MODULES

    try:
        spec_dir = find_spec_dir()
    except FileNotFoundError as error:
        raise Unavailable(str(error)) from None
    collector = SpecCollector(fast=ctx.quick)
    # Only the files that claim a checklist ID: collecting the rest of the suite would cost more than running these.
    files = sorted(str(p) for p in spec_dir.rglob("test_*.py") if "mark.spec" in p.read_text(encoding="utf-8"))
    args = [*files, "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors",
            "--rootdir", str(spec_dir.parent)]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        pytest.main(args, plugins=[collector])
    rows, counts = [], {}
    for item in ITEMS:
        status = collector.status(item.id)[0]
        counts.setdefault(item.module, {}).setdefault(status, 0)
        counts[item.module][status] += 1
    proved = sum(c.get(PROVED, 0) for c in counts.values())
    for module, title in MODULES.items():
        c = counts.get(module, {})
        rows.append([f"M{module} {title}", f"{c.get(PROVED, 0)}/{sum(c.values())}",
                     ", ".join(f"{n} {k}" for k, n in sorted(c.items()) if k != PROVED) or "-"])
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 2.4))
    names = [f"M{m}" for m in MODULES]
    totals = [sum(counts.get(m, {}).values()) for m in MODULES]
    done = [counts.get(m, {}).get(PROVED, 0) for m in MODULES]
    ax.barh(names, totals, color="#ddd", label="formulas")
    ax.barh(names, done, color="#2a9d8f", label="proved")
    ax.invert_yaxis()
    ax.set_xlabel("checklist IDs")
    ax.legend(loc="lower right")
    ax.set_title(f"{proved}/{len(ITEMS)} formulas of the course proved on the engine")
    save_figure(fig, ctx.path("checklist.png"))
    return Item(
        "The course checklist",
        "Every formula and claim of the course notes has an ID (M1.01 to M4.12) and a property-based test "
        "that proves it on the engine: output sizes, parameter counts, IoU, non-max suppression, the triplet "
        "loss, the Gram matrix. This is the learner's path: run it, read the failing line, read the code."
        + (" Under --quick the seeded training experiments are skipped." if ctx.quick else ""),
        images=[("checklist.png", "proved checklist IDs per course module")],
        tables=[("per module", ["module", "proved", "other"], rows)],
        facts=[f"{proved}/{len(ITEMS)} proved"],
        command="minigrad checklist" + (" --fast" if ctx.quick else ""),
    )


def _photo():
    """A grayscale photo (skimage's cameraman at 256 x 256) and its name; a drawn scene when scikit-image is absent."""
    try:
        from skimage import data
    except ImportError:
        y, x = np.mgrid[0:256, 0:256]
        scene = 0.2 + 0.6 * (x > 96) - 0.3 * ((x - 170) ** 2 + (y - 140) ** 2 < 50 ** 2) + 0.3 * (y > 200)
        return scene.astype(np.float32), "a drawn scene (install scikit-image for a photo)"
    return data.camera()[::2, ::2].astype(np.float32) / 255.0, "the cameraman photo from scikit-image"


def edges(ctx):
    """The course's hand-made 3x3 filters convolved with a photo by F.conv2d (apps.edges)."""
    from apps.edges import FILTERS, detect_edges

    photo, name = _photo()
    images, titles = [photo], ["photo"]
    for filter_name in ("vertical", "horizontal", "sobel"):
        response = detect_edges(photo, FILTERS[filter_name]).numpy()
        images.append(to_unit(np.abs(response)) ** 0.7)
        titles.append(f"|{filter_name}|")
    image_grid(images, titles, ctx.path("edges.png"), columns=4, size=2.6)
    return Item(
        "Edge detection with a 3x3 filter",
        "A convolution slides an f x f filter over the image and sums the element-wise products. The vertical "
        "filter [[1, 0, -1]] x 3 answers where brightness changes from left to right; its transpose finds "
        "horizontal edges; Sobel weights the centre row more. Every filter sums to zero, so flat regions give "
        f"zero. Here on {name}; a network learns its own filters the same way by backpropagation.",
        images=[("edges.png", "the photo and the magnitude of three filters' responses (n - f + 1 = 126)")],
        command="minigrad edges photo.png   # any picture; or: minigrad tour --only edges",
    )


EXAMPLES = [  # (n, f, p, s, what the course uses it for)
    (6, 3, 0, 1, "a valid convolution shrinks the image"),
    (6, 3, 1, 1, "same padding p = (f - 1)/2 keeps it"),
    (7, 3, 0, 2, "stride 2"),
    (32, 5, 0, 1, "LeNet-5's first conv"),
    (224, 11, 2, 4, "AlexNet's first conv"),
]


def output_size(ctx):
    """floor((n + 2p - f) / s) + 1 from minigrad.sizes, checked against a real F.conv2d on each example."""
    import minigrad as mg
    import minigrad.functional as F
    from minigrad.sizes import output_size as formula

    rows = []
    for n, f, p, s, what in EXAMPLES:
        expected = formula(n, f, p, s)
        got = F.conv2d(mg.zeros(1, 1, n, n), mg.zeros(1, 1, f, f), stride=s, padding=p).shape[-1]
        rows.append([what, n, f, p, s, f"floor(({n} + {2 * p} - {f}) / {s}) + 1 = {expected}", got,
                     "yes" if got == expected else "NO"])
    _stride_picture(ctx.path("output_size.png"))
    return Item(
        "The output size of a convolution",
        "An n x n input, an f x f filter, padding p and stride s give floor((n + 2p - f)/s) + 1 outputs per "
        "side. The formula lives once in minigrad.sizes.output_size; every op, kernel and model imports it. "
        "The table works it out and compares it with the shape F.conv2d really returns.",
        images=[("output_size.png", "a 3x3 filter at stride 2 on a 7x7 input: 3 positions per row")],
        tables=[("worked examples", ["case", "n", "f", "p", "s", "formula", "F.conv2d", "agree"], rows)],
        command="minigrad checklist --module 1 --verbose",
    )


def _stride_picture(path):
    """The 7x7 input with the three 3x3 windows of the first output row (stride 2) outlined."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(3.2, 3.2))
    ax.imshow(np.add.outer(np.arange(7), np.arange(7)) % 2, cmap="Greys", vmin=0, vmax=6)
    colors = ["#e63946", "#2a9d8f", "#457b9d"]
    for k, color in enumerate(colors):
        ax.add_patch(plt.Rectangle((2 * k - 0.5 + 0.06 * k, -0.5 + 0.06 * k), 3, 3, fill=False, lw=3, ec=color))
    ax.set_xticks(range(7))
    ax.set_yticks(range(7))
    ax.set_title("n=7, f=3, p=0, s=2 -> 3", fontsize=10)
    save_figure(fig, path)
