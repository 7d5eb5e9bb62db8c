"""Elementwise CUDA kernels with numpy broadcasting: one thread per output element.

The broadcast output shape and each operand's read strides (0 along broadcast
axes) are computed on the host and passed as tuple arguments; a thread unravels
its flat output index and gathers its inputs through those strides. One kernel
is built per operation (the operation is a device function closed over by the
kernel factory) and cached.
"""

import math

import numpy as np
from numba import cuda

from .cuda_common import broadcast_shape, broadcast_strides, empty, flat, launch, offset_of, pad


# ----------------------------------------------------------------- the operations
@cuda.jit(device=True, inline=True)
def _add(a, b):
    return a + b


@cuda.jit(device=True, inline=True)
def _subtract(a, b):
    return a - b


@cuda.jit(device=True, inline=True)
def _multiply(a, b):
    return a * b


@cuda.jit(device=True, inline=True)
def _divide(a, b):
    return a / b


@cuda.jit(device=True, inline=True)
def _power(a, b):
    return a ** b


@cuda.jit(device=True, inline=True)
def _maximum(a, b):
    # numpy propagates NaN from either side
    if a != a or a > b:
        return a
    return b


@cuda.jit(device=True, inline=True)
def _minimum(a, b):
    if a != a or a < b:
        return a
    return b


@cuda.jit(device=True, inline=True)
def _greater(a, b):
    return a > b


@cuda.jit(device=True, inline=True)
def _greater_equal(a, b):
    return a >= b            # False when either is NaN, as IEEE and numpy say


@cuda.jit(device=True, inline=True)
def _less(a, b):
    return a < b


@cuda.jit(device=True, inline=True)
def _less_equal(a, b):
    return a <= b


@cuda.jit(device=True, inline=True)
def _equal(a, b):
    return a == b


@cuda.jit(device=True, inline=True)
def _not_equal(a, b):
    return a != b            # True when either is NaN


@cuda.jit(device=True, inline=True)
def _negative(a):
    return -a


@cuda.jit(device=True, inline=True)
def _exp(a):
    # past this the result is inf anyway; the simulator's math.exp would raise instead
    if a > 709.8:
        return math.inf
    return math.exp(a)


@cuda.jit(device=True, inline=True)
def _log(a):
    # numpy gives -inf at 0 and NaN below; CUDA's log agrees, Python's math.log would raise
    if a > 0:
        return math.log(a)
    if a == 0:
        return -math.inf
    return math.nan


@cuda.jit(device=True, inline=True)
def _sqrt(a):
    if a >= 0:
        return math.sqrt(a)
    return math.nan


@cuda.jit(device=True, inline=True)
def _abs(a):
    # not the builtin: this module's own abs() shadows it; "+ 0" turns -0.0 into 0.0 as numpy does
    if a < 0:
        return -a
    return a + 0


@cuda.jit(device=True, inline=True)
def _sign(a):
    if a > 0:
        return 1
    if a < 0:
        return -1
    return a  # keeps 0 and NaN as they are, as numpy does


@cuda.jit(device=True, inline=True)
def _tanh(a):
    return math.tanh(a)


@cuda.jit(device=True, inline=True)
def _sigmoid(a):
    # two branches so exp never overflows
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


@cuda.jit(device=True, inline=True)
def _relu(a):
    if a <= 0:
        return 0  # also for -0.0 and -inf, as np.maximum(a, 0); NaN <= 0 is false: NaN stays
    return a


@cuda.jit(device=True, inline=True)
def _relu_grad(g, y):
    if y > 0:
        return g
    return g - g  # a zero of g's type (0 at x = 0 and for NaN, as PyTorch)


@cuda.jit(device=True, inline=True)
def _tanh_grad(g, y):
    return g - g * (y * y)


@cuda.jit(device=True, inline=True)
def _sigmoid_grad(g, y):
    gy = g * y
    return gy - gy * y


# ----------------------------------------------------------------- kernel factories
_kernels = {}


def _binary_kernel(op):
    if ("binary", op) not in _kernels:
        @cuda.jit
        def kernel(a, b, out, n, shape, a_strides, b_strides, a_same, b_same):
            # each thread owns out[i] and gathers its two (broadcast) inputs; an operand of the
            # output's own shape skips the index arithmetic (64-bit div/mod is slow on a GPU)
            i = cuda.grid(1)
            if i < n:
                ia = i if a_same else offset_of(i, shape, a_strides)
                ib = i if b_same else offset_of(i, shape, b_strides)
                out[i] = op(a[ia], b[ib])
        _kernels[("binary", op)] = kernel
    return _kernels[("binary", op)]


def _unary_kernel(op):
    if ("unary", op) not in _kernels:
        @cuda.jit
        def kernel(a, out, n):
            # each thread owns out[i]; input and output share the contiguous layout
            i = cuda.grid(1)
            if i < n:
                out[i] = op(a[i])
        _kernels[("unary", op)] = kernel
    return _kernels[("unary", op)]


@cuda.jit
def _where_kernel(cond, a, b, out, n, shape, c_strides, a_strides, b_strides):
    # each thread owns out[i] and gathers the three (broadcast) inputs
    i = cuda.grid(1)
    if i < n:
        if cond[offset_of(i, shape, c_strides)]:
            out[i] = a[offset_of(i, shape, a_strides)]
        else:
            out[i] = b[offset_of(i, shape, b_strides)]


@cuda.jit
def _fill_kernel(out, n, value):
    # each thread owns out[i]
    i = cuda.grid(1)
    if i < n:
        out[i] = value


# ----------------------------------------------------------------- host side
def full(shape, value, dtype):
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    out = empty(shape, dtype)
    launch(_fill_kernel, out.size, flat(out), out.size, np.dtype(dtype).type(value))
    return out


def zeros(shape, dtype):
    return full(shape, 0, dtype)


def ones(shape, dtype):
    return full(shape, 1, dtype)


def _is_scalar(x):
    return isinstance(x, (bool, int, float, np.generic))


def _operands(*xs):
    """Device arrays for the operands; Python/numpy scalars become 0-d device arrays
    filled on the device (numpy's weak scalar promotion decides their dtype)."""
    dtype = np.result_type(*[x if _is_scalar(x) else x.dtype for x in xs])
    return [full((), x, dtype) if _is_scalar(x) else x for x in xs], dtype


def _binary(op, a, b, out_dtype=None):
    (a, b), dtype = _operands(a, b)
    shape = broadcast_shape(a.shape, b.shape)
    out = empty(shape, out_dtype or dtype)
    shape8, a_strides = pad(shape, broadcast_strides(a.shape, shape))
    b_strides = pad(shape, broadcast_strides(b.shape, shape))[1]
    launch(_binary_kernel(op), out.size, flat(a), flat(b), flat(out), out.size, shape8, a_strides, b_strides,
           tuple(a.shape) == shape, tuple(b.shape) == shape)
    return out


def _unary(op, a, out_dtype=None):
    out = empty(a.shape, out_dtype or a.dtype)
    launch(_unary_kernel(op), out.size, flat(a), flat(out), out.size)
    return out


def _float_dtype(*xs):
    """numpy's true-division / transcendental dtype: integers and bools go to float64."""
    dtype = np.result_type(*[x if _is_scalar(x) else x.dtype for x in xs])
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def add(a, b): return _binary(_add, a, b)
def subtract(a, b): return _binary(_subtract, a, b)
def multiply(a, b): return _binary(_multiply, a, b)
def divide(a, b): return _binary(_divide, a, b, _float_dtype(a, b))
def power(a, b): return _binary(_power, a, b)
def maximum(a, b): return _binary(_maximum, a, b)
def minimum(a, b): return _binary(_minimum, a, b)
def greater(a, b): return _binary(_greater, a, b, np.bool_)
def greater_equal(a, b): return _binary(_greater_equal, a, b, np.bool_)
def less(a, b): return _binary(_less, a, b, np.bool_)
def less_equal(a, b): return _binary(_less_equal, a, b, np.bool_)
def equal(a, b): return _binary(_equal, a, b, np.bool_)
def not_equal(a, b): return _binary(_not_equal, a, b, np.bool_)
def negative(a): return _unary(_negative, a)
def exp(a): return _unary(_exp, a, _float_dtype(a))
def log(a): return _unary(_log, a, _float_dtype(a))
def sqrt(a): return _unary(_sqrt, a, _float_dtype(a))
def abs(a): return _unary(_abs, a)  # noqa: A001 - the contract's name
def sign(a): return _unary(_sign, a)
def tanh(a): return _unary(_tanh, a, _float_dtype(a))
def sigmoid(a): return _unary(_sigmoid, a, _float_dtype(a))
def relu(a): return _unary(_relu, a)
def relu_backward(grad, out): return _binary(_relu_grad, grad, out)
def tanh_backward(grad, out): return _binary(_tanh_grad, grad, out)
def sigmoid_backward(grad, out): return _binary(_sigmoid_grad, grad, out)


def where(cond, a, b):
    (a, b), dtype = _operands(a, b)
    shape = broadcast_shape(cond.shape, a.shape, b.shape)
    out = empty(shape, dtype)
    shape8 = pad(shape)
    strides = [pad(shape, broadcast_strides(x.shape, shape))[1] for x in (cond, a, b)]
    launch(_where_kernel, out.size, flat(cond), flat(a), flat(b), flat(out), out.size, shape8, *strides)
    return out
