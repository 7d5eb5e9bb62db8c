"""Reductions: sum, mean, max (and the argmax that max with a dim also returns)."""

import builtins
from collections import namedtuple

import numpy as np

from ..autograd import Function
from ..tensor import Tensor

MaxResult = namedtuple("MaxResult", ["values", "indices"])


def normalize_dims(dim, ndim, op):
    """dim as a sorted tuple of non-negative axes; None means every axis."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if not dims:  # an empty dim list reduces every axis, as PyTorch
        return tuple(range(ndim))
    normalized = []
    for d in dims:
        span = builtins.max(ndim, 1)  # a 0-d tensor accepts dim 0 and -1, as PyTorch
        if not -span <= d < span:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimensions")
        normalized.append(d % span)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op}: dim {dim} repeats an axis")
    return tuple(sorted(normalized))


def _keepdim_shape(shape, dims):
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


class Sum(Function):
    def forward(self, a, dims, keepdim):
        self.input_shape = tuple(a.shape)
        self.dims = dims
        return self.xp.sum(a, axis=dims, keepdims=keepdim)

    def backward(self, grad):
        xp = self.xp
        grad = xp.reshape(grad, _keepdim_shape(self.input_shape, self.dims))
        return xp.broadcast_to(grad, self.input_shape)


class MaxAll(Function):
    """max over some dims; ties share the gradient equally (as PyTorch's max() and amax)."""

    name = "max"

    def forward(self, a, dims, keepdim):
        xp = self.xp
        out = xp.max(a, axis=dims, keepdims=True)
        self.save_for_backward(a, out)
        self.dims = dims
        return out if keepdim else xp.reshape(out, tuple(n for i, n in enumerate(a.shape) if i not in dims))

    def backward(self, grad):
        a, out = self.saved_arrays
        xp = self.xp
        is_max = xp.astype(xp.equal(a, out), a.dtype)
        count = xp.sum(is_max, axis=self.dims, keepdims=True)
        grad = xp.reshape(grad, out.shape)
        return xp.multiply(is_max, xp.divide(grad, count))


class MaxDim(Function):
    """max along one dim; the gradient goes to the returned (first) index, as PyTorch."""

    name = "max"

    def forward(self, a, dim, keepdim, indices):
        xp = self.xp
        self.input_shape = tuple(a.shape)
        self.dim = dim
        self.save_for_backward(indices)
        return xp.max(a, axis=dim, keepdims=keepdim)

    def backward(self, grad):
        (indices,) = self.saved_arrays
        xp = self.xp
        dim, shape = self.dim, self.input_shape
        reduced = tuple(n for i, n in enumerate(shape) if i != dim)
        grad = xp.reshape(grad, reduced)
        # one_hot puts the reduced axis last; move it back to position dim.
        spread = xp.multiply(xp.one_hot(indices, shape[dim], grad.dtype), xp.reshape(grad, reduced + (1,)))
        axes = list(range(len(reduced)))
        axes.insert(dim, len(reduced))
        return xp.transpose(spread, tuple(axes))


def sum(x, dim=None, keepdim=False):
    return Sum.apply(x, normalize_dims(dim, x.ndim, "sum"), keepdim)


def mean(x, dim=None, keepdim=False):
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"mean: input must be a floating-point tensor, got {x.dtype}")
    dims = normalize_dims(dim, x.ndim, "mean")
    count = int(np.prod([x.shape[d] for d in dims], dtype=np.int64)) if x.ndim else 1
    return Sum.apply(x, dims, keepdim) / count


def max(x, dim=None, keepdim=False):
    """max(x) -> scalar tensor; max(x, dim) -> (values, indices), as PyTorch."""
    if x.numel() == 0:
        raise RuntimeError(f"max: the input of shape {x.shape} is empty")
    if dim is None:
        return MaxAll.apply(x, normalize_dims(None, x.ndim, "max"), False)
    if not isinstance(dim, int):
        raise TypeError(f"max: dim must be an int, got {dim!r}; use amax for several dims")
    (d,) = normalize_dims(dim, x.ndim, "max")
    indices = x.backend.argmax(x.data, d)
    values = MaxDim.apply(x, d, keepdim, indices)
    if keepdim:
        indices = x.backend.reshape(indices, _keepdim_shape(x.shape, (d,)))
    return MaxResult(values, Tensor._from_array(indices, x.device))


def amax(x, dim=None, keepdim=False):
    return MaxAll.apply(x, normalize_dims(dim, x.ndim, "amax"), keepdim)


def argmax(x, dim=None, keepdim=False):
    xp = x.backend
    if dim is None:
        return Tensor._from_array(xp.argmax(xp.reshape(x.data, (-1,)), 0), x.device)
    (d,) = normalize_dims(dim, x.ndim, "argmax")
    out = xp.argmax(x.data, d)
    if keepdim:
        out = xp.reshape(out, _keepdim_shape(x.shape, (d,)))
    return Tensor._from_array(out, x.device)
