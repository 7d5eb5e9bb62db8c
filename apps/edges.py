"""Edge detection with the course's hand-made filters (vertical, horizontal, Sobel, Scharr) and F.conv2d.

The course convolves a grayscale image with a 3x3 filter by sliding the filter over
the image and summing the element-wise products (strictly a cross-correlation: the
filter is not flipped, as in every deep-learning library):

    out[i, j] = sum_{u=0}^{f-1} sum_{v=0}^{f-1} x[i*s + u, j*s + v] * w[u, v]

An n x n image and an f x f filter give (n - f + 1) x (n - f + 1) (valid), or
floor((n + 2p - f)/s) + 1 with padding p and stride s. Every filter below sums to
zero, so a flat region gives a zero response: only changes of brightness light up.

    >>> detect_edges(six_by_six, VERTICAL)   # the notes' 6x6 example -> 4x4, first row -5 -4 0 8
"""

import numpy as np

import minigrad as mg
import minigrad.functional as F

__all__ = ["VERTICAL", "HORIZONTAL", "SOBEL", "SCHARR", "FILTERS", "detect_edges"]

#: Bright on the left, dark on the right gives a positive response.
VERTICAL = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float32)
#: The transpose of VERTICAL: bright above, dark below gives a positive response.
HORIZONTAL = np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=np.float32)
#: Vertical edges with more weight on the central row.
SOBEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
#: Vertical edges, Scharr's weights.
SCHARR = np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]], dtype=np.float32)

FILTERS = {"vertical": VERTICAL, "horizontal": HORIZONTAL, "sobel": SOBEL, "scharr": SCHARR}

for _f in FILTERS.values():
    _f.setflags(write=False)


def _tensor(x, dtype=None):
    """A Tensor from a Tensor, an array or a list; float64 arrays stay float64, anything else becomes ``dtype`` or float32."""
    if isinstance(x, mg.Tensor):
        return x
    x = np.asarray(x)
    if dtype is None:
        dtype = np.float64 if x.dtype == np.float64 else np.float32
    return mg.tensor(x.astype(dtype, copy=False))


def detect_edges(image, kernel=VERTICAL, stride=1, padding=0):
    """Convolve an image with one edge filter (each channel separately).

    Args:
        image: (n_H, n_W) grayscale, (n_C, n_H, n_W) or (N, n_C, n_H, n_W); a numpy array,
            a list or a minigrad Tensor.
        kernel: an f x f filter, e.g. ``VERTICAL``; an array or a Tensor (a Tensor with
            ``requires_grad`` lets the filter be learned, as the course suggests).
        stride, padding: s and p, as in ``F.conv2d`` (padding may be "valid" or "same").

    Returns:
        A Tensor with the image's layout: (n_H', n_W'), (n_C, n_H', n_W') or
        (N, n_C, n_H', n_W'), where n' = floor((n + 2p - f)/s) + 1.
    """
    x = _tensor(image)
    w = _tensor(kernel, dtype=x.dtype)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"kernel must be a square f x f filter, got shape {tuple(w.shape)}")
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"image must be (n_H, n_W), (n_C, n_H, n_W) or (N, n_C, n_H, n_W), got shape {tuple(x.shape)}")
    shape = tuple(x.shape)
    batch = x.reshape(-1, 1, shape[-2], shape[-1])           # every channel as its own 1-channel image
    out = F.conv2d(batch, w.reshape(1, 1, *w.shape), stride=stride, padding=padding)
    return out.reshape(*shape[:-2], out.shape[-2], out.shape[-1])
