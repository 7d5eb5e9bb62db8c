"""Matrix products on the GPU: a tiled shared-memory GEMM, batched with numpy's matmul rules.

matmul(a, b) follows numpy: 1-D operands are promoted to a row (a) or a column
(b) and the added axis is dropped again; batch axes broadcast. Each block
computes one tile x tile tile of one matrix of the batch (grid axis z), staging
tile-wide strips of a and b through shared memory so each global element is read
once per tile instead of once per multiply.
"""

import numba
import numpy as np
from numba import cuda

from .cuda_common import broadcast_shape, broadcast_strides, empty, flat, offset_of, pad, size_of
from .cuda_shape import astype

_MAX_GRID_Z = 65535
_gemms = {}


def _tile_for(m, n):
    """16 x 16 tiles, or 8 x 8 when the output is that small: a 16 x 16 block would
    leave three quarters of its threads idle (and the simulator pays for each one)."""
    return 8 if m <= 8 and n <= 8 else 16


def _gemm_kernel(dtype, TILE):  # noqa: N803 - a compile-time constant of the kernel
    """The batched GEMM for one float dtype and tile size (shared arrays are sized at compile time)."""
    key = (np.dtype(dtype), TILE)
    if key in _gemms:
        return _gemms[key]
    nb_type = numba.from_dtype(key[0])

    @cuda.jit
    def gemm(a, b, out, m, n, k, batch_shape, a_batch, b_batch, z0):
        # each thread owns out[z, row, col]; the block's threads load the shared tiles together
        tile_a = cuda.shared.array((TILE, TILE), nb_type)
        tile_b = cuda.shared.array((TILE, TILE), nb_type)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        z = z0 + cuda.blockIdx.z
        a0 = offset_of(z, batch_shape, a_batch)
        b0 = offset_of(z, batch_shape, b_batch)
        acc = nb_type(0)
        for t in range((k + TILE - 1) // TILE):
            ka = t * TILE + tx
            kb = t * TILE + ty
            tile_a[ty, tx] = a[a0 + row * k + ka] if (row < m and ka < k) else nb_type(0)
            tile_b[ty, tx] = b[b0 + kb * n + col] if (kb < k and col < n) else nb_type(0)
            cuda.syncthreads()
            for kk in range(TILE):
                acc += tile_a[ty, kk] * tile_b[kk, tx]
            cuda.syncthreads()
        if row < m and col < n:
            out[z * m * n + row * n + col] = acc

    _gemms[key] = gemm
    return gemm


def matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: input operand does not have enough dimensions (scalars are not allowed)")
    dtype = np.result_type(a.dtype, b.dtype)
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)  # the GEMM accumulates in floating point
    a = a if a.dtype == dtype else astype(a, dtype)
    b = b if b.dtype == dtype else astype(b, dtype)
    a2 = a.reshape((1, a.shape[0])) if a.ndim == 1 else a
    b2 = b.reshape((b.shape[0], 1)) if b.ndim == 1 else b
    m, k = a2.shape[-2:]
    k2, n = b2.shape[-2:]
    if k != k2:
        raise ValueError(f"matmul: mismatch in the contracted dimension: shapes {tuple(a.shape)} and {tuple(b.shape)} ({k} != {k2})")
    batch = broadcast_shape(a2.shape[:-2], b2.shape[:-2])
    a_batch = [s * m * k for s in broadcast_strides(a2.shape[:-2], batch)]
    b_batch = [s * k * n for s in broadcast_strides(b2.shape[:-2], batch)]
    out = empty(batch + (m, n), dtype)
    nbatch = size_of(batch)
    if out.size:
        shape8, a_batch8 = pad(batch, a_batch)
        b_batch8 = pad(batch, b_batch)[1]
        tile = _tile_for(m, n)
        kernel = _gemm_kernel(dtype, tile)
        for z0 in range(0, nbatch, _MAX_GRID_Z):  # the grid's z extent is capped by the hardware
            grid = ((n + tile - 1) // tile, (m + tile - 1) // tile, min(_MAX_GRID_Z, nbatch - z0))
            kernel[grid, (tile, tile)](flat(a2), flat(b2), flat(out), m, n, k, shape8, a_batch8, b_batch8, z0)
    if a.ndim == 1 and b.ndim == 1:
        return out.reshape(())
    if a.ndim == 1:
        return out.reshape(batch + (n,))
    if b.ndim == 1:
        return out.reshape(batch + (m,))
    return out
