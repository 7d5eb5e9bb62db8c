"""A plain numpy conv/pool engine, written the way the course's assignments do it: the baseline minigrad must beat.

No Numba, no threads of our own: im2col is a Python loop over the f x f filter
offsets, each copying one strided slice of the padded input (n_c x m x n_H' x n_W'
values at once), then one GEMM through numpy's BLAS; col2im adds the slices back.
Pooling uses the same window loop. Comparing minigrad against it shows what the
compiled kernels buy over vectorised numpy; it is not part of minigrad (the engine
never imports it) and it keeps no state between calls except what the caller holds.

Course notation: input (m, n_c, n_H, n_W), filters (n_c', n_c, f, f), stride s,
padding p, output n_H' = floor((n_H + 2p - f) / s) + 1.
"""

import numpy as np

from minigrad.sizes import output_size


def _out(n, f, s, p):
    return output_size(n, f, p, s)


def im2col(x, f, s, p):
    """cols (n_c * f * f, m * n_H' * n_W'): row (c, i, j) holds x_pad[:, c, i + s*h', j + s*w']."""
    m, n_c, n_h, n_w = x.shape
    h_o, w_o = _out(n_h, f, s, p), _out(n_w, f, s, p)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    cols = np.empty((n_c, f, f, m, h_o, w_o), x.dtype)
    for i in range(f):
        for j in range(f):
            window = xp[:, :, i:i + s * h_o:s, j:j + s * w_o:s]  # (m, n_c, n_H', n_W')
            cols[:, i, j] = window.transpose(1, 0, 2, 3)
    return cols.reshape(n_c * f * f, m * h_o * w_o), (h_o, w_o)


def col2im(cols, x_shape, f, s, p):
    """The adjoint of im2col: each column entry is added back onto the input pixel it was copied from."""
    m, n_c, n_h, n_w = x_shape
    h_o, w_o = _out(n_h, f, s, p), _out(n_w, f, s, p)
    cols = cols.reshape(n_c, f, f, m, h_o, w_o)
    gxp = np.zeros((m, n_c, n_h + 2 * p, n_w + 2 * p), cols.dtype)
    for i in range(f):
        for j in range(f):
            gxp[:, :, i:i + s * h_o:s, j:j + s * w_o:s] += cols[:, i, j].transpose(1, 0, 2, 3)
    return gxp[:, :, p:p + n_h, p:p + n_w] if p else gxp


def conv_forward(x, w, b, s, p):
    """Z = W (n_c', n_c f f) @ cols + b, reshaped to (m, n_c', n_H', n_W'); returns (Z, cache)."""
    n_cout, _, f, _ = w.shape
    cols, (h_o, w_o) = im2col(x, f, s, p)
    z = w.reshape(n_cout, -1) @ cols
    if b is not None:
        z += b[:, None]
    z = z.reshape(n_cout, x.shape[0], h_o, w_o).transpose(1, 0, 2, 3)
    return np.ascontiguousarray(z), (x, w, cols, s, p)


def conv_backward(dz, cache):
    """(dx, dW, db) from dZ: dW = dZ @ cols^T, dcols = W^T @ dZ then col2im, db = sum of dZ."""
    x, w, cols, s, p = cache
    n_cout, _, f, _ = w.shape
    dz2 = dz.transpose(1, 0, 2, 3).reshape(n_cout, -1)
    dw = (dz2 @ cols.T).reshape(w.shape)
    db = dz2.sum(axis=1)
    dx = col2im(w.reshape(n_cout, -1).T @ dz2, x.shape, f, s, p)
    return dx, dw, db


def _pool_windows(x, f, s):
    """(f*f, m, n_c, n_H', n_W'): the strided slice of every window offset (no padding)."""
    h_o, w_o = _out(x.shape[2], f, s, 0), _out(x.shape[3], f, s, 0)
    return np.stack([x[:, :, i:i + s * h_o:s, j:j + s * w_o:s] for i in range(f) for j in range(f)])


def max_pool_forward(x, f, s):
    windows = _pool_windows(x, f, s)
    arg = windows.argmax(axis=0)  # the first maximum wins ties, as in minigrad and PyTorch
    return np.take_along_axis(windows, arg[None], axis=0)[0], (x.shape, arg, f, s)


def max_pool_backward(dy, cache):
    x_shape, arg, f, s = cache
    dx = np.zeros(x_shape, dy.dtype)
    h_o, w_o = dy.shape[2], dy.shape[3]
    for k in range(f * f):
        i, j = divmod(k, f)
        dx[:, :, i:i + s * h_o:s, j:j + s * w_o:s] += np.where(arg == k, dy, 0)
    return dx


def avg_pool_forward(x, f, s):
    return _pool_windows(x, f, s).mean(axis=0), (x.shape, f, s)


def avg_pool_backward(dy, cache):
    x_shape, f, s = cache
    dx = np.zeros(x_shape, dy.dtype)
    h_o, w_o = dy.shape[2], dy.shape[3]
    share = dy / (f * f)
    for i in range(f):
        for j in range(f):
            dx[:, :, i:i + s * h_o:s, j:j + s * w_o:s] += share
    return dx
