"""conv2d's direct path: one dot product per output, along a contiguous window; no GEMM call.

Each task takes one output row. It copies the f_h input rows under that row into a
buffer of its own (a few kB to a few hundred, in cache), column by column: input
column q becomes one slot of f_h n_c numbers, (i, c) inside, rounded up to whole
vectors with zeros. The window of output (h, w) is then the f_w slots from column
w s_w on, one contiguous run, and the filter is laid out the same way:

    y[n, k, h, w] = W_k . stacked_h[w s_w slot : (w s_w + f_w) slot] + b[k]

The kernel keeps a tile of 4 filters x 3 output pixels in 12 registers and streams 7
vectors through them (``_dots_4x3``): 7 loads for 12 multiply-adds, which keeps the FMA
units busy where a BLAS call with 16-32 output rows (the course's 5 x 5 layers) cannot.
Every window starts on a vector boundary and holds whole vectors, so no dot product has
a scalar tail. Measured through F.conv2d against the earlier layout (one dot product
per filter row, after a separate NHWC pass), interleaved with PyTorch, in runs of old ->
new: 8 x 64 x 56 x 56 -> 64, 3 x 3, forward 1.01 -> 0.95x, 1.02 -> 0.77x, 1.07 -> 1.00x
PyTorch's time; 16 x 192 x 28 x 28 -> 32, 5 x 5, f+b 1.31 -> 1.27x, 1.28 -> 1.18x,
1.21 -> 1.12x (benchmarks/RESULTS.md, issue 13's fourth pass).

dx of a stride-1 layer is its transposed conv, through this same path (cpu_conv).
dW (stride 1) is the same kind of kernel on the padded grid: dy padded to the padded
width w_p with zeros, then dW[k, c, i, j] = sum over n, q of dy_p[n, k, q] *
x_pad[n, c, q + i w_p + j], dot products of contiguous rows, a tile of 4 filters x 3
channels at once.

Threads: the forward's task owns the outputs y[n, k, h, :] for one row and one group of
filters, and its own stacking buffer; dW's task owns dW[k0:k0 + 4, c0:c0 + 3, i, j]
and sums over the whole batch itself. No two tasks write the same place, and nothing is
reduced across threads.
"""
import numpy as np
from numba import njit, prange

from .cpu_conv_workspace import ALIGN, Workspace, aligned_empty
from .cpu_rows import copy_row

# Reassociation lets LLVM vectorise the dot products; no nnan/ninf, so NaN and inf
# propagate as they do in PyTorch.
_FAST = {"reassoc", "contract"}

# Shorter windows (n_c f_h f_w numbers) leave too little work per reduction across the
# vector lanes. Measured f+b through F.conv2d, interleaved with PyTorch: 16 x 16 x 32 x
# 32 -> 16, 3 x 3 (windows of 144) took 8.4 ms here against 17.2 on Winograd.
MIN_WINDOW = 128
# With fewer channels only the forward pass paid: LeNet-5's second conv (6 channels) ran
# its forward pass here in 1.2 ms against 1.95 on the per-image GEMMs, but dW here, or
# dx as a transposed conv, did not beat the per-image path's backward. So below this
# many channels cpu_conv runs only the forward kernel here (``windows_fit``, inside the
# tap path's region). The ResNet stem (3 channels, 7 x 7, windows of 147) is stride 2:
# it tied at batch 8 and lost 10% at batch 1, and stays on im2col.
MIN_CHANNELS = 8
# A group of filters a thread keeps in cache while the rows stream past; larger filter
# banks are split. Measured on the kernel, 512 -> 512 channels 3 x 3 (9.4 MB): at 2 x 14
# x 14 one group took 20.1 ms, 5 groups 16.4, 37 groups 19.8; at 1 x 28 x 28 all tied
# (32.6-33.1 ms) up to 10 groups. 16 x 192 -> 32, 5 x 5 (0.6 MB) lost 10% in 3 groups.
GROUP_BYTES = 2 << 20
# Column slots are rounded up to a multiple of this many numbers: 8 float32s fill one
# 32-byte vector (float64 windows then hold two vectors' worth of slots).
VECTOR = 8


@njit(fastmath=_FAST, inline="always")
def _dot(a, b, zero):
    total = zero
    for c in range(a.shape[0]):
        total += a[c] * b[c]
    return total


@njit(fastmath=_FAST, inline="always")
def _dots_4x3(u0, u1, u2, u3, x0, x1, x2, zero):
    """The 12 dot products u_r . x_q (r < 4, q < 3; all of one length) in one pass: per
    vector of numbers 7 loads and 12 multiply-adds, the 12 sums kept in registers.
    Returned row by row: (u0.x0, u0.x1, u0.x2, u1.x0, ...)."""
    a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = a30 = a31 = a32 = zero
    for c in range(u0.shape[0]):
        p0 = x0[c]
        p1 = x1[c]
        p2 = x2[c]
        q = u0[c]
        a00 += q * p0
        a01 += q * p1
        a02 += q * p2
        q = u1[c]
        a10 += q * p0
        a11 += q * p1
        a12 += q * p2
        q = u2[c]
        a20 += q * p0
        a21 += q * p1
        a22 += q * p2
        q = u3[c]
        a30 += q * p0
        a31 += q * p1
        a32 += q * p2
    return a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32


@njit(parallel=True, fastmath=_FAST, cache=True)
def _window_dots(x, p_t, p_l, w_p, f_h, s_h, s_w, column, wk, bias, groups, y, zero):
    """y[n, k, h, w] = wk[k] . (the window of output (h, w), stacked column by column) + bias[k].

    A task first copies the f_h input rows under its output row into a buffer of its
    own, column by column: padded input column q fills stacked[q column : q column +
    f_h n_c] as (i, c), and the rest of its ``column`` slots (f_h n_c rounded up to
    whole vectors) stay zero, as do the padding's columns and rows. Every window is then
    one contiguous, vector-aligned run of f_w column slots, and wk (n_c', f_w column)
    holds each filter the same way, zeros in the same slots: the zeros meet zeros, so no
    vector has a scalar tail and no neighbour's inf or NaN leaks in. The dot products
    are taken in tiles of 4 filters x 3 pixels; tiles past the last filter or pixel
    repeat the last one and drop its sums, so one loop serves every size.

    Each task owns y[n, k, h, :] for one output row and the filters of its group:
    ``groups`` > 1 splits large filter banks so that a thread keeps one group of
    filters in cache while the rows stream past (the task order is group first)."""
    n_img, n_ch, height, width = x.shape
    c_out, run = wk.shape
    h_o, w_o = y.shape[2], y.shape[3]
    step = s_w * column
    blocks = (c_out + 3) // 4
    per_group = (blocks + groups - 1) // groups
    for t in prange(groups * n_img * h_o):
        g = t // (n_img * h_o)
        n = (t // h_o) % n_img
        h = t % h_o
        stacked = _aligned_scratch(w_p * column, x.dtype)
        stacked[:] = zero
        # Straight from x (NCHW): measured 2-24% faster than copying x to padded NHWC
        # rows in a pass of its own first (one parallel launch and one pass fewer).
        for i in range(f_h):
            r = h * s_h + i - p_t
            if r < 0 or r >= height:
                continue
            for c in range(n_ch):
                src = x[n, c, r]
                first = p_l * column + i * n_ch + c
                for q in range(width):
                    stacked[first + q * column] = src[q]
        for b in range(g * per_group, min(blocks, (g + 1) * per_group)):
            k0 = 4 * b
            k1 = min(k0 + 1, c_out - 1)
            k2 = min(k0 + 2, c_out - 1)
            k3 = min(k0 + 3, c_out - 1)
            for w0 in range(0, w_o, 3):
                o1 = min(w0 + 1, w_o - 1) * step
                o2 = min(w0 + 2, w_o - 1) * step
                sums = _dots_4x3(wk[k0], wk[k1], wk[k2], wk[k3], stacked[w0 * step:w0 * step + run],
                                 stacked[o1:o1 + run], stacked[o2:o2 + run], zero)
                # Constant trip counts, so the tuple is indexed by constants: with
                # range(min(4, c_out - k0)) the kernel measured 18-35% slower.
                for r in range(4):
                    if k0 + r < c_out:
                        for q in range(3):
                            if w0 + q < w_o:
                                y[n, k0 + r, h, w0 + q] = sums[3 * r + q] + bias[k0 + r]


@njit(inline="always")
def _aligned_scratch(size, dtype):
    """aligned_empty inside a kernel: a task's own buffer of ``size`` numbers starting on
    an ALIGN-byte boundary (Numba's allocations are only 16-byte aligned)."""
    raw = np.empty(size + ALIGN, dtype)
    start = (-raw.ctypes.data % ALIGN) // raw.itemsize
    return raw[start:start + size]


@njit(parallel=True, fastmath=_FAST, cache=True)
def _weight_grad_dots(dyp, xpf, w_p, gw, zero):
    """gw[k, c, i, j] = sum_n dyp[n, k, :] . xpf[n, c, i w_p + j : i w_p + j + L].

    Each task owns gw[k0:k0 + 4, c0:c0 + 3] for every tap. Per image it runs all f_h f_w
    taps while the 4 rows of dy and 3 rows of x (a few kB each) stay in L1."""
    n_img, c_out, run = dyp.shape
    n_ch = xpf.shape[1]
    f_h, f_w = gw.shape[2], gw.shape[3]
    k_blocks = (c_out + 3) // 4
    for t in prange(k_blocks * ((n_ch + 2) // 3)):
        k0 = (t % k_blocks) * 4
        c0 = (t // k_blocks) * 3
        gw[k0:k0 + 4, c0:c0 + 3] = 0
        partial = k0 + 4 > c_out or c0 + 3 > n_ch
        for n in range(n_img):
            for i in range(f_h):
                for j in range(f_w):
                    sh = i * w_p + j
                    if partial:
                        # The last filters or channels: one pair at a time.
                        for k in range(k0, min(k0 + 4, c_out)):
                            for c in range(c0, min(c0 + 3, n_ch)):
                                gw[k, c, i, j] += _dot(dyp[n, k], xpf[n, c, sh:sh + run], zero)
                        continue
                    sums = _dots_4x3(dyp[n, k0], dyp[n, k0 + 1], dyp[n, k0 + 2], dyp[n, k0 + 3],
                                     xpf[n, c0, sh:sh + run], xpf[n, c0 + 1, sh:sh + run],
                                     xpf[n, c0 + 2, sh:sh + run], zero)
                    for r in range(4):
                        for q in range(3):
                            gw[k0 + r, c0 + q, i, j] += sums[3 * r + q]


@njit(parallel=True, cache=True)
def _dw_inputs(x, gy, p_t, p_l, w_p, xpf, dyp):
    """dW's two inputs in one pass: xpf[n, c, (h + p_t) w_p + w + p_l] = x[n, c, h, w]
    (zeros elsewhere, including the tail past the last row), and dyp[n, k, h w_p + w] =
    dy[n, k, h, w] (zeros in the f_w - 1 extra columns of each row). Each task owns one
    plane of either; one parallel launch for both (numpy's copy of dy ran on one thread)."""
    n_img, n_ch, height, width = x.shape
    c_out, h_o, w_o = gy.shape[1], gy.shape[2], gy.shape[3]
    planes = n_ch + c_out
    for t in prange(n_img * planes):
        n = t // planes
        c = t % planes
        if c < n_ch:
            out = xpf[n, c]
            out[:] = 0
            for h in range(height):
                copy_row(x[n, c, h], out[(h + p_t) * w_p + p_l:(h + p_t) * w_p + p_l + width])
        else:
            k = c - n_ch
            out = dyp[n, k]
            for h in range(h_o):
                row = out[h * w_p:(h + 1) * w_p]
                copy_row(gy[n, k, h], row)
                row[w_o:] = 0


# Below these the setup (the filters reordered, every input row stacked f_h times)
# costs more than the faster dot products save (measured with the earlier layout,
# whose setup was an NHWC copy of the input). Measured, f+b: 512 channels 3 x 3 at 7 x 7, one
# image (49 outputs), took 27 ms here against 18 ms on im2col; LeNet-5's dx, a
# transposed conv with 6 filters (a block of 4 and a partial one), 2.4 against 1.9 ms.
MIN_OUTPUTS = 256
MIN_FILTERS = 8


def windows_fit(w_shape, x_shape, h_o, w_o):
    """f > 1, at least MIN_FILTERS filters and MIN_OUTPUTS output pixels in the batch, and
    windows of at least MIN_WINDOW numbers: where the forward kernel pays, whatever the
    channel count."""
    c_out, n_ch, f_h, f_w = w_shape
    return (f_h * f_w > 1 and c_out >= MIN_FILTERS and x_shape[0] * h_o * w_o >= MIN_OUTPUTS
            and n_ch * f_h * f_w >= MIN_WINDOW)


def direct_applies(w_shape, x_shape, h_o, w_o):
    """windows_fit, and at least MIN_CHANNELS channels: the whole layer (forward, dx, dW)."""
    return w_shape[1] >= MIN_CHANNELS and windows_fit(w_shape, x_shape, h_o, w_o)


def forward_direct(x, w, b, y, stride, padding):
    """y = conv(x, W) + b, b None for none: the bias is added as each output is stored,
    which saves a pass over y (0.3-0.7 ms of a 16 x 32 x 28 x 28 output)."""
    c_out, n_ch, f_h, f_w = w.shape
    s_h, s_w = stride
    p_t, p_b, p_l, p_r = padding
    # One slot per input column: its f_h rows of n_c channels, rounded up to whole vectors.
    column = -(-f_h * n_ch // VECTOR) * VECTOR
    wk = aligned_empty(c_out * f_w * column, x.dtype).reshape(c_out, f_w, column)
    wk[:, :, f_h * n_ch:] = 0
    wk[:, :, :f_h * n_ch] = w.transpose(0, 3, 2, 1).reshape(c_out, f_w, f_h * n_ch)   # (k, j, i, c)
    groups = min((c_out + 3) // 4, -(-w.nbytes // GROUP_BYTES))
    bias = np.zeros(c_out, x.dtype) if b is None else np.asarray(b, dtype=x.dtype)
    _window_dots(x, p_t, p_l, x.shape[3] + p_l + p_r, f_h, s_h, s_w, column, wk.reshape(c_out, f_w * column),
                 bias, groups, y, x.dtype.type(0))


def weight_grad_direct(gy, x, w_shape, padding):
    """dW for stride 1, from dy padded to the padded width and the flattened padded planes."""
    c_out, n_ch, f_h, f_w = w_shape
    p_t, p_b, p_l, p_r = padding
    n_img, _, height, width = x.shape
    h_o = gy.shape[2]
    h_p, w_p = height + p_t + p_b, width + p_l + p_r
    gw = np.empty(w_shape, x.dtype)
    with Workspace(x.dtype) as ws:
        # The shifted rows read up to (f_h - 1) w_p + f_w - 1 past a plane's last output row.
        xpf = ws.get("direct_planes", (n_img, n_ch, h_p * w_p + f_w))
        dyp = ws.get("direct_dy", (n_img, c_out, h_o * w_p))
        _dw_inputs(x, gy, p_t, p_l, w_p, xpf, dyp)
        _weight_grad_dots(dyp, xpf, w_p, gw, x.dtype.type(0))
    return gw
