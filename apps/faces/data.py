"""Faces to train and test on: LFW's 100 faces from scikit-image, views made by augmentation, and a user's people/ folder.

No package that installs offline ships faces labelled by person, so, as in one-shot
learning, each photo is one identity and its *views* are random augmentations of it
(a crop of 80-100%, a rotation of up to +-10 degrees, brightness and contrast, a
horizontal flip, blur and noise). Views of one photo are easier to match than two
different photos of one person: the numbers measured here say the network learned
invariance to these changes and to nothing else (not age, pose, light or expression).

The split is by identity: faces 0-49 train, faces 50-99 are never seen in training.
Images are (N, 1, S, S) float32 in [0, 1]; S = ``SIZE`` = 25, LFW's own size.
"""

import os
from pathlib import Path

import numpy as np

from apps.cli_args import CLIError

SIZE = 25                      # encoder input: S x S grayscale, the size skimage ships LFW at
NUM_FACES = 100                # lfw_subset(): 100 faces, then 100 non-faces
TRAIN_IDS = np.arange(0, 50)   # identities the encoder trains on
UNSEEN_IDS = np.arange(50, 100)  # identities only evaluation ever sees
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def load_lfw_faces():
    """The 100 LFW faces of scikit-image as (100, 25, 25) float32 in [0, 1]; face i is identity i."""
    from skimage.data import lfw_subset

    return np.asarray(lfw_subset()[:NUM_FACES], dtype=np.float32)


# ----------------------------------------------------------------------------- views

def _bilinear(images, src_y, src_x):
    """Sample each image i at (src_y[i], src_x[i]) (pixel units, (N, S, S) each) with bilinear weights.

    Points outside are clamped to the border: a face rotated near its edge keeps its
    own edge pixels rather than a black corner the encoder could latch onto.
    """
    n, h, w = images.shape
    y = np.clip(src_y, 0, h - 1)
    x = np.clip(src_x, 0, w - 1)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2)
    wy, wx = (y - y0).astype(np.float32), (x - x0).astype(np.float32)
    flat = images.reshape(n, h * w)
    rows = np.arange(n)[:, None, None]
    top = flat[rows, y0 * w + x0] * (1 - wx) + flat[rows, y0 * w + x0 + 1] * wx
    bottom = flat[rows, (y0 + 1) * w + x0] * (1 - wx) + flat[rows, (y0 + 1) * w + x0 + 1] * wx
    return top * (1 - wy) + bottom * wy


def _blur3(images):
    """A 3x3 binomial blur ([1 2 1]/4 in each direction), edges replicated."""
    p = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = (p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]) / 4
    return (rows[:, :, :-2] + 2 * rows[:, :, 1:-1] + rows[:, :, 2:]) / 4


def augment(faces, rng, size=SIZE, strength=1.0):
    """One random view of each face: (N, H, W) in [0, 1] -> (N, 1, size, size) float32 in [0, 1].

    All of a view's geometry is one affine map per image (crop, rotation, flip), so the
    whole batch is resampled in one vectorised bilinear gather; then brightness and
    contrast, a blur of random strength and Gaussian noise. ``strength`` = 0 gives the
    plain resized face (for enrolment pictures and tests).
    """
    faces = np.asarray(faces, dtype=np.float32)
    n, h, w = faces.shape
    s = strength
    scale = 1 - s * rng.uniform(0, 0.2, n)                    # crop side: 80-100% of the face
    angle = np.deg2rad(s * rng.uniform(-10, 10, n))           # rotation up to +-10 degrees
    flip = np.where(rng.random(n) < 0.5 * s, -1.0, 1.0)       # horizontal flip
    room = (1 - scale) / 2                                    # the crop may sit anywhere inside the face
    shift_y = rng.uniform(-1, 1, n) * room * (h - 1)
    shift_x = rng.uniform(-1, 1, n) * room * (w - 1)
    # Output pixel (u, v), measured from the centre in [-1/2, 1/2] of the output, maps to the input at
    # centre + shift + scale * R(angle) @ (u * flip, v) in input pixels.
    grid = (np.arange(size, dtype=np.float64) - (size - 1) / 2) / max(size - 1, 1)
    gu, gv = np.meshgrid(grid, grid, indexing="ij")           # (size, size): row, column offsets
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = gu[None], gv[None] * flip[:, None, None]
    k = scale[:, None, None]
    src_y = (h - 1) / 2 + shift_y[:, None, None] + k * (h - 1) * (cos * u - sin * v)
    src_x = (w - 1) / 2 + shift_x[:, None, None] + k * (w - 1) * (sin * u + cos * v)
    views = _bilinear(faces, src_y, src_x)
    contrast = 1 + s * rng.uniform(-0.3, 0.3, (n, 1, 1))
    brightness = s * rng.uniform(-0.15, 0.15, (n, 1, 1))
    mean = views.mean(axis=(1, 2), keepdims=True)
    views = (views - mean) * contrast + mean + brightness
    blur = (s * rng.uniform(0, 1, (n, 1, 1))).astype(np.float32)   # 0: sharp, 1: one full 3x3 blur
    views = (1 - blur) * views + blur * _blur3(views)
    views = views + rng.normal(0, 1, views.shape) * (s * rng.uniform(0, 0.03, (n, 1, 1)))
    return np.clip(views, 0, 1).astype(np.float32)[:, None]


def views_of(faces, per_face, seed, strength=1.0):
    """``per_face`` seeded views of every face: (len(faces), per_face, 1, S, S)."""
    rng = np.random.default_rng(seed)
    faces = np.asarray(faces, dtype=np.float32)
    stacked = np.repeat(faces, per_face, axis=0)
    out = augment(stacked, rng, strength=strength)
    return out.reshape(len(faces), per_face, *out.shape[1:])


# ----------------------------------------------------------------------------- a user's pictures

def to_gray_square(image, size=SIZE):
    """Any picture (PIL image, or numpy (H, W), (H, W, C), (C, H, W) with C in 1, 3, 4; uint8 or float) -> (size, size) float32 in [0, 1].

    Colour becomes luminance (ITU-R 601 weights), alpha is dropped, the central square
    is kept (a face photo is usually taller than wide) and resized with antialiasing.
    """
    from PIL import Image

    if isinstance(image, Image.Image):
        array = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    else:
        array = np.asarray(image)
        if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
            array = np.moveaxis(array, 0, -1)        # CHW -> HWC
        if array.ndim == 3:
            if array.shape[-1] not in (1, 3, 4):
                raise ValueError(f"image: expected (H, W), (H, W, C) or (C, H, W) with C in 1, 3, 4; got shape {array.shape}")
            array = array[..., 0] if array.shape[-1] == 1 else array[..., :3] @ np.array([0.299, 0.587, 0.114])
        if array.ndim != 2 or min(array.shape) < 1:
            raise ValueError(f"image: expected a 2-D picture (H, W) or (H, W, C), got shape {np.asarray(image).shape}")
        is_int = np.issubdtype(np.asarray(image).dtype, np.integer)
        array = array.astype(np.float32) / (255.0 if is_int else 1.0)
    h, w = array.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = array[top:top + side, left:left + side]
    if side != size:
        resized = Image.fromarray(np.clip(square * 255, 0, 255).astype(np.uint8)).resize((size, size), Image.LANCZOS)
        square = np.asarray(resized, dtype=np.float32) / 255.0
    return np.clip(square, 0, 1).astype(np.float32)


def read_image(path, size=SIZE):
    """Read one picture file -> (size, size) float32; an unreadable file is a CLIError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return to_gray_square(image, size)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise CLIError(f"cannot read image {path}: {type(error).__name__}: {error}") from None


def read_people(folder):
    """``people/<name>/*.jpg`` -> {name: [paths]} (sorted), checked before any encoding.

    An empty folder, a person without pictures, or a stray file at the top is a CLIError.
    """
    root = Path(folder)
    if not root.is_dir():
        raise CLIError(f"people folder {folder} is not a folder")
    people = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            continue
        pictures = sorted(str(p) for p in entry.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not pictures:
            raise CLIError(f"{entry} holds no pictures ({', '.join(IMAGE_SUFFIXES)}): put one or more photos of "
                           f"{entry.name} in it, or remove it")
        people[entry.name] = pictures
    if not people:
        raise CLIError(f"{folder} is empty: expected one folder per person, e.g. {os.path.join(folder, 'alice', '1.jpg')}")
    return people
