"""Data augmentation on batches of images (the course's mirroring, random cropping, rotating, shearing and colour shifting).

Every transform works on a whole batch at once: a numpy array of shape (N, C, H, W)
(NCHW, the engine's layout), float32 or float64, and returns a new array of the same
dtype. Each image in the batch draws its own random parameters. Labels never pass
through a transform, so augmentation cannot change a label (the course's point: a
mirrored cat is still a cat).

Randomness is seeded for reproducibility. A transform built with ``seed=s`` owns a
``numpy.random.Generator`` and gives the same sequence of outputs every time it is
rebuilt with the same seed. A caller that manages its own randomness (the
``DataLoader`` does, per epoch) passes ``rng=`` to the call instead.

    >>> from minigrad.transforms import Compose, RandomRotation, RandomCrop
    >>> augment = Compose([RandomRotation(10, seed=0), RandomCrop(28, padding=2, seed=1)])
    >>> augment(batch).shape == batch.shape
    True
"""

import numpy as np

__all__ = [
    "Transform",
    "Compose",
    "RandomMirror",
    "RandomCrop",
    "RandomRotation",
    "RandomShear",
    "ColorShift",
]


def _check_batch(x, name="x"):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got shape {x.shape}")
    return x


class Transform:
    """Base class: a seeded, batch-wise random transform. Subclasses define ``apply(x, rng)``."""

    def __init__(self, seed=None):
        self.rng = np.random.default_rng(seed)

    def __call__(self, x, rng=None):
        x = _check_batch(np.asarray(x) if not isinstance(x, np.ndarray) else x)
        return self.apply(x, self.rng if rng is None else rng)

    def apply(self, x, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "rng")
        return f"{type(self).__name__}({args})"


class Compose:
    """Apply transforms one after another; ``rng`` (if given) is shared by all of them."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        for t in self.transforms:
            x = t(x, rng=rng)
        return x

    def __repr__(self):
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class RandomMirror(Transform):
    """Mirror images left to right, each with probability ``p`` (default 0.5).

    Range: ``p`` in [0, 1]; ``p=1`` mirrors every image. The pixel values are only
    moved, never changed.
    """

    def __init__(self, p=0.5, seed=None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        super().__init__(seed)
        self.p = float(p)

    def apply(self, x, rng):
        flip = rng.random(x.shape[0]) < self.p
        out = x.copy()
        out[flip] = x[flip, :, :, ::-1]
        return out


class RandomCrop(Transform):
    """Pad each image by ``padding`` zeros on every side, then cut a random ``size`` x ``size`` window.

    Range: the window's top-left corner is uniform over every position where it fits,
    0 .. H + 2*padding - size (and likewise for width). ``size`` may be an int or
    (height, width); it must fit inside the padded image. With ``padding=2`` and
    ``size`` equal to the image size, this shifts each digit by up to 2 pixels.
    """

    def __init__(self, size, padding=0, fill=0.0, seed=None):
        super().__init__(seed)
        self.size = (size, size) if np.isscalar(size) else tuple(size)
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        self.padding = int(padding)
        self.fill = fill

    def apply(self, x, rng):
        n, c, h, w = x.shape
        p = self.padding
        ch, cw = self.size
        if ch > h + 2 * p or cw > w + 2 * p:
            raise ValueError(
                f"RandomCrop size {self.size} is larger than the padded image ({h + 2 * p}, {w + 2 * p}) "
                f"(image {h}x{w}, padding {p})"
            )
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=self.fill) if p else x
        tops = rng.integers(0, h + 2 * p - ch + 1, size=n)
        lefts = rng.integers(0, w + 2 * p - cw + 1, size=n)
        out = np.empty((n, c, ch, cw), dtype=x.dtype)
        for i in range(n):
            out[i] = padded[i, :, tops[i]:tops[i] + ch, lefts[i]:lefts[i] + cw]
        return out


def _affine(x, matrices, fill=0.0):
    """Resample each image i at the points ``A_i @ (y, x)`` around its centre (bilinear; outside is ``fill``).

    ``matrices`` has shape (N, 2, 2) and maps output coordinates to input
    coordinates (the inverse of the visible motion), both measured from the centre.
    """
    n, c, h, w = x.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
    grid = np.stack([yy.ravel(), xx.ravel()])                      # (2, H*W)
    src = matrices @ grid                                           # (N, 2, H*W)
    sy, sx = src[:, 0] + cy, src[:, 1] + cx
    y0, x0 = np.floor(sy).astype(np.int64), np.floor(sx).astype(np.int64)
    wy, wx = (sy - y0).astype(x.dtype), (sx - x0).astype(x.dtype)
    flat = x.reshape(n, c, h * w)
    out = np.zeros((n, c, h * w), dtype=x.dtype)
    rows = np.arange(n)[:, None]
    for dy, dx, weight in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx),
                           (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        yi, xi = y0 + dy, x0 + dx
        inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
        idx = np.where(inside, yi * w + xi, 0)
        vals = flat[rows, :, idx]                                   # (N, H*W, C)
        vals = np.where(inside[..., None], vals, fill)
        out += (weight[..., None] * vals).transpose(0, 2, 1)
    return out.reshape(n, c, h, w).astype(x.dtype, copy=False)


class RandomRotation(Transform):
    """Rotate each image about its centre by an angle drawn uniformly from [-degrees, degrees].

    Range: ``degrees`` >= 0 (the default 15); bilinear interpolation; pixels that come
    from outside the image are ``fill`` (0, the background of the digits).
    """

    def __init__(self, degrees=15.0, fill=0.0, seed=None):
        if degrees < 0:
            raise ValueError(f"degrees must be >= 0, got {degrees}")
        super().__init__(seed)
        self.degrees = float(degrees)
        self.fill = fill

    def apply(self, x, rng):
        theta = np.deg2rad(rng.uniform(-self.degrees, self.degrees, size=x.shape[0]))
        cos, sin = np.cos(theta), np.sin(theta)
        # output (y, x) comes from input R(-theta) (y, x)
        m = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)
        return _affine(x, m, self.fill)


class RandomShear(Transform):
    """Shear each image horizontally: row y moves by k * (y - centre), with k uniform in [-shear, shear].

    Range: ``shear`` >= 0 (the default 0.2, about 11 degrees of slant); bilinear
    interpolation; pixels from outside the image are ``fill``.
    """

    def __init__(self, shear=0.2, fill=0.0, seed=None):
        if shear < 0:
            raise ValueError(f"shear must be >= 0, got {shear}")
        super().__init__(seed)
        self.shear = float(shear)
        self.fill = fill

    def apply(self, x, rng):
        k = rng.uniform(-self.shear, self.shear, size=x.shape[0])
        one, zero = np.ones_like(k), np.zeros_like(k)
        m = np.stack([np.stack([one, zero], -1), np.stack([-k, one], -1)], 1)
        return _affine(x, m, self.fill)


class ColorShift(Transform):
    """Shift each colour channel of each image by an offset drawn uniformly from [-max_shift, max_shift].

    This is the course's "change the RGB scale randomly": every pixel of channel c of
    image i gets the same offset, so the colour balance moves while the picture stays
    the same. Range: ``max_shift`` >= 0, in the units of the pixel values (default 0.1
    for images in [0, 1]); the result is clipped to ``clip`` (default (0, 1); None
    disables clipping).
    """

    def __init__(self, max_shift=0.1, clip=(0.0, 1.0), seed=None):
        if max_shift < 0:
            raise ValueError(f"max_shift must be >= 0, got {max_shift}")
        super().__init__(seed)
        self.max_shift = float(max_shift)
        self.clip = clip

    def apply(self, x, rng):
        n, c = x.shape[:2]
        shift = rng.uniform(-self.max_shift, self.max_shift, size=(n, c, 1, 1)).astype(x.dtype)
        out = x + shift
        if self.clip is not None:
            out = np.clip(out, self.clip[0], self.clip[1])
        return out.astype(x.dtype, copy=False)
