"""Pictures in and out for style transfer: read and size the images, the bundled examples, and every file a run writes (atomically)."""


import numpy as np

from apps.files import save_figure, write_atomic
from apps.files import save_json as _save_json

__all__ = ["EXAMPLE_CONTENT", "EXAMPLE_STYLE", "example", "load_image", "fit_to", "save_png", "save_side_by_side",
           "save_loss_curves", "save_json"]

# scikit-image's bundled pictures (offline): photographs as content, textures as style.
EXAMPLE_CONTENT = ("astronaut", "coffee", "chelsea")
EXAMPLE_STYLE = ("brick", "grass", "gravel")


def _rgb(array):
    x = np.asarray(array)
    if x.ndim == 2:
        x = np.repeat(x[:, :, None], 3, axis=2)
    return (x[:, :, :3].astype(np.float32) / 255.0) if x.dtype == np.uint8 else x[:, :, :3].astype(np.float32)


def example(name):
    """A scikit-image bundled picture as (H, W, 3) float RGB in [0, 1] (grey textures become grey RGB)."""
    if name not in EXAMPLE_CONTENT + EXAMPLE_STYLE:
        raise ValueError(f"unknown example {name!r}; choose from {', '.join(EXAMPLE_CONTENT + EXAMPLE_STYLE)}")
    import skimage.data

    return _rgb(getattr(skimage.data, name)())


def load_image(path):
    """A picture file as (H, W, 3) float RGB in [0, 1]; ValueError naming the file when it is not a picture."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return _rgb(np.asarray(image.convert("RGB")))
    except FileNotFoundError:
        raise FileNotFoundError(2, "No such file or directory", str(path)) from None
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"could not read {path} as an image: {error}") from None


def _resize(image, height, width):
    from PIL import Image

    pil = Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
    return np.asarray(pil.resize((width, height), Image.LANCZOS), dtype=np.float32) / 255.0


def fit_to(image, size=None, shape=None):
    """Resize: to a longer side of ``size`` (keeping the aspect), or centre-crop to ``shape``'s aspect then resize to it."""
    h, w = image.shape[:2]
    if shape is None:
        scale = size / max(h, w)
        return _resize(image, max(1, round(h * scale)), max(1, round(w * scale)))
    th, tw = shape
    if h * tw > w * th:                      # too tall for the target: crop rows
        keep = max(1, round(w * th / tw))
        top = (h - keep) // 2
        image = image[top:top + keep]
    else:
        keep = max(1, round(h * tw / th))
        left = (w - keep) // 2
        image = image[:, left:left + keep]
    return _resize(image, th, tw)


def save_png(image, path):
    """(H, W, 3) or (H, W) floats in [0, 1] as a PNG, atomically."""
    from PIL import Image

    pixels = (np.clip(np.asarray(image, dtype=np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    write_atomic(path, lambda f: Image.fromarray(pixels).save(f, format="PNG"))


def save_side_by_side(images, path, gap=4):
    """Pictures of the same height next to each other, white gaps between them, as one PNG."""
    height = max(image.shape[0] for image in images)
    parts = []
    for i, image in enumerate(images):
        if image.shape[0] != height:
            image = _resize(image, height, max(1, round(image.shape[1] * height / image.shape[0])))
        if i:
            parts.append(np.ones((height, gap, 3), np.float32))
        parts.append(image)
    save_png(np.concatenate(parts, axis=1), path)


def save_loss_curves(history, path, title="style transfer"):
    """J_content, J_style and J against the evaluation number, log scale, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    steps = np.arange(1, len(history["J"]) + 1)
    for key in ("J", "J_content", "J_style"):
        values = np.asarray(history[key], dtype=np.float64)
        values = np.where(values > 0, values, np.nan)     # J_content is 0 at a content start: no point on a log axis
        ax.plot(steps, values, label=key)
    ax.set_yscale("log")
    ax.set_xlabel("evaluation of J")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def save_json(data, path):
    return _save_json(data, path)
