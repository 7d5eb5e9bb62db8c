"""Any image to the network's input and back: grayscale in [0, 1] with light ink, letterboxed to 96 x 96, boxes mapped back.

An image may be a path, a PIL image or a numpy array (H, W), (H, W, 3|4), of any size,
mode and bit depth (8- or 16-bit, RGB, RGBA, palette, float). It becomes grayscale in
[0, 1] (alpha composited over black); when its border is light (dark ink on paper) it
is inverted, because the network learned light ink on a dark ground. Letterboxing
scales the longer side to 96 px, keeps the aspect ratio and pads with the ground's
level, centred; ``unletterbox`` undoes the padding and the scale.
"""

import os

import numpy as np
from PIL import Image

INPUT_SIZE = 96


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
