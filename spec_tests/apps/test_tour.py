"""`minigrad tour`: the page is written with every picture, a part that cannot run says why and the rest runs, and the page renders in headless Chromium with every image loaded.

The runs here use --quick on the cheap items (edge filters, output size, model zoo):
seconds, no training. The full tour's time is measured by hand (see the README).
"""

import re

import numpy as np
import pytest

from apps.cli import main
from apps.tour import detection, runner
from apps.tour.browser import find_chromium, probe, screenshot
from apps.tour.context import Unavailable

CHEAP = "edges,output-size,model-zoo"


def _images(page):
    return re.findall(r'<img src="([^"]+)"', page.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    out = tmp_path_factory.mktemp("tour") / "minigrad-tour"
    code = main(["tour", "--quick", "--only", CHEAP, "--out", str(out)])
    return out, code


def test_quick_tour_writes_the_page_and_its_pictures(tour, capsys):
    out, code = tour
    page = out / "index.html"
    assert code == 0
    text = page.read_text(encoding="utf-8")
    for title in ("Edge detection with a 3x3 filter", "The output size of a convolution",
                  "The classic networks and their cost"):
        assert title in text
    names = _images(page)
    assert len(names) == 3
    for name in names:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
    assert "minigrad edges photo.png" in text                                 # the command that reproduces it
    assert "floor((7 + 0 - 3) / 2) + 1 = 3" in text                         # the worked example, computed
    assert "<script" not in text and "http" not in text                     # no network, nothing to run


def test_a_part_that_cannot_run_says_why_and_the_rest_runs(tmp_path, monkeypatch, capsys):
    def missing(ctx):
        raise Unavailable("no YOLO weights at apps/yolo/weights/yolo.npz")

    def broken(ctx):
        raise RuntimeError("a bug in one part")

    monkeypatch.setattr(detection, "detection", missing)
    code = main(["tour", "--quick", "--only", "yolo,output-size", "--out", str(tmp_path)])
    text = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert code == 0
    assert "Could not run here" in text and "no YOLO weights at apps/yolo/weights/yolo.npz" in text
    assert "The output size of a convolution" in text and len(_images(tmp_path / "index.html")) == 1
    err = capsys.readouterr().err
    assert "[1/2]" in err and "[2/2]" in err and "parts ran in" in err   # a progress line per part, the total

    monkeypatch.setattr(detection, "detection", broken)
    code = main(["tour", "--quick", "--only", "yolo,output-size", "--out", str(tmp_path)])
    text = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert code == 1
    assert "This part failed" in text and "RuntimeError: a bug in one part" in text
    assert len(_images(tmp_path / "index.html")) == 1


def test_only_names_sections_and_items():
    assert runner.parse_only("detection,faces") == {"yolo", "faces"}
    assert runner.parse_only("edges") == {"edges"}
    assert runner.parse_only(None) == set(runner.ITEM_KEYS)
    with pytest.raises(ValueError, match="unknown section 'detectoin'"):
        runner.parse_only("detectoin")


def test_unknown_section_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["tour", "--only", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minigrad tour: error: --only: unknown section 'nope'")


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (apt-get install chromium)")
def test_page_renders_in_headless_chromium_with_every_image_loaded(tour, tmp_path):
    out, _ = tour
    page = out / "index.html"
    height, states = probe(page)
    assert len(states) == len(_images(page)) == 3
    for complete, width, h in states:
        assert complete and width > 50 and h > 50, states
    assert height > 1000

    shot = tmp_path / "shot.png"
    screenshot(page, shot, width=600)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape[1] == 600 and pixels.shape[0] > 500
    # The edge images are mostly black: a screenshot that shows them has many dark pixels, a text-only page few.
    assert (pixels < 40).mean() > 0.03
