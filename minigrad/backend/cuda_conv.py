"""Direct 2-D convolution kernels on the GPU (NCHW), forward and backward.

Each kernel gives one thread one output element and lets it gather everything
it needs, so no two threads ever write the same place (no atomics, deterministic
sums), and each pass is a single launch:
    forward      one thread per y[n, c', i, j]    sums over c, p, q
    input grad   one thread per dx[n, c, h, w]    sums over the (c', i, j) that read x[n, c, h, w]
    weight grad  one thread per dw[c', c, p, q]   sums over n, i, j
The bias gradient is a reduction of dy over (n, i, j).
Output size (the course's formula): n_H = floor((n_H_prev + p_top + p_bottom - f) / s) + 1.
"""

from numba import cuda

from ..sizes import output_size
from .cuda_common import empty, flat, launch
from .cuda_reduce import chunks_for, reduce_sum


@cuda.jit
def _forward_kernel(x, w, b, has_bias, y, total, c_in, h_in, w_in, c_out, h_out, w_out,
                    f_h, f_w, s_h, s_w, pad_top, pad_left, zero):
    # each thread owns y[n, co, i, j]; padded positions are skipped (they add zero)
    t = cuda.grid(1)
    if t < total:
        j = t % w_out
        i = (t // w_out) % h_out
        co = (t // (w_out * h_out)) % c_out
        n = t // (w_out * h_out * c_out)
        acc = zero
        if has_bias:
            acc += b[co]
        for ci in range(c_in):
            for p in range(f_h):
                h = i * s_h - pad_top + p
                if 0 <= h < h_in:
                    for q in range(f_w):
                        v = j * s_w - pad_left + q
                        if 0 <= v < w_in:
                            acc += x[((n * c_in + ci) * h_in + h) * w_in + v] * w[((co * c_in + ci) * f_h + p) * f_w + q]
        y[t] = acc


@cuda.jit
def _input_grad_kernel(gy, w, gx, total, c_in, h_in, w_in, c_out, h_out, w_out,
                       f_h, f_w, s_h, s_w, pad_top, pad_left, zero):
    # each thread owns dx[n, ci, h, v]: it visits every (co, p, q) and keeps the
    # outputs (i, j) whose window put x[h, v] under w[p, q]
    t = cuda.grid(1)
    if t < total:
        v = t % w_in
        h = (t // w_in) % h_in
        ci = (t // (w_in * h_in)) % c_in
        n = t // (w_in * h_in * c_in)
        acc = zero
        for co in range(c_out):
            for p in range(f_h):
                hh = h + pad_top - p
                if hh >= 0 and hh % s_h == 0 and hh // s_h < h_out:
                    i = hh // s_h
                    for q in range(f_w):
                        vv = v + pad_left - q
                        if vv >= 0 and vv % s_w == 0 and vv // s_w < w_out:
                            acc += gy[((n * c_out + co) * h_out + i) * w_out + vv // s_w] * w[((co * c_in + ci) * f_h + p) * f_w + q]
        gx[t] = acc


@cuda.jit
def _weight_grad_kernel(gy, x, gw, total, batch, per_group, c_in, h_in, w_in, c_out, h_out, w_out,
                        f_h, f_w, s_h, s_w, pad_top, pad_left, zero):
    # each thread owns dw[g, co, ci, p, q]: the sum of dy * x over every output position of
    # the g-th group of images (one group unless the host split a large batch)
    t = cuda.grid(1)
    if t < total:
        q = t % f_w
        p = (t // f_w) % f_h
        ci = (t // (f_w * f_h)) % c_in
        co = (t // (f_w * f_h * c_in)) % c_out
        first = (t // (f_w * f_h * c_in * c_out)) * per_group
        acc = zero
        for n in range(first, min(first + per_group, batch)):
            for i in range(h_out):
                h = i * s_h - pad_top + p
                if 0 <= h < h_in:
                    for j in range(w_out):
                        v = j * s_w - pad_left + q
                        if 0 <= v < w_in:
                            acc += gy[((n * c_out + co) * h_out + i) * w_out + j] * x[((n * c_in + ci) * h_in + h) * w_in + v]
        gw[t] = acc


def _geometry(x_shape, w_shape, stride, padding):
    batch, c_in, h_in, w_in = (int(s) for s in x_shape)
    c_out, c_in_w, f_h, f_w = (int(s) for s in w_shape)
    if c_in != c_in_w:
        raise ValueError(f"conv2d: input has {c_in} channels (shape {tuple(x_shape)}) but weight expects {c_in_w} (shape {tuple(w_shape)})")
    s_h, s_w = (int(s) for s in stride)
    top, bottom, left, right = (int(p) for p in padding)
    h_out = output_size(h_in, f_h, (top, bottom), s_h)
    w_out = output_size(w_in, f_w, (left, right), s_w)
    if h_out <= 0 or w_out <= 0:
        raise ValueError(f"conv2d: kernel {(f_h, f_w)} is larger than the padded input {(h_in + top + bottom, w_in + left + right)}")
    return batch, c_in, h_in, w_in, c_out, h_out, w_out, f_h, f_w, s_h, s_w, top, left


def conv2d_forward(x, w, b, stride, padding):
    batch, c_in, h_in, w_in, c_out, h_out, w_out, f_h, f_w, s_h, s_w, top, left = _geometry(x.shape, w.shape, stride, padding)
    y = empty((batch, c_out, h_out, w_out), x.dtype)
    zero = x.dtype.type(0)
    bias = flat(w) if b is None else flat(b)  # a placeholder of the right type when there is no bias
    launch(_forward_kernel, y.size, flat(x), flat(w), bias, b is not None, flat(y), y.size,
           c_in, h_in, w_in, c_out, h_out, w_out, f_h, f_w, s_h, s_w, top, left, zero)
    return y


def _weight_grad(grad_y, x, w, batch, geometry):
    """dw, split over groups of images (then summed) when one thread per weight would loop too long."""
    h_out, w_out = geometry[4], geometry[5]
    groups = min(batch, chunks_for(w.size, batch * h_out * w_out))
    per_group = -(-batch // groups)
    groups = -(-batch // per_group)
    partial = empty((groups,) + tuple(w.shape), w.dtype)
    launch(_weight_grad_kernel, partial.size, flat(grad_y), flat(x), flat(partial), partial.size,
           batch, per_group, *geometry)
    return partial.reshape(tuple(w.shape)) if groups == 1 else reduce_sum(partial, (0,), w.dtype)


def conv2d_backward(grad_y, x, w, stride, padding, needs):
    batch, c_in, h_in, w_in, c_out, h_out, w_out, f_h, f_w, s_h, s_w, top, left = _geometry(x.shape, w.shape, stride, padding)
    geometry = (c_in, h_in, w_in, c_out, h_out, w_out, f_h, f_w, s_h, s_w, top, left, x.dtype.type(0))
    need_x, need_w, need_b = needs
    gx = gw = gb = None
    if need_x:
        gx = empty(x.shape, x.dtype)
        launch(_input_grad_kernel, gx.size, flat(grad_y), flat(w), flat(gx), gx.size, *geometry)
    if need_w:
        gw = _weight_grad(grad_y, x, w, batch, geometry)
    if need_b:
        gb = reduce_sum(grad_y, (0, 2, 3), grad_y.dtype)
    return gx, gw, gb
