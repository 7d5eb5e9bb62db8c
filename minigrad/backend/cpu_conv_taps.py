"""conv2d's tap path: stride 1, few channels; each filter tap a scaled copy of the padded plane.

On the padded grid (width w_p) a stride-1 output is one contiguous run per plane:
output (h, w) sits at q = h w_p + w, and the input under filter tap (c, i, j) sits at
q + i w_p + j in channel c's padded plane. So

    z_k[q] = b[k] + sum over taps (c, i, j) of W[k, c, i, j] x_pad[c, q + i w_p + j]
    y[n, k, h, w] = z_k[h w_p + w]

is a sum of shifted copies of the plane: no im2col, no GEMM, every inner loop a
contiguous multiply-add over a run of the plane that the vectoriser turns into whole
vectors (the f_w - 1 columns per row that wrap around are computed and dropped). It is
the path for the small layers whose windows (n_c f_h f_w numbers) are too short for the
direct path's dot products: LeNet-5's first conv (1 channel), the first conv of an RGB
net. Measured forward through conv2d, interleaved with PyTorch (20th percentile of 30
rounds, ms, per-image GEMMs -> here): LeNet-5's first conv (64 x 1 x 32 x 32 -> 6, 5 x
5) 1.87 -> 1.13 (PyTorch 1.04); 1 x 3 x 128 x 128 -> 64, 3 x 3, 8.78 -> 5.36 (4.35).

The kernel runs 2 filters x 4 taps at a time: per vector of outputs 4 loads of the
plane feed 8 multiply-adds into 2 sums, 14 of the 16 vector registers (2 sums, 4 plane
vectors, 8 weights).

Threads: a task owns z for one image, one pair of filters and one chunk of CHUNK
outputs (its sums stay in L1), and writes y[n, k0:k0 + 2] at those outputs. Nothing is
shared but the read-only padded planes, built first, a plane per task.
"""
import numpy as np
from numba import njit, prange

from .cpu_conv_direct import _aligned_scratch
from .cpu_conv_workspace import Workspace
from .cpu_rows import copy_row

_FAST = {"reassoc", "contract"}

# Runs are rounded up to this many numbers (4 vectors of 8 float32s: the vectorised
# loop's whole step), so no run ends in a scalar remainder loop; the planes get as
# many zeros past their end.
ROUND = 32
# Outputs per task: two sums of 1024 numbers (8 kB in float32) stay in L1 while the
# taps stream through them.
CHUNK = 1024


@njit(parallel=True, cache=True)
def _pad_flat(x, p_t, p_l, h_p, w_p, xp):
    """xp[n, c h_p w_p + (h + p_t) w_p + w + p_l] = x[n, c, h, w]; zeros elsewhere,
    including the ROUND numbers past the last plane. Each task owns one padded plane
    (the last one also the tail)."""
    n_img, n_ch, height, width = x.shape
    plane = h_p * w_p
    for t in prange(n_img * n_ch):
        n = t // n_ch
        c = t % n_ch
        end = (c + 1) * plane if c < n_ch - 1 else xp.shape[1]
        out = xp[n, c * plane:end]
        out[:] = 0
        for h in range(height):
            copy_row(x[n, c, h], out[(h + p_t) * w_p + p_l:(h + p_t) * w_p + p_l + width])


@njit(parallel=True, fastmath=_FAST, cache=True)
def _tap_sums(xf, image, offsets, wt, bias, w_p, y):
    """y[n, k, h, w] = bias[k] + sum_t wt[k, t] xf[n image + offsets[t] + h w_p + w].

    xf holds the padded images back to back, ``image`` numbers apart; offsets[t] = c h_p
    w_p + i w_p + j for tap t = (c, i, j). Tasks take (image, pair of filters, chunk of
    outputs on the padded grid); a pair past the last filter repeats it (and writes the
    same numbers twice, from one task). Runs are rounded up to whole ROUNDs, except
    where that would read past the end of xf (the last image of an unpadded x)."""
    n_img, c_out, h_o, w_o = y.shape
    run = (h_o - 1) * w_p + w_o
    chunks = (run + CHUNK - 1) // CHUNK
    taps = offsets.shape[0]
    full = taps // 4 * 4
    pairs = (c_out + 1) // 2
    reach = offsets.max()
    for t in prange(n_img * pairs * chunks):
        n = t // (pairs * chunks)
        k0 = 2 * ((t // chunks) % pairs)
        k1 = min(k0 + 1, c_out - 1)
        q0 = (t % chunks) * CHUNK
        start = n * image + q0
        length = min(CHUNK, -(-(run - q0) // ROUND) * ROUND, xf.shape[0] - start - reach)
        acc0 = _aligned_scratch(length, y.dtype)
        acc1 = _aligned_scratch(length, y.dtype)
        acc0[:] = bias[k0]
        acc1[:] = bias[k1]
        for g in range(0, full, 4):
            s0 = xf[start + offsets[g]:start + offsets[g] + length]
            s1 = xf[start + offsets[g + 1]:start + offsets[g + 1] + length]
            s2 = xf[start + offsets[g + 2]:start + offsets[g + 2] + length]
            s3 = xf[start + offsets[g + 3]:start + offsets[g + 3] + length]
            a0, a1, a2, a3 = wt[k0, g], wt[k0, g + 1], wt[k0, g + 2], wt[k0, g + 3]
            c0, c1, c2, c3 = wt[k1, g], wt[k1, g + 1], wt[k1, g + 2], wt[k1, g + 3]
            for q in range(length):
                v0, v1, v2, v3 = s0[q], s1[q], s2[q], s3[q]
                acc0[q] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
                acc1[q] += c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3
        for g in range(full, taps):
            s0 = xf[start + offsets[g]:start + offsets[g] + length]
            a0, c0 = wt[k0, g], wt[k1, g]
            for q in range(length):
                acc0[q] += a0 * s0[q]
                acc1[q] += c0 * s0[q]
        # The chunk's outputs, row by row, without the wrapped-around columns.
        for h in range(q0 // w_p, min(h_o, (q0 + length - 1) // w_p + 1)):
            lo = max(h * w_p, q0)
            hi = min(h * w_p + w_o, q0 + length)
            for q in range(lo, hi):
                y[n, k0, h, q - h * w_p] = acc0[q - q0]
                y[n, k1, h, q - h * w_p] = acc1[q - q0]


# Below the direct path's MIN_CHANNELS: with 8 channels or more its dot products, or
# the per-image GEMMs, did better. Measured forward, interleaved with PyTorch (20th
# percentile of 30 rounds, ms, per-image or im2col -> here): 4 x 8 x 64 x 64 -> 16, 3 x 3,
# 1.73 -> 1.85; 16 x 12 x 16 x 16 -> 48, 3 x 3, 1.60 -> 2.23.
MAX_CHANNELS = 8
# One padded image (all channels) up to this many numbers: all of a batch's padded
# images are built first, and past this size the per-image and im2col paths did as well
# (1 x 3 x 224 x 224 -> 64, 3 x 3: 6.85 ms there, 7.23 here).
MAX_IMAGE = 64 << 10


def taps_applies(w_shape, x_shape, stride, padding):
    """Stride 1, f > 1, fewer than MAX_CHANNELS channels, and a padded image of at most
    MAX_IMAGE numbers."""
    c_out, n_ch, f_h, f_w = w_shape
    p_t, p_b, p_l, p_r = padding
    h_p, w_p = x_shape[2] + p_t + p_b, x_shape[3] + p_l + p_r
    return (tuple(stride) == (1, 1) and f_h * f_w > 1 and n_ch < MAX_CHANNELS
            and n_ch * h_p * w_p <= MAX_IMAGE and h_p >= f_h and w_p >= f_w)


def forward_taps(x, w, b, y, padding):
    """y = conv(x, W) + b (stride 1), b None for none: the bias starts each sum."""
    c_out, n_ch, f_h, f_w = w.shape
    p_t, p_b, p_l, p_r = padding
    n_img, _, height, width = x.shape
    h_p, w_p = height + p_t + p_b, width + p_l + p_r
    taps = n_ch * f_h * f_w
    c, i, j = np.unravel_index(np.arange(taps), (n_ch, f_h, f_w))
    offsets = c * (h_p * w_p) + i * w_p + j
    bias = np.zeros(c_out, x.dtype) if b is None else np.asarray(b, dtype=x.dtype)
    wt = w.reshape(c_out, taps)
    if not any(padding):
        # x is its own padded grid (LeNet-5's convs): read it in place.
        _tap_sums(x.reshape(-1), n_ch * height * width, offsets, wt, bias, w_p, y)
        return
    with Workspace(x.dtype) as ws:
        xp = ws.get("taps_planes", (n_img, n_ch * h_p * w_p + ROUND))
        _pad_flat(x, p_t, p_l, h_p, w_p, xp)
        _tap_sums(xp.reshape(-1), xp.shape[1], offsets, wt, bias, w_p, y)
