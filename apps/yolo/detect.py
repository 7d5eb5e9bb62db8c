"""Detection: any image -> letterboxed 96 x 96 -> the network -> score filter -> per-class non-max suppression -> boxes in the original pixels.

Python::

    from apps.yolo import Detector
    detector = Detector.load()                 # the shipped weights; Detector.load("my.npz") for yours
    for boxes, scores, class_ids in detector.detect(["scene.png", numpy_image, pil_image]):
        ...                                    # boxes (k, 4) as (x1, y1, x2, y2) in the image's own pixels

An image may be a path, a PIL image or a numpy array (H, W), (H, W, 3|4), of any size,
mode and bit depth (8- or 16-bit, RGB, RGBA, palette, float). It becomes grayscale in
[0, 1] (alpha composited over black); when its border is light (dark ink on paper) it
is inverted, because the network learned light ink on a dark ground. Letterboxing
scales the longer side to 96 px, keeps the aspect ratio and pads with the ground's
colour, centred; the boxes are mapped back by undoing the padding and the scale.
"""

import os

import numpy as np
from PIL import Image

import minigrad as mg
from apps.yolo.formulas import decode_predictions, non_max_suppression, yolo_filter_boxes
from apps.yolo.model import INPUT_SIZE, course_output, from_state_dict
from apps.yolo.scenes import CLASS_NAMES

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


# ------------------------------------------------------------------------------------- images

def to_gray(image):
    """Any image (path, PIL, numpy) -> float32 (H, W) in [0, 1], light ink on a dark ground."""
    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as pil:
            pil.load()
            image = pil.copy()
    if isinstance(image, Image.Image):
        image = _pil_to_array(image)
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] in (1, 3, 4):
        a = _channels_to_gray(a)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ValueError(f"image must be (H, W), (H, W, 3) or (H, W, 4), got shape {np.asarray(image).shape}")
    if a.dtype.kind in "ui":
        a = a.astype(np.float64) / _full_scale(a)
    a = np.clip(np.nan_to_num(a.astype(np.float64)), 0.0, 1.0)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if np.median(border) > 0.5:                        # dark ink on a light ground: make it like the training scenes
        a = 1.0 - a
    return a.astype(np.float32)


def _full_scale(a):
    """White level of an integer image: 255 for 8-bit, 65535 for 16-bit; a 32-bit one (PIL's "I") by its values."""
    if a.dtype.itemsize == 1:
        return 255.0
    if a.dtype.itemsize == 2 or a.max(initial=0) > 255:
        return 65535.0
    return 255.0


def _pil_to_array(pil):
    if pil.mode.startswith("I") or pil.mode == "F":
        return np.asarray(pil)                          # 16/32-bit integers or floats: to_gray scales them
    if pil.mode in ("P", "LA", "PA", "CMYK", "YCbCr", "1", "HSV", "RGBa"):
        pil = pil.convert("RGBA" if "A" in pil.mode or "transparency" in pil.info else "RGB")
    return np.asarray(pil)


def _channels_to_gray(a):
    scale = _full_scale(a) if a.dtype.kind in "ui" else 1.0
    a = a.astype(np.float64) / scale
    alpha = a[..., 3] if a.shape[-1] == 4 else 1.0
    rgb = a[..., :3] if a.shape[-1] >= 3 else a[..., :1]
    gray = rgb @ np.array([0.299, 0.587, 0.114]) if rgb.shape[-1] == 3 else rgb[..., 0]
    return gray * alpha                                # transparent parts become the dark ground


def letterbox(gray, size=INPUT_SIZE):
    """(canvas (size, size), scale, (pad_x, pad_y)): the image scaled to fit, centred, padded with its ground level."""
    h, w = gray.shape
    scale = size / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = np.asarray(Image.fromarray(gray, mode="F").resize((new_w, new_h), Image.BILINEAR))
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.full((size, size), float(np.median(resized)), np.float32)
    canvas[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized
    return canvas, scale, (pad_x, pad_y)


def unletterbox(boxes, scale, pad, width, height, size=INPUT_SIZE):
    """Boxes normalised to the letterboxed input (0..1) -> pixels of the original image, clipped to it."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4) * size
    b = (b - np.array([pad[0], pad[1], pad[0], pad[1]])) / scale
    return np.clip(b, 0, [width, height, width, height])


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

