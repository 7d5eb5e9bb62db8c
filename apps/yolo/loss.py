"""The YOLO loss, term by term, built on ``apps.yolo``'s formulas (targets by ``encode_targets``, boxes by ``decode_predictions``, IoU by ``iou``).

Notation: the grid has S x S cells i and B anchors j per cell; ``1^obj_ij`` is 1 when
anchor j of cell i is *responsible* for an object (the cell holds the object's centre
and anchor j has the best shape IoU with it: ``encode_targets``), ``1^noobj_ij`` is
``1 - 1^obj_ij``. Hats are the targets, ``(p_h, p_w)`` the anchor's shape. For one
image, the loss is

    J = lambda_coord sum_ij 1^obj_ij [ (b_x - b^_x)^2 + (b_y - b^_y)^2
                                       + (log b_h - log b^_h)^2 + (log b_w - log b^_w)^2 ]
      + sum_ij 1^obj_ij BCE(p_c, 1)            (or BCE(p_c, IoU(box_ij, truth)) with rescore)
      + lambda_noobj sum_ij 1^noobj_ij 1^far_ij BCE(p_c, 0)
      + sum_ij 1^obj_ij ( - log c_{class^} )

- the box: squared error for the responsible anchor only, on the centre offsets inside
  the cell ``b_x = sigmoid(t_x)`` and on ``log b_h = log p_h + t_h`` (sizes in log space, so a
  10% error costs the same for a small digit as for a big one);
- objectness on every anchor: ``BCE(p, y) = -(y log p + (1 - y) log(1 - p))``; where
  there is no object it is down-weighted by ``lambda_noobj``, and not punished at all
  where the predicted box already overlaps a true box by IoU > ``ignore_iou`` (0.6):
  ``1^far_ij = [max_k IoU(box_ij, truth_k) <= 0.6]`` (YOLOv2), so a good second guess
  of a neighbouring anchor is not pushed down;
- the class: cross-entropy of the softmax ``c_1 ... c_C`` against the true class.

The batch loss is the mean over images of ``J``. ``1^far`` and the rescoring target
``IoU(box_ij, truth)`` are computed from the predictions without a gradient (a mask and a
target, as in YOLOv2). Training uses rescoring (``apps.yolo.train``); the function's
default is the plain target 1.
"""

import numpy as np

import minigrad as mg
import minigrad.functional as F
from apps.yolo.formulas import decode_predictions, iou
from apps.yolo.model import activate, course_output

LAMBDA_COORD = 5.0
LAMBDA_NOOBJ = 0.5
IGNORE_IOU = 0.6
RESCORE = False


def overlaps_with_truth(t, targets, anchors_hw):
    """IoUs of every predicted box (N, S, S, B): with the true box it overlaps most, and with its own target box
    (0 where the anchor is not responsible). Numpy, no gradient: the loss uses them as masks and targets."""
    _, predicted, _ = decode_predictions(course_output(t, anchors_hw))           # (N, S, S, B, 4)
    if not np.all(np.isfinite(predicted)):
        # A diverged network's boxes have no IoU: NaN here makes the loss NaN, which training's guard
        # reports (with the learning rate), instead of iou() refusing the boxes.
        nan = np.full(predicted.shape[:-1], np.nan)
        return nan, nan
    has_object, truth, _ = decode_predictions(targets)
    n = targets.shape[0]
    flat_truth = truth.reshape(n, -1, 4)
    flat_obj = has_object.reshape(n, -1) > 0.5
    k = max(int(flat_obj.sum(axis=1).max(initial=0)), 1)
    padded = np.zeros((n, k, 4))                                                  # zero-area boxes: IoU 0
    for image in range(n):
        boxes = flat_truth[image][flat_obj[image]]
        padded[image, :len(boxes)] = boxes
    best = iou(predicted[..., None, :], padded[:, None, None, None, :, :]).max(axis=-1)
    own = np.where(has_object[..., 0] > 0.5, iou(predicted, np.where(has_object > 0.5, truth, 0.0)), 0.0)
    return best, own


def far_from_truth(t, targets, anchors_hw, ignore_iou=IGNORE_IOU):
    """``1^far`` (N, S, S, B): 1 where the predicted box overlaps no true box by more than ``ignore_iou``."""
    return (overlaps_with_truth(t, targets, anchors_hw)[0] <= ignore_iou).astype(np.float64)


def yolo_loss(t, targets, anchors_hw, lambda_coord=LAMBDA_COORD, lambda_noobj=LAMBDA_NOOBJ, ignore_iou=IGNORE_IOU,
              rescore=RESCORE):
    """The YOLO loss of raw outputs ``t`` (N, S, S, B, 5 + C) against ``targets`` from ``encode_targets`` (same shape).

    ``rescore``: the responsible anchor's objectness target is the IoU of its box with the truth (YOLOv2's
    rescoring, so p_c ranks boxes by how well they fit) instead of 1.

    Returns ``(loss, parts)``: the scalar tensor and a dict of its four terms (floats) for logging.
    """
    targets = np.asarray(targets)
    if tuple(t.shape) != targets.shape:
        raise ValueError(f"yolo_loss: outputs t {tuple(t.shape)} and targets {targets.shape} must have the same shape")
    dtype = t.dtype
    n = targets.shape[0]
    obj = targets[..., 0:1]
    best, own = overlaps_with_truth(t, targets, anchors_hw)
    noobj = (1.0 - obj) * (best <= ignore_iou)[..., None]
    obj_target = np.clip(own[..., None], 0.0, 1.0) if rescore else np.ones_like(obj)
    log_hw_target = np.log(np.where(obj > 0, targets[..., 3:5], 1.0))

    def const(array):
        return mg.tensor(np.ascontiguousarray(array, dtype=dtype))

    p_c, b_xy, log_b_hw, logits = activate(t, anchors_hw)
    obj_t = const(obj)
    box = ((((b_xy - const(targets[..., 1:3])) ** 2) * obj_t).sum() +
           (((log_b_hw - const(log_hw_target)) ** 2) * obj_t).sum())
    bce_obj = F.binary_cross_entropy(p_c, const(obj_target), reduction="none")
    bce_noobj = F.binary_cross_entropy(p_c, const(np.zeros_like(obj)), reduction="none")
    objectness = (bce_obj * obj_t).sum()
    no_object = (bce_noobj * const(noobj)).sum()
    classes = -(F.log_softmax(logits, dim=-1) * const(targets[..., 5:] * obj)).sum()
    loss = (box * lambda_coord + objectness + no_object * lambda_noobj + classes) * (1.0 / n)
    parts = {"box": box.item() * lambda_coord / n, "obj": objectness.item() / n,
             "noobj": no_object.item() * lambda_noobj / n, "class": classes.item() / n}
    return loss, parts
