"""YOLO object detection on the engine (course module 3).

    formulas.py   the course's formulas: box formats, IoU, non-max suppression, score filtering, grid cells, anchors
"""

from apps.yolo.formulas import (  # noqa: F401  (the public formulas, importable as apps.yolo.iou, ...)
    best_anchor, box_area, box_scores, center_to_corners, corners_to_center, decode_predictions,
    encode_targets, grid_cell, iou, is_correct_detection, non_max_suppression, pairwise_iou,
    yolo_filter_boxes,
)
