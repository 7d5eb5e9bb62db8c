"""apps.yolo.detect and `minigrad yolo detect`: any image mode and size, boxes mapped back to the original pixels, bad files reported and skipped."""

import json

import numpy as np
import pytest
from PIL import Image

import minigrad as mg
from apps.cli import main
from apps.yolo.detect import Detector, letterbox, to_gray, unletterbox
from apps.yolo.model import YoloNet

ANCHORS = np.array([[19, 14], [32, 23], [42, 36]]) / 96


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """An untrained (but complete) weights file: these tests are about plumbing, not accuracy."""
    mg.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "yolo.npz"
    mg.save(YoloNet(ANCHORS, widths=(4, 4, 4, 4, 4)).state_dict(), path)
    return str(path)


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("odd")
    rng = np.random.default_rng(0)
    paths = {}
    rgba = np.zeros((50, 80, 4), np.uint8)
    rgba[..., :3] = rng.integers(0, 255, (50, 80, 3))
    rgba[..., 3] = 255
    rgba[10:20, 10:20, 3] = 0
    paths["rgba"] = folder / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(paths["rgba"])
    paths["gray16"] = folder / "gray16.png"
    Image.fromarray(rng.integers(0, 65535, (64, 40)).astype(np.uint16)).save(paths["gray16"])
    paths["photo"] = folder / "photo.jpg"
    Image.fromarray(rng.integers(0, 255, (700, 1000, 3)).astype(np.uint8)).save(paths["photo"])
    paths["palette"] = folder / "palette.gif"
    Image.fromarray(rng.integers(0, 255, (30, 30)).astype(np.uint8)).convert("P").save(paths["palette"])
    paths["broken"] = folder / "broken.png"
    paths["broken"].write_bytes(b"not a png at all")
    return paths


def test_to_gray_handles_every_mode_and_inverts_a_light_ground():
    assert to_gray(np.full((5, 7, 4), 255, np.uint8)).shape == (5, 7)
    sixteen = to_gray(np.full((4, 4), 30000, np.uint16))
    assert sixteen.max() == pytest.approx(30000 / 65535, rel=1e-5)
    paper = np.full((20, 20), 250, np.uint8)
    paper[5:15, 9:11] = 10                                      # a dark stroke on white paper
    gray = to_gray(paper)
    assert gray[0, 0] < 0.1 and gray[10, 10] > 0.9
    with pytest.raises(ValueError, match="image must be"):
        to_gray(np.zeros((2, 3, 5, 6)))


@pytest.mark.parametrize("height, width", [(700, 1000), (96, 96), (30, 200), (300, 17)])
def test_letterbox_then_unletterbox_maps_a_box_back_to_the_original_pixels(height, width):
    canvas, scale, pad = letterbox(np.zeros((height, width), np.float32))
    assert canvas.shape == (96, 96)
    box = np.array([[0.1 * width, 0.2 * height, 0.6 * width, 0.9 * height]])
    in_input = (box * scale + [pad[0], pad[1], pad[0], pad[1]]) / 96     # where the network sees it
    np.testing.assert_allclose(unletterbox(in_input, scale, pad, width, height), box, rtol=1e-9, atol=1e-9)


def test_detect_returns_boxes_inside_each_original_image(weights, odd_images):
    detector = Detector.load(weights, score_threshold=0.0)    # every box survives the filter: all get mapped back
    images = [odd_images["rgba"], odd_images["gray16"], odd_images["photo"], Image.open(odd_images["palette"]),
              np.random.default_rng(1).random((33, 45)).astype(np.float32)]
    results = detector.detect(images)
    sizes = [(50, 80), (64, 40), (700, 1000), (30, 30), (33, 45)]
    assert len(results) == len(images)
    for (boxes, scores, classes), (h, w) in zip(results, sizes):
        assert boxes.shape[1] == 4 and len(boxes) == len(scores) == len(classes) > 0
        assert np.all(boxes[:, [0, 2]] <= w) and np.all(boxes[:, [1, 3]] <= h) and np.all(boxes >= 0)
        assert np.all(np.diff(scores) <= 0)                    # best first
        assert classes.dtype == np.int64 and np.all((0 <= classes) & (classes < 10))


def test_cli_reports_a_missing_and_a_broken_file_in_one_line_each_and_processes_the_rest(
        weights, odd_images, tmp_path, capsys):
    out, report = tmp_path / "drawn", tmp_path / "boxes.json"
    files = [str(odd_images["rgba"]), str(tmp_path / "missing.png"), str(odd_images["broken"]), str(odd_images["photo"])]
    code = main(["yolo", "detect", *files, "--weights", weights, "--out", str(out), "--json", str(report),
                 "--threshold", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 2 and "missing.png" in err[0] and "broken.png" in err[1]
    assert all(line.startswith("minigrad yolo detect: error: cannot read") for line in err)
    assert sorted(p.name for p in out.iterdir()) == ["photo.png", "rgba.png"]
    assert Image.open(out / "photo.png").size == (1000, 700)
    doc = json.loads(report.read_text())
    assert [entry["path"] for entry in doc["images"]] == [files[0], files[3]]
    photo = doc["images"][1]
    assert (photo["width"], photo["height"]) == (1000, 700)
    first = photo["detections"][0]
    assert set(first) == {"box", "class_id", "class", "score"} and len(first["box"]) == 4
    assert first["class"] == str(first["class_id"])


def test_cli_refuses_weights_that_are_not_a_detector(tmp_path, capsys):
    bogus = tmp_path / "bogus.npz"
    mg.save({"w": mg.zeros(2)}, bogus)
    assert main(["yolo", "detect", "x.png", "--weights", str(bogus)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a YOLO weights file" in err[0]
