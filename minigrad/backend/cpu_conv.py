"""2-D convolution on the CPU: Numba data movement around large BLAS GEMMs, batch chunked.

Course notation: an input of n_c channels and n x n pixels, a filter of f x f,
padding p and stride s give an output of floor((n + 2p - f) / s) + 1 pixels per
side (here the padding may differ per side, so 2p becomes p_top + p_bottom).

Three paths, chosen per call by shape (each is a few GEMMs per batch chunk):
- im2col (general): ``cols`` is (n_c f_h f_w, nb, n_H', n_W'), row k = (c, i, j)
  holding the input under filter offset (i, j) of channel c for every output pixel
  of the chunk's nb images; y = W (n_c', K) @ cols. dW = dy @ cols^T and
  dx = col2im(W^T @ dy), the column gradient gathered back onto its windows.
- shift-add (stride 1, n_c' <= n_c): the padded input, flattened per channel, is
  multiplied by all f^2 filter offsets at once, z = W_ij @ x_pad (f^2 n_c' rows, fewer
  than im2col's f^2 n_c), and y adds the rows of z shifted by i * w_p + j. dW comes
  from f^2 GEMMs of dy on the padded grid with x_pad shifted; dx is the convolution
  of dy with the flipped, transposed filter when n_c' < n_c.
- pointwise (1 x 1, stride 1, no padding): x already is its own im2col.
The workspace is capped (``WORKSPACE_BYTES``) by chunking the batch and its buffers
are reused across chunks, so memory does not grow with the batch size.
"""
import numpy as np
from numba import njit, prange

from ..sizes import output_size
from .threads import kernel_call, matmul as _mm, run_parts

# Workspace cap per call (cols, its gradient and the GEMM output of a chunk). On a
# quiet machine 32 MB beat both 4 MB (GEMMs too small to run at full speed: the
# worst benchmark shape went 2.7x -> 2.0-2.2x PyTorch's time, geomean 1.4x -> 1.2-1.3x)
# and 64-128 MB (cols no longer in cache). Under heavy load smaller chunks looked
# better; we tune for the quiet machine people benchmark on. A single image is
# always processed whole, even if it alone exceeds the cap (VGG-16's widest layer,
# 64 x 3 x 3 over 224 x 224, needs 116 MB in float32).
WORKSPACE_BYTES = 32 << 20


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


# Below this many elements a kernel runs in the calling thread: waking the workers
# costs more than the copy, and far more when other processes hold the cores.
SERIAL_BELOW = 1 << 20


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
        # Rows are short (n_W'), so index directly instead of slicing; the stride-1
        # loop is separate so that it compiles to a vectorised contiguous copy.
        if s_w == 1:
            for ow in range(lo, hi):
                cols[k, n, oh, ow] = x[n0 + n, c, h, ow + j - p_l]
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
                    for ow in range(lo, hi):
                        gx[n0 + n, c, h, ow + j - p_l] += gcols[k, n, oh, ow]
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


@njit(parallel=True, cache=True)
def _pad_planes(x, n0, n_b, xp, p_t, p_l, h_p, w_p):
    n_ch, height, width = x.shape[1], x.shape[2], x.shape[3]
    plane = h_p * w_p
    # Each thread owns whole padded planes xp[c, n*plane:(n+1)*plane]: zeros and copy.
    for t in prange(n_ch * n_b):
        c = t // n_b
        n = t % n_b
        for q in range(plane):
            xp[c, n * plane + q] = 0
        for h in range(height):
            base = n * plane + (h + p_t) * w_p + p_l
            for w in range(width):
                xp[c, base + w] = x[n0 + n, c, h, w]


@njit(parallel=True, cache=True)
def _shift_add(z, n0, n_b, y, f_h, f_w, w_p, plane):
    c_out, h_o, w_o = y.shape[1], y.shape[2], y.shape[3]
    # Each thread owns whole output planes y[n0 + n, k] and sums the f_h * f_w
    # shifted rows of z into them, so no two threads write the same place.
    for t in prange(n_b * c_out):
        n = t // c_out
        k = t % c_out
        for oh in range(h_o):
            for ow in range(w_o):
                y[n0 + n, k, oh, ow] = 0
            for i in range(f_h):
                for j in range(f_w):
                    row = (i * f_w + j) * c_out + k
                    base = n * plane + (oh + i) * w_p + j
                    for ow in range(w_o):
                        y[n0 + n, k, oh, ow] += z[row, base + ow]


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


@njit(cache=True)
def _pad_image(x, n, xp, p_t, p_l):
    """xp (n_c, h_p, w_p) = image n of x with its zero border."""
    height, width = x.shape[2], x.shape[3]
    xp[...] = 0
    for c in range(x.shape[1]):
        for h in range(height):
            xp[c, h + p_t, p_l:p_l + width] = x[n, c, h]


@njit(cache=True)
def _wide_cols(xp2, cols, f_h, f_w, w_p):
    """cols[k] = xp2[c, i w_p + j : i w_p + j + L] for k = (c, i, j): one copy per row."""
    length = cols.shape[1]
    for k in range(cols.shape[0]):
        c, i, j = k // (f_h * f_w), (k // f_w) % f_h, k % f_w
        off = i * w_p + j
        cols[k] = xp2[c, off:off + length]


@njit(nogil=True, cache=True)
def _wide_group(x, g0, xp, cols, f_h, f_w, p_t, p_l):
    """cols (K, m, L): the wide im2col of images g0..g0+m-1, side by side per row."""
    n_ch, h_p, w_p = xp.shape[0], xp.shape[1], xp.shape[2]
    xp2 = xp.reshape(n_ch, h_p * w_p)
    for g in range(cols.shape[1]):
        _pad_image(x, g0 + g, xp, p_t, p_l)
        _wide_cols(xp2, cols[:, g], f_h, f_w, w_p)


@njit(nogil=True, cache=True)
def _unwide_group(zw, y3, g0, h_o, w_o, w_p):
    """y3[g0 + g, k] = zw[k, g] without the f_w - 1 wrapped-around columns per row."""
    for k in range(zw.shape[0]):
        for g in range(zw.shape[1]):
            for oh in range(h_o):
                y3[g0 + g, k, oh * w_o:(oh + 1) * w_o] = zw[k, g, oh * w_p:oh * w_p + w_o]


@njit(nogil=True, cache=True)
def _widen_group(gy3, g0, gyw, h_o, w_o, w_p):
    """gyw (n_c', m, L) = dy of images g0.. on the wide grid, zero in the wrapped columns."""
    gyw[...] = 0
    for k in range(gyw.shape[0]):
        for g in range(gyw.shape[1]):
            for oh in range(h_o):
                gyw[k, g, oh * w_p:oh * w_p + w_o] = gy3[g0 + g, k, oh * w_o:(oh + 1) * w_o]


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
            off = i * w_p + j
            for q in range(length):
                xp2[c, off + q] += gcols[k, g, q]
        for c in range(n_ch):
            for h in range(height):
                gx[g0 + g, c, h] = xp[c, h + p_t, p_l:p_l + width]


# Images per GEMM in the per-image path: their wide cols stay within about this size.
GROUP_BYTES = 1 << 20


def _groups(lo, hi, per_image_bytes):
    m = max(1, min(hi - lo, GROUP_BYTES // per_image_bytes))
    return [(g0, min(m, hi - g0)) for g0 in range(lo, hi, m)]


def _forward_groups(x, w2, y3, h_o, w_o, f_h, f_w, p_t, p_l, parts):
    n_img, n_ch = x.shape[0], x.shape[1]
    rows, c_out = w2.shape[1], w2.shape[0]
    h_p, w_p = h_o + f_h - 1, w_o + f_w - 1
    length = (h_o - 1) * w_p + w_o

    def work(p):
        # Worker p owns images [p n / parts, (p + 1) n / parts): their y planes, its buffers.
        xp = np.empty((n_ch, h_p, w_p), x.dtype)
        groups = _groups(p * n_img // parts, (p + 1) * n_img // parts, rows * length * x.itemsize)
        m_max = max((m for _, m in groups), default=0)
        cbuf = np.empty(rows * m_max * length, x.dtype)
        zbuf = np.empty(c_out * m_max * length, x.dtype)
        for g0, m in groups:
            cols = cbuf[:rows * m * length].reshape(rows, m, length)
            zw = zbuf[:c_out * m * length].reshape(c_out, m, length)
            _wide_group(x, g0, xp, cols, f_h, f_w, p_t, p_l)
            np.matmul(w2, cols.reshape(rows, m * length), out=zw.reshape(c_out, m * length))
            _unwide_group(zw, y3, g0, h_o, w_o, w_p)
    run_parts(work, parts)


def _backward_groups(x, w2, gy3, gx, need_x, need_w, h_o, w_o, f_h, f_w, p_t, p_l, parts):
    n_img, n_ch = x.shape[0], x.shape[1]
    rows, c_out = w2.shape[1], w2.shape[0]
    h_p, w_p = h_o + f_h - 1, w_o + f_w - 1
    length = (h_o - 1) * w_p + w_o
    gw_parts = np.zeros((parts, c_out, rows), x.dtype)

    def work(p):
        # Worker p owns images [p n / parts, (p + 1) n / parts) of gx and gw_parts[p].
        xp = np.empty((n_ch, h_p, w_p), x.dtype)
        groups = _groups(p * n_img // parts, (p + 1) * n_img // parts, rows * length * x.itemsize)
        m_max = max((m for _, m in groups), default=0)
        cbuf = np.empty(rows * m_max * length, x.dtype)
        gbuf = np.empty(c_out * m_max * length, x.dtype)
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


def _per_image_parts(x, w, stride, padding):
    """Workers for the per-image path (1: run it in the calling thread), or 0 when it
    does not apply (stride > 1, or one image's columns too big to stay in cache)."""
    n_img, n_ch, height, width = x.shape
    c_out, _, f_h, f_w = w.shape
    p_t, p_b, p_l, p_r = padding
    h_p, w_p = height + p_t + p_b, width + p_l + p_r
    if tuple(stride) != (1, 1) or h_p < f_h or w_p < f_w:
        return 0
    rows = n_ch * f_h * f_w
    if rows * h_p * w_p * x.itemsize > PER_IMAGE_MAX_BYTES:
        return 0
    # The GEMMs make the work per element far more than a copy's, so splitting over
    # threads pays off much sooner than SERIAL_BELOW: stay serial only below about
    # 0.1 ms of multiply-adds.
    if n_img * rows * h_p * w_p * c_out < (1 << 20):
        return 1
    import numba
    return max(1, min(n_img, numba.get_num_threads()))


def _geometry(x, w, stride, padding):
    n_img, n_ch, height, width = x.shape
    c_out, c_in, f_h, f_w = w.shape
    assert c_in == n_ch, "conv2d: channel mismatch (the op should have caught it)"
    s_h, s_w = int(stride[0]), int(stride[1])
    p_t, p_b, p_l, p_r = (int(v) for v in padding)
    h_o = output_size(height, f_h, (p_t, p_b), s_h)
    w_o = output_size(width, f_w, (p_l, p_r), s_w)
    return n_img, c_out, n_ch * f_h * f_w, h_o, w_o, (f_h, f_w, s_h, s_w, p_t, p_l)


def _is_pointwise(w, stride, padding):
    """1 x 1 filter, stride 1, no padding: the input already is its own im2col."""
    return w.shape[2] == 1 and w.shape[3] == 1 and tuple(stride) == (1, 1) and not any(padding)


def _transposed_is_cheaper(w, stride, padding):
    """Stride 1 with fewer output than input channels: dx as a convolution of dy
    (shift-add or an im2col of n_c' f^2 < n_c f^2 rows) beats col2im. Measured: with
    n_c' >= n_c col2im stays faster."""
    f_h, f_w = w.shape[2], w.shape[3]
    p_t, p_b, p_l, p_r = padding
    fits = max(p_t, p_b) <= f_h - 1 and max(p_l, p_r) <= f_w - 1
    return tuple(stride) == (1, 1) and fits and w.shape[0] < w.shape[1]


def _input_grad_as_conv(gy, w, padding):
    """dx = dy, padded by f - 1 - p, cross-correlated with W flipped and transposed."""
    f_h, f_w = w.shape[2], w.shape[3]
    p_t, p_b, p_l, p_r = padding
    w_t = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    pad = (f_h - 1 - p_t, f_h - 1 - p_b, f_w - 1 - p_l, f_w - 1 - p_r)
    return _forward(gy, w_t, None, (1, 1), pad)


def _shifted_is_cheaper(w, stride):
    """Stride 1 with no more output than input channels: multiply the padded input by
    every filter offset at once (z = W_ij @ x_pad, f^2 n_c' rows) and add shifted rows
    of z, instead of building im2col's n_c f^2 rows."""
    return tuple(stride) == (1, 1) and w.shape[0] <= w.shape[1] and w.shape[2] * w.shape[3] > 1


class _Padded:
    """A chunk of images as (n_c, m * plane + tail) padded planes, flattened, so that
    input pixel (oh + i, ow + j) of output (oh, ow) sits at column q + i * w_p + j."""

    def __init__(self, x_shape, f_h, f_w, padding):
        p_t, p_b, p_l, p_r = padding
        self.h_p, self.w_p = x_shape[2] + p_t + p_b, x_shape[3] + p_l + p_r
        self.plane = self.h_p * self.w_p
        self.tail = (f_h - 1) * self.w_p + f_w - 1
        self.offsets = [i * self.w_p + j for i in range(f_h) for j in range(f_w)]

    def fill(self, ws, name, src, n0, m, p_t, p_l):
        buf = ws.get(name, (src.shape[1], m * self.plane + self.tail))
        _pad_planes(src, n0, m, buf, p_t, p_l, self.h_p, self.w_p)
        buf[:, m * self.plane:] = 0
        return buf


def _forward_shifted(x, w, y, padding):
    c_out, n_ch, f_h, f_w = w.shape
    n_img = x.shape[0]
    grid = _Padded(x.shape, f_h, f_w, padding)
    w_all = np.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(f_h * f_w * c_out, n_ch)
    ws = _Workspace(x.dtype)
    n_b = _chunk((n_ch + f_h * f_w * c_out) * grid.plane * x.itemsize, n_img)
    for n0 in range(0, n_img, n_b):
        m = min(n_b, n_img - n0)
        xp = grid.fill(ws, "xp", x, n0, m, padding[0], padding[2])
        z = ws.get("z", (w_all.shape[0], xp.shape[1]))
        _mm(w_all, xp, z)
        _shift_add(z, n0, m, y, f_h, f_w, grid.w_p, grid.plane)


def _weight_grad_shifted(gy, x, w, padding):
    """dW[:, :, i, j] = dy on the padded grid (zeros off the outputs) @ x_pad shifted by (i, j)."""
    c_out, n_ch, f_h, f_w = w.shape
    n_img = x.shape[0]
    grid = _Padded(x.shape, f_h, f_w, padding)
    gw = np.empty((f_h * f_w, c_out, n_ch), x.dtype)
    tmp = np.empty((c_out, n_ch), x.dtype)
    ws = _Workspace(x.dtype)
    n_b = _chunk((n_ch + c_out) * grid.plane * x.itemsize, n_img)
    for n0 in range(0, n_img, n_b):
        m = min(n_b, n_img - n0)
        xp = grid.fill(ws, "xp", x, n0, m, padding[0], padding[2])
        gp = grid.fill(ws, "gp", gy, n0, m, 0, 0)
        cols = m * grid.plane
        for r, off in enumerate(grid.offsets):
            _mm(gp[:, :cols], xp[:, off:off + cols].T, gw[r] if n0 == 0 else tmp)
            if n0:
                gw[r] += tmp
    return np.ascontiguousarray(gw.reshape(f_h, f_w, c_out, n_ch).transpose(2, 3, 0, 1))


def _chunk(per_image_bytes, n_img):
    return max(1, min(n_img, WORKSPACE_BYTES // max(per_image_bytes, 1)))


class _Workspace:
    """Flat buffers reused across the chunks of one call; views are always contiguous."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.bufs = {}

    def get(self, name, shape):
        size = int(np.prod(shape))
        buf = self.bufs.get(name)
        if buf is None or buf.size < size:
            buf = self.bufs[name] = np.empty(size, self.dtype)
        return buf[:size].reshape(shape)


def conv2d_forward(x, w, b, stride, padding):
    """y[n, k, h, w] = sum_{c, i, j} x_pad[n, c, h*s + i, w*s + j] * W[k, c, i, j] + b[k].

    x: (m, n_c, n_H, n_W); W: (n_c', n_c, f, f); output (m, n_c', n_H', n_W') with
    n_H' = floor((n_H + p_top + p_bottom - f) / s) + 1 (likewise for the width).
    """
    with kernel_call():
        return _forward(x, w, b, stride, padding)


def _forward(x, w, b, stride, padding):
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    n_img, c_out, rows, h_o, w_o, geo = _geometry(x, w, stride, padding)
    pix = h_o * w_o
    w2 = w.reshape(c_out, rows)
    y = np.empty((n_img, c_out, h_o, w_o), x.dtype)
    y3 = y.reshape(n_img, c_out, pix)
    if _is_pointwise(w, stride, padding):
        x3 = x.reshape(n_img, rows, pix)
        for n in range(n_img):
            _mm(w2, x3[n], y3[n])
    elif _shifted_is_cheaper(w, stride):
        _forward_shifted(x, w, y, padding)
    elif _per_image_parts(x, w, stride, padding):
        _forward_groups(x, w2, y3, h_o, w_o, *geo[:2], *geo[4:], _per_image_parts(x, w, stride, padding))
    else:
        ws = _Workspace(x.dtype)
        n_b = _chunk((rows + c_out) * pix * x.itemsize, n_img)
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
    if b is not None:
        y3 += np.asarray(b, dtype=x.dtype)[None, :, None]
    return y


def conv2d_backward(grad_y, x, w, stride, padding, needs):
    """Gradients of conv2d_forward: (dx, dW, db), None where ``needs`` says False.

    dW = sum over the batch of dy (n_c', n_H' n_W') @ cols^T; dx = col2im(W^T @ dy),
    the column gradient added back onto the f x f windows it came from; db = sum of dy.
    """
    with kernel_call():
        return _backward(grad_y, x, w, stride, padding, needs)


def _backward(grad_y, x, w, stride, padding, needs):
    need_x, need_w, need_b = (bool(v) for v in needs)
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    gy = np.ascontiguousarray(grad_y, dtype=x.dtype)
    n_img, c_out, rows, h_o, w_o, geo = _geometry(x, w, stride, padding)
    pix = h_o * w_o
    w2 = w.reshape(c_out, rows)
    gy3 = gy.reshape(n_img, c_out, pix)
    gb = gy3.sum(axis=(0, 2)) if need_b else None
    gx = None
    gw2 = np.zeros((c_out, rows), x.dtype) if need_w else None
    if need_x and _transposed_is_cheaper(w, stride, padding):
        gx = _input_grad_as_conv(gy, w, padding)
        need_x = False
    elif need_x:
        gx = np.empty_like(x)
    if need_w and _shifted_is_cheaper(w, stride):
        gw2 = _weight_grad_shifted(gy, x, w, padding).reshape(c_out, rows)
        need_w = False
    if not (need_x or need_w):
        return gx, (None if gw2 is None else gw2.reshape(w.shape)), gb
    if _is_pointwise(w, stride, padding):
        x3 = x.reshape(n_img, rows, pix)
        tmp = np.empty((c_out, rows), x.dtype)
        for n in range(n_img):
            if need_x:
                _mm(w2.T, gy3[n], gx[n].reshape(rows, pix))
            if need_w:
                _mm(gy3[n], x3[n].T, gw2 if n == 0 else tmp)
                if n:
                    gw2 += tmp
        return gx, (None if gw2 is None else gw2.reshape(w.shape)), gb

    parts = _per_image_parts(x, w, stride, padding)
    if parts:
        gx_out = gx if need_x else np.empty((0,) + x.shape[1:], x.dtype)
        gw_sum = _backward_groups(x, w2, gy3, gx_out, need_x, need_w, h_o, w_o,
                                  *geo[:2], *geo[4:], parts)
        if need_w:
            gw2 = gw_sum
        return gx, (None if gw2 is None else gw2.reshape(w.shape)), gb

    ws = _Workspace(x.dtype)
    per_image = ((need_w + need_x) * rows + c_out) * pix * x.itemsize
    n_b = _chunk(per_image, n_img)
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
    return gx, (None if gw2 is None else gw2.reshape(w.shape)), gb
