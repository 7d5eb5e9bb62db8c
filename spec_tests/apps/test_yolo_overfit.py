"""The whole detector learns: a small YoloNet, the YOLO loss and Adam fit 8 digit scenes to mAP@0.5 >= 0.95 in a few seconds."""

import numpy as np

import minigrad as mg
from apps.yolo.detect import Detector
from apps.yolo.loss import yolo_loss
from apps.yolo.model import YoloNet
from apps.yolo.scenes import SceneSet
from apps.yolo.train import evaluate_scenes, scene_targets
from minigrad import optim

ANCHORS = np.array([[19, 14], [32, 23], [42, 36]]) / 96


def test_eight_scenes_are_learned_to_map50_of_at_least_095():
    mg.manual_seed(0)
    scenes = SceneSet("train", 8, seed=5, target_fn=scene_targets(ANCHORS))
    images, targets = scenes.get_batch(range(8))
    images = mg.tensor(images)
    model = YoloNet(ANCHORS, widths=(8, 16, 32, 64, 64))
    opt = optim.Adam(model.parameters(), lr=5e-3)
    first = None
    for _ in range(100):
        loss, _ = yolo_loss(model(images), targets, model.anchors)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 20
    result = evaluate_scenes(Detector(model), SceneSet("train", 8, seed=5))[0]
    assert result["map50"] >= 0.95, result
