"""Max and average pooling on the GPU (NCHW), forward and backward, one thread per output element.

Semantics shared with the CPU backend: max pooling pads with -inf and records,
per output, the flat index h * W + w of the chosen input in its (n, c) plane,
ties going to the first maximum in row-major order; average pooling divides by
f_h * f_w, so padded zeros count. Output size: floor((n + 2p - f) / s) + 1.
The backward kernels gather (one thread per input element, visiting the outputs
whose window covers it) rather than scatter, so they need no atomics.
"""

import math

import numpy as np
from numba import cuda

from ..sizes import output_size
from .cuda_common import empty, flat, launch


@cuda.jit
def _max_forward_kernel(x, y, arg, total, h_in, w_in, h_out, w_out, f_h, f_w, s_h, s_w, p_h, p_w):
    # each thread owns y[nc, i, j] and arg[nc, i, j]; strict '>' keeps the first maximum
    t = cuda.grid(1)
    if t < total:
        j = t % w_out
        i = (t // w_out) % h_out
        plane = (t // (w_out * h_out)) * h_in * w_in
        best = -math.inf
        chosen = -1
        for p in range(f_h):
            h = i * s_h - p_h + p
            if 0 <= h < h_in:
                for q in range(f_w):
                    v = j * s_w - p_w + q
                    if 0 <= v < w_in:
                        value = x[plane + h * w_in + v]
                        if chosen < 0 or value > best:
                            best = value
                            chosen = h * w_in + v
        y[t] = best
        arg[t] = chosen


@cuda.jit(device=True, inline=True)
def _covering(h, pad, f, s, n_out):
    """The outputs i (first, last + 1) whose window i*s - pad ... i*s - pad + f - 1 holds input h."""
    low = h + pad - f + 1
    first = 0 if low <= 0 else (low + s - 1) // s
    last = min((h + pad) // s, n_out - 1)
    return first, last + 1


@cuda.jit
def _max_backward_kernel(gy, arg, gx, total, h_in, w_in, h_out, w_out, f_h, f_w, s_h, s_w, p_h, p_w, zero):
    # each thread owns dx[nc, h, v]: it adds dy of every covering output that chose it
    t = cuda.grid(1)
    if t < total:
        v = t % w_in
        h = (t // w_in) % h_in
        plane = (t // (w_in * h_in)) * h_out * w_out
        me = h * w_in + v
        acc = zero
        i0, i1 = _covering(h, p_h, f_h, s_h, h_out)
        j0, j1 = _covering(v, p_w, f_w, s_w, w_out)
        for i in range(i0, i1):
            for j in range(j0, j1):
                if arg[plane + i * w_out + j] == me:
                    acc += gy[plane + i * w_out + j]
        gx[t] = acc


@cuda.jit
def _avg_forward_kernel(x, y, total, h_in, w_in, h_out, w_out, f_h, f_w, s_h, s_w, p_h, p_w, zero):
    # each thread owns y[nc, i, j]; padded positions add nothing but still count in f_h * f_w
    t = cuda.grid(1)
    if t < total:
        j = t % w_out
        i = (t // w_out) % h_out
        plane = (t // (w_out * h_out)) * h_in * w_in
        acc = zero
        for p in range(f_h):
            h = i * s_h - p_h + p
            if 0 <= h < h_in:
                for q in range(f_w):
                    v = j * s_w - p_w + q
                    if 0 <= v < w_in:
                        acc += x[plane + h * w_in + v]
        y[t] = acc / (f_h * f_w)


@cuda.jit
def _avg_backward_kernel(gy, gx, total, h_in, w_in, h_out, w_out, f_h, f_w, s_h, s_w, p_h, p_w, zero):
    # each thread owns dx[nc, h, v]: every covering output hands it dy / (f_h * f_w)
    t = cuda.grid(1)
    if t < total:
        v = t % w_in
        h = (t // w_in) % h_in
        plane = (t // (w_in * h_in)) * h_out * w_out
        acc = zero
        i0, i1 = _covering(h, p_h, f_h, s_h, h_out)
        j0, j1 = _covering(v, p_w, f_w, s_w, w_out)
        for i in range(i0, i1):
            for j in range(j0, j1):
                acc += gy[plane + i * w_out + j]
        gx[t] = acc / (f_h * f_w)


def _geometry(x_shape, kernel, stride, padding):
    batch, channels, h_in, w_in = (int(s) for s in x_shape)
    f_h, f_w = (int(k) for k in kernel)
    s_h, s_w = (int(s) for s in stride)
    p_h, p_w = (int(p) for p in padding)
    h_out = output_size(h_in, f_h, p_h, s_h)
    w_out = output_size(w_in, f_w, p_w, s_w)
    if h_out <= 0 or w_out <= 0:
        raise ValueError(f"pool2d: kernel {(f_h, f_w)} is larger than the padded input {(h_in + 2 * p_h, w_in + 2 * p_w)}")
    return (batch, channels, h_out, w_out), (h_in, w_in, h_out, w_out, f_h, f_w, s_h, s_w, p_h, p_w)


def max_pool2d_forward(x, kernel, stride, padding):
    out_shape, geometry = _geometry(x.shape, kernel, stride, padding)
    y = empty(out_shape, x.dtype)
    arg = empty(out_shape, np.int64)
    launch(_max_forward_kernel, y.size, flat(x), flat(y), flat(arg), y.size, *geometry)
    return y, arg


def max_pool2d_backward(grad_y, argmax, x_shape, kernel, stride, padding):
    _, geometry = _geometry(x_shape, kernel, stride, padding)
    gx = empty(x_shape, grad_y.dtype)
    launch(_max_backward_kernel, gx.size, flat(grad_y), flat(argmax), flat(gx), gx.size, *geometry, grad_y.dtype.type(0))
    return gx


def avg_pool2d_forward(x, kernel, stride, padding):
    out_shape, geometry = _geometry(x.shape, kernel, stride, padding)
    y = empty(out_shape, x.dtype)
    launch(_avg_forward_kernel, y.size, flat(x), flat(y), y.size, *geometry, x.dtype.type(0))
    return y


def avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding):
    _, geometry = _geometry(x_shape, kernel, stride, padding)
    gx = empty(x_shape, grad_y.dtype)
    launch(_avg_backward_kernel, gx.size, flat(grad_y), flat(gx), gx.size, *geometry, grad_y.dtype.type(0))
    return gx
