"""The shipped weights: they load with no argument, and find digits in odd images at the right place in the original pixels."""

import os

import numpy as np
import pytest
from PIL import Image

from apps.yolo.detect import WEIGHTS, Detector
from apps.yolo.metrics import evaluate_detections
from apps.yolo.scenes import SceneSet

pytestmark = pytest.mark.skipif(not os.path.isfile(WEIGHTS), reason="the shipped weights are not built yet")


def test_shipped_weights_are_small_and_load_with_no_argument():
    assert os.path.getsize(WEIGHTS) < 2 * 1024 * 1024
    assert Detector.load().model.n_anchors >= 1


def test_digits_are_found_where_they_are_in_a_big_rgba_and_a_16_bit_image(tmp_path):
    """Test scenes scaled into a 1000 x 700 RGBA canvas (dark ink on light paper) and a 16-bit PNG: the
    boxes come back in those images' pixels, so a mapping error would score about 0."""
    scenes = SceneSet("test", 6, seed=0)
    images, truths = [], []
    for i in range(6):
        scene, boxes, classes = scenes.scene(i)
        if i % 2 == 0:                               # 700 x 700 scene, 150 px from the left, on white paper
            side, left = 700, 150
            big = np.asarray(Image.fromarray(scene).resize((side, side), Image.BILINEAR))
            paper = np.full((700, 1000), 1.0, np.float32)
            paper[:, left:left + side] = 1.0 - big
            rgba = np.dstack([paper, paper, paper, np.ones_like(paper)])
            path = tmp_path / f"paper{i}.png"
            Image.fromarray((np.clip(rgba, 0, 1) * 255).astype(np.uint8), "RGBA").save(path)
            truths.append((boxes * side / 96 + [left, 0, left, 0], classes))
        else:                                        # 16-bit grayscale, 192 x 192
            big = np.asarray(Image.fromarray(scene).resize((192, 192), Image.BILINEAR))
            path = tmp_path / f"deep{i}.png"
            Image.fromarray((np.clip(big, 0, 1) * 65535).astype(np.uint16)).save(path)
            truths.append((boxes * 2.0, classes))
        images.append(str(path))
    detections = Detector.load().detect(images, score_threshold=0.05)
    assert evaluate_detections(detections, truths)["map50"] >= 0.6
