"""Detection: any image -> letterboxed 96 x 96 -> the network -> score filter -> per-class non-max suppression -> boxes in the original pixels.

Python::

    from apps.yolo import Detector
    detector = Detector.load()                 # the shipped weights; Detector.load("my.npz") for yours
    for boxes, scores, class_ids in detector.detect(["scene.png", numpy_image, pil_image]):
        ...                                    # boxes (k, 4) as (x1, y1, x2, y2) in the image's own pixels

An image may be a path, a PIL image or a numpy array of any size, mode and bit depth;
``apps.yolo.images`` makes it grayscale, light ink on dark, and letterboxes it to
96 x 96; the boxes are mapped back to the original pixels by ``unletterbox``.
"""

import os

import numpy as np
from PIL import Image

import minigrad as mg
from apps.yolo.formulas import decode_predictions, non_max_suppression, yolo_filter_boxes
from apps.yolo.images import letterbox, to_gray, unletterbox  # noqa: F401  (to_gray: part of detect's API)
from apps.yolo.model import course_output, from_state_dict

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "yolo.npz")
SCORE_THRESHOLD = 0.5     # p_c x class probability a box needs to be shown
IOU_THRESHOLD = 0.45      # non-max suppression, per class
MAX_BOXES = 50


def postprocess(y, score_threshold=SCORE_THRESHOLD, iou_threshold=IOU_THRESHOLD, max_boxes=MAX_BOXES):
    """The course's pipeline on a batch ``y`` (N, S, S, B, 5 + C): ``decode_predictions``, ``yolo_filter_boxes``
    (score = p_c x c_i), then per-class ``non_max_suppression``. Boxes come out normalised to the input (0..1)."""
    confidence, boxes, probs = decode_predictions(y)
    results = []
    for n in range(y.shape[0]):
        scores, kept_boxes, classes = yolo_filter_boxes(confidence[n], boxes[n], probs[n], score_threshold)
        keep = non_max_suppression(kept_boxes, scores, iou_threshold, classes=classes)[:max_boxes]
        results.append((kept_boxes[keep], scores[keep], classes[keep].astype(np.int64)))
    return results


# ------------------------------------------------------------------------------------- detector

class Detector:
    """A trained YoloNet with its pre- and post-processing. ``Detector.load(path=None)`` reads the shipped weights."""

    def __init__(self, model, score_threshold=SCORE_THRESHOLD, iou_threshold=IOU_THRESHOLD, batch_size=32):
        self.model = model.eval()
        self.score_threshold, self.iou_threshold, self.batch_size = score_threshold, iou_threshold, batch_size

    @classmethod
    def load(cls, path=None, **options):
        path = WEIGHTS if path is None else os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no YOLO weights at {path}: train with `minigrad yolo train` or pass --weights")
        state = mg.load(path)
        if not isinstance(state, dict) or "anchors" not in state or "head.weight" not in state:
            raise ValueError(f"{path} is not a YOLO weights file (it has no anchors or no head)")
        try:
            model = from_state_dict(state)
        except (RuntimeError, KeyError, IndexError) as error:
            raise ValueError(f"{path} does not fit the YOLO network: {str(error).splitlines()[0]}") from None
        return cls(model, **options)

    def predict_batch(self, batch, score_threshold=None):
        """(N, 1, 96, 96) float32 scenes -> per image (boxes normalised 0..1, scores, class_ids)."""
        with mg.no_grad():
            t = self.model(mg.tensor(np.ascontiguousarray(batch, np.float32)))
        y = course_output(t, self.model.anchors)
        threshold = self.score_threshold if score_threshold is None else score_threshold
        return postprocess(y, threshold, self.iou_threshold)

    def detect(self, images, score_threshold=None):
        """A list of (boxes (k, 4) in the original pixels, scores (k,), class_ids (k,)), one per image.

        ``images``: one image or a list (paths, PIL images, numpy arrays). A path that cannot
        be read raises OSError/ValueError naming it (``detect_files`` reports and goes on instead).
        """
        if isinstance(images, (str, os.PathLike, Image.Image)) or (isinstance(images, np.ndarray) and images.ndim <= 3
                                                                    and not (images.ndim == 3 and images.shape[-1] > 4)):
            images = [images]
        prepared = []
        for image in images:
            gray = to_gray(image)
            prepared.append(letterbox(gray) + (gray.shape,))
        results = []
        for start in range(0, len(prepared), self.batch_size):
            chunk = prepared[start:start + self.batch_size]
            batch = np.stack([canvas for canvas, _, _, _ in chunk])[:, None]
            for (boxes, scores, classes), (_, scale, pad, (h, w)) in zip(self.predict_batch(batch, score_threshold), chunk):
                results.append((unletterbox(boxes, scale, pad, w, h).astype(np.float32), scores.astype(np.float32),
                                classes))
        return results

