"""The CPU backend: numpy for array algebra, Numba kernels for conv and pool.

Every name of the backend contract (see ``minigrad.backend``) is defined here;
most are numpy's own functions, the rest are small adapters.
"""

import numpy as np

from .threads import configure_threads, describe_threads, kernel_call  # noqa: F401
from .threads import matmul as split_matmul

configure_threads()

from .cpu_activation import relu, relu_backward, sigmoid_backward, tanh, tanh_backward  # noqa: E402,F401
from .cpu_batch_norm import batch_norm_forward, batch_norm_grads  # noqa: E402,F401
from .cpu_conv import conv2d_backward, conv2d_forward  # noqa: E402,F401
from .cpu_pool import (  # noqa: E402,F401
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

NAME = "cpu"
# Reading values on the host costs nothing here, so ops may validate data (e.g. class targets).
HOST_MEMORY = True

# Elementwise and reductions: numpy's own.
add, subtract, multiply = np.add, np.subtract, np.multiply
maximum, minimum, negative = np.maximum, np.minimum, np.negative
abs, sign = np.abs, np.sign


def _quiet(ufunc):
    """The ufunc without numpy's warnings: log(0) = -inf and 1/0 = inf are answers here, as in PyTorch."""
    def quiet(*args):
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return ufunc(*args)
    quiet.__name__ = ufunc.__name__
    return quiet


divide, power, exp, log, sqrt = (_quiet(f) for f in (np.divide, np.power, np.exp, np.log, np.sqrt))
greater, greater_equal, less, less_equal = np.greater, np.greater_equal, np.less, np.less_equal
equal, not_equal, where = np.equal, np.not_equal, np.where
concatenate, stack = np.concatenate, np.stack


# F.linear's large products (a style loss's Gram matrices among them) stay split over
# Numba's threads in one-thread BLAS calls rather than on BLAS's own threads, as conv's
# GEMMs run: OpenBLAS's workers keep polling after a call, and the Numba kernels right
# after paid. Measured, the style workload's step (medians of 10 rounds, ms): 164 on
# BLAS's threads, 140 split (141 with no GEMM on BLAS's threads at all).
LINEAR_BLAS_THREADS = False


def matmul(a, b):
    """numpy's matmul with BLAS held at one thread (kernel_call): F.linear's GEMMs are small, and
    OpenBLAS workers spinning between them stalled LeNet-5 training about 10x on 2 busy cores.
    A large 2-D float product is split over the threads instead (``threads.matmul``, which
    leaves small ones whole): one thread made a 512 x 512 product 1.9x PyTorch's time."""
    with kernel_call():
        if a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and a.dtype.kind == "f":
            return split_matmul(a, b, np.empty((a.shape[0], b.shape[1]), a.dtype), blas_threads=LINEAR_BLAS_THREADS)
        return np.matmul(a, b)


def asarray(host, dtype=None):
    return np.asarray(host, dtype=dtype)


def to_numpy(a):
    return a


def zeros(shape, dtype):
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype):
    return np.ones(shape, dtype=dtype)


def full(shape, value, dtype):
    return np.full(shape, value, dtype=dtype)


def uniform(shape, dtype, seed):
    return np.random.default_rng(seed).random(shape, dtype=np.float64).astype(dtype, copy=False)


def normal(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype, copy=False)


def astype(a, dtype):
    return a.astype(dtype)


def copy(a):
    return np.array(a, copy=True)


def sigmoid(a):
    # Split by sign so exp never overflows: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) otherwise.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


def sum(a, axis=None, keepdims=False):
    return np.sum(a, axis=axis, keepdims=keepdims)


def max(a, axis=None, keepdims=False):
    return np.max(a, axis=axis, keepdims=keepdims)


def argmax(a, axis):
    return np.argmax(a, axis=axis)


def sum_to_shape(a, shape):
    extra = a.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and a.shape[i + extra] != 1
    )
    out = np.sum(a, axis=axes, keepdims=True) if axes else a
    return out.reshape(shape)


def reshape(a, shape):
    return np.reshape(a, shape)


def transpose(a, axes):
    return np.transpose(a, axes)


def broadcast_to(a, shape):
    return np.broadcast_to(a, shape)


def getitem(a, index):
    return a[index]


def index_put_zeros(shape, index, values, dtype):
    out = np.zeros(shape, dtype=dtype)
    out[index] = values
    return out


def log_softmax(a, axis):
    shifted = a - np.max(a, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def one_hot(target, num_classes, dtype):
    out = np.zeros(target.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, target[..., None].astype(np.intp), 1, axis=-1)
    return out
