"""softmax and log_softmax along a dim, computed stably (the max is subtracted first)."""

from ..autograd import Function


class LogSoftmax(Function):
    name = "log_softmax"

    def forward(self, a, dim):
        out = self.xp.log_softmax(a, dim)
        self.save_for_backward(out)
        self.dim = dim
        return out

    def backward(self, grad):
        (out,) = self.saved_arrays
        xp = self.xp
        total = xp.sum(grad, axis=self.dim, keepdims=True)
        return xp.subtract(grad, xp.multiply(xp.exp(out), total))


class Softmax(Function):
    def forward(self, a, dim):
        out = self.xp.exp(self.xp.log_softmax(a, dim))
        self.save_for_backward(out)
        self.dim = dim
        return out

    def backward(self, grad):
        (out,) = self.saved_arrays
        xp = self.xp
        weighted = xp.sum(xp.multiply(grad, out), axis=self.dim, keepdims=True)
        return xp.multiply(out, xp.subtract(grad, weighted))


def _dim(x, dim, op):
    if dim is None:
        raise TypeError(f"{op}: pass dim explicitly (e.g. dim=1 for (N, C) logits)")
    if not -max(x.ndim, 1) <= dim < max(x.ndim, 1):
        raise IndexError(f"{op}: dim {dim} is out of range for shape {x.shape}")
    return dim % max(x.ndim, 1)


def softmax(x, dim=None):
    return Softmax.apply(x, _dim(x, dim, "softmax"))


def log_softmax(x, dim=None):
    return LogSoftmax.apply(x, _dim(x, dim, "log_softmax"))
