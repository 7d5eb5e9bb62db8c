"""Neural-network helpers on the GPU: log_softmax, one_hot, and seeded random numbers.

log_softmax gives one thread one slice along the axis (max, log-sum-exp, write);
the slices are addressed as (outer, axis, inner) of the contiguous array.
Random numbers come from xoroshiro128+ states seeded on the device (SplitMix64 of
seed + element index), one state per element, so nothing crosses from the host
but the integer seed.
"""

import math
import warnings

import numpy as np
from numba import cuda
from numba.cuda.random import (init_xoroshiro128p_state, xoroshiro128p_dtype,
                               xoroshiro128p_uniform_float32, xoroshiro128p_uniform_float64)

from .cuda_common import empty, flat, launch, normalize_axes, size_of


@cuda.jit
def _log_softmax_kernel(a, out, rows, length, inner):
    # each thread owns one slice a[o, :, k] along the axis: three passes over it
    r = cuda.grid(1)
    if r < rows:
        base = (r // inner) * length * inner + r % inner
        top = a[base]
        for j in range(1, length):
            top = max(top, a[base + j * inner])
        total = 0.0
        for j in range(length):
            total += math.exp(a[base + j * inner] - top)
        shift = top + math.log(total)
        for j in range(length):
            out[base + j * inner] = a[base + j * inner] - shift


def log_softmax(a, axis=-1):
    axis = normalize_axes(int(axis), a.ndim)[0]
    out = empty(a.shape, a.dtype)
    length = int(a.shape[axis])
    inner = size_of(a.shape[axis + 1:])
    rows = size_of(a.shape) // length if length else 0
    launch(_log_softmax_kernel, rows, flat(a), flat(out), rows, length, inner)
    return out


@cuda.jit
def _one_hot_kernel(target, out, total, num_classes, invalid):
    # each thread owns out[r, c]. A target outside [0, C) cannot raise on the device without a
    # host round trip; its row gets ``invalid`` (NaN for floats) so a loss built on it turns NaN
    # instead of silently dropping the sample
    t = cuda.grid(1)
    if t < total:
        label = target[t // num_classes]
        if 0 <= label < num_classes:
            out[t] = 1 if label == t % num_classes else 0
        else:
            out[t] = invalid


def one_hot(target, num_classes, dtype):
    num_classes = int(num_classes)
    out = empty(tuple(target.shape) + (num_classes,), dtype)
    invalid = out.dtype.type(np.nan if out.dtype.kind == "f" else 0)
    launch(_one_hot_kernel, out.size, flat(target), flat(out), out.size, num_classes, invalid)
    return out


@cuda.jit
def _random_kernel(states, out, total, seed, normal, single):
    # each thread owns out[i] and its own generator state states[i]
    i = cuda.grid(1)
    if i < total:
        init_xoroshiro128p_state(states, i, seed + i)
        if normal:
            # Box-Muller; 1 - u lies in (0, 1], so the log is finite
            u1 = 1.0 - xoroshiro128p_uniform_float64(states, i)
            u2 = xoroshiro128p_uniform_float64(states, i)
            out[i] = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
        elif single:  # float32's own draw: a float64 draw could round up to 1.0
            out[i] = xoroshiro128p_uniform_float32(states, i)
        else:
            out[i] = xoroshiro128p_uniform_float64(states, i)


def _random(shape, dtype, seed, gaussian):
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    out = empty(shape, dtype)
    states = cuda.device_array(max(out.size, 1), dtype=xoroshiro128p_dtype)
    with warnings.catch_warnings():  # the simulator runs the generator's wrapping uint64 maths in numpy
        warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
        launch(_random_kernel, out.size, states, flat(out), out.size, int(seed) % (1 << 62), gaussian,
               np.dtype(dtype) == np.float32)
    return out


def uniform(shape, dtype, seed):
    """U[0, 1) of ``shape``, a pure function of ``seed``."""
    return _random(shape, dtype, seed, False)


def normal(shape, dtype, seed):
    """N(0, 1) of ``shape``, a pure function of ``seed``."""
    return _random(shape, dtype, seed, True)


def batch_norm_grads(grad, x_hat, inv_std, weight, training):
    """(dx, dweight, dbias) of batch normalisation, as the CPU's ``batch_norm_grads``: composed
    from the elementwise and reduction kernels (their threads own outputs as documented there)."""
    from . import cuda_elementwise as ew
    from .cuda_reduce import sum as total
    from .cuda_shape import reshape

    channels = grad.shape[1]
    stat_shape = (1, channels) + (1,) * (grad.ndim - 2)
    dims = (0,) + tuple(range(2, grad.ndim))
    count = grad.size // channels
    inv_std = reshape(inv_std, stat_shape)
    scale = inv_std if weight is None else ew.multiply(inv_std, reshape(weight, stat_shape))
    s_g = total(grad, axis=dims, keepdims=True)
    s_gx = total(ew.multiply(grad, x_hat), axis=dims, keepdims=True)
    g = grad
    if training:
        mean_g = ew.divide(s_g, ew.full((), count, grad.dtype))
        mean_gx = ew.divide(s_gx, ew.full((), count, grad.dtype))
        g = ew.subtract(ew.subtract(grad, mean_g), ew.multiply(x_hat, mean_gx))
    return ew.multiply(g, scale), reshape(s_gx, (channels,)), reshape(s_g, (channels,))


def batch_norm_forward(x, running_mean, running_var, weight, bias, eps, training):
    """(y, x_hat, inv_std, mean, var), as the CPU's ``batch_norm_forward``: composed from
    the elementwise and reduction kernels."""
    from . import cuda_elementwise as ew
    from .cuda_reduce import sum as total
    from .cuda_shape import astype, reshape

    channels = x.shape[1]
    stat_shape = (1, channels) + (1,) * (x.ndim - 2)
    dims = (0,) + tuple(range(2, x.ndim))
    if training:
        count = ew.full((), x.size // channels, x.dtype)
        mean = ew.divide(total(x, axis=dims, keepdims=True), count)
        centred = ew.subtract(x, mean)
        var = ew.divide(total(ew.multiply(centred, centred), axis=dims, keepdims=True), count)
    else:
        mean = reshape(astype(running_mean, x.dtype), stat_shape)
        var = reshape(astype(running_var, x.dtype), stat_shape)
        centred = ew.subtract(x, mean)
    inv_std = ew.divide(ew.full((), 1, x.dtype), ew.sqrt(ew.add(var, ew.full((), eps, x.dtype))))
    x_hat = ew.multiply(centred, inv_std)
    out = x_hat
    if weight is not None:
        out = ew.multiply(out, reshape(weight, stat_shape))
    if bias is not None:
        out = ew.add(out, reshape(bias, stat_shape))
    return out, x_hat, reshape(inv_std, (channels,)), reshape(mean, (channels,)), reshape(var, (channels,))
