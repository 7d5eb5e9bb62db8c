"""Elementwise operations with numpy broadcasting: arithmetic, activations, casts and moves."""

import numpy as np

from ..autograd import Function
from ..backend import get_backend
from ..tensor import Tensor, promote_pair


class Add(Function):
    def forward(self, a, b):
        return self.xp.add(a, b)

    def backward(self, grad):
        return grad, grad


class Sub(Function):
    def forward(self, a, b):
        return self.xp.subtract(a, b)

    def backward(self, grad):
        return grad, self.xp.negative(grad) if self.needs_input_grad[1] else None


class Mul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.multiply(a, b)

    def backward(self, grad):
        a, b = self.saved_arrays
        xp = self.xp
        return (
            xp.multiply(grad, b) if self.needs_input_grad[0] else None,
            xp.multiply(grad, a) if self.needs_input_grad[1] else None,
        )


class Div(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.divide(a, b)

    def backward(self, grad):
        a, b = self.saved_arrays
        xp = self.xp
        grad_a = xp.divide(grad, b) if self.needs_input_grad[0] else None
        grad_b = None
        if self.needs_input_grad[1]:
            grad_b = xp.negative(xp.divide(xp.multiply(grad, a), xp.multiply(b, b)))
        return grad_a, grad_b


class Pow(Function):
    def forward(self, a, b):
        out = self.xp.power(a, b)
        self.save_for_backward(a, b, out)
        return out

    def backward(self, grad):
        a, b, out = self.saved_arrays
        xp = self.xp
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            one = xp.full((), 1, b.dtype)
            grad_a = xp.multiply(grad, xp.multiply(b, xp.power(a, xp.subtract(b, one))))
        if self.needs_input_grad[1]:
            # d(a^b)/db = a^b ln a; where a == 0 the limit of that product is 0.
            positive = xp.greater(a, xp.full((), 0, a.dtype))
            safe_log = xp.log(xp.where(positive, a, xp.full((), 1, a.dtype)))
            grad_b = xp.multiply(grad, xp.multiply(out, safe_log))
        return grad_a, grad_b


class Neg(Function):
    def forward(self, a):
        return self.xp.negative(a)

    def backward(self, grad):
        return self.xp.negative(grad)


class Exp(Function):
    def forward(self, a):
        out = self.xp.exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_arrays
        return self.xp.multiply(grad, out)


class Log(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.log(a)

    def backward(self, grad):
        (a,) = self.saved_arrays
        return self.xp.divide(grad, a)


class Sqrt(Function):
    def forward(self, a):
        out = self.xp.sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_arrays
        xp = self.xp
        return xp.divide(grad, xp.multiply(out, xp.full((), 2, out.dtype)))


class Abs(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.abs(a)

    def backward(self, grad):
        (a,) = self.saved_arrays
        return self.xp.multiply(grad, self.xp.sign(a))  # sign(0) = 0, as PyTorch


class ReLU(Function):
    name = "relu"

    def forward(self, a):
        xp = self.xp
        out = xp.relu(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_arrays
        return self.xp.relu_backward(grad, out)  # dy where y > 0: gradient 0 at x = 0, as PyTorch


class Sigmoid(Function):
    def forward(self, a):
        out = self.xp.sigmoid(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_arrays
        return self.xp.sigmoid_backward(grad, out)  # dy * y (1 - y), fused


class Tanh(Function):
    def forward(self, a):
        out = self.xp.tanh(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_arrays
        return self.xp.tanh_backward(grad, out)  # dy * (1 - y^2), fused


class Clamp(Function):
    def forward(self, a, low, high):
        xp = self.xp
        out = a
        if low is not None:
            out = xp.maximum(out, xp.full((), low, a.dtype))
        if high is not None:
            out = xp.minimum(out, xp.full((), high, a.dtype))
        self.save_for_backward(a, out)
        return out

    def backward(self, grad):
        a, out = self.saved_arrays
        xp = self.xp
        # The gradient passes where the input was inside [low, high], bounds included.
        return xp.where(xp.equal(a, out), grad, xp.full((), 0, grad.dtype))


class Cast(Function):
    def forward(self, a, dtype):
        self.source_dtype = a.dtype
        return self.xp.astype(a, dtype)

    def backward(self, grad):
        return self.xp.astype(grad, self.source_dtype)


class ToDevice(Function):
    name = "to"

    def forward(self, a, device):
        self.target_device = device
        return get_backend(device).asarray(self.xp.to_numpy(a))

    def backward(self, grad):
        target = get_backend(self.target_device)
        return self.xp.asarray(target.to_numpy(grad))

    @classmethod
    def apply(cls, tensor, device):
        out = super().apply(tensor, device)
        out.device = device  # the result lives on the target device, unlike every other op
        return out


def _check_broadcast(op, a, b):
    """Name the op and both shapes when they cannot broadcast, before numpy says it less clearly."""
    if a.shape == b.shape or not a.shape or not b.shape:
        return  # the common cases, checked without numpy's overhead
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


def _binary(function):
    def op(a, b):
        # Two tensors of one dtype and shape (most calls) need no promotion and no
        # broadcast check: straight to apply, a third off a 4 x 4 add's overhead.
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            da, db = a.data, b.data
            if (da.dtype is db.dtype or da.dtype == db.dtype) and da.shape == db.shape:
                return function.apply_pair(a, b)
        a, b = promote_pair(a, b)
        _check_broadcast(function.op_name(), a, b)
        return function.apply(a, b)

    return op


add, sub, mul, pow = (_binary(f) for f in (Add, Sub, Mul, Pow))


def _as_float(x):
    """Integer and bool inputs of a float-valued op become float32, as PyTorch (never an int result)."""
    return x if x.dtype.kind == "f" else cast(x, np.float32)


def div(a, b):
    """True division: two integer operands give float32, as PyTorch."""
    a, b = promote_pair(a, b)
    _check_broadcast("div", a, b)
    return Div.apply(_as_float(a), _as_float(b))


def neg(x):
    return Neg.apply(x)


def exp(x):
    return Exp.apply(_as_float(x))


def log(x):
    return Log.apply(_as_float(x))


def sqrt(x):
    return Sqrt.apply(_as_float(x))


def abs(x):
    return Abs.apply(x)


def relu(x):
    return ReLU.apply(x)


def sigmoid(x):
    return Sigmoid.apply(_as_float(x))


def tanh(x):
    return Tanh.apply(_as_float(x))


def clamp(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    return Clamp.apply(x, min, max)


def cast(x, dtype):
    return Cast.apply(x, np.dtype(dtype))


def to_device(x, device):
    return ToDevice.apply(x, device)


def _comparison(kernel):
    """A comparison straight from the backend's own kernel: IEEE semantics, so NaN compares False
    (and != True) everywhere, as in numpy and PyTorch. (ge used to be "not lt", True for NaN.)"""
    def op(a, b):
        a, b = promote_pair(a, b)
        return Tensor._from_array(getattr(a.backend, kernel)(a.data, b.data), a.device)

    op.__name__ = kernel
    return op


gt, lt, ge, le, eq, ne = (_comparison(n) for n in ("greater", "less", "greater_equal", "less_equal", "equal",
                                                    "not_equal"))
