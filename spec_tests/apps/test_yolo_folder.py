"""A user's labelled folder: `minigrad yolo train --data` learns from it, `minigrad yolo eval --data` scores on it."""

import numpy as np
from PIL import Image

from apps.cli import main
from apps.yolo.detect import Detector
from apps.yolo.scenes import FolderSet, SceneSet


def _write_folder(folder, n=8):
    """Test scenes at twice their size, as 8-bit PNGs with their box files (pixels of the 192 x 192 image)."""
    scenes = SceneSet("test", n, seed=3)
    for i in range(n):
        image, boxes, classes = scenes.scene(i)
        Image.fromarray((image * 255).astype(np.uint8)).resize((192, 192), Image.BILINEAR).save(folder / f"s{i}.png")
        lines = [f"{c} {x1 * 2:g} {y1 * 2:g} {x2 * 2:g} {y2 * 2:g}" for c, (x1, y1, x2, y2) in zip(classes, boxes)]
        (folder / f"s{i}.txt").write_text("\n".join(lines) + "\n")
    return scenes


def test_a_folder_scene_is_its_image_letterboxed_with_its_boxes_moved_along(tmp_path):
    scenes = _write_folder(tmp_path, 2)
    image, boxes, classes = FolderSet(tmp_path).scene(1)
    _, true_boxes, true_classes = scenes.scene(1)
    assert image.shape == (96, 96)
    np.testing.assert_allclose(boxes, true_boxes, atol=1e-4)     # 192 -> 96 px: the scene's own boxes
    np.testing.assert_array_equal(classes, true_classes)


def test_train_and_eval_on_a_folder(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    _write_folder(data)
    weights = tmp_path / "mine.npz"
    assert main(["yolo", "train", "--data", str(data), "--epochs", "1", "--batch-size", "8", "--out",
                 str(tmp_path / "run"), "--weights", str(weights), "--no-progress"]) == 0
    assert Detector.load(weights).model.n_anchors == 3
    assert main(["yolo", "eval", "--data", str(data), "--weights", str(weights), "--out", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    assert "8 images of" in out and "mAP@0.5:0.95" in out
    assert (tmp_path / "ev" / "pr_curve.png").stat().st_size > 1000


def test_resume_continues_from_the_checkpoint_and_refuses_other_settings(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    _write_folder(data, 4)
    run = ["yolo", "train", "--data", str(data), "--epochs", "2", "--batch-size", "4", "--out", str(tmp_path / "run"),
           "--no-progress"]
    assert main(run) == 0
    assert main(run + ["--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert main(run[:-1] + ["--lr", "0.01", "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different setup" in err[0] and "lr" in err[0]
