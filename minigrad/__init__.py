"""minigrad: convolutional networks from first principles.

A small reverse-mode autograd engine with Numba-compiled conv and pool kernels,
PyTorch's conventions (NCHW, float32 by default) and names.
"""

__version__ = "0.1.0"

from . import methods as _methods  # noqa: F401  (attaches Tensor's operators)
from .autograd import Function, enable_grad, is_grad_enabled, no_grad
from .backend import cuda_available
from .creation import arange, from_numpy, full, ones, ones_like, rand, randn, randn_like, tensor, zeros, zeros_like
from .gradcheck import gradcheck
from .io import load, save
from .ops.elementwise import clamp
from .ops.reduce import argmax
from .ops.shape import cat, stack
from .random import manual_seed
from .tensor import Tensor, bool_, float16, float32, float64, int32, int64, uint8

from . import functional, nn, optim  # noqa: E402,F401

__all__ = [
    "Tensor", "Function", "tensor", "from_numpy", "zeros", "ones", "full", "randn", "rand", "arange",
    "zeros_like", "ones_like", "randn_like", "manual_seed", "no_grad", "enable_grad", "is_grad_enabled",
    "cat", "stack", "clamp", "argmax", "gradcheck", "save", "load", "cuda_available",
    "float16", "float32", "float64", "int32", "int64", "uint8", "bool_", "functional", "nn", "optim",
]
