"""conv2d's direct path: dot products along contiguous runs of channels, no GEMM call.

With the channels last (NHWC), the f_w pixels under one filter row and their n_c
channels are one contiguous run of f_w * n_c numbers, and so is that row of the
filter, laid out (n_c', f_h, f_w * n_c). So every output is f_h dot products of two
contiguous vectors:

    y[n, k, h, w] = sum_i  W[k, i, :] . x_nhwc[n, h s_h + i, w s_w n_c : (w s_w + f_w) n_c]

The kernel keeps a tile of 4 filters x 3 output pixels in 12 registers and streams 7
vectors through them (``_dots_4x3``): 7 loads for 12 multiply-adds, which keeps the FMA
units busy where a BLAS call with 16-32 output rows (the course's 5 x 5 layers) cannot.
Measured forward through F.conv2d, 16 x 192 x 28 x 28 -> 32, 5 x 5: 40-42 ms here
against 78-84 ms through OpenBLAS's shift-add GEMMs (PyTorch: about 30 ms).

When the rows are short (few channels) but the window is long, each output row gets its
own copy of its f_h input rows, interleaved column by column (``_stack_rows``): a whole
f_h x f_w x n_c window is then one run, and each output a single dot product.

dW (stride 1) is the same kind of kernel on the padded grid: dy padded to the padded
width w_p with zeros, then dW[k, c, i, j] = sum over n, q of dy_p[n, k, q] *
x_pad[n, c, q + i w_p + j], dot products of contiguous rows, a tile of 4 filters x 3
channels at once.

Threads: the forward's task owns the outputs y[n, k0:k0 + 4, h, :]; dW's task owns
dW[k0:k0 + 4, c0:c0 + 3, i, j] and sums over the whole batch itself. No two tasks
write the same place, and nothing is reduced across threads.
"""
import numpy as np
from numba import njit, prange

from .cpu_conv_workspace import Workspace, aligned_empty

# Reassociation lets LLVM vectorise the dot products; no nnan/ninf, so NaN and inf
# propagate as they do in PyTorch.
_FAST = {"reassoc", "contract"}

# Shorter filter rows (n_c f_w numbers) leave too little work per reduction: each
# output's f_h partial sums are reduced across the vector lanes at the end of every
# row. Measured through F.conv2d, interleaved with the paths after this one: 16 x 192
# -> 32 5 x 5 (rows of 960) took 0.51-0.60x their time; 16 x 16 -> 32 5 x 5 (rows of
# 80) tied, and LeNet-5's second conv (rows of 30) lost (1.1-1.6x).
MIN_RUN = 128
# Such layers can still take the path with each window as one run (f_h input rows
# stacked per output row): 16 x 16 -> 32 5 x 5 (windows of 400) f+b took 0.83-0.88x
# the time of the GEMM paths; LeNet-5's second conv (windows of 150) 1.16-1.28x.
MIN_WINDOW = 256


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


@njit(parallel=True, cache=True)
def _to_padded_rows(x, p_t, p_l, out):
    """out[n, h + p_t, (w + p_l) n_c + c] = x[n, c, h, w], zeros around; each task owns
    one output row."""
    n_img, n_ch, height, width = x.shape
    h_p = out.shape[1]
    for t in prange(n_img * h_p):
        n = t // h_p
        r = t % h_p
        h = r - p_t
        if h < 0 or h >= height:
            out[n, r, :] = 0
            continue
        out[n, r, : p_l * n_ch] = 0
        out[n, r, (p_l + width) * n_ch:] = 0
        for c in range(n_ch):
            for w in range(width):
                out[n, r, (w + p_l) * n_ch + c] = x[n, c, h, w]


@njit(parallel=True, cache=True)
def _stack_rows(x, p_t, p_l, f_h, s_h, out):
    """out[n, h, (col f_h + i) n_c + c] = x_pad[n, c, h s_h + i, col]: for output row h,
    its f_h input rows interleaved column by column, so a whole f_h x f_w x n_c window is
    one contiguous run. Each task owns one output row."""
    n_img, n_ch, height, width = x.shape
    h_o = out.shape[1]
    w_p = out.shape[2] // (f_h * n_ch)
    for t in prange(n_img * h_o):
        n = t // h_o
        h = t % h_o
        out[n, h, :] = 0
        for i in range(f_h):
            r = h * s_h + i - p_t
            if r < 0 or r >= height:
                continue
            for c in range(n_ch):
                for col in range(width):
                    out[n, h, ((col + p_l) * f_h + i) * n_ch + c] = x[n, c, r, col]


@njit(parallel=True, fastmath=_FAST, cache=True)
def _direct_dots(xr, step, s_h, w4, y, weights_outer, zero):
    """y[n, k, h, w] = sum_i w4[k, i, :] . xr[n, h s_h + i, w step : w step + L].

    Each task owns y[n, k0:k0 + 4, h, :]. ``weights_outer`` orders the tasks filter
    block first, so a thread keeps one block of filters in cache while the images
    stream past: measured faster when the weights outweigh the input (512 channels
    at 7 x 7), slower otherwise."""
    n_img = xr.shape[0]
    c_out, f_h, run = w4.shape
    h_o, w_o = y.shape[2], y.shape[3]
    blocks = (c_out + 3) // 4
    w_full = w_o - w_o % 3
    for t in prange(n_img * h_o * blocks):
        if weights_outer:
            k0 = (t // (n_img * h_o)) * 4
            n = (t // h_o) % n_img
            h = t % h_o
        else:
            n = t // (h_o * blocks)
            h = (t // blocks) % h_o
            k0 = (t % blocks) * 4
        if k0 + 4 > c_out:
            # The last, partial block of filters: one filter x 3 pixels at a time.
            for k in range(k0, c_out):
                for w0 in range(0, w_full, 3):
                    b0 = b1 = b2 = zero
                    for i in range(f_h):
                        row = xr[n, h * s_h + i]
                        x0 = row[w0 * step: w0 * step + run]
                        x1 = row[(w0 + 1) * step: (w0 + 1) * step + run]
                        x2 = row[(w0 + 2) * step: (w0 + 2) * step + run]
                        u0 = w4[k, i]
                        for c in range(run):
                            q = u0[c]
                            b0 += q * x0[c]
                            b1 += q * x1[c]
                            b2 += q * x2[c]
                    y[n, k, h, w0], y[n, k, h, w0 + 1], y[n, k, h, w0 + 2] = b0, b1, b2
                for w in range(w_full, w_o):
                    acc = zero
                    for i in range(f_h):
                        acc += _dot(w4[k, i], xr[n, h * s_h + i, w * step: w * step + run], zero)
                    y[n, k, h, w] = acc
            continue
        for w0 in range(0, w_full, 3):
            for i in range(f_h):
                row = xr[n, h * s_h + i]
                sums = _dots_4x3(w4[k0, i], w4[k0 + 1, i], w4[k0 + 2, i], w4[k0 + 3, i],
                                 row[w0 * step: w0 * step + run],
                                 row[(w0 + 1) * step: (w0 + 1) * step + run],
                                 row[(w0 + 2) * step: (w0 + 2) * step + run], zero)
                for r in range(4):
                    for q in range(3):
                        if i == 0:
                            y[n, k0 + r, h, w0 + q] = sums[3 * r + q]
                        else:
                            y[n, k0 + r, h, w0 + q] += sums[3 * r + q]
        for w in range(w_full, w_o):
            # The last one or two pixels of the row: 4 filters x 1 pixel.
            a0 = a1 = a2 = a3 = zero
            for i in range(f_h):
                x0 = xr[n, h * s_h + i, w * step: w * step + run]
                u0 = w4[k0, i]
                u1 = w4[k0 + 1, i]
                u2 = w4[k0 + 2, i]
                u3 = w4[k0 + 3, i]
                for c in range(run):
                    p0 = x0[c]
                    a0 += u0[c] * p0
                    a1 += u1[c] * p0
                    a2 += u2[c] * p0
                    a3 += u3[c] * p0
            y[n, k0, h, w], y[n, k0 + 1, h, w], y[n, k0 + 2, h, w], y[n, k0 + 3, h, w] = a0, a1, a2, a3


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
def _padded_planes(x, p_t, p_l, h_p, w_p, out):
    """out[n, c, (h + p_t) w_p + w + p_l] = x[n, c, h, w], zeros elsewhere (including the
    tail past the last plane); each task owns one plane."""
    n_img, n_ch, height, width = x.shape
    for t in prange(n_img * n_ch):
        n = t // n_ch
        c = t % n_ch
        out[n, c, :] = 0
        for h in range(height):
            base = (h + p_t) * w_p + p_l
            for w in range(width):
                out[n, c, base + w] = x[n, c, h, w]


# Below these the setup (the filters reordered, the input copied to NHWC) costs more
# than the faster dot products save. Measured, f+b: 512 channels 3 x 3 at 7 x 7, one
# image (49 outputs), took 27 ms here against 18 ms on im2col; LeNet-5's dx, a
# transposed conv with 6 filters (a block of 4 and a partial one), 2.4 against 1.9 ms.
MIN_OUTPUTS = 256
MIN_FILTERS = 8


def _row_numbers(w_shape):
    """How many numbers one dot product reads: a filter row of n_c f_w, or, when rows are
    shorter than MIN_RUN, the whole window (the input then stacked, see _stack_rows) if it
    holds at least MIN_WINDOW; else 0."""
    n_ch, f_h, f_w = w_shape[1], w_shape[2], w_shape[3]
    if n_ch * f_w >= MIN_RUN:
        return n_ch * f_w
    return n_ch * f_h * f_w if n_ch * f_h * f_w >= MIN_WINDOW else 0


def direct_applies(w_shape, x_shape, h_o, w_o):
    """f > 1, at least MIN_FILTERS filters and MIN_OUTPUTS output pixels in the batch, and
    long enough dot products (_row_numbers)."""
    c_out, n_ch, f_h, f_w = w_shape
    return (f_h * f_w > 1 and c_out >= MIN_FILTERS and x_shape[0] * h_o * w_o >= MIN_OUTPUTS
            and _row_numbers(w_shape) > 0)


def forward_direct(x, w, y, stride, padding):
    c_out, n_ch, f_h, f_w = w.shape
    s_h, s_w = stride
    p_t, p_b, p_l, p_r = padding
    n_img, _, height, width = x.shape
    h_o, w_o = y.shape[2], y.shape[3]
    zero = x.dtype.type(0)
    weights_outer = w.nbytes > x.nbytes
    with Workspace(x.dtype) as ws:
        if n_ch * f_w >= MIN_RUN:
            xr = ws.get("direct_rows", (n_img, height + p_t + p_b, (width + p_l + p_r) * n_ch))
            _to_padded_rows(x, p_t, p_l, xr)
            w4 = _reordered(w, (0, 2, 3, 1), (c_out, f_h, f_w * n_ch))       # (k, i, j, c)
            _direct_dots(xr, s_w * n_ch, s_h, w4, y, weights_outer, zero)
        else:
            # Short rows: each output row gets its own copy of its f_h input rows,
            # interleaved column by column, and the filter the same way: a window is one run.
            xs = ws.get("direct_stacked", (n_img, h_o, (width + p_l + p_r) * f_h * n_ch))
            _stack_rows(x, p_t, p_l, f_h, s_h, xs)
            w1 = _reordered(w, (0, 3, 2, 1), (c_out, 1, f_w * f_h * n_ch))   # (k, j, i, c)
            _direct_dots(xs, s_w * f_h * n_ch, 1, w1, y, weights_outer, zero)


def _reordered(w, axes, shape):
    """W with its axes in the order ``axes``, in a buffer aligned for vector loads, as ``shape``."""
    out = aligned_empty(w.size, w.dtype).reshape(tuple(w.shape[a] for a in axes))
    out[...] = w.transpose(axes)
    return out.reshape(shape)


def weight_grad_direct(gy, x, w_shape, padding):
    """dW for stride 1, from dy padded to the padded width and the flattened padded planes."""
    c_out, n_ch, f_h, f_w = w_shape
    p_t, p_b, p_l, p_r = padding
    n_img, _, height, width = x.shape
    h_o, w_o = gy.shape[2], gy.shape[3]
    h_p, w_p = height + p_t + p_b, width + p_l + p_r
    gw = np.empty(w_shape, x.dtype)
    with Workspace(x.dtype) as ws:
        # The shifted rows read up to (f_h - 1) w_p + f_w - 1 past a plane's last output row.
        xpf = ws.get("direct_planes", (n_img, n_ch, h_p * w_p + f_w))
        _padded_planes(x, p_t, p_l, h_p, w_p, xpf)
        dyp = ws.get("direct_dy", (n_img, c_out, h_o, w_p))
        dyp[..., :w_o] = gy
        dyp[..., w_o:] = 0
        _weight_grad_dots(dyp.reshape(n_img, c_out, h_o * w_p), xpf, w_p, gw, x.dtype.type(0))
    return gw
