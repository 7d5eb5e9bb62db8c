"""Reductions on the GPU (sum, max, argmax, sum_to_shape): one thread per output element.

The host splits the input's axes into kept and reduced ones, each with its own
(shape, strides) tuple; a thread finds the start of its slice from the kept
part and walks the reduced part serially. No two threads write the same output,
so no atomics are needed, and the result is deterministic.
"""

import builtins

import numpy as np
from numba import cuda

from .cuda_common import contiguous_strides, empty, flat, launch, normalize_axes, offset_of, pad, size_of


@cuda.jit
def _sum_kernel(a, out, total, n, kept_shape, kept_strides, red_shape, red_strides, n_red, chunk):
    # each thread owns out[g, i]: the sum of the g-th chunk of output i's slice (one chunk
    # unless the host split a long slice); accumulated in float64, closer to numpy's pairwise sum
    t = cuda.grid(1)
    if t < total:
        i = t % n
        start = (t // n) * chunk
        base = offset_of(i, kept_shape, kept_strides)
        acc = 0.0
        for j in range(start, min(start + chunk, n_red)):
            acc += a[base + offset_of(j, red_shape, red_strides)]
        out[t] = acc


@cuda.jit
def _max_kernel(a, out, index, want_index, n, kept_shape, kept_strides, red_shape, red_strides, n_red):
    # each thread owns out[i] (and index[i]); strict '>' keeps the first maximum, NaN wins as in numpy
    i = cuda.grid(1)
    if i < n:
        base = offset_of(i, kept_shape, kept_strides)
        best = a[base]
        arg = 0
        for j in range(1, n_red):
            v = a[base + offset_of(j, red_shape, red_strides)]
            if best == best and (v > best or v != v):
                best = v
                arg = j
        if want_index:
            index[i] = arg
        else:
            out[i] = best


def _split(shape, axes):
    """(out shape, kept (shape8, strides8), reduced (shape8, strides8), reduced count)."""
    strides = contiguous_strides(shape)
    kept = [d for d in range(len(shape)) if d not in axes]
    kept_shape = tuple(shape[d] for d in kept)
    red_shape = tuple(shape[d] for d in axes)
    return (kept_shape, pad(kept_shape, [strides[d] for d in kept]),
            pad(red_shape, [strides[d] for d in axes]), size_of(red_shape))


def _keepdims_shape(shape, axes):
    return tuple(1 if d in axes else s for d, s in enumerate(shape))


# A slice longer than 2 * SPLIT_MIN is cut into chunks of at least SPLIT_MIN, one
# thread each, while the launch stays under TARGET_THREADS; a second pass adds the
# chunks. One thread summing a whole long slice would leave the GPU idle.
SPLIT_MIN = 256
TARGET_THREADS = 4096


def chunks_for(n_outputs, n_red):
    """How many chunks to cut each reduced slice into (1: no split)."""
    if n_red < 2 * SPLIT_MIN or n_outputs >= TARGET_THREADS:
        return 1
    return min(n_red // SPLIT_MIN, TARGET_THREADS // builtins.max(n_outputs, 1))


def reduce_sum(a, axes, dtype):
    """Sum over ``axes`` (normalised) into a new array of ``dtype``, split in two passes when long."""
    out_shape, (ks, kst), (rs, rst), n_red = _split(a.shape, axes)
    n = size_of(out_shape)
    groups = chunks_for(n, n_red)
    chunk = -(-n_red // groups) if n_red else 1
    groups = -(-n_red // chunk) if n_red else 1
    partial_dtype = dtype if groups == 1 else np.dtype(np.float64 if dtype.kind == "f" else dtype)
    partial = empty((groups,) + tuple(out_shape), partial_dtype)
    launch(_sum_kernel, partial.size, flat(a), flat(partial), partial.size, builtins.max(n, 1),
           ks, kst, rs, rst, n_red, chunk)
    if groups == 1:
        return partial.reshape(out_shape)
    return reduce_sum(partial, (0,), dtype)


def sum(a, axis=None, keepdims=False):  # noqa: A001 - the contract's name
    axes = normalize_axes(axis, a.ndim)
    dtype = a.dtype if a.dtype.kind in "fc" else np.dtype(np.int64 if a.dtype.kind in "bi" else np.uint64)
    out = reduce_sum(a, axes, dtype)
    return out.reshape(_keepdims_shape(a.shape, axes)) if keepdims else out


def _max_or_argmax(a, axes, want_index):
    out_shape, (ks, kst), (rs, rst), n_red = _split(a.shape, axes)
    if n_red == 0:
        raise ValueError("zero-size array to reduction operation maximum which has no identity")
    out = empty(out_shape, a.dtype)
    index = empty(out_shape, np.int64)
    launch(_max_kernel, out.size, flat(a), flat(out), flat(index), want_index, out.size, ks, kst, rs, rst, n_red)
    return index if want_index else out


def max(a, axis=None, keepdims=False):  # noqa: A001 - the contract's name
    axes = normalize_axes(axis, a.ndim)
    out = _max_or_argmax(a, axes, False)
    return out.reshape(_keepdims_shape(a.shape, axes)) if keepdims else out


def argmax(a, axis=None):
    """First index of the maximum along ``axis`` (the flat index when axis is None)."""
    if axis is None:
        return _max_or_argmax(flat(a), (0,), True)
    return _max_or_argmax(a, normalize_axes(int(axis), a.ndim), True)


def sum_to_shape(a, shape):
    """Undo broadcasting: sum ``a`` over the axes along which ``shape`` was broadcast."""
    shape = tuple(int(s) for s in shape)
    if tuple(a.shape) == shape:
        return a
    lead = a.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"sum_to_shape: cannot sum shape {tuple(a.shape)} down to the larger {shape}")
    axes = list(range(lead))
    for d, s in enumerate(shape):
        if s == 1 and a.shape[lead + d] != 1:
            axes.append(lead + d)
        elif s != a.shape[lead + d]:
            raise ValueError(f"sum_to_shape: shape {tuple(a.shape)} was not broadcast from {shape}")
    return sum(a, tuple(axes)).reshape(shape)
