"""apps.yolo.scenes: seeded digit scenes are reproducible, their boxes tight, their splits disjoint; a labelled folder reads back."""

import numpy as np
import pytest

from apps.yolo.formulas import pairwise_iou
from apps.yolo.scenes import INK, MAX_OVERLAP, SceneSet, digit_pools, load_folder, read_box_file


@pytest.fixture(scope="module")
def pools():
    return digit_pools()


def test_same_seed_same_scenes_other_seed_other_scenes(pools):
    a, b, c = (SceneSet("train", 5, seed=s, pools=pools) for s in (0, 0, 1))
    for i in range(5):
        image_a, boxes_a, classes_a = a.scene(i)
        image_b, boxes_b, classes_b = b.scene(i)
        np.testing.assert_array_equal(image_a, image_b)
        np.testing.assert_array_equal(boxes_a, boxes_b)
        np.testing.assert_array_equal(classes_a, classes_b)
    assert not np.array_equal(a.scene(0)[0], c.scene(0)[0])


def test_scenes_hold_one_to_six_tight_digits_overlapping_at_most_iou_03(pools):
    scenes = SceneSet("val", 20, pools=pools)
    for i in range(20):
        image, boxes, classes = scenes.scene(i)
        assert image.shape == (96, 96) and image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1
        assert 1 <= len(boxes) <= 6 and len(boxes) == len(classes)
        heights = boxes[:, 3] - boxes[:, 1]
        assert heights.min() >= 12 and heights.max() <= 50
        assert np.all(boxes >= 0) and np.all(boxes <= 96)
        overlaps = pairwise_iou(boxes, boxes)[~np.eye(len(boxes), dtype=bool)]
        assert overlaps.size == 0 or overlaps.max() <= MAX_OVERLAP + 1e-9
        for x1, y1, x2, y2 in boxes.astype(int):       # tight: ink on each edge row/column of the box
            patch = image[y1:y2, x1:x2]
            assert patch[0].max() > INK - 0.2 and patch[-1].max() > INK - 0.2
            assert patch[:, 0].max() > INK - 0.2 and patch[:, -1].max() > INK - 0.2


def test_splits_are_disjoint_digit_images_and_test_is_lenet5s_held_out_thousand(pools):
    from apps.digits.train import digit_splits

    indices = {name: set(pools[name][2].tolist()) for name in ("train", "val", "test")}
    assert not indices["train"] & indices["test"] and not indices["train"] & indices["val"]
    assert not indices["val"] & indices["test"]
    assert len(indices["test"]) == 1000 and len(indices["train"]) + len(indices["val"]) + 1000 == 5000
    _, _, lenet_test = digit_splits()
    np.testing.assert_array_equal(pools["test"][0], lenet_test.images[:, 0, 2:-2, 2:-2])
    # and no training digit is pixel-identical to a test digit
    train_bytes = {image.tobytes() for image in pools["train"][0]}
    assert not any(image.tobytes() in train_bytes for image in pools["test"][0])


def test_batches_carry_encoded_targets(pools):
    scenes = SceneSet("test", 4, pools=pools, target_fn=lambda boxes, classes: np.array([len(boxes)]))
    images, targets = scenes.get_batch([0, 3])
    assert images.shape == (2, 1, 96, 96)
    assert targets[:, 0].tolist() == [len(scenes.scene(0)[1]), len(scenes.scene(3)[1])]


def test_a_labelled_folder_reads_back(tmp_path):
    from PIL import Image

    Image.new("L", (40, 30)).save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("# class x1 y1 x2 y2\n3 1 2 11 22\n7 5 5 9 9\n")
    Image.new("RGB", (20, 20)).save(tmp_path / "b.jpg")           # no text file: no objects
    items = load_folder(tmp_path)
    assert [p.split("/")[-1] for p, _, _ in items] == ["a.png", "b.jpg"]
    np.testing.assert_array_equal(items[0][1], [[1, 2, 11, 22], [5, 5, 9, 9]])
    assert items[0][2].tolist() == [3, 7] and len(items[1][1]) == 0


def test_a_bad_box_line_names_the_file_and_line(tmp_path):
    (tmp_path / "x.txt").write_text("3 1 2 11 22\n12 0 0 5 5\n")
    with pytest.raises(ValueError, match=r"x.txt:2"):
        read_box_file(tmp_path / "x.txt")
