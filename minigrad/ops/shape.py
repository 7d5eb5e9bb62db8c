"""Shape operations: reshape, transpose/permute, basic indexing, cat and stack."""

import math

import numpy as np

from ..autograd import Function


class Reshape(Function):
    def forward(self, a, shape):
        self.input_shape = tuple(a.shape)
        return self.xp.reshape(a, shape)

    def backward(self, grad):
        return self.xp.reshape(grad, self.input_shape)


class Permute(Function):
    def forward(self, a, axes):
        self.axes = axes
        return self.xp.transpose(a, axes)

    def backward(self, grad):
        return self.xp.transpose(grad, tuple(np.argsort(self.axes)))


class GetItem(Function):
    name = "getitem"

    def forward(self, a, index):
        self.input_shape, self.index = tuple(a.shape), index
        return self.xp.getitem(a, index)

    def backward(self, grad):
        return self.xp.index_put_zeros(self.input_shape, self.index, grad, grad.dtype)


class Cat(Function):
    def forward(self, *arrays, dim):
        self.dim = dim
        self.sizes = [a.shape[dim] for a in arrays]
        return self.xp.concatenate(arrays, axis=dim)

    def backward(self, grad):
        grads, start = [], 0
        for size, needed in zip(self.sizes, self.needs_input_grad):
            index = (slice(None),) * self.dim + (slice(start, start + size),)
            grads.append(self.xp.getitem(grad, index) if needed else None)
            start += size
        return tuple(grads)


def _check_dim(dim, ndim, op):
    if not -ndim <= dim < ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for {ndim} dimensions")
    return dim % ndim


def reshape(x, *shape):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
    known = math.prod(n for n in shape if n != -1)
    if shape.count(-1) > 1 or (-1 not in shape and known != x.numel()) or (
        -1 in shape and (known == 0 or x.numel() % known)
    ):
        raise RuntimeError(f"reshape: shape {shape} is invalid for an input of shape {x.shape} ({x.numel()} elements)")
    if -1 in shape:
        shape = tuple(x.numel() // known if n == -1 else n for n in shape)
    return Reshape.apply(x, shape)


def permute(x, *dims):
    dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else tuple(dims)
    if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} dimensions of shape {x.shape}")
    return Permute.apply(x, tuple(d % x.ndim for d in dims))


def transpose(x, dim0, dim1):
    axes = list(range(x.ndim))
    d0, d1 = _check_dim(dim0, x.ndim, "transpose"), _check_dim(dim1, x.ndim, "transpose")
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return Permute.apply(x, tuple(axes))


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    start, end = _check_dim(start_dim, x.ndim, "flatten"), _check_dim(end_dim, x.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(x, x.shape[:start] + (-1,) + x.shape[end + 1:])


def unsqueeze(x, dim):
    dim = _check_dim(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def squeeze(x, dim=None):
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    dim = _check_dim(dim, x.ndim, "squeeze")
    if x.shape[dim] != 1:
        return x
    return reshape(x, x.shape[:dim] + x.shape[dim + 1:])


def _check_index(index):
    items = index if isinstance(index, tuple) else (index,)
    for item in items:
        if not (item is None or item is Ellipsis or isinstance(item, (int, np.integer, slice))):
            raise TypeError(
                f"indexing: only ints, slices, None and ... are supported (basic indexing), got {type(item).__name__}"
            )
        if isinstance(item, slice) and item.step is not None and item.step <= 0:
            raise ValueError("indexing: slice step must be positive")


def getitem(x, index):
    _check_index(index)
    return GetItem.apply(x, index)


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ndim = tensors[0].ndim
    dim = _check_dim(dim, ndim, "cat")
    first = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.ndim != ndim or t.shape[:dim] + t.shape[dim + 1:] != first[:dim] + first[dim + 1:]:
            raise ValueError(
                f"cat: tensor {i} has shape {t.shape}, which does not match tensor 0's {first} outside dim {dim}"
            )
    floats = [t.dtype for t in tensors if np.issubdtype(t.dtype, np.floating)]
    # As PyTorch: a float tensor wins over ints and keeps its width (int64 + float32 -> float32).
    dtype = np.result_type(*floats) if floats else np.result_type(*[t.dtype for t in tensors])
    tensors = [t.to(dtype) for t in tensors]
    return Cat.apply(*tensors, dim=dim)


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, but tensor 0 has {tensors[0].shape}")
    dim = _check_dim(dim, tensors[0].ndim + 1, "stack")
    return cat([unsqueeze(t, dim) for t in tensors], dim)
