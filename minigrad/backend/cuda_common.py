"""Shared plumbing of the CUDA backend: launch sizes, flat views, stride bookkeeping.

Every array this backend hands out is C-contiguous, so a kernel can treat any
operand as a flat 1-D array and find an element from (shape, strides) alone.
Shapes and strides travel to kernels as fixed-length tuples (padded in front to
``MAXDIM`` with size 1 / stride 0): they are plain kernel arguments, so no host
to device copy is needed and one compiled kernel serves every rank.
"""

import math

import numpy as np
from numba import cuda

MAXDIM = 8
_MAX_THREADS = 128


def _device_array_types():
    """The device-array class: the simulator has its own stand-in for DeviceNDArray."""
    from numba.cuda import config
    if config.ENABLE_CUDASIM:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
        return (FakeCUDAArray,)
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    return (DeviceNDArray,)


DEVICE_ARRAY_TYPES = _device_array_types()

if DEVICE_ARRAY_TYPES[0].__name__ == "FakeCUDAArray":
    class _SimArray(DEVICE_ARRAY_TYPES[0]):
        """The simulator's device array with a plain-tuple shape.

        A real DeviceNDArray's ``shape`` is a tuple, so ops may write
        ``a.shape[-1]``; the simulator's refuses negative indices. This keeps
        the engine's ops identical on the simulator and on a GPU.
        """

        @property
        def shape(self):
            return tuple(self._ary.shape)

        def reshape(self, *args, **kwargs):
            return _SimArray(self._ary.reshape(*args, **kwargs))

    def _handout(a):
        return _SimArray(a._ary, a.stream)
else:
    def _handout(a):
        return a


def to_device(host):
    """Copy a contiguous host array to a new device array."""
    return _handout(cuda.to_device(host))


def is_device_array(a):
    """True for a numba.cuda device array (the simulator's stand-in included)."""
    return isinstance(a, DEVICE_ARRAY_TYPES)


def launch(kernel, n, *args):
    """Run ``kernel`` with at least ``n`` threads in a 1-D grid (nothing when n == 0).

    Small outputs get a small block: the simulator pays per thread, and a real
    GPU loses nothing on a tiny launch either.
    """
    if n <= 0:
        return
    threads = min(_MAX_THREADS, 32 * ((n + 31) // 32))
    blocks = (n + threads - 1) // threads
    kernel[blocks, threads](*args)


SUPPORTED_DTYPES = tuple(np.dtype(d) for d in (np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_))


def check_dtype(dtype):
    """The dtype, or a clear error before any kernel sees a type it was not written for."""
    dtype = np.dtype(dtype)
    if dtype not in SUPPORTED_DTYPES:
        names = ", ".join(d.name for d in SUPPORTED_DTYPES)
        raise TypeError(f"cuda backend: dtype {dtype} is not supported on the GPU; use one of {names}")
    return dtype


def empty(shape, dtype):
    """An uninitialised device array (allocation only, no transfer)."""
    return _handout(cuda.device_array(tuple(int(s) for s in shape), dtype=check_dtype(dtype)))


def flat(a):
    """A 1-D view of a contiguous device array (free: no copy)."""
    return a.reshape(a.size) if a.ndim != 1 else a


def size_of(shape):
    return int(math.prod(shape))


def contiguous_strides(shape):
    """Element strides of a C-contiguous array of ``shape``."""
    strides, step = [], 1
    for s in reversed(shape):
        strides.append(step)
        step *= int(s)
    return tuple(reversed(strides))


def pad(shape, strides=None):
    """Shape (and strides) as MAXDIM-tuples, padded in front with 1 (and 0)."""
    if len(shape) > MAXDIM:
        raise ValueError(f"cuda backend: arrays of at most {MAXDIM} dimensions are supported, got shape {tuple(shape)}")
    lead = MAXDIM - len(shape)
    shape8 = (1,) * lead + tuple(int(s) for s in shape)
    if strides is None:
        return shape8
    return shape8, (0,) * lead + tuple(int(s) for s in strides)


def broadcast_shape(*shapes):
    """numpy's broadcast result shape, with numpy's error message on a mismatch."""
    return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))


def broadcast_strides(shape, out_shape):
    """Strides that read a contiguous array of ``shape`` as if broadcast to ``out_shape``."""
    own = contiguous_strides(shape)
    lead = len(out_shape) - len(shape)
    strides = [0] * lead
    for s, st, o in zip(shape, own, out_shape[lead:]):
        strides.append(0 if (s == 1 and o != 1) else st)
    return tuple(strides)


def normalize_axes(axis, ndim):
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    out = []
    for ax in axes:
        ax = int(ax)
        if not -ndim <= ax < max(ndim, 1):
            raise np.exceptions.AxisError(f"axis {ax} is out of bounds for array of dimension {ndim}")
        out.append(ax % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"duplicate value in 'axis': {axis}")
    return tuple(sorted(out))


@cuda.jit(device=True, inline=True)
def offset_of(i, shape, strides):
    """Flat offset of the i-th element (row-major over ``shape``) read through ``strides``."""
    off = 0
    for d in range(MAXDIM - 1, -1, -1):
        n = shape[d]
        off += (i % n) * strides[d]
        i //= n
    return off
