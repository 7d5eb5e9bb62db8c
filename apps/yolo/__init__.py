"""YOLO object detection on the engine (course module 3).

    formulas.py   the course's formulas: box formats, IoU, non-max suppression, score filtering, grid cells, anchors
    scenes.py     seeded 96 x 96 scenes of handwritten digits with tight boxes; a user's labelled folder
    anchors.py    k-means anchor boxes with 1 - IoU as the distance
    model.py      the fully-convolutional network (conv + batch norm + leaky ReLU) and its activations
    loss.py       the YOLO loss, term by term
    train.py      training through apps.fit (checkpoints, --resume)
    detect.py     Detector: letterboxing, decoding, score filter, per-class NMS, boxes in original pixels
    draw.py       labelled-box PNGs and the JSON of detections
    metrics.py    AP per class, mAP@0.5, mAP@0.5:0.95 (101-point), precision-recall curves
    cli.py        `minigrad yolo train | detect | eval | anchors`
"""

from apps.yolo.formulas import (  # noqa: F401  (the public formulas, importable as apps.yolo.iou, ...)
    best_anchor, box_area, box_scores, center_to_corners, corners_to_center, decode_predictions,
    encode_targets, grid_cell, iou, is_correct_detection, non_max_suppression, pairwise_iou, shape_iou,
    yolo_filter_boxes,
)


def __getattr__(name):
    # Detector pulls in the engine and PIL: loaded on first use, so the formulas stay a light import.
    if name == "Detector":
        from apps.yolo.detect import Detector

        return Detector
    raise AttributeError(f"module 'apps.yolo' has no attribute {name!r}")
