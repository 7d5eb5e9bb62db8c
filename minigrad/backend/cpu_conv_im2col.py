"""conv2d's general path: im2col, one large GEMM per batch chunk, col2im.

``cols`` is (n_c f_h f_w, nb, n_H', n_W'), row k = (c, i, j) holding the input under
filter offset (i, j) of channel c for every output pixel of the chunk's nb images;
y = W (n_c', K) @ cols, dW = dy @ cols^T and dx = col2im(W^T @ dy), the column
gradient gathered back onto its windows. Any stride, padding per side, dtype.
Threads: im2col's own whole (k, n) slabs of cols; col2im's own row bands of gx
planes; the GEMMs are split into disjoint output blocks by ``threads.matmul``.
"""
from numba import njit, prange

from .cpu_conv_workspace import SERIAL_BELOW, Workspace, chunk
from .cpu_rows import add_row, copy_row
from .threads import matmul as _mm

@njit(cache=True)
def _valid_range(j, p_l, s_w, width, w_o):
    """Output columns ow whose input column ow * s_w + j - p_l falls inside [0, width)."""
    lo = 0
    if p_l - j > 0:
        lo = (p_l - j + s_w - 1) // s_w
    hi = (width - 1 + p_l - j) // s_w + 1 if width - 1 + p_l - j >= 0 else 0
    if hi > w_o:
        hi = w_o
    if lo > hi:
        lo = hi
    return lo, hi



@njit(cache=True)
def _im2col_slab(t, x, n0, cols, f_h, f_w, s_h, s_w, p_t, p_l):
    n_b, h_o, w_o = cols.shape[1], cols.shape[2], cols.shape[3]
    height, width = x.shape[2], x.shape[3]
    k, n = t // n_b, t % n_b
    c, i, j = k // (f_h * f_w), (k // f_w) % f_h, k % f_w
    lo, hi = _valid_range(j, p_l, s_w, width, w_o)
    for oh in range(h_o):
        h = oh * s_h + i - p_t
        if h < 0 or h >= height:
            for ow in range(w_o):
                cols[k, n, oh, ow] = 0
            continue
        for ow in range(lo):
            cols[k, n, oh, ow] = 0
        # Stride 1 as a row copy (cpu_rows); a strided slice measured 5-10% slower than
        # indexing (16 x 64 x 56 x 56, stride 2), so stride 2 keeps its indexed loop.
        if s_w == 1:
            copy_row(x[n0 + n, c, h, lo + j - p_l:hi + j - p_l], cols[k, n, oh, lo:hi])
        else:
            for ow in range(lo, hi):
                cols[k, n, oh, ow] = x[n0 + n, c, h, ow * s_w + j - p_l]
        for ow in range(hi, w_o):
            cols[k, n, oh, ow] = 0


@njit(parallel=True, cache=True)
def _im2col(x, n0, cols, f_h, f_w, s_h, s_w, p_t, p_l):
    tasks = cols.shape[0] * cols.shape[1]
    if cols.size < SERIAL_BELOW:
        for t in range(tasks):
            _im2col_slab(t, x, n0, cols, f_h, f_w, s_h, s_w, p_t, p_l)
        return
    # Each thread owns whole (k, n) slabs of cols: pure copies, no shared writes.
    for t in prange(tasks):
        _im2col_slab(t, x, n0, cols, f_h, f_w, s_h, s_w, p_t, p_l)


@njit(cache=True)
def _col2im_band(t, bands, gcols, n0, gx, f_h, f_w, s_h, s_w, p_t, p_l):
    h_o, w_o = gcols.shape[2], gcols.shape[3]
    n_ch, height, width = gx.shape[1], gx.shape[2], gx.shape[3]
    b, c, n = t % bands, (t // bands) % n_ch, t // (bands * n_ch)
    h0, h1 = b * height // bands, (b + 1) * height // bands
    for h in range(h0, h1):
        for q in range(width):
            gx[n0 + n, c, h, q] = 0
    # Reading whole (k, n) slabs of gcols in order streams them from memory; the
    # rows they add into are this band's, a few KB that stay in cache.
    for i in range(f_h):
        oh_lo = max(0, -((i - p_t - h0) // s_h))
        oh_hi = min(h_o, -((i - p_t - h1) // s_h))
        for j in range(f_w):
            k = (c * f_h + i) * f_w + j
            lo, hi = _valid_range(j, p_l, s_w, width, w_o)
            for oh in range(oh_lo, oh_hi):
                h = oh * s_h + i - p_t
                if s_w == 1:
                    add_row(gcols[k, n, oh, lo:hi], gx[n0 + n, c, h, lo + j - p_l:hi + j - p_l])
                else:
                    for ow in range(lo, hi):
                        gx[n0 + n, c, h, ow * s_w + j - p_l] += gcols[k, n, oh, ow]


@njit(parallel=True, cache=True)
def _col2im(gcols, n0, gx, f_h, f_w, s_h, s_w, p_t, p_l):
    planes = gcols.shape[1] * gx.shape[1]
    # Whole planes make the best tasks; split them into row bands only when there
    # are too few planes to keep every thread busy (e.g. one RGB image).
    bands = min(gx.shape[2], (16 + planes - 1) // planes)
    tasks = planes * bands
    if gcols.size < SERIAL_BELOW:
        for t in range(tasks):
            _col2im_band(t, bands, gcols, n0, gx, f_h, f_w, s_h, s_w, p_t, p_l)
        return
    # Each thread owns whole row bands of gx planes and gathers every column entry
    # that read from them, so overlapping windows never race and nothing is atomic.
    for t in prange(tasks):
        _col2im_band(t, bands, gcols, n0, gx, f_h, f_w, s_h, s_w, p_t, p_l)


def forward_im2col(x, w2, y3, h_o, w_o, geo):
    """y3 (m, n_c', n_H' n_W') = W2 (n_c', K) @ im2col(x), a batch chunk at a time."""
    n_img, rows, c_out, pix = x.shape[0], w2.shape[1], w2.shape[0], h_o * w_o
    with Workspace(x.dtype) as ws:
        n_b = chunk((rows + c_out) * pix * x.itemsize, n_img)
        for n0 in range(0, n_img, n_b):
            m = min(n_b, n_img - n0)
            cols = ws.get("cols", (rows, m, h_o, w_o))
            _im2col(x, n0, cols, *geo)
            if m == 1:
                _mm(w2, cols.reshape(rows, pix), y3[n0])
            else:
                out = ws.get("out", (c_out, m, pix))
                _mm(w2, cols.reshape(rows, m * pix), out.reshape(c_out, m * pix))
                y3[n0:n0 + m] = out.transpose(1, 0, 2)


def backward_im2col(x, w2, gy3, gx, gw2, h_o, w_o, geo):
    """Fills gx (if not None) by col2im(W^T @ dy) and gw2 (if not None) with dy @ cols^T."""
    need_x, need_w = gx is not None, gw2 is not None
    n_img, rows, c_out, pix = x.shape[0], w2.shape[1], w2.shape[0], h_o * w_o
    with Workspace(x.dtype) as ws:
        per_image = ((need_w + need_x) * rows + c_out) * pix * x.itemsize
        n_b = chunk(per_image, n_img)
        for n0 in range(0, n_img, n_b):
            m = min(n_b, n_img - n0)
            if m == 1:
                gy_t = gy3[n0]
            else:
                gy_t = ws.get("gy_t", (c_out, m, pix))
                gy_t[...] = gy3[n0:n0 + m].transpose(1, 0, 2)
            gy_t = gy_t.reshape(c_out, m * pix)
            if need_w:
                cols = ws.get("cols", (rows, m, h_o, w_o))
                _im2col(x, n0, cols, *geo)
                tmp = gw2 if n0 == 0 else ws.get("gw", gw2.shape)
                _mm(gy_t, cols.reshape(rows, m * pix).T, tmp)
                if n0:
                    gw2 += tmp
            if need_x:
                gcols = ws.get("gcols", (rows, m, h_o, w_o))
                _mm(w2.T, gy_t, gcols.reshape(rows, m * pix))
                _col2im(gcols, n0, gx, *geo)
