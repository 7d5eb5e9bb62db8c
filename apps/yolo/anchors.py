"""Anchor boxes by k-means on the training boxes' shapes, with ``d = 1 - IoU`` as the distance (YOLOv2).

Euclidean k-means on (h, w) would let big boxes dominate; ``1 - IoU`` of the shapes
(both centred on the same point, ``apps.yolo.shape_iou``) treats a 10% error the same at
every size. Each step assigns every box to the anchor it overlaps most and moves each
anchor to the median shape of its boxes (the median resists outliers); it stops when no
assignment changes.
"""

import numpy as np

from apps.files import save_figure

from apps.yolo.formulas import shape_iou


def kmeans_anchors(boxes_hw, k, seed=0, iterations=100):
    """``k`` anchor shapes ``(h, w)`` (sorted by area) from box shapes ``boxes_hw`` (N, 2); same units as the input.

    Returns ``(anchors (k, 2), mean IoU of each box with its best anchor)``.
    """
    hw = np.asarray(boxes_hw, np.float64).reshape(-1, 2)
    if k < 1:
        raise ValueError(f"k must be a positive number of anchors, got {k}")
    if hw.shape[0] < k:
        raise ValueError(f"boxes_hw must hold at least k={k} boxes, got shape {hw.shape}")
    if np.any(hw <= 0) or not np.all(np.isfinite(hw)):
        raise ValueError("boxes_hw must hold positive finite (h, w) sizes")
    rng = np.random.default_rng(seed)
    anchors = hw[rng.choice(len(hw), k, replace=False)]
    assigned = None
    for _ in range(iterations):
        nearest = np.argmax(shape_iou(hw, anchors), axis=1)      # the smallest 1 - IoU
        if assigned is not None and np.array_equal(nearest, assigned):
            break
        assigned = nearest
        for j in range(k):
            members = hw[assigned == j]
            if len(members):
                anchors[j] = np.median(members, axis=0)
            else:                       # an empty cluster restarts on the box worst served so far
                anchors[j] = hw[np.argmin(shape_iou(hw, anchors).max(axis=1))]
    anchors = anchors[np.argsort(anchors[:, 0] * anchors[:, 1])]
    return anchors, float(shape_iou(hw, anchors).max(axis=1).mean())


def plot_anchors(boxes_hw, anchors, path):
    """Scatter of box shapes (w, h) coloured by their anchor, anchors as crosses; written atomically as PNG."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hw = np.asarray(boxes_hw).reshape(-1, 2)
    nearest = np.argmax(shape_iou(hw, anchors), axis=1)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.scatter(hw[:, 1], hw[:, 0], c=nearest, s=4, cmap="tab10", alpha=0.5)
    ax.scatter(anchors[:, 1], anchors[:, 0], marker="x", s=120, c="black", label="anchors")
    ax.set_xlabel("box width b_w")
    ax.set_ylabel("box height b_h")
    ax.set_title(f"{len(anchors)} anchors by k-means (1 - IoU)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path
