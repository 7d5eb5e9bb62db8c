"""The course's object-detection formulas (YOLO): box formats, IoU, non-max suppression, score filtering, grid cells and anchors.

Notation (module 3 of the course):

- a box in *corners* form is ``(x1, y1, x2, y2)``: top-left and bottom-right corners,
  ``x`` to the right, ``y`` down, ``x1 <= x2`` and ``y1 <= y2``;
- a box in *centre/size* form is ``(bx, by, bh, bw)``: its centre, then its height and width
  (the course's order);
- the image is divided into an ``S x S`` grid; each cell predicts, for each of its
  anchor boxes, ``(pc, bx, by, bh, bw, c_1 ... c_C)``: ``pc`` the probability that an object's
  centre lies in the cell, the box, and the class probabilities. The box score of
  class ``c`` is ``pc * c_c``.

Every function takes numpy arrays, anything ``numpy.asarray`` accepts, or minigrad
tensors, and returns numpy arrays: detection post-processing is not differentiated.
IoU is vectorised over any leading dimensions (numpy broadcasting), so
``non_max_suppression`` handles thousands of boxes without a Python double loop.
"""

import numpy as np

__all__ = [
    "corners_to_center",
    "center_to_corners",
    "box_area",
    "iou",
    "pairwise_iou",
    "is_correct_detection",
    "non_max_suppression",
    "box_scores",
    "yolo_filter_boxes",
    "grid_cell",
    "shape_iou",
    "best_anchor",
    "encode_targets",
    "decode_predictions",
]


def _np(x, dtype=np.float64):
    """A numpy array from a numpy array, a list or a minigrad tensor (anything with ``.numpy()``)."""
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    return np.asarray(x, dtype=dtype)


def _boxes(x, name):
    boxes = _np(x)
    if boxes.ndim == 0 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have a last dimension of 4 (x1, y1, x2, y2), got shape {boxes.shape}")
    if not np.all(np.isfinite(boxes)):
        raise ValueError(f"{name} holds a NaN or infinite coordinate")
    return boxes


def corners_to_center(boxes):
    """Convert corners ``(x1, y1, x2, y2)`` to centre/size ``(bx, by, bh, bw)``.

    ``bx = (x1 + x2) / 2``, ``by = (y1 + y2) / 2``, ``bh = y2 - y1``, ``bw = x2 - x1``.
    Works on any shape ``(..., 4)``.
    """
    b = _boxes(boxes, "boxes")
    x1, y1, x2, y2 = np.moveaxis(b, -1, 0)
    return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, y2 - y1, x2 - x1], axis=-1)


def center_to_corners(boxes):
    """Convert centre/size ``(bx, by, bh, bw)`` to corners ``(x1, y1, x2, y2)``: the inverse of ``corners_to_center``."""
    b = _np(boxes)
    if b.ndim == 0 or b.shape[-1] != 4:
        raise ValueError(f"boxes must have a last dimension of 4 (bx, by, bh, bw), got shape {b.shape}")
    bx, by, bh, bw = np.moveaxis(b, -1, 0)
    return np.stack([bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2], axis=-1)


def box_area(boxes):
    """Area ``(x2 - x1) * (y2 - y1)`` of boxes in corners form; raises ``ValueError`` for an inverted box."""
    b = _boxes(boxes, "boxes")
    w = b[..., 2] - b[..., 0]
    h = b[..., 3] - b[..., 1]
    if np.any(w < 0) or np.any(h < 0):
        bad = np.argwhere((w < 0) | (h < 0))[0]
        raise ValueError(
            f"boxes must have x1 <= x2 and y1 <= y2 (corners form); box at index {tuple(bad)} is inverted: "
            f"{b[tuple(bad)].tolist()}"
        )
    return w * h


def iou(box1, box2):
    """Intersection over union of boxes in corners form ``(x1, y1, x2, y2)``.

    ``IoU = area(box1 ∩ box2) / area(box1 ∪ box2)``, where
    ``area(∪) = area(box1) + area(box2) - area(∩)``.

    It is 1 for identical boxes, 0 for disjoint ones, symmetric, and always in [0, 1].
    ``box1`` and ``box2`` broadcast against each other like numpy arrays of shape
    ``(..., 4)``: one box against ``(N, 4)`` boxes gives ``(N,)``; use
    ``pairwise_iou`` for the ``(N, M)`` matrix.

    Degenerate boxes: an inverted box (``x2 < x1`` or ``y2 < y1``) raises ``ValueError``.
    A zero-area box has IoU 0 with every box, itself included (documented choice:
    when the union is empty the IoU is defined as 0, never NaN).
    """
    a = _boxes(box1, "box1")
    b = _boxes(box2, "box2")
    area_a = box_area(a)
    area_b = box_area(b)
    inter_w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    inter_h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = inter_w * inter_h
    union = area_a + area_b - inter
    out = np.divide(inter, union, out=np.zeros(np.broadcast(inter, union).shape), where=union > 0)
    return np.clip(out, 0.0, 1.0)


def pairwise_iou(boxes1, boxes2):
    """The ``(N, M)`` matrix of IoUs between ``boxes1`` (N, 4) and ``boxes2`` (M, 4), both corners form."""
    a = _boxes(boxes1, "boxes1").reshape(-1, 4)
    b = _boxes(boxes2, "boxes2").reshape(-1, 4)
    return iou(a[:, None, :], b[None, :, :])


def is_correct_detection(predicted, truth, threshold=0.5):
    """The course's convention: a detection is correct when ``IoU(predicted, truth) >= 0.5`` (``threshold``)."""
    return iou(predicted, truth) >= threshold


def _nms_one(boxes, order, iou_threshold, max_boxes):
    """Greedy suppression over the boxes listed in ``order`` (best first); one vectorised IoU per kept box."""
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size and (max_boxes is None or len(keep) < max_boxes):
        best, rest = order[0], order[1:]
        keep.append(best)
        # the same IoU as iou(), inlined to skip its checks inside the loop
        inter = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None) * np.clip(
            np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None
        )
        union = area[best] + area[rest] - inter
        overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[overlap <= iou_threshold]
    return keep


def non_max_suppression(boxes, scores, iou_threshold=0.5, max_boxes=None, classes=None):
    """Non-max suppression: the indices of the boxes to keep, highest score first.

    The course's algorithm: take the box with the highest score and keep it; discard
    every remaining box whose IoU with it is above ``iou_threshold``; repeat with what
    is left. The kept boxes therefore overlap each other by at most ``iou_threshold``.

    ``boxes`` (N, 4) in corners form, ``scores`` (N,). With ``classes`` (N,) integer labels,
    suppression runs separately per class (a car never suppresses a pedestrian);
    the result is still sorted by score. ``max_boxes`` caps the number kept (per class
    when ``classes`` is given). Each step is one vectorised IoU of the best box against
    all remaining ones, so thousands of boxes take milliseconds.
    """
    b = _boxes(boxes, "boxes").reshape(-1, 4)
    s = _np(scores).reshape(-1)
    if s.shape[0] != b.shape[0]:
        raise ValueError(f"scores must have one entry per box: boxes {b.shape}, scores {s.shape}")
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
    box_area(b)  # inverted boxes: a clear error before any work
    order = np.argsort(-s, kind="stable")
    if classes is None:
        keep = _nms_one(b, order, iou_threshold, max_boxes)
    else:
        c = _np(classes, dtype=np.int64).reshape(-1)
        if c.shape[0] != b.shape[0]:
            raise ValueError(f"classes must have one entry per box: boxes {b.shape}, classes {c.shape}")
        keep = []
        for label in np.unique(c):
            keep += _nms_one(b, order[c[order] == label], iou_threshold, max_boxes)
    keep = np.asarray(keep, dtype=np.int64)
    return keep[np.argsort(-s[keep], kind="stable")]


def box_scores(box_confidence, box_class_probs):
    """Box scores ``pc * c_i`` for every class: ``box_confidence`` (..., 1) or (...,), ``box_class_probs`` (..., C)."""
    pc = _np(box_confidence)
    probs = _np(box_class_probs)
    if pc.ndim == probs.ndim - 1:
        pc = pc[..., None]
    if pc.shape[-1] != 1:
        raise ValueError(f"box_confidence must end in a dimension of 1 (pc), got shape {pc.shape}")
    return pc * probs


def yolo_filter_boxes(box_confidence, boxes, box_class_probs, threshold=0.6):
    """Filter boxes by score before non-max suppression.

    For each box, ``score = max_c pc * c_c`` and ``class = argmax_c pc * c_c``; keep the
    boxes with ``score >= threshold``. Shapes: ``box_confidence`` (..., 1),
    ``boxes`` (..., 4), ``box_class_probs`` (..., C) with the same leading dimensions
    (for example ``(S, S, anchors)``). Returns ``(scores (K,), boxes (K, 4), classes (K,))``
    as numpy arrays, in the leading dimensions' row-major order.
    """
    scores_all = box_scores(box_confidence, box_class_probs)
    b = _np(boxes)
    if b.shape[:-1] != scores_all.shape[:-1] or b.shape[-1] != 4:
        raise ValueError(
            f"boxes must be (..., 4) with the same leading shape as the scores: boxes {b.shape}, "
            f"box_class_probs {scores_all.shape}"
        )
    classes = np.argmax(scores_all, axis=-1)
    best = np.max(scores_all, axis=-1)
    mask = best >= threshold
    return best[mask], b[mask], classes[mask]


def grid_cell(bx, by, S, image_width=1.0, image_height=1.0):
    """The ``(row, col)`` of the ``S x S`` grid cell that holds the point ``(bx, by)``: the cell responsible for an object centred there.

    ``col = floor(bx / (image_width / S))``, ``row = floor(by / (image_height / S))``,
    clipped to ``S - 1`` so that a centre on the far edge belongs to the last cell.
    """
    if S < 1:
        raise ValueError(f"S must be a positive grid size, got {S}")
    if not (0 <= bx <= image_width and 0 <= by <= image_height):
        raise ValueError(f"centre ({bx}, {by}) lies outside the image {image_width} x {image_height}")
    col = min(int(np.floor(bx * S / image_width)), S - 1)
    row = min(int(np.floor(by * S / image_height)), S - 1)
    return row, col


def shape_iou(boxes_hw, anchors_hw):
    """The ``(N, K)`` IoUs of box shapes ``(h, w)`` against anchor shapes, all centred on the same point.

    ``IoU = min(h, h_a) * min(w, w_a) / (h * w + h_a * w_a - min(h, h_a) * min(w, w_a))``:
    the box and the anchor are compared by shape only (YOLOv2's k-means distance is ``1 - IoU``).
    """
    hw = _np(boxes_hw).reshape(-1, 2)
    anchors = _np(anchors_hw).reshape(-1, 2)
    shapes = np.stack([-hw[:, 1] / 2, -hw[:, 0] / 2, hw[:, 1] / 2, hw[:, 0] / 2], axis=-1)
    shape_anchors = np.stack([-anchors[:, 1] / 2, -anchors[:, 0] / 2, anchors[:, 1] / 2, anchors[:, 0] / 2], axis=-1)
    return iou(shapes[:, None, :], shape_anchors[None, :, :])


def best_anchor(box_hw, anchors_hw):
    """Index of the anchor box whose shape has the highest IoU with the object's box shape (``shape_iou``)."""
    return int(np.argmax(shape_iou(_np(box_hw).reshape(1, 2), anchors_hw)[0]))


def encode_targets(boxes, classes, S, anchors_hw, n_classes):
    """Build the YOLO training target ``y`` of shape ``(S, S, A, 5 + C)`` from labelled boxes.

    ``boxes`` (N, 4) in centre/size form ``(bx, by, bh, bw)``, normalised to the image
    (0..1). Each object goes to the grid cell that holds its centre (``grid_cell``) and
    to the anchor with the best shape IoU (``best_anchor``). There the vector is
    ``(pc=1, bx, by, bh, bw, one-hot class)``; ``bx, by`` are relative to the cell
    (0..1 inside it) and ``bh, bw`` relative to the image. Everywhere else ``pc = 0``.
    """
    b = _np(boxes).reshape(-1, 4)
    c = _np(classes, dtype=np.int64).reshape(-1)
    anchors = _np(anchors_hw).reshape(-1, 2)
    y = np.zeros((S, S, anchors.shape[0], 5 + n_classes))
    for (bx, by, bh, bw), label in zip(b, c):
        if not 0 <= label < n_classes:
            raise ValueError(f"class {label} is outside 0..{n_classes - 1}")
        row, col = grid_cell(bx, by, S)
        a = best_anchor((bh, bw), anchors)
        y[row, col, a, :5] = [1.0, bx * S - col, by * S - row, bh, bw]
        y[row, col, a, 5 + label] = 1.0
    return y


def decode_predictions(y):
    """Turn a YOLO output ``(S, S, A, 5 + C)`` back into image-level pieces.

    Returns ``(box_confidence (S, S, A, 1), boxes (S, S, A, 4) in corners form,
    box_class_probs (S, S, A, C))``, ready for ``yolo_filter_boxes``. The inverse of
    ``encode_targets`` for the cells that hold an object. Leading batch dimensions
    ``(..., S, S, A, 5 + C)`` are kept: a batch decodes in one call.
    """
    y = _np(y)
    if y.ndim < 4:
        raise ValueError(f"y must be (..., S, S, A, 5 + C), got shape {y.shape}")
    S = y.shape[-4]
    rows, cols = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    bx = (y[..., 1] + cols[..., None]) / S
    by = (y[..., 2] + rows[..., None]) / S
    centre = np.stack([bx, by, y[..., 3], y[..., 4]], axis=-1)
    return y[..., :1], center_to_corners(centre), y[..., 5:]
