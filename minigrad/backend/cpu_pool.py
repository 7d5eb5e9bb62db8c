"""Max and average 2-D pooling on the CPU: Numba kernels, one thread per (n, c) plane.

Course notation: an n x n plane pooled by an f x f window with stride s and
padding p gives floor((n + 2p - f) / s) + 1 outputs per side; pooling acts on each
of the n_c channels separately, so the planes are independent and each thread owns
whole planes of the output (forward) or of the input gradient (backward).

Windows are clipped to the input instead of padding it: for max pooling that is
the same as padding with -inf, for average pooling the divisor stays f_h * f_w
(padded zeros count, PyTorch's count_include_pad=True). When the window tiles the
input (f == s, p == 0, n divisible by f) the windows are disjoint and in range, so the
fast-path kernels skip clipping (and zeroing, for the average's gradient); the
clipped-window kernels are the general path.

Pooling calls no BLAS, so unlike conv it runs outside ``threads.kernel_call`` (whose
thread-count switching cost about 18 us per call, a fifth of a small pool's time).
"""

import numpy as np
from numba import njit, prange

from ..sizes import output_size


@njit(cache=True)
def _clip(o, s, p, f, n):
    """Window offsets [lo, hi) of output o that land inside [0, n), and its origin."""
    start = o * s - p
    lo = -start if start < 0 else 0
    hi = n - start if start + f > n else f
    return start, lo, hi


@njit(parallel=True, cache=True)
def _max_forward(x, f_h, f_w, s_h, s_w, p_h, p_w, y, arg):
    planes, height, width = x.shape
    h_o, w_o = y.shape[1], y.shape[2]
    # Each thread owns whole output planes y[t] and arg[t].
    for t in prange(planes):
        for oh in range(h_o):
            h0, i_lo, i_hi = _clip(oh, s_h, p_h, f_h, height)
            for ow in range(w_o):
                w0, j_lo, j_hi = _clip(ow, s_w, p_w, f_w, width)
                best = -np.inf
                where = -1
                # Row-major scan with a strict '>' keeps the first maximum (PyTorch's
                # tie rule); a NaN wins once and then sticks, as in PyTorch.
                for i in range(i_lo, i_hi):
                    for j in range(j_lo, j_hi):
                        v = x[t, h0 + i, w0 + j]
                        if where < 0 or v > best or (v != v and best == best):
                            best = v
                            where = (h0 + i) * width + w0 + j
                y[t, oh, ow] = best
                arg[t, oh, ow] = where


@njit(parallel=True, cache=True)
def _max_backward(gy, arg, gx):
    planes = gy.shape[0]
    outs = gy.shape[1]
    # Each thread owns whole input-gradient planes gx[t]: overlapping windows that
    # share an argmax accumulate inside one thread, so there is no race.
    for t in prange(planes):
        for o in range(outs):
            a = arg[t, o]
            if a >= 0:
                gx[t, a] += gy[t, o]


@njit(parallel=True, cache=True)
def _avg_forward(x, f_h, f_w, s_h, s_w, p_h, p_w, y):
    planes, height, width = x.shape
    h_o, w_o = y.shape[1], y.shape[2]
    scale = 1.0 / (f_h * f_w)
    # Each thread owns whole output planes y[t].
    for t in prange(planes):
        for oh in range(h_o):
            h0, i_lo, i_hi = _clip(oh, s_h, p_h, f_h, height)
            for ow in range(w_o):
                w0, j_lo, j_hi = _clip(ow, s_w, p_w, f_w, width)
                acc = 0.0
                for i in range(i_lo, i_hi):
                    for j in range(j_lo, j_hi):
                        acc += x[t, h0 + i, w0 + j]
                y[t, oh, ow] = acc * scale


@njit(parallel=True, cache=True)
def _avg_backward(gy, f_h, f_w, s_h, s_w, p_h, p_w, gx):
    planes, height, width = gx.shape
    h_o, w_o = gy.shape[1], gy.shape[2]
    scale = 1.0 / (f_h * f_w)
    # Each thread owns whole input-gradient planes gx[t] and spreads every output
    # gradient of that plane over its window, so overlaps add up in one thread.
    for t in prange(planes):
        gx[t] = 0
        for oh in range(h_o):
            h0, i_lo, i_hi = _clip(oh, s_h, p_h, f_h, height)
            for ow in range(w_o):
                w0, j_lo, j_hi = _clip(ow, s_w, p_w, f_w, width)
                g = gy[t, oh, ow] * scale
                for i in range(i_lo, i_hi):
                    for j in range(j_lo, j_hi):
                        gx[t, h0 + i, w0 + j] += g


@njit(inline="always")
def _take_if_larger(v, best, where, at):
    """The window scan's step: a strict '>' keeps the first maximum (PyTorch's tie
    rule); a NaN wins once and then sticks, as in PyTorch."""
    # Written as selects, not branches, so the 2 x 2 loop vectorises (measured 3.8x).
    take = (v > best) | ((v != v) & (best == best))
    return (v if take else best), (at if take else where)


@njit(parallel=True, cache=True)
def _max_forward_tiled(x, f_h, f_w, y, arg):
    planes, h_o, w_o = y.shape
    width = x.shape[2]
    # Each thread owns whole output planes; windows are disjoint and in range.
    for t in prange(planes):
        for oh in range(h_o):
            h0 = oh * f_h
            if f_h == 2 and f_w == 2:
                # The common 2 x 2 window, unrolled: two input rows per output row.
                for ow in range(w_o):
                    w0 = 2 * ow
                    at = h0 * width + w0
                    best, where = x[t, h0, w0], at
                    best, where = _take_if_larger(x[t, h0, w0 + 1], best, where, at + 1)
                    best, where = _take_if_larger(x[t, h0 + 1, w0], best, where, at + width)
                    best, where = _take_if_larger(x[t, h0 + 1, w0 + 1], best, where, at + width + 1)
                    y[t, oh, ow] = best
                    arg[t, oh, ow] = where
                continue
            for ow in range(w_o):
                w0 = ow * f_w
                best = x[t, h0, w0]
                where = h0 * width + w0
                for i in range(f_h):
                    for j in range(f_w):
                        best, where = _take_if_larger(x[t, h0 + i, w0 + j], best, where, (h0 + i) * width + w0 + j)
                y[t, oh, ow] = best
                arg[t, oh, ow] = where


@njit(parallel=True, cache=True)
def _max_backward_tiled(gy, arg, f_h, band, gx):
    planes, h_o, w_o = gy.shape
    # Each thread owns whole gx planes (flat: the argmax is the index into them, no
    # division); the disjoint windows of an output row cover a contiguous band of
    # f_h input rows, cleared in one streaming pass while it is hot, then the row's
    # argmaxes are stored (no separate zeroing pass over gx).
    for t in prange(planes):
        for oh in range(h_o):
            gx[t, oh * band:(oh + 1) * band] = 0
            for ow in range(w_o):
                gx[t, arg[t, oh, ow]] = gy[t, oh, ow]


@njit(parallel=True, cache=True)
def _avg_forward_tiled(x, f_h, f_w, y):
    planes, h_o, w_o = y.shape
    scale = 1.0 / (f_h * f_w)
    # Each thread owns whole output planes; windows are disjoint and in range.
    for t in prange(planes):
        for oh in range(h_o):
            for ow in range(w_o):
                acc = 0.0
                for i in range(f_h):
                    for j in range(f_w):
                        acc += x[t, oh * f_h + i, ow * f_w + j]
                y[t, oh, ow] = acc * scale


@njit(parallel=True, cache=True)
def _avg_backward_tiled(gy, f_h, f_w, gx):
    planes, h_o, w_o = gy.shape
    scale = 1.0 / (f_h * f_w)
    # Each thread owns whole gx planes; the disjoint windows cover every input once,
    # so plain stores suffice (no zeroing, no accumulation).
    for t in prange(planes):
        for oh in range(h_o):
            for i in range(f_h):
                for ow in range(w_o):
                    g = gy[t, oh, ow] * scale
                    for j in range(f_w):
                        gx[t, oh * f_h + i, ow * f_w + j] = g


def _geometry(x_shape, kernel, stride, padding):
    n, c, height, width = x_shape
    f_h, f_w = int(kernel[0]), int(kernel[1])
    s_h, s_w = int(stride[0]), int(stride[1])
    p_h, p_w = int(padding[0]), int(padding[1])
    h_o, w_o = output_size(height, f_h, p_h, s_h), output_size(width, f_w, p_w, s_w)
    assert h_o > 0 and w_o > 0, "pool: window larger than the padded input"
    return n * c, (f_h, f_w, s_h, s_w, p_h, p_w), (n, c, h_o, w_o)


def _tiles(x_shape, f_h, f_w, s_h, s_w, p_h, p_w):
    return (f_h, f_w) == (s_h, s_w) and p_h == p_w == 0 and x_shape[2] % f_h == 0 and x_shape[3] % f_w == 0


def max_pool2d_forward(x, kernel, stride, padding):
    """y = the maximum of each f x f window (padding counts as -inf); also the argmax,
    the flat index h * n_W + w of the chosen input in its (n, c) plane."""
    x = np.ascontiguousarray(x)
    planes, geo, out_shape = _geometry(x.shape, kernel, stride, padding)
    y = np.empty(out_shape, x.dtype)
    # The flat index fits 32 bits unless a plane has 2^31 pixels: half the memory
    # traffic of int64 in the forward pass and again in the backward pass.
    arg = np.empty(out_shape, np.int32 if x.shape[2] * x.shape[3] < 2**31 else np.int64)
    x3 = x.reshape(planes, x.shape[2], x.shape[3])
    y3 = y.reshape(planes, out_shape[2], out_shape[3])
    a3 = arg.reshape(y3.shape)
    if _tiles(x.shape, *geo):
        _max_forward_tiled(x3, geo[0], geo[1], y3, a3)
    else:
        _max_forward(x3, *geo, y3, a3)
    return y, arg


def max_pool2d_backward(grad_y, argmax, x_shape, kernel, stride, padding):
    """dx: each output's gradient goes to its argmax only, summed where windows overlap."""
    n, c, height, width = x_shape
    gy = np.ascontiguousarray(grad_y)
    arg = np.ascontiguousarray(argmax)
    planes, geo, out_shape = _geometry(x_shape, kernel, stride, padding)
    if _tiles(x_shape, *geo):
        gx = np.empty((planes, height * width), gy.dtype)
        _max_backward_tiled(gy.reshape(planes, out_shape[2], out_shape[3]),
                            arg.reshape(planes, out_shape[2], out_shape[3]), geo[0], geo[0] * width, gx)
    else:
        gx = np.zeros((planes, height * width), gy.dtype)
        _max_backward(gy.reshape(planes, -1), arg.reshape(planes, -1), gx)
    return gx.reshape(x_shape)


def avg_pool2d_forward(x, kernel, stride, padding):
    """y = the mean of each f x f window; padded zeros count (divisor f_h * f_w)."""
    x = np.ascontiguousarray(x)
    planes, geo, out_shape = _geometry(x.shape, kernel, stride, padding)
    y = np.empty(out_shape, x.dtype)
    x3 = x.reshape(planes, x.shape[2], x.shape[3])
    y3 = y.reshape(planes, out_shape[2], out_shape[3])
    if _tiles(x.shape, *geo):
        _avg_forward_tiled(x3, geo[0], geo[1], y3)
    else:
        _avg_forward(x3, *geo, y3)
    return y


def avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding):
    """dx: each output's gradient, divided by f_h * f_w, spread over its window."""
    gy = np.ascontiguousarray(grad_y)
    planes, geo, out_shape = _geometry(x_shape, kernel, stride, padding)
    n, c, height, width = x_shape
    gx = np.empty((planes, height, width), gy.dtype)
    gy3 = gy.reshape(planes, out_shape[2], out_shape[3])
    if _tiles(x_shape, *geo):
        _avg_backward_tiled(gy3, geo[0], geo[1], gx)
    else:
        _avg_backward(gy3, *geo, gx)
    return gx.reshape(x_shape)
