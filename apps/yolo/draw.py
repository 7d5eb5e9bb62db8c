"""What `minigrad yolo detect` writes: images with labelled boxes (PNG) and the JSON of every detection, both atomically."""

import json
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from apps.yolo.scenes import CLASS_NAMES

COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def viewable(path, gray=None):
    """The image at ``path`` as 8-bit RGB for drawing on; 16-bit and exotic modes fall back to ``gray`` (0..1)."""
    try:
        with Image.open(path) as pil:
            if pil.mode.startswith("I") or pil.mode == "F":
                raise ValueError("not 8-bit")
            if "A" in pil.mode or "transparency" in pil.info:
                rgba = pil.convert("RGBA")
                ground = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
                return Image.alpha_composite(ground, rgba).convert("RGB")
            return pil.convert("RGB")
    except (OSError, ValueError):
        if gray is None:
            raise
        return Image.fromarray((np.clip(gray, 0, 1) * 255).astype(np.uint8)).convert("RGB")


def draw_boxes(image, boxes, scores, class_ids, class_names=CLASS_NAMES):
    """A copy of the RGB PIL ``image`` with each box outlined and labelled "class score"."""
    out = image.copy()
    pen = ImageDraw.Draw(out)
    width = max(1, round(max(out.size) / 200))
    try:
        font = ImageFont.load_default(size=max(10, round(max(out.size) / 40)))
    except TypeError:                                  # Pillow < 10.1 has one size only
        font = ImageFont.load_default()
    for box, score, cls in zip(np.asarray(boxes).reshape(-1, 4), scores, class_ids):
        colour = COLOURS[int(cls) % len(COLOURS)]
        x1, y1, x2, y2 = [float(v) for v in box]
        pen.rectangle([x1, y1, max(x1, x2 - 1), max(y1, y2 - 1)], outline=colour, width=width)
        label = f"{class_names[int(cls)]} {float(score):.2f}"
        left, top, right, bottom = pen.textbbox((x1, y1), label, font=font)
        ty = y1 - (bottom - top) - 2 if y1 - (bottom - top) - 2 >= 0 else y2 + 1
        pen.rectangle([x1, ty, x1 + (right - left) + 2, ty + (bottom - top) + 2], fill=colour)
        pen.text((x1 + 1, ty - (top - y1)), label, fill=(0, 0, 0), font=font)
    return out


def save_png(image, path):
    """Write a PIL image as PNG atomically (temp file, then os.replace)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    image.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def detections_json(entries, class_names=CLASS_NAMES):
    """The documented format: {"images": [{"path", "width", "height", "detections": [{"box", "class_id", "class", "score"}]}]}.

    ``entries``: (path, width, height, (boxes, scores, class_ids)) per image; boxes in the image's pixels.
    """
    images = []
    for path, width, height, (boxes, scores, class_ids) in entries:
        images.append({
            "path": str(path), "width": int(width), "height": int(height),
            "detections": [{"box": [round(float(v), 2) for v in box], "class_id": int(cls),
                            "class": class_names[int(cls)], "score": round(float(score), 4)}
                           for box, score, cls in zip(np.asarray(boxes).reshape(-1, 4), scores, class_ids)],
        })
    return {"images": images}


def write_json(obj, path):
    """Write JSON atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    return path
