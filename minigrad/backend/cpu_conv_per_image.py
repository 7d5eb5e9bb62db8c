"""conv2d's per-image path: small stride-1 convs, runs of images split over the threads.

Worker p of ``threads.run_parts`` owns images [p n / parts, (p + 1) n / parts): their
output planes (forward), their dx planes and its own partial dW (backward), and its
own buffers; so nothing is shared but the read-only inputs.
"""
import numpy as np
from numba import njit

from .cpu_rows import add_row, copy_row
from .threads import run_parts

# Per-image path for small stride-1 problems: one pass over the batch per conv call,
# split by images over the GEMM pool's threads (threads.run_parts). Each worker takes
# a contiguous run of images and, a group at a time, pads them into its own buffer,
# builds a "wide" im2col (Numba, nogil) and multiplies it with numpy's BLAS (held at
# one thread by kernel_call, so the workers do not oversubscribe the cores; Numba's
# own np.dot goes through scipy's BLAS, measured 1.2-2x slower on these skinny GEMMs).
# Wide: the output is computed on the padded grid's width w_p, so that row
# k = (c, i, j) of cols is one contiguous run of the padded plane starting at
# i * w_p + j (L = (n_H' - 1) w_p + n_W' values) instead of n_H' runs of n_W'; the
# f_w - 1 extra columns per output row cost a little GEMM work but the copies become
# memcpy-like, where the row-by-row im2col of short rows dominated LeNet-sized layers.
# Only used while one image's columns stay this small (a few hundred KB in cache):
PER_IMAGE_MAX_BYTES = 2 << 20
# ... and while the GEMMs stay small enough for one thread each: with n_c f^2 in the
# thousands (512 channels, 3 x 3, at 7 x 7) im2col's one GEMM, split over the threads,
# was 1.5-1.8x faster (3.5 against 5.1 ms at batch 1, 5.8 against 10.1 at batch 2).
PER_IMAGE_MAX_ROWS = 1024


@njit(cache=True)
def _pad_image(x, n, xp, p_t, p_l):
    """xp (n_c, h_p, w_p) = image n of x with its zero border."""
    height, width = x.shape[2], x.shape[3]
    xp[...] = 0
    for c in range(x.shape[1]):
        for h in range(height):
            copy_row(x[n, c, h], xp[c, h + p_t, p_l:p_l + width])


@njit(cache=True)
def _wide_cols(xp2, cols, g, f_h, f_w, w_p):
    """cols[k, g] = xp2[c, i w_p + j : i w_p + j + L] for k = (c, i, j): one copy per row.
    cols is the whole (K, m, L) array: cols[k, g] is then a contiguous row to Numba, and
    the copy vectorises (cols[:, g] would be a strided 2-D view, and an element loop)."""
    length = cols.shape[2]
    for k in range(cols.shape[0]):
        c, i, j = k // (f_h * f_w), (k // f_w) % f_h, k % f_w
        copy_row(xp2[c, i * w_p + j:i * w_p + j + length], cols[k, g])


@njit(nogil=True, cache=True)
def _wide_group(x, g0, xp, cols, f_h, f_w, p_t, p_l):
    """cols (K, m, L): the wide im2col of images g0..g0+m-1, side by side per row."""
    n_ch, h_p, w_p = xp.shape[0], xp.shape[1], xp.shape[2]
    xp2 = xp.reshape(n_ch, h_p * w_p)
    for g in range(cols.shape[1]):
        _pad_image(x, g0 + g, xp, p_t, p_l)
        _wide_cols(xp2, cols, g, f_h, f_w, w_p)


@njit(nogil=True, cache=True)
def _unwide_group(zw, y3, g0, h_o, w_o, w_p):
    """y3[g0 + g, k] = zw[k, g] without the f_w - 1 wrapped-around columns per row."""
    for k in range(zw.shape[0]):
        for g in range(zw.shape[1]):
            for oh in range(h_o):
                copy_row(zw[k, g, oh * w_p:oh * w_p + w_o], y3[g0 + g, k, oh * w_o:(oh + 1) * w_o])


@njit(nogil=True, cache=True)
def _widen_group(gy3, g0, gyw, h_o, w_o, w_p):
    """gyw (n_c', m, L) = dy of images g0.. on the wide grid, zero in the wrapped columns."""
    gyw[...] = 0
    for k in range(gyw.shape[0]):
        for g in range(gyw.shape[1]):
            for oh in range(h_o):
                copy_row(gy3[g0 + g, k, oh * w_o:(oh + 1) * w_o], gyw[k, g, oh * w_p:oh * w_p + w_o])


@njit(nogil=True, cache=True)
def _col2im_group(gcols, gx, g0, xp, f_h, f_w, p_t, p_l):
    """gx[g0 + g] = the wide column gradient gcols[:, g] added back onto the padded
    plane (xp), border cropped off."""
    n_ch, h_p, w_p = xp.shape[0], xp.shape[1], xp.shape[2]
    height, width = gx.shape[2], gx.shape[3]
    length = gcols.shape[2]
    xp2 = xp.reshape(n_ch, h_p * w_p)
    for g in range(gcols.shape[1]):
        xp[...] = 0
        for k in range(gcols.shape[0]):
            c, i, j = k // (f_h * f_w), (k // f_w) % f_h, k % f_w
            add_row(gcols[k, g], xp2[c, i * w_p + j:i * w_p + j + length])
        for c in range(n_ch):
            for h in range(height):
                copy_row(xp[c, h + p_t, p_l:p_l + width], gx[g0 + g, c, h])


# Images per GEMM in the per-image path: their wide cols stay within about this size.
GROUP_BYTES = 1 << 20


def _groups(lo, hi, per_image_bytes):
    m = max(1, min(hi - lo, GROUP_BYTES // per_image_bytes))
    return [(g0, min(m, hi - g0)) for g0 in range(lo, hi, m)]


def _worker_buffers(x, p, parts, rows, c_out, length, h_p, w_p):
    """Worker p's padded plane, its groups of images, and buffers for the wide cols
    (rows per image) and for an (n_c', m, L) GEMM result of its largest group."""
    n_img = x.shape[0]
    groups = _groups(p * n_img // parts, (p + 1) * n_img // parts, rows * length * x.itemsize)
    m_max = max((m for _, m in groups), default=0)
    return (np.empty((x.shape[1], h_p, w_p), x.dtype), groups,
            np.empty(rows * m_max * length, x.dtype), np.empty(c_out * m_max * length, x.dtype))


def forward_groups(x, w2, y3, h_o, w_o, f_h, f_w, p_t, p_l, parts):
    rows, c_out = w2.shape[1], w2.shape[0]
    h_p, w_p = h_o + f_h - 1, w_o + f_w - 1
    length = (h_o - 1) * w_p + w_o

    def work(p):
        # Worker p owns images [p n / parts, (p + 1) n / parts): their y planes, its buffers.
        xp, groups, cbuf, zbuf = _worker_buffers(x, p, parts, rows, c_out, length, h_p, w_p)
        for g0, m in groups:
            cols = cbuf[:rows * m * length].reshape(rows, m, length)
            zw = zbuf[:c_out * m * length].reshape(c_out, m, length)
            _wide_group(x, g0, xp, cols, f_h, f_w, p_t, p_l)
            np.matmul(w2, cols.reshape(rows, m * length), out=zw.reshape(c_out, m * length))
            _unwide_group(zw, y3, g0, h_o, w_o, w_p)
    run_parts(work, parts)


def backward_groups(x, w2, gy3, gx, need_x, need_w, h_o, w_o, f_h, f_w, p_t, p_l, parts):
    rows, c_out = w2.shape[1], w2.shape[0]
    h_p, w_p = h_o + f_h - 1, w_o + f_w - 1
    length = (h_o - 1) * w_p + w_o
    gw_parts = np.zeros((parts, c_out, rows), x.dtype)

    def work(p):
        # Worker p owns images [p n / parts, (p + 1) n / parts) of gx and gw_parts[p].
        xp, groups, cbuf, gbuf = _worker_buffers(x, p, parts, rows, c_out, length, h_p, w_p)
        tmp = np.empty((c_out, rows), x.dtype)
        for g0, m in groups:
            cols = cbuf[:rows * m * length].reshape(rows, m, length)
            gyw = gbuf[:c_out * m * length].reshape(c_out, m, length)
            _widen_group(gy3, g0, gyw, h_o, w_o, w_p)
            gy2, c2 = gyw.reshape(c_out, m * length), cols.reshape(rows, m * length)
            if need_w:
                _wide_group(x, g0, xp, cols, f_h, f_w, p_t, p_l)
                np.matmul(gy2, c2.T, out=tmp)
                gw_parts[p] += tmp
            if need_x:
                # cols is free now: it takes the column gradient W^T @ dy.
                np.matmul(w2.T, gy2, out=c2)
                _col2im_group(cols, gx, g0, xp, f_h, f_w, p_t, p_l)
    run_parts(work, parts)
    return gw_parts.sum(axis=0)


def per_image_parts(x, w, stride, padding):
    """Workers for the per-image path (1: run it in the calling thread), or 0 when it
    does not apply (stride > 1, or one image's columns too big to stay in cache)."""
    n_img, n_ch, height, width = x.shape
    c_out, _, f_h, f_w = w.shape
    p_t, p_b, p_l, p_r = padding
    h_p, w_p = height + p_t + p_b, width + p_l + p_r
    if tuple(stride) != (1, 1) or h_p < f_h or w_p < f_w:
        return 0
    rows = n_ch * f_h * f_w
    if rows * h_p * w_p * x.itemsize > PER_IMAGE_MAX_BYTES or rows > PER_IMAGE_MAX_ROWS:
        return 0
    # The GEMMs make the work per element far more than a copy's, so splitting over
    # threads pays off much sooner than SERIAL_BELOW: stay serial only below about
    # 0.1 ms of multiply-adds.
    if n_img * rows * h_p * w_p * c_out < (1 << 20):
        return 1
    import numba
    return max(1, min(n_img, numba.get_num_threads()))
