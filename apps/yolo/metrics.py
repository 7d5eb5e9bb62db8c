"""Detection metrics as the field reports them: AP per class, mAP@0.5 and COCO's mAP@0.5:0.95 (101-point interpolation), and the precision-recall curve.

For one class and one IoU threshold ``t``: sort every detection of that class (over all
images) by score, highest first; a detection is a *true positive* when its best-IoU
true box of that class in the same image has ``IoU >= t`` and has not been claimed by a
higher-scored detection, otherwise a *false positive* (a duplicate, a poor box, or a
wrong class — a detection labelled 7 on a true 1 is a false 7 and leaves the 1 missed).
After the k-th detection, ``precision = TP / k`` and ``recall = TP / (number of true
boxes)``. The precision envelope ``p_interp(r) = max_{r' >= r} precision(r')`` is read
at the 101 recalls ``0, 0.01, ..., 1`` (0 beyond the last recall reached) and averaged:
that is AP (COCO's rule). mAP averages AP over the classes that have a true box;
mAP@0.5:0.95 averages mAP over ``t = 0.50, 0.55, ..., 0.95``.
"""


import numpy as np

from apps.files import save_figure

from apps.yolo.formulas import pairwise_iou

RECALL_POINTS = np.linspace(0.0, 1.0, 101)
COCO_THRESHOLDS = np.round(np.arange(0.5, 0.951, 0.05), 2)


def _match(detections, truths, cls, threshold):
    """(scores, is_true_positive) of every detection of class ``cls`` over all images, and the number of true boxes."""
    scores, hits, n_true = [], [], 0
    for (boxes, det_scores, det_classes), (true_boxes, true_classes) in zip(detections, truths):
        mine = np.flatnonzero(np.asarray(det_classes) == cls)
        truth = np.asarray(true_boxes, np.float64).reshape(-1, 4)[np.asarray(true_classes) == cls]
        n_true += len(truth)
        if not len(mine):
            continue
        order = mine[np.argsort(-np.asarray(det_scores)[mine], kind="stable")]
        overlaps = pairwise_iou(np.asarray(boxes, np.float64).reshape(-1, 4)[order], truth) if len(truth) else None
        claimed = np.zeros(len(truth), bool)
        for k, index in enumerate(order):
            hit = False
            if overlaps is not None:
                candidates = np.where(claimed, -1.0, overlaps[k])
                best = int(np.argmax(candidates))
                if candidates[best] >= threshold:
                    claimed[best] = hit = True
            scores.append(float(np.asarray(det_scores)[index]))
            hits.append(hit)
    return np.asarray(scores), np.asarray(hits, bool), n_true


def precision_recall(detections, truths, cls, threshold=0.5):
    """(precision, recall) after each detection of class ``cls`` in score order, and the number of true boxes."""
    scores, hits, n_true = _match(detections, truths, cls, threshold)
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    precision = tp / np.arange(1, len(tp) + 1)
    recall = tp / max(n_true, 1)
    return precision, recall, n_true


def average_precision(precision, recall):
    """AP with 101-point interpolation: the mean of the precision envelope at recalls 0, 0.01, ..., 1."""
    if len(precision) == 0:
        return 0.0
    envelope = np.maximum.accumulate(np.asarray(precision, np.float64)[::-1])[::-1]
    at = np.searchsorted(recall, RECALL_POINTS, side="left")        # first point reaching each recall
    return float(np.where(at < len(envelope), envelope[np.minimum(at, len(envelope) - 1)], 0.0).mean())


def evaluate_detections(detections, truths, n_classes=10, thresholds=COCO_THRESHOLDS):
    """mAP@0.5, mAP@0.5:0.95 and AP per class.

    detections: per image (boxes (k, 4) corners, scores (k,), class_ids (k,)) — what ``Detector.detect`` returns;
    truths: per image (boxes (m, 4), class_ids (m,)), in the same pixels.
    Returns a dict: ``map50``, ``map`` (0.5:0.95), ``ap50_per_class`` and ``ap_per_class`` (lists, NaN for a
    class with no true box), ``n_true`` per class.
    """
    if len(detections) != len(truths):
        raise ValueError(f"detections and truths must cover the same images: {len(detections)} vs {len(truths)}")
    thresholds = np.asarray(thresholds, np.float64)
    ap = np.full((len(thresholds), n_classes), np.nan)
    n_true = np.zeros(n_classes, np.int64)
    for cls in range(n_classes):
        for i, t in enumerate(thresholds):
            precision, recall, n_true[cls] = precision_recall(detections, truths, cls, t)
            if n_true[cls]:
                ap[i, cls] = average_precision(precision, recall)
    at_half = int(np.argmin(np.abs(thresholds - 0.5)))
    present = n_true > 0
    return {
        "map50": float(np.mean(ap[at_half, present])) if present.any() else 0.0,
        "map": float(np.mean(ap[:, present])) if present.any() else 0.0,
        "ap50_per_class": ap[at_half].tolist(),
        "ap_per_class": [float(ap[:, c].mean()) if present[c] else float("nan") for c in range(n_classes)],
        "n_true": n_true.tolist(),
    }


def plot_pr_curves(detections, truths, path, class_names, threshold=0.5):
    """Precision-recall curve of each class at IoU ``threshold``, one PNG, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    for cls, name in enumerate(class_names):
        precision, recall, n_true = precision_recall(detections, truths, cls, threshold)
        if n_true and len(precision):
            ap = average_precision(precision, recall)
            ax.plot(recall, precision, lw=1.2, label=f"{name}: AP {ap:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.set_title(f"precision-recall per class, IoU >= {threshold}")
    if ax.lines:
        ax.legend(fontsize=7, loc="lower left", ncol=2)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path
