"""The conv2d workspace: a per-call memory cap, batch chunks under it, reused buffers.

Every conv path builds its temporary matrices (im2col columns, padded planes, GEMM
outputs) a batch chunk at a time, so memory does not grow with the batch size.
"""
import threading

import numpy as np

# Workspace cap per call (cols, its gradient and the GEMM output of a chunk). On a
# quiet machine 32 MB beat both 4 MB (GEMMs too small to run at full speed: the
# worst benchmark shape went 2.7x -> 2.0-2.2x PyTorch's time, geomean 1.4x -> 1.2-1.3x)
# and 64-128 MB (cols no longer in cache). Under heavy load smaller chunks looked
# better; we tune for the quiet machine people benchmark on. A single image is
# always processed whole, even if it alone exceeds the cap (VGG-16's widest layer,
# 64 x 3 x 3 over 224 x 224, needs 116 MB in float32).
WORKSPACE_BYTES = 32 << 20

# Below this many elements a kernel runs in the calling thread: waking the workers
# costs more than the copy, and far more when other processes hold the cores.
SERIAL_BELOW = 1 << 20


def chunk(per_image_bytes, n_img):
    return max(1, min(n_img, WORKSPACE_BYTES // max(per_image_bytes, 1)))


# Buffers are kept between calls, per thread, up to this many bytes in all: a fresh
# multi-megabyte np.empty is fresh pages from the OS, and faulting them in (and the
# kernel zeroing them) cost a third of a Winograd forward pass (8 x 64 x 56 x 56:
# 54 -> 35 ms with the buffers kept). Larger buffers (one oversized image) are freed.
KEEP_BYTES = 4 * WORKSPACE_BYTES
_kept = threading.local()


# numpy's buffers start 16 bytes past a 64-byte boundary; a kernel's 32-byte vector
# loads then straddle two cache lines every other time. Measured on the direct path's
# kernel (16 x 192 -> 32, 5 x 5): 96-112 GFLOP/s from such buffers, 120-122 aligned.
ALIGN = 64


def aligned_empty(size, dtype):
    """A 1-D array of ``size`` elements whose data starts on an ALIGN-byte boundary."""
    dtype = np.dtype(dtype)
    raw = np.empty(size + ALIGN // dtype.itemsize, dtype)
    start = (-raw.ctypes.data % ALIGN) // dtype.itemsize
    return raw[start:start + size]


def _kept_buffers():
    if not hasattr(_kept, "bufs"):
        _kept.bufs = {}
    return _kept.bufs


class Workspace:
    """Flat buffers for one conv call; views are always contiguous.

    ``with Workspace(dtype) as ws`` checks buffers out of this thread's kept set and
    puts them back at the end, so a nested call (dx as a conv inside a backward pass)
    never gets a buffer that is still in use: it finds none and allocates its own.
    """

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.bufs = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        kept = _kept_buffers()
        for name, buf in self.bufs.items():
            key = (name, self.dtype.str)
            others = sum(b.nbytes for k, b in kept.items() if k != key)
            if others + buf.nbytes <= KEEP_BYTES:
                kept[key] = buf
        self.bufs = {}
        return False

    def get(self, name, shape):
        size = int(np.prod(shape))
        buf = self.bufs.get(name)
        if buf is None:
            buf = _kept_buffers().pop((name, self.dtype.str), None)
        if buf is None or buf.size < size:
            buf = aligned_empty(size, self.dtype)
        self.bufs[name] = buf
        return buf[:size].reshape(shape)
