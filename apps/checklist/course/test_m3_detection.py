"""Module 3 of the course, object detection: YOLO's grid, box predictions and scores, IoU, non-max suppression, anchors, landmarks (M3.01-M3.08)."""

import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn, optim

from apps.landmarks import landmark_loss, mirror_landmarks
from apps.yolo import (
    best_anchor, box_scores, center_to_corners, corners_to_center, decode_predictions, encode_targets,
    grid_cell, iou, is_correct_detection, non_max_suppression, pairwise_iou, yolo_filter_boxes,
)
from course_helpers import PROPERTY

spec = pytest.mark.spec

unit = st.floats(0.0, 0.999, allow_nan=False)


@st.composite
def boxes_on_grid(draw, size=12):
    """A box with integer corners inside a size x size pixel grid (positive area)."""
    x1 = draw(st.integers(0, size - 1))
    y1 = draw(st.integers(0, size - 1))
    x2 = draw(st.integers(x1 + 1, size))
    y2 = draw(st.integers(y1 + 1, size))
    return np.array([x1, y1, x2, y2], dtype=np.float64)


def raster(box, size=12):
    mask = np.zeros((size, size), dtype=bool)
    x1, y1, x2, y2 = box.astype(int)
    mask[y1:y2, x1:x2] = True
    return mask


# ----- M3.01 - M3.02: grid and predictions -----------------------------------------------------------

@spec("M3.01")
@PROPERTY
@given(bx=unit, by=unit, S=st.integers(1, 19))
def test_the_cell_holding_the_centre_is_responsible(bx, by, S):
    row, col = grid_cell(bx, by, S)
    assert 0 <= row < S and 0 <= col < S
    assert col / S <= bx < (col + 1) / S and row / S <= by < (row + 1) / S, \
        f"S={S}: cell (row {row}, col {col}) spans x in [{col / S:.3f}, {(col + 1) / S:.3f}), y in [{row / S:.3f}, {(row + 1) / S:.3f}); the centre ({bx:.3f}, {by:.3f}) is not in it"
    y = encode_targets([[bx, by, 0.2, 0.1]], [0], S, [[0.2, 0.1]], n_classes=1)
    assert np.argwhere(y[..., 0] == 1).tolist() == [[row, col, 0]], "only the responsible cell has pc = 1"


@spec("M3.01")
def test_grid_example():
    assert grid_cell(0.3, 0.6, 3) == (1, 0), "S = 3: x = 0.3 is in column 0, y = 0.6 in row 1"
    assert grid_cell(1.0, 1.0, 3) == (2, 2), "a centre on the far edge belongs to the last cell"


@spec("M3.02")
@PROPERTY
@given(bx=unit, by=unit, bh=st.floats(0.05, 0.9), bw=st.floats(0.05, 0.9), S=st.integers(1, 7),
       label=st.integers(0, 3))
def test_cell_vector_is_pc_box_classes_and_decodes_back(bx, by, bh, bw, S, label):
    y = encode_targets([[bx, by, bh, bw]], [label], S, [[0.5, 0.5]], n_classes=4)
    row, col = grid_cell(bx, by, S)
    vector = y[row, col, 0]
    assert vector.shape == (5 + 4,), "y = (pc, bx, by, bh, bw, c_1 ... c_C)"
    assert vector[0] == 1 and 0 <= vector[1] < 1 and 0 <= vector[2] < 1, "pc = 1; bx, by relative to the cell (0..1)"
    np.testing.assert_allclose(vector[3:5], [bh, bw])
    np.testing.assert_array_equal(vector[5:], np.eye(4)[label], err_msg="the class is one-hot")
    pc, boxes, probs = decode_predictions(y)
    np.testing.assert_allclose(boxes[row, col, 0], center_to_corners([bx, by, bh, bw]), atol=1e-12,
                               err_msg="decoding the cell gives the labelled box back")


@spec("M3.02")
@PROPERTY
@given(pc=st.floats(0, 1), probs=st.lists(st.floats(0, 1), min_size=1, max_size=5))
def test_box_score_is_pc_times_class_probability(pc, probs):
    scores = box_scores([pc], probs)
    np.testing.assert_allclose(scores, pc * np.asarray(probs), err_msg="score_c = pc * c_c")


@spec("M3.02")
def test_box_score_example():
    np.testing.assert_allclose(box_scores([0.6], [0.25, 0.75]), [0.15, 0.45])


@spec("M3.02")
@PROPERTY
@given(bx=st.floats(-5, 5), by=st.floats(-5, 5), bh=st.floats(0, 5), bw=st.floats(0, 5))
def test_box_formats_round_trip(bx, by, bh, bw):
    corners = center_to_corners([bx, by, bh, bw])
    assert corners[2] - corners[0] == pytest.approx(bw) and corners[3] - corners[1] == pytest.approx(bh)
    np.testing.assert_allclose(corners_to_center(corners), [bx, by, bh, bw], atol=1e-9,
                               err_msg="(bx, by, bh, bw) -> corners -> (bx, by, bh, bw)")


# ----- M3.03 - M3.04: IoU ----------------------------------------------------------------------------

@spec("M3.03")
@PROPERTY
@given(a=boxes_on_grid(), b=boxes_on_grid())
def test_iou_is_intersection_over_union_of_the_pixels(a, b):
    """IoU = |A ∩ B| / |A ∪ B|, checked by counting pixels of the two boxes drawn on a grid."""
    ma, mb = raster(a), raster(b)
    expected = (ma & mb).sum() / (ma | mb).sum()
    got = iou(a, b)
    assert got == pytest.approx(expected), f"IoU({a.tolist()}, {b.tolist()}) = |A∩B| / |A∪B| = {expected:.4f}, got {got:.4f}"
    assert iou(b, a) == pytest.approx(got), "IoU is symmetric"
    assert 0 <= got <= 1


@spec("M3.03")
@PROPERTY
@given(a=boxes_on_grid(), dx=st.floats(0, 5))
def test_iou_identical_one_disjoint_zero(a, dx):
    assert iou(a, a) == pytest.approx(1.0), f"IoU of a box with itself is 1, got {iou(a, a)}"
    width = a[2] - a[0]
    moved = a + np.array([width + dx, 0, width + dx, 0])
    assert iou(a, moved) == 0.0, "disjoint boxes have IoU 0"


@spec("M3.03")
def test_iou_example_and_degenerate_boxes():
    assert iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7), "intersection 1, union 4 + 4 - 1 = 7"
    assert iou([0, 0, 4, 4], [1, 1, 3, 3]) == pytest.approx(4 / 16), "a box inside another: small area / big area"
    assert iou([1, 1, 1, 3], [0, 0, 2, 2]) == 0.0, "a zero-area box has IoU 0 (documented), never NaN"
    assert iou([1, 1, 1, 1], [1, 1, 1, 1]) == 0.0
    with pytest.raises(ValueError, match="inverted"):
        iou([2, 2, 0, 0], [0, 0, 1, 1])
    matrix = pairwise_iou([[0, 0, 2, 2], [5, 5, 6, 6]], [[0, 0, 2, 2], [1, 1, 3, 3], [9, 9, 10, 10]])
    np.testing.assert_allclose(matrix, [[1, 1 / 7, 0], [0, 0, 0]], err_msg="pairwise IoU matrix (N, M)")


@spec("M3.03")
def test_iou_accepts_tensors():
    assert iou(mg.tensor([0.0, 0.0, 2.0, 2.0]), mg.tensor([1.0, 1.0, 3.0, 3.0])) == pytest.approx(1 / 7)


@spec("M3.04")
def test_correct_detection_threshold_is_one_half():
    truth = [0, 0, 2, 2]
    assert is_correct_detection([0, 0, 2, 1], truth), "IoU = 0.5 counts as correct"
    assert not is_correct_detection([0, 0, 2, 0.9], truth), "IoU = 0.45 does not"


@spec("M3.04")
@PROPERTY
@given(a=boxes_on_grid(), b=boxes_on_grid())
def test_correct_detection_agrees_with_iou(a, b):
    assert is_correct_detection(a, b) == (iou(a, b) >= 0.5)


# ----- M3.05 - M3.06: non-max suppression, score filtering ----------------------------------------------

@st.composite
def scored_boxes(draw, max_n=40):
    n = draw(st.integers(1, max_n))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 20, (n, 2))
    wh = rng.uniform(1, 8, (n, 2))
    scores = rng.permutation(n) / n + 0.01      # distinct
    return np.concatenate([xy, xy + wh], axis=1), scores


@spec("M3.05")
@PROPERTY
@given(data=scored_boxes(), threshold=st.floats(0.1, 0.9))
def test_nms_kept_boxes_overlap_less_than_the_threshold(data, threshold):
    boxes, scores = data
    keep = non_max_suppression(boxes, scores, iou_threshold=threshold)
    assert keep[0] == np.argmax(scores), "the highest score is always kept"
    assert np.all(np.diff(scores[keep]) <= 0), "kept boxes come out best score first"
    overlaps = pairwise_iou(boxes[keep], boxes[keep])
    np.fill_diagonal(overlaps, 0)
    assert overlaps.max(initial=0) <= threshold, f"two kept boxes overlap with IoU {overlaps.max():.3f} > {threshold:.3f}"
    dropped = np.setdiff1d(np.arange(len(boxes)), keep)
    for d in dropped:
        better = keep[scores[keep] > scores[d]]
        assert np.any(iou(boxes[d], boxes[better]) > threshold), \
            f"box {d} was dropped but no kept box with a higher score overlaps it above {threshold:.3f}"


@spec("M3.05")
def test_nms_example_and_per_class():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7])
    assert non_max_suppression(boxes, scores, 0.5).tolist() == [0, 2], "the 0.8 box overlaps the 0.9 box (IoU 0.68): dropped"
    assert non_max_suppression(boxes, scores, 0.5, classes=[0, 1, 0]).tolist() == [0, 1, 2], \
        "per class: a box of another class never suppresses"
    assert non_max_suppression(boxes, scores, 0.5, max_boxes=1).tolist() == [0]


@spec("M3.05")
def test_nms_handles_thousands_of_boxes_quickly():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 400, (4000, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (4000, 2))], axis=1)
    scores = rng.uniform(size=4000)
    start = time.perf_counter()
    keep = non_max_suppression(boxes, scores, 0.5, classes=rng.integers(0, 3, 4000))
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0, f"NMS on 4,000 boxes took {elapsed:.2f} s"
    assert 0 < len(keep) < 4000


@spec("M3.06")
@PROPERTY
@given(S=st.integers(1, 4), A=st.integers(1, 3), C=st.integers(1, 4), threshold=st.floats(0.05, 0.95),
       seed=st.integers(0, 999))
def test_filter_boxes_keeps_scores_above_threshold(S, A, C, threshold, seed):
    rng = np.random.default_rng(seed)
    pc = rng.uniform(size=(S, S, A, 1))
    boxes = rng.uniform(size=(S, S, A, 4))
    probs = rng.dirichlet(np.ones(C), size=(S, S, A))
    scores, kept, classes = yolo_filter_boxes(pc, boxes, probs, threshold)
    all_scores = pc * probs
    best = all_scores.max(axis=-1)
    assert len(scores) == int((best >= threshold).sum()), "every box whose best score clears the threshold is kept, no other"
    assert np.all(scores >= threshold)
    np.testing.assert_allclose(np.sort(scores), np.sort(best[best >= threshold]), err_msg="score = max_c pc * c_c")
    np.testing.assert_array_equal(classes, all_scores.argmax(axis=-1)[best >= threshold], err_msg="class = argmax_c pc * c_c")
    np.testing.assert_array_equal(kept, boxes[best >= threshold])


@spec("M3.06")
def test_filter_then_suppress_example():
    pc = np.array([[0.9], [0.9], [0.95]])
    probs = np.array([[0.5, 0.5], [0.1, 0.9], [0.05, 0.95]])
    boxes = np.array([[0, 0, 1, 1], [0, 0, 10, 10], [1, 1, 11, 11]], dtype=float)
    scores, kept, classes = yolo_filter_boxes(pc, boxes, probs, threshold=0.6)
    assert kept.tolist() == boxes[1:].tolist(), "score 0.45 < 0.6 is filtered out first"
    assert non_max_suppression(kept, scores, 0.5).tolist() == [1], "then NMS keeps the better of the two overlapping cars"


# ----- M3.07 - M3.08: anchors, landmarks -------------------------------------------------------------------

@spec("M3.07")
def test_anchor_example():
    anchors = [[0.6, 0.2], [0.2, 0.6]]                       # (h, w): tall, wide
    assert best_anchor((0.5, 0.15), anchors) == 0, "a tall box (a pedestrian) goes to the tall anchor"
    assert best_anchor((0.15, 0.5), anchors) == 1, "a wide box (a car) goes to the wide anchor"
    y = encode_targets([[0.5, 0.5, 0.5, 0.15], [0.5, 0.5, 0.15, 0.5]], [0, 1], 1, anchors, n_classes=2)
    assert y[0, 0, 0, 0] == 1 and y[0, 0, 1, 0] == 1, "two objects in one cell go to their own anchors"


@spec("M3.07")
@PROPERTY
@given(hw=st.tuples(st.floats(0.01, 1), st.floats(0.01, 1)),
       anchors=st.lists(st.tuples(st.floats(0.01, 1), st.floats(0.01, 1)), min_size=1, max_size=5))
def test_object_goes_to_the_anchor_with_the_highest_iou(hw, anchors):
    chosen = best_anchor(hw, anchors)
    h, w = hw

    def shape_iou(ah, aw):          # both boxes centred at the origin
        return iou([-w / 2, -h / 2, w / 2, h / 2], [-aw / 2, -ah / 2, aw / 2, ah / 2])

    ious = [shape_iou(*a) for a in anchors]
    assert ious[chosen] == pytest.approx(max(ious)), f"anchor {chosen} has IoU {ious[chosen]:.3f}, the best is {max(ious):.3f}"
    assert best_anchor(anchors[chosen], anchors) == chosen or shape_iou(*anchors[chosen]) <= 1


@spec("M3.08")
@PROPERTY
@given(n=st.integers(4, 12), seed=st.integers(0, 99))
def test_landmarks_follow_the_mirrored_image(n, seed):
    """Mirroring the image moves each landmark to x -> 1 - x and swaps the left/right pair."""
    from minigrad.transforms import RandomMirror

    rng = np.random.default_rng(seed)
    cols = rng.choice(n, 2, replace=False)
    rows = rng.integers(0, n, 2)
    image = np.zeros((1, 1, n, n))
    image[0, 0, rows[0], cols[0]] = 1.0      # left eye
    image[0, 0, rows[1], cols[1]] = 2.0      # right eye
    points = np.array([[(cols[k] + 0.5) / n, (rows[k] + 0.5) / n] for k in range(2)])
    mirrored = RandomMirror(p=1.0, seed=0)(image)[0, 0]
    moved = mirror_landmarks(points, pairs=[(0, 1)])
    # after mirroring, landmark 0 (the left eye) is the pixel that was the right eye (value 2)
    for k, value in ((0, 2.0), (1, 1.0)):
        r, c = np.argwhere(mirrored == value)[0]
        np.testing.assert_allclose(moved[k], [(c + 0.5) / n, (r + 0.5) / n],
                                   err_msg="mirrored landmark (1 - x, y), left and right swapped")


@spec("M3.08")
def test_a_network_learns_to_output_landmark_coordinates():
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    n = 8
    images = np.zeros((32, 1, n, n), dtype=np.float32)
    targets = np.zeros((32, 2), dtype=np.float32)
    for k in range(32):
        r, c = rng.integers(0, n, 2)
        images[k, 0, r, c] = 1.0
        targets[k] = [(c + 0.5) / n, (r + 0.5) / n]
    net = nn.Sequential(nn.Flatten(), nn.Linear(n * n, 2))
    opt = optim.Adam(net.parameters(), lr=0.05)
    x = mg.tensor(images)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = landmark_loss(net(x), targets)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert landmark_loss(mg.tensor(targets), targets).item() == 0.0
    assert losses[-1] < 0.05 * losses[0], f"the landmark loss should fall: {losses[0]:.4f} -> {losses[-1]:.4f}"


@spec("M3.05")
@PROPERTY
@given(data=scored_boxes(), threshold=st.floats(0.1, 0.9), n_classes=st.integers(1, 3), seed=st.integers(0, 99))
def test_nms_per_class_is_nms_within_each_class(data, threshold, n_classes, seed):
    boxes, scores = data
    classes = np.random.default_rng(seed).integers(0, n_classes, len(boxes))
    keep = non_max_suppression(mg.tensor(boxes), mg.tensor(scores), threshold, classes=classes)
    assert np.all(np.diff(scores[keep]) <= 0), "kept boxes come out best score first"
    for c in np.unique(classes):
        members = np.flatnonzero(classes == c)
        alone = members[non_max_suppression(boxes[members], scores[members], threshold)]
        assert sorted(keep[classes[keep] == c].tolist()) == sorted(alone.tolist()), \
            f"class {c}: per-class NMS must equal NMS on that class's boxes alone"
