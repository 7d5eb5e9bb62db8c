"""The CUDA backend: the contract of ``minigrad.backend`` on numba.cuda device arrays.

Every function takes and returns device arrays (``asarray`` takes a host array,
``to_numpy`` returns one) and runs as kernels on the device; the only host <->
device copies are the ones ``asarray`` and ``to_numpy`` make, and they are
counted (``transfer_count()``) so a test can prove a training step stays on the
GPU. Every array handed out is C-contiguous. Set ``NUMBA_ENABLE_CUDASIM=1``
before numba is imported to run all of it on the CPU in numba's simulator.
"""

import numpy as np

from . import CONTRACT
from .cuda_common import check_dtype, is_device_array, to_device
from . import cuda_reduce  # noqa: F401 - for tests of its split policy
from .cuda_conv import conv2d_backward, conv2d_forward
from .cuda_elementwise import (abs, add, divide, equal, exp, full, greater, greater_equal,  # noqa: A004
                               less, less_equal, log, maximum, minimum, multiply, negative, not_equal,
                               ones, power, relu, relu_backward, sigmoid, sigmoid_backward, sign, sqrt, subtract, tanh,
                               tanh_backward, where, zeros)
from .cuda_linalg import matmul
from .cuda_nn import batch_norm_forward, batch_norm_grads, log_softmax, normal, one_hot, uniform
from .cuda_pool import (avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward,
                        max_pool2d_forward)
from .cuda_reduce import argmax, max, sum, sum_to_shape  # noqa: A004
from .cuda_shape import (astype, broadcast_to, concatenate, copy, getitem, index_put_zeros,
                         reshape, stack, transpose)

NAME = "cuda"
# Values live on the device: ops must not inspect them on the host (that would be a transfer).
HOST_MEMORY = False

_transfers = 0


def transfer_count():
    """Host <-> device copies made by this backend since the last reset."""
    return _transfers


def reset_transfer_count():
    global _transfers
    _transfers = 0


def asarray(a, dtype=None):
    """Copy a host array (or anything numpy accepts) to the device, C-contiguous.

    A device array is returned as is (or converted on the device): no transfer.
    """
    global _transfers
    if is_device_array(a):
        return a if dtype is None or np.dtype(dtype) == a.dtype else astype(a, dtype)
    host = np.asarray(a, dtype=dtype, order="C")  # (np.ascontiguousarray would turn 0-d into 1-d)
    check_dtype(host.dtype)
    _transfers += 1
    return to_device(host)


def to_numpy(a):
    """Copy a device array out to a new host numpy array."""
    global _transfers
    if not is_device_array(a):
        return np.asarray(a)
    _transfers += 1
    return a.copy_to_host()


__all__ = [*CONTRACT, "is_device_array", "transfer_count", "reset_transfer_count"]
