"""tanh's and relu's forward passes split over the threads, and the activations' gradients
from their outputs, fused into one pass (tanh' = 1 - tanh^2, sigmoid' = sigmoid (1 - sigmoid),
relu' = [y > 0]).

With numpy the chain rule dy * (1 - y^2) was three passes and two temporaries over the
activation, single-threaded: 1.9 ms of LeNet-5's 17 ms training step (batch 64). Here
it is one pass over contiguous arrays, each thread owning a contiguous range of the
output; small arrays stay in the calling thread (waking the workers costs more).
"""
import numpy as np
from numba import njit, prange

from . import threads
from .cpu_conv_workspace import SERIAL_BELOW

# From this many numbers tanh's forward pass is split over the threads (numpy's tanh is
# vectorised but runs on one). Measured in LeNet-5's training step (batch 64; its first
# tanh has 301k numbers, fresh from a conv whose two threads each wrote half), interleaved
# with PyTorch, medians: 18.1 -> 17.4 ms and 18.9 -> 17.6 ms.
SPLIT_FROM = 1 << 16


def tanh(a):
    """np.tanh, on contiguous pieces of ``a`` in the threads' pool: the same numbers."""
    a = np.asarray(a)
    parts = threads.worker_count()
    if parts == 1 or a.size < SPLIT_FROM:
        return np.tanh(a)
    src = np.ascontiguousarray(a).reshape(-1)
    out = np.empty_like(src)

    def piece(p):   # each piece owns out[lo:hi]
        lo, hi = src.size * p // parts, src.size * (p + 1) // parts
        np.tanh(src[lo:hi], out=out[lo:hi])

    threads.run_parts(piece, parts)
    return out.reshape(a.shape)


@njit(parallel=True, cache=True)
def _relu(a, out, zero):
    for i in prange(out.size):  # each thread owns a contiguous range of out
        v = a[i]
        out[i] = zero if v <= 0 else v  # NaN stays NaN (NaN <= 0 is false), -0 becomes 0


def relu(a):
    """max(a, 0): np.maximum(a, 0)'s numbers (NaN stays NaN, -0 becomes 0), in one parallel
    pass over a float array from SERIAL_BELOW / 16 numbers. numpy's maximum runs on one
    thread: ResNet-50's forward pass at batch 1 spent 11 ms in its 49 ReLUs (PyTorch
    0.26 ms against our 0.80 on 1 x 256 x 56 x 56)."""
    a = np.asarray(a)
    if a.dtype.kind != "f" or a.size < SERIAL_BELOW // 16 or threads.worker_count() == 1:
        return np.maximum(a, a.dtype.type(0))
    src = np.ascontiguousarray(a).reshape(-1)
    out = np.empty_like(src)
    _relu(src, out, src.dtype.type(0))
    return out.reshape(a.shape)


@njit(parallel=True, cache=True)
def _tanh_grad(g, y, out):
    for i in prange(out.size):  # each thread owns a contiguous range of out
        yy = y[i]
        out[i] = g[i] - g[i] * (yy * yy)


@njit(parallel=True, cache=True)
def _sigmoid_grad(g, y, out):
    for i in prange(out.size):  # each thread owns a contiguous range of out
        gy = g[i] * y[i]
        out[i] = gy - gy * y[i]


def _fused(kernel, numpy_form, grad, out):
    grad, out = np.asarray(grad), np.asarray(out)
    if grad.shape != out.shape or grad.dtype != out.dtype or grad.size < SERIAL_BELOW // 16:
        return numpy_form(grad, out)
    g, y = np.ascontiguousarray(grad).ravel(), np.ascontiguousarray(out).ravel()
    result = np.empty_like(g)
    kernel(g, y, result)
    return result.reshape(out.shape)


def tanh_backward(grad, out):
    """dL/dx of y = tanh(x), from dL/dy and y: dy * (1 - y^2)."""
    return _fused(_tanh_grad, lambda g, y: g * (1 - y * y), grad, out)


def sigmoid_backward(grad, out):
    """dL/dx of y = sigmoid(x), from dL/dy and y: dy * y (1 - y)."""
    return _fused(_sigmoid_grad, lambda g, y: g * (y * (1 - y)), grad, out)


@njit(parallel=True, cache=True)
def _relu_grad(g, y, out):
    for i in prange(out.size):  # each thread owns a contiguous range of out
        out[i] = g[i] if y[i] > 0 else 0  # gradient 0 at x = 0 (and for NaN), as PyTorch


def relu_backward(grad, out):
    """dL/dx of y = max(x, 0), from dL/dy and y: dy where y > 0, else 0."""
    return _fused(_relu_grad, lambda g, y: np.where(y > 0, g, np.zeros((), g.dtype)), grad, out)
