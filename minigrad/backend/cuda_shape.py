"""Shape and indexing on the GPU: reshape is free, everything else is one strided copy.

transpose, broadcast_to, getitem, index_put_zeros, concatenate, stack, astype and
copy are all "read a strided view of one array, write a strided view of another".
The host works out each view's (offset, strides) and one kernel moves the data.
"""

import numpy as np
from numba import cuda

from .cuda_common import broadcast_strides, contiguous_strides, empty, flat, launch, normalize_axes, offset_of, pad, size_of
from .cuda_elementwise import zeros


@cuda.jit
def _copy_kernel(src, src_start, src_strides, dst, dst_start, dst_strides, n, shape):
    # each thread owns one element of the copied view: dst[view i] = src[view i]
    i = cuda.grid(1)
    if i < n:
        dst[dst_start + offset_of(i, shape, dst_strides)] = src[src_start + offset_of(i, shape, src_strides)]


def _strided_copy(src, src_view, dst, dst_view, shape):
    """Copy ``shape`` elements between two (start, strides) views of flat arrays."""
    n = size_of(shape)
    shape8, src_strides = pad(shape, src_view[1])
    dst_strides = pad(shape, dst_view[1])[1]
    launch(_copy_kernel, n, flat(src), src_view[0], src_strides, flat(dst), dst_view[0], dst_strides, n, shape8)


def _gather(a, start, strides, shape, dtype=None):
    """A new contiguous array holding the view (start, strides, shape) of ``a``."""
    out = empty(shape, dtype or a.dtype)
    _strided_copy(a, (start, strides), out, (0, contiguous_strides(shape)), shape)
    return out


def copy(a):
    return _gather(a, 0, contiguous_strides(a.shape), a.shape)


def astype(a, dtype):
    return _gather(a, 0, contiguous_strides(a.shape), a.shape, np.dtype(dtype))


def reshape(a, shape):
    """Free: every array of this backend is contiguous, so this is a view."""
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    if -1 in shape:
        known = size_of([s for s in shape if s != -1])
        if shape.count(-1) > 1 or known == 0 or a.size % known:
            raise ValueError(f"cannot reshape array of size {a.size} into shape {shape}")
        shape = tuple(a.size // known if s == -1 else s for s in shape)
    if size_of(shape) != a.size:
        raise ValueError(f"cannot reshape array of size {a.size} into shape {shape}")
    return a.reshape(shape)


def transpose(a, axes=None):
    axes = tuple(reversed(range(a.ndim))) if axes is None else tuple(int(x) % max(a.ndim, 1) for x in axes)
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(f"transpose: axes {axes} don't match an array of shape {tuple(a.shape)}")
    strides = contiguous_strides(a.shape)
    return _gather(a, 0, [strides[d] for d in axes], tuple(a.shape[d] for d in axes))


def broadcast_to(a, shape):
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    np.broadcast_shapes(tuple(a.shape), shape)  # numpy's error for incompatible shapes
    if len(shape) < a.ndim or np.broadcast_shapes(tuple(a.shape), shape) != shape:
        raise ValueError(f"operands could not be broadcast: input shape {tuple(a.shape)}, requested shape {shape}")
    return _gather(a, 0, broadcast_strides(a.shape, shape), shape)


def _basic_view(shape, index):
    """(start, strides, shape) of ``x[index]`` for a contiguous x of ``shape``, in elements.

    numpy does the index arithmetic for us on a byte-sized stand-in array that is
    never read, so every rule of basic indexing (negative steps, None, Ellipsis)
    is numpy's own.
    """
    index = index if isinstance(index, tuple) else (index,)
    for item in index:
        if not (item is None or item is Ellipsis or isinstance(item, (slice, int, np.integer))) or isinstance(item, bool):
            raise TypeError(f"cuda backend: only basic indexing (ints, slices, None, Ellipsis) is supported, got {item!r}")
    if Ellipsis not in index:
        index = index + (Ellipsis,)  # so an all-int index still gives a 0-d view, not a scalar
    base = np.zeros(1, dtype=np.uint8)
    stand_in = np.lib.stride_tricks.as_strided(base, shape=tuple(shape), strides=contiguous_strides(shape))
    view = stand_in[index]
    start = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return start, view.strides, view.shape


def getitem(a, index):
    start, strides, shape = _basic_view(a.shape, index)
    return _gather(a, start, strides, shape)


def index_put_zeros(shape, index, values, dtype):
    """Zeros of ``shape`` with ``values`` (broadcast to the view) written at ``index``.

    Basic indexing never selects an element twice, so the scatter is race-free.
    """
    shape = tuple(int(s) for s in shape)
    out = zeros(shape, dtype)
    start, strides, view_shape = _basic_view(shape, index)
    _strided_copy(values, (0, broadcast_strides(values.shape, view_shape)), out, (start, strides), view_shape)
    return out


def concatenate(arrays, axis=0):
    """One copy per input into its slab of the output."""
    arrays = list(arrays)
    first = arrays[0]
    axis = normalize_axes(int(axis), first.ndim)[0]
    for x in arrays:
        if x.ndim != first.ndim or any(x.shape[d] != first.shape[d] for d in range(x.ndim) if d != axis):
            raise ValueError(f"concatenate: shapes {[tuple(y.shape) for y in arrays]} differ outside axis {axis}")
    shape = list(first.shape)
    shape[axis] = sum(x.shape[axis] for x in arrays)
    out = empty(shape, np.result_type(*[x.dtype for x in arrays]))
    strides = contiguous_strides(shape)
    start = 0
    for x in arrays:
        _strided_copy(x, (0, contiguous_strides(x.shape)), out, (start * strides[axis], strides), tuple(x.shape))
        start += x.shape[axis]
    return out


def stack(arrays, axis=0):
    arrays = list(arrays)
    if any(tuple(x.shape) != tuple(arrays[0].shape) for x in arrays):
        raise ValueError(f"stack: all input arrays must have the same shape, got {[tuple(x.shape) for x in arrays]}")
    axis = normalize_axes(int(axis), arrays[0].ndim + 1)[0]
    new_shape = tuple(arrays[0].shape[:axis]) + (1,) + tuple(arrays[0].shape[axis:])
    return concatenate([x.reshape(new_shape) for x in arrays], axis)
