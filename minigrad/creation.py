"""Making tensors: tensor(), zeros, ones, full, randn, rand, arange and their *_like forms."""

import numpy as np

from . import random
from .backend import get_backend, normalize_device
from .tensor import _DEFAULT_FLOAT, Tensor


def tensor(data, requires_grad=False, dtype=None, device="cpu"):
    """A new tensor holding a copy of data (a numpy array keeps its dtype; floats give float32, ints int64)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def from_numpy(array):
    return Tensor(array)


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"shape must be non-negative ints, got {shape}")
    return tuple(int(n) for n in shape)


def _make(array_fn, shape, dtype, device, requires_grad):
    device = normalize_device(device)
    dtype = np.dtype(dtype) if dtype is not None else _DEFAULT_FLOAT
    data = array_fn(get_backend(device), _shape(shape), dtype)
    return Tensor._from_array(data, device, requires_grad=requires_grad)


def zeros(*shape, dtype=None, device="cpu", requires_grad=False):
    return _make(lambda xp, s, d: xp.zeros(s, d), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device="cpu", requires_grad=False):
    return _make(lambda xp, s, d: xp.ones(s, d), shape, dtype, device, requires_grad)


def full(shape, fill_value, dtype=None, device="cpu", requires_grad=False):
    return _make(lambda xp, s, d: xp.full(s, fill_value, d), (shape,), dtype, device, requires_grad)


def randn(*shape, dtype=None, device="cpu", requires_grad=False):
    """Standard normal samples from the generator that mg.manual_seed seeds."""
    def sample(xp, s, d):
        return xp.asarray(random.generator().standard_normal(s).astype(d))
    return _make(sample, shape, dtype, device, requires_grad)


def rand(*shape, dtype=None, device="cpu", requires_grad=False):
    def sample(xp, s, d):
        return xp.asarray(random.generator().random(s).astype(d))
    return _make(sample, shape, dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device="cpu"):
    if end is None:
        start, end = 0, start
    values = np.arange(start, end, step)
    if dtype is None and np.issubdtype(values.dtype, np.floating):
        dtype = _DEFAULT_FLOAT
    return Tensor(values, dtype=dtype, device=device)


def zeros_like(x, dtype=None, requires_grad=False):
    return zeros(*x.shape, dtype=dtype or x.dtype, device=x.device, requires_grad=requires_grad)


def ones_like(x, dtype=None, requires_grad=False):
    return ones(*x.shape, dtype=dtype or x.dtype, device=x.device, requires_grad=requires_grad)


def randn_like(x, dtype=None, requires_grad=False):
    return randn(*x.shape, dtype=dtype or x.dtype, device=x.device, requires_grad=requires_grad)
