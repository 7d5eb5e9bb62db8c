"""apps.yolo: the loss's gradient, the target round trip, k-means anchors and the metric on hand-worked cases."""

import numpy as np
import pytest

import minigrad as mg
import apps.yolo.loss as loss_module
from apps.yolo.anchors import kmeans_anchors
from apps.yolo.formulas import corners_to_center, decode_predictions, encode_targets
from apps.yolo.loss import far_from_truth, yolo_loss
from apps.yolo.metrics import average_precision, evaluate_detections

ANCHORS = np.array([[0.3, 0.2], [0.6, 0.5]])


def _tiny_target():
    """A 2 x 2 grid, 2 anchors, 10 classes, two objects."""
    boxes = np.array([[0.7, 0.3, 0.35, 0.25], [0.2, 0.8, 0.55, 0.5]])
    return encode_targets(boxes, [3, 8], 2, ANCHORS, 10)[None]


@pytest.mark.parametrize("rescore", [False, True])
def test_loss_gradient_matches_finite_differences_on_a_tiny_head(rescore, monkeypatch):
    y = _tiny_target()
    t = mg.tensor(np.random.default_rng(0).normal(0, 0.5, y.shape), requires_grad=True)
    # the IoU masks and rescoring targets carry no gradient by design: hold them at their value at t
    frozen = loss_module.overlaps_with_truth(t, y, ANCHORS)
    monkeypatch.setattr(loss_module, "overlaps_with_truth", lambda *args: frozen)
    assert mg.gradcheck(lambda t: yolo_loss(t, y, ANCHORS, rescore=rescore)[0], (t,))


def test_loss_is_small_for_a_perfect_prediction_and_grows_with_a_bad_box():
    y = _tiny_target()
    t = np.full(y.shape, -12.0)                   # p_c ~ 0 everywhere
    obj = y[..., 0] == 1
    offsets = np.clip(y[..., 1:3][obj], 1e-6, 1 - 1e-6)
    t[..., 1:3][obj] = np.log(offsets / (1 - offsets))               # sigmoid^-1
    anchor_index = np.nonzero(obj)[-1]
    t[..., 3:5][obj] = np.log(y[..., 3:5][obj] / ANCHORS[anchor_index])
    t[..., 0][obj] = 12.0
    t[..., 5:][obj] = np.where(y[..., 5:][obj] > 0, 12.0, -12.0)
    good, parts = yolo_loss(mg.tensor(t), y, ANCHORS)
    assert good.item() < 1e-3 and parts["box"] < 1e-6
    t[..., 3][obj] += 0.5                                             # every box 65% too tall
    bad, parts = yolo_loss(mg.tensor(t), y, ANCHORS)
    assert parts["box"] == pytest.approx(5.0 * 2 * 0.25, rel=1e-6)  # lambda_coord * 2 objects * 0.5^2


def test_no_object_term_spares_anchors_that_already_overlap_a_truth():
    y = _tiny_target()
    t = np.zeros(y.shape)
    far = far_from_truth(mg.tensor(t), y, ANCHORS)
    assert far.shape == y.shape[:-1] and set(np.unique(far)) <= {0.0, 1.0}
    # the responsible anchors predict their own box at t = 0 only if it matches: move one exactly onto its truth
    obj = np.argwhere(y[0, ..., 0] == 1)[0]
    t[(0, *obj, slice(3, 5))] = np.log(y[(0, *obj, slice(3, 5))] / ANCHORS[obj[-1]])
    offsets = y[(0, *obj, slice(1, 3))]
    t[(0, *obj, slice(1, 3))] = np.log(offsets / (1 - offsets))
    assert far_from_truth(mg.tensor(t), y, ANCHORS)[(0, *obj)] == 0.0


def test_encode_then_decode_gives_the_boxes_back():
    rng = np.random.default_rng(1)
    corners = []
    while len(corners) < 5:                                           # distinct cells, so none overwrites another
        x1, y1 = rng.uniform(0, 0.6, 2)
        box = [x1, y1, x1 + rng.uniform(0.1, 0.4), y1 + rng.uniform(0.1, 0.4)]
        cell = tuple(np.floor(np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]) * 12))
        if cell not in [c for c, _ in corners]:
            corners.append((cell, box))
    boxes = np.array([b for _, b in corners])
    classes = np.arange(5)
    y = encode_targets(corners_to_center(boxes), classes, 12, ANCHORS, 10)
    confidence, decoded, probs = decode_predictions(y[None])               # the batched form
    found = confidence[0, ..., 0] == 1
    assert found.sum() == 5
    order = np.argsort(probs[0][found].argmax(-1))
    np.testing.assert_allclose(decoded[0][found][order], boxes, atol=1e-12)
    np.testing.assert_array_equal(probs[0][found][order].argmax(-1), classes)


def test_kmeans_finds_known_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0.1, 0.05], [0.3, 0.3], [0.6, 0.2]])
    hw = np.concatenate([c * rng.uniform(0.95, 1.05, (200, 2)) for c in centres])
    anchors, mean_iou = kmeans_anchors(hw, 3, seed=0)
    order = np.argsort(anchors[:, 0])
    np.testing.assert_allclose(anchors[order], centres, rtol=0.05)
    assert mean_iou > 0.9


def test_kmeans_refuses_too_few_boxes():
    with pytest.raises(ValueError, match="at least k=3"):
        kmeans_anchors(np.ones((2, 2)), 3)


# --------------------------------------------------------------------------- the metric, by hand

BOX_A, BOX_B = [10, 10, 30, 40], [50, 50, 80, 70]


def _det(boxes, scores, classes):
    return np.array(boxes, float).reshape(-1, 4), np.array(scores, float), np.array(classes)


def test_a_perfect_detector_scores_one():
    truths = [(np.array([BOX_A, BOX_B]), np.array([1, 2])), (np.array([BOX_B]), np.array([1]))]
    detections = [_det([BOX_A, BOX_B], [0.9, 0.8], [1, 2]), _det([BOX_B], [0.7], [1])]
    result = evaluate_detections(detections, truths)
    assert result["map50"] == 1.0 and result["map"] == 1.0
    assert np.isnan(result["ap50_per_class"][0]) and result["n_true"][1] == 2


def test_a_missed_box_halves_recall():
    truths = [(np.array([BOX_A, BOX_B]), np.array([1, 1]))]
    result = evaluate_detections([_det([BOX_A], [0.9], [1])], truths)
    # 101-point interpolation: precision 1 at recalls 0, 0.01, ..., 0.5 (51 points), 0 beyond
    assert result["map50"] == pytest.approx(51 / 101)


def test_a_duplicate_is_a_false_positive_that_costs_only_when_ranked_above_a_true_one():
    truths = [(np.array([BOX_A, BOX_B]), np.array([1, 1]))]
    dup = [BOX_A[0] + 1, BOX_A[1], BOX_A[2] + 1, BOX_A[3]]
    late = evaluate_detections([_det([BOX_A, BOX_B, dup], [0.9, 0.8, 0.7], [1, 1, 1])], truths)
    early = evaluate_detections([_det([BOX_A, dup, BOX_B], [0.9, 0.8, 0.7], [1, 1, 1])], truths)
    assert late["map50"] == 1.0
    # precision 1 up to recall 0.5, then 2/3 at recall 1
    assert early["map50"] == pytest.approx((51 + 50 * 2 / 3) / 101)


def test_a_wrong_class_misses_the_true_class():
    truths = [(np.array([BOX_A, BOX_B]), np.array([0, 1]))]
    result = evaluate_detections([_det([BOX_A, BOX_B], [0.9, 0.8], [0, 2])], truths)
    assert result["ap50_per_class"][0] == 1.0 and result["ap50_per_class"][1] == 0.0
    assert result["map50"] == 0.5                      # class 2 has no true box: not averaged


def test_a_loose_box_counts_only_at_the_lower_iou_thresholds():
    truth = [0, 0, 100, 100]
    loose = [0, 0, 100, 72]                            # IoU 0.72: a hit at t = 0.50 ... 0.70, a miss above
    result = evaluate_detections([_det([loose], [0.9], [4])], [(np.array([truth]), np.array([4]))])
    assert result["map50"] == 1.0 and result["map"] == pytest.approx(0.5)


def test_average_precision_of_nothing_is_zero():
    assert average_precision(np.array([]), np.array([])) == 0.0
