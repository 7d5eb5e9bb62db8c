"""Digit scenes with exact boxes: a seeded generator of 96x96 handwriting scenes, and a reader for a user's labelled folder.

No detection set with boxes installs offline, so the scenes are built from the 5,000
MNIST digits that ship with minigrad (``minigrad.data.load_digits``):

- a 96 x 96 grayscale canvas (white ink on black, values in [0, 1]) holds 1-6 digits;
- each digit is scaled so that its ink is 14-48 px tall; two digits overlap by at most
  IoU 0.3, and none hides more than 35% of another's box;
- the background is noisy and cluttered with things that are not objects: strokes,
  blobs and small fragments of digits;
- each box is tight, computed from the digit's ink after scaling (pixels above
  ``INK``), never from the pasted square. Boxes are corners ``(x1, y1, x2, y2)`` in
  pixels with ``x2, y2`` exclusive: a digit whose ink covers columns 10..19 has
  ``x1 = 10, x2 = 20``.

Splits are disjoint at the level of the digit images and fixed whatever the training
seed: ``digit_pools()`` holds out exactly the 1,000 test digits that ``minigrad train
lenet5`` holds out (100 per class, ``stratified_split(..., seed=SPLIT_SEED)``), then 25
per class for validation; training scenes use only the remaining 3,750.

A user's own folder (``load_folder``): images of any format PIL reads, each with a text
file of the same stem (``scene.png`` + ``scene.txt``) holding one box per line,
``class_id x1 y1 x2 y2`` in pixels of that image (``#`` starts a comment; an image without
a text file has no objects).
"""

import os

import numpy as np
from PIL import Image

from apps.yolo.formulas import box_area, pairwise_iou
from minigrad.data import load_digits, stratified_split

SIZE = 96                 # canvas side, px
DIGIT_PX = (14, 48)       # range of a digit's ink height after scaling, px
MAX_DIGITS = 6
MAX_OVERLAP = 0.3         # largest IoU allowed between two digits' boxes
MAX_COVER = 0.35          # largest share of a digit's box that another digit may cover
INK = 0.25                # a pixel brighter than this is ink (the tight box's rule)
CLASS_NAMES = tuple(str(d) for d in range(10))
# The held-out split of `minigrad train lenet5` (apps/digits/train.py): the same rule and
# seed, so its 1,000 test digits are the only ones our test scenes draw from.
SPLIT_SEED, TEST_PER_CLASS, VAL_PER_CLASS = 0, 100, 25
SPLITS = ("train", "val", "test")
SPLIT_SALT = {"train": 11, "val": 12, "test": 13}   # different scene streams per split


def digit_pools():
    """{split: (images (n, 28, 28) float32, labels (n,) int64, indices into load_digits())}, disjoint."""
    digits = load_digits()
    test, val, train = stratified_split(digits.labels, [TEST_PER_CLASS, VAL_PER_CLASS, None], seed=SPLIT_SEED)
    return {name: (digits.images[idx, 0], digits.labels[idx], idx)
            for name, idx in (("train", train), ("val", val), ("test", test))}


def _ink_box(image):
    """Tight (x1, y1, x2, y2) of the pixels above INK, x2/y2 exclusive; None when there is no ink."""
    rows = np.flatnonzero((image > INK).any(axis=1))
    cols = np.flatnonzero((image > INK).any(axis=0))
    if rows.size == 0:
        return None
    return cols[0], rows[0], cols[-1] + 1, rows[-1] + 1


def _resize(image, height, width):
    return np.asarray(Image.fromarray(image.astype(np.float32), mode="F").resize((width, height), Image.BILINEAR))


def _scaled_digit(image, ink_height):
    """The digit cropped to its ink (plus a 1-px margin) and scaled so its ink is ``ink_height`` px tall."""
    x1, y1, x2, y2 = _ink_box(image)
    crop = np.pad(image[y1:y2, x1:x2], 1)
    scale = ink_height / (y2 - y1)
    h, w = crop.shape
    return np.clip(_resize(crop, max(2, round(h * scale)), max(2, round(w * scale))), 0, 1)


def _first_free(candidates, boxes):
    """Index of the first candidate box that overlaps every box so far by IoU <= MAX_OVERLAP and hides at most
    MAX_COVER of any of them (or of itself); None when none does.

    The second rule keeps a small digit from vanishing inside a big one (their IoU is small
    but the small one would be unreadable). Intersection from IoU: inter = IoU (a + b) / (1 + IoU).
    """
    if not boxes:
        return 0
    candidates, others = np.asarray(candidates, np.float64), np.asarray(boxes, np.float64)
    overlap = pairwise_iou(candidates, others)                          # (candidates, boxes so far)
    a, b = box_area(candidates)[:, None], box_area(others)[None, :]
    inter = overlap * (a + b) / (1 + overlap)
    free = np.all((overlap <= MAX_OVERLAP) & (inter <= MAX_COVER * np.minimum(a, b)), axis=1)
    return int(np.argmax(free)) if free.any() else None


def _clutter(canvas, rng, images):
    """Things that are not objects: strokes, soft blobs, and fragments (corners of digits, too small to read)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for _ in range(rng.integers(0, 5)):
        kind = rng.integers(0, 3)
        level = rng.uniform(0.3, 0.9)
        if kind == 0:                                   # a straight stroke
            x0, y0 = rng.uniform(0, SIZE, 2)
            angle, length = rng.uniform(0, np.pi), rng.uniform(6, 30)
            t = np.linspace(0, length, int(length * 2))
            px = np.clip((x0 + t * np.cos(angle)).astype(int), 0, SIZE - 1)
            py = np.clip((y0 + t * np.sin(angle)).astype(int), 0, SIZE - 1)
            canvas[py, px] = np.maximum(canvas[py, px], level)
        elif kind == 1:                                 # a soft blob
            cx, cy, r = rng.uniform(0, SIZE), rng.uniform(0, SIZE), rng.uniform(1.5, 5)
            blob = level * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
            np.maximum(canvas, blob, out=canvas)
        else:                                           # a fragment of a digit
            digit = images[rng.integers(len(images))]
            r0, c0 = rng.integers(0, 16, 2)
            piece = digit[r0:r0 + 10, c0:c0 + 10]
            side = int(rng.integers(6, 13))
            piece = _resize(piece, side, side) * level
            y, x = rng.integers(0, SIZE - side, 2)
            np.maximum(canvas[y:y + side, x:x + side], piece, out=canvas[y:y + side, x:x + side])


def make_scene(rng, images, labels):
    """One scene: (image (96, 96) float32 in [0, 1], boxes (k, 4) float32 corners in px, classes (k,) int64)."""
    canvas = np.zeros((SIZE, SIZE), np.float32)
    _clutter(canvas, rng, images)
    boxes, classes = [], []
    for _ in range(int(rng.integers(1, MAX_DIGITS + 1))):
        i = int(rng.integers(len(images)))
        digit = _scaled_digit(images[i], rng.uniform(*DIGIT_PX)) * rng.uniform(0.75, 1.0)
        ink = _ink_box(digit)
        if ink is None:
            continue
        h, w = digit.shape
        # 20 candidate places at once; the first free one wins
        ys = rng.integers(-ink[1], SIZE - ink[3] + 1, 20)
        xs = rng.integers(-ink[0], SIZE - ink[2] + 1, 20)
        candidates = np.stack([xs + ink[0], ys + ink[1], xs + ink[2], ys + ink[3]], axis=1)
        chosen = _first_free(candidates, boxes)
        if chosen is None:
            continue
        x, y, box = int(xs[chosen]), int(ys[chosen]), tuple(int(v) for v in candidates[chosen])
        # paste the part of the digit's square that falls on the canvas (the ink always does)
        top, left = max(y, 0), max(x, 0)
        bottom, right = min(y + h, SIZE), min(x + w, SIZE)
        patch = digit[top - y:bottom - y, left - x:right - x]
        np.maximum(canvas[top:bottom, left:right], patch, out=canvas[top:bottom, left:right])
        boxes.append(box)
        classes.append(int(labels[i]))
    noise = rng.uniform(0.0, 0.08)
    canvas = np.clip(canvas + rng.normal(0, noise, canvas.shape) + rng.uniform(0, 0.1), 0, 1).astype(np.float32)
    return canvas, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int64)


class _Batches:
    """``get_batch(indices)`` -> (images (k, 1, 96, 96), targets): each scene's ``target_fn(boxes, classes)`` stacked
    (or the raw (boxes, classes) pairs without one), so a loader can batch any set with a ``scene(i)``."""

    target_fn = None

    def get_batch(self, indices):
        scenes = [self.scene(int(i)) for i in indices]
        images = np.stack([s[0] for s in scenes])[:, None]
        if self.target_fn is None:
            return images, [(s[1], s[2]) for s in scenes]
        return images, np.stack([self.target_fn(s[1], s[2]) for s in scenes])

    def __getitem__(self, i):
        return self.scene(i)


class SceneSet(_Batches):
    """``n`` scenes of one split; scene ``i`` is a pure function of (seed, split, i), built when asked for.

    ``scene(i)`` -> (image (96, 96), boxes (k, 4) px, classes (k,)).
    """

    def __init__(self, split, n, seed=0, target_fn=None, pools=None):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if n < 1:
            raise ValueError(f"n must be a positive number of scenes, got {n}")
        pools = pools or digit_pools()
        self.split, self.n, self.seed, self.target_fn = split, int(n), int(seed), target_fn
        self.images, self.labels, self.digit_indices = pools[split]

    def __len__(self):
        return self.n

    def scene(self, i):
        if not 0 <= i < self.n:
            raise IndexError(f"scene {i} is outside 0..{self.n - 1}")
        rng = np.random.default_rng([self.seed, SPLIT_SALT[self.split], int(i)])
        return make_scene(rng, self.images, self.labels)


class FolderSet(_Batches):
    """A user's labelled folder (``load_folder``) as scenes: each image letterboxed to 96 x 96 and its boxes moved
    with it. Index ``i`` wraps around (``i % len``), so a small folder fills any number of batches."""

    def __init__(self, folder, target_fn=None):
        self.items, self.target_fn = load_folder(folder), target_fn

    def __len__(self):
        return len(self.items)

    def scene(self, i):
        from apps.yolo.images import letterbox, to_gray

        path, boxes, classes = self.items[int(i) % len(self.items)]
        canvas, scale, (pad_x, pad_y) = letterbox(to_gray(path), SIZE)
        return canvas, (boxes * scale + np.array([pad_x, pad_y, pad_x, pad_y], np.float32)).astype(np.float32), classes


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def read_box_file(path, n_classes=len(CLASS_NAMES)):
    """Boxes of one image from its text file: lines ``class_id x1 y1 x2 y2`` (pixels); (boxes (k, 4), classes (k,))."""
    boxes, classes = [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            try:
                label, coords = int(parts[0]), [float(v) for v in parts[1:]]
            except ValueError:
                raise ValueError(f"{path}:{number}: expected 'class_id x1 y1 x2 y2', got {line!r}") from None
            # not (x1 < x2): a NaN compares False both ways, so "x2 <= x1" alone would let 'nan' through.
            if (len(coords) != 4 or not 0 <= label < n_classes or not np.all(np.isfinite(coords))
                    or not (coords[0] < coords[2] and coords[1] < coords[3])):
                raise ValueError(f"{path}:{number}: expected 'class_id x1 y1 x2 y2' with class in 0..{n_classes - 1}, "
                                 f"finite coordinates and x1 < x2, y1 < y2, got {line!r}")
            boxes.append(coords)
            classes.append(label)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int64)


def load_folder(folder):
    """A user's labelled folder: a list of (image path, boxes (k, 4) px, classes (k,)), sorted by file name."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no such folder: {folder}")
    items = []
    for name in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(name)
        if ext.lower() not in IMAGE_EXTENSIONS:
            continue
        labels = os.path.join(folder, stem + ".txt")
        if os.path.exists(labels):
            boxes, classes = read_box_file(labels)
        else:
            boxes, classes = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
        items.append((os.path.join(folder, name), boxes, classes))
    if not items:
        raise ValueError(f"{folder} holds no image ({', '.join(IMAGE_EXTENSIONS)})")
    return items
