"""Detection (course module 3): the shipped YOLO weights' boxes on held-out test scenes, and mAP@0.5 (apps.yolo)."""

import numpy as np

from apps.tour.context import Unavailable
from apps.tour.page import Item

SHOWN = 6      # scenes drawn on the page
ZOOM = 3       # the 96 x 96 scenes are drawn 3x larger so the labels can be read


def _detector(ctx):
    """The shipped Detector, or (with --train) one trained from scratch by apps.yolo's own training."""
    try:
        from apps.yolo import Detector
    except ImportError:
        raise Unavailable("the YOLO application (apps.yolo) is not in this installation yet") from None
    if ctx.train:
        from apps.yolo.train import TrainConfig, train

        config = TrainConfig(out=ctx.scratch("yolo"), seed=ctx.seed, progress=False)
        result = train(config, log=lambda line: None)
        return Detector.load(result["weights"]), "trained from scratch (--train)", "minigrad yolo train --seed 0"
    try:
        return Detector.load(), "the shipped weights", "minigrad yolo eval"
    except FileNotFoundError as error:
        raise Unavailable(f"{error}; or run the tour with --train") from None


def detection(ctx):
    detector, source, command = _detector(ctx)
    from PIL import Image

    from apps.yolo.draw import draw_boxes
    from apps.yolo.metrics import evaluate_detections
    from apps.yolo.scenes import CLASS_NAMES, SceneSet

    n = ctx.pick(100, 500)
    scenes = SceneSet("test", n, seed=0)
    images, truths = [], []
    for i in range(n):
        image, boxes, classes = scenes.scene(i)
        images.append(image)
        truths.append((boxes, classes))
    # A low score threshold for the metric (precision-recall needs the weak boxes too); the default for the pictures.
    scored = detector.detect(images, score_threshold=0.01)
    metric = evaluate_detections(scored, truths, len(CLASS_NAMES))
    shown = detector.detect(images[:SHOWN])
    tiles = []
    for image, (boxes, scores, classes) in zip(images[:SHOWN], shown):
        gray = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))
        big = gray.resize((gray.width * ZOOM, gray.height * ZOOM), Image.NEAREST).convert("RGB")
        tiles.append(draw_boxes(big, np.asarray(boxes) * ZOOM, scores, classes))
    _mosaic(tiles, 3, ctx.path("detection.png"))
    map50 = metric["map50"]
    return Item(
        "YOLO on scenes of digits",
        "Each test scene is 96 x 96 pixels of handwritten digits never seen in training, with clutter that is "
        "not an object. The network outputs, per grid cell and anchor, p_c, b_x, b_y, b_h, b_w and the class "
        "probabilities; boxes whose score p_c x c_i passes the threshold go through non-max suppression "
        f"(IoU > 0.45 removed). The weights are {source}. mAP@0.5 is the mean over the ten digits of the "
        "area under the precision-recall curve, a box counting as right when its IoU with a true box is >= 0.5.",
        images=[("detection.png", f"the first {SHOWN} test scenes with the detected boxes and scores")],
        facts=[f"mAP@0.5 = {map50:.3f} (mAP@0.5:0.95 = {metric['map']:.3f}) on {n} test scenes"],
        command=command + (f" --scenes {n}" if command.endswith("eval") else ""),
    )


def _mosaic(tiles, columns, path):
    """PIL tiles side by side in rows, 6 px apart on white, saved as PNG atomically."""
    import os

    from PIL import Image

    w, h = tiles[0].size
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (w + 6) - 6, rows * (h + 6) - 6), "white")
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % columns) * (w + 6), (k // columns) * (h + 6)))
    tmp = f"{path}.{os.getpid()}.tmp"
    sheet.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
