"""Row copies for the conv kernels, written so that they vectorise.

Numba checks every index it cannot prove non-negative (``base + w``, ``ow + j - p_l``)
for a negative value, to wrap it around as Python would, and that check keeps a loop
scalar. Slicing the row first and looping over the slice with the loop's own counter
needs no check, and LLVM turns the loop into whole-vector copies. Numba's slice
assignment (``dst[:] = src``) does vectorise, but costs more than the copy itself on the
10-28-number rows of LeNet-sized layers. Measured, interleaved: im2col of 1 x 3 x 224 x
224 1.18 -> 0.48 ms, its col2im 1.11 -> 0.38 ms; LeNet-5's second conv's backward on the
per-image path 3.13 -> 1.94 ms on 2 threads.

Callers pass slices: ``copy_row(x[n, c, h], xp[c, h + p_t, p_l:p_l + width])``.
"""
from numba import njit


@njit(inline="always")
def copy_row(src, dst):
    """dst[q] = src[q] for q < len(src)."""
    for q in range(src.shape[0]):
        dst[q] = src[q]


@njit(inline="always")
def add_row(src, dst):
    """dst[q] += src[q] for q < len(src)."""
    for q in range(src.shape[0]):
        dst[q] += src[q]
