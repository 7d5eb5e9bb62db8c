"""Tensor's operators and methods, attached here so that tensor.py does not import the ops."""

import numbers

import numpy as np

from .ops import elementwise as ew
from .ops import linalg, reduce, shape, softmax
from .tensor import Tensor


def _reversed(op):
    return lambda self, other: op(other, self)


def _elementwise_equality(op):
    """== and != compare elementwise, as PyTorch; against None or other objects they fall back to identity.

    Tensor keeps object.__hash__ (set in tensor.py), so tensors still work as dict keys and set members.
    """
    def compare(self, other):
        if not isinstance(other, (Tensor, numbers.Number, np.generic, np.ndarray, list)):
            return NotImplemented
        return op(self, other)

    return compare


_OPERATORS = {
    "__add__": ew.add, "__radd__": _reversed(ew.add),
    "__sub__": ew.sub, "__rsub__": _reversed(ew.sub),
    "__mul__": ew.mul, "__rmul__": _reversed(ew.mul),
    "__truediv__": ew.div, "__rtruediv__": _reversed(ew.div),
    "__pow__": ew.pow, "__rpow__": _reversed(ew.pow),
    "__matmul__": linalg.matmul, "__rmatmul__": _reversed(linalg.matmul),
    "__neg__": ew.neg,
    "__gt__": ew.gt, "__lt__": ew.lt, "__ge__": ew.ge, "__le__": ew.le,
    "__eq__": _elementwise_equality(ew.eq), "__ne__": _elementwise_equality(ew.ne),
    "__getitem__": shape.getitem,
}

_METHODS = {
    "add": ew.add, "sub": ew.sub, "mul": ew.mul, "div": ew.div, "pow": ew.pow, "neg": ew.neg,
    "matmul": linalg.matmul,
    "exp": ew.exp, "log": ew.log, "sqrt": ew.sqrt, "abs": ew.abs,
    "relu": ew.relu, "sigmoid": ew.sigmoid, "tanh": ew.tanh, "clamp": ew.clamp,
    "gt": ew.gt, "lt": ew.lt, "ge": ew.ge, "le": ew.le, "eq": ew.eq, "ne": ew.ne,
    "sum": reduce.sum, "mean": reduce.mean, "max": reduce.max, "amax": reduce.amax, "argmax": reduce.argmax,
    "reshape": shape.reshape, "view": shape.reshape, "transpose": shape.transpose, "permute": shape.permute,
    "flatten": shape.flatten, "unsqueeze": shape.unsqueeze, "squeeze": shape.squeeze,
    "softmax": softmax.softmax, "log_softmax": softmax.log_softmax,
}

for _name, _fn in {**_OPERATORS, **_METHODS}.items():
    setattr(Tensor, _name, _fn)
