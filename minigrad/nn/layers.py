"""The layers: convolution, linear, pooling, batch norm, activations, flatten, dropout, identity."""

import math

import numpy as np

from .. import creation
from .. import functional as F
from ..sizes import pair
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


def _empty_parameter(*shape):
    # Uninitialised storage, not copied: reset_parameters() fills it right away.
    return Parameter(Tensor._from_array(np.empty(shape, dtype=np.float32), "cpu"))


def _fan_in_init(weight, bias):
    """PyTorch's default: weights and bias uniform in +-1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5))."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Conv2d(Module):
    """A convolution layer: n_c' filters of f x f x n_c, plus one bias each: (f*f*n_c + 1) * n_c' parameters.

    Shape: input (N, n_c, H, W) -> output (N, n_c', floor((H + 2p - f)/s) + 1, floor((W + 2p - f)/s) + 1).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"Conv2d: in_channels and out_channels must be positive, got {in_channels}, {out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d")
        self.stride = pair(stride, "stride", "Conv2d")
        if min(self.kernel_size) <= 0 or min(self.stride) <= 0:
            raise ValueError(f"Conv2d: kernel_size and stride must be positive, got {kernel_size!r} and {stride!r}")
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding", "Conv2d")
        self.weight = _empty_parameter(out_channels, in_channels, *self.kernel_size)
        self.bias = _empty_parameter(out_channels) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        _fan_in_init(self.weight, self.bias)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in ((0, 0), "valid"):
            text += f", padding={self.padding}"
        return text + ("" if self.bias is not None else ", bias=False")


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features): (in + 1) * out parameters."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _empty_parameter(out_features, in_features)
        self.bias = _empty_parameter(out_features) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        _fan_in_init(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class _Pool(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool):
    """Shape: (N, C, H, W) -> (N, C, floor((H + 2p - f)/s) + 1, floor((W + 2p - f)/s) + 1); no parameters."""

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool):
    """Shape: as MaxPool2d; padded zeros count in each mean."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class BatchNorm2d(Module):
    """Per-channel normalisation with learned scale (weight) and shift (bias), and running statistics."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=np.float32))
            self.bias = Parameter(np.zeros(num_features, dtype=np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features))
            self.register_buffer("running_var", creation.ones(num_features))
            self.register_buffer("num_batches_tracked", creation.tensor(0))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def _check_input(self, x):
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__}: expected a 4-D input (N, C, H, W), got shape {x.shape}")

    def forward(self, x):
        self._check_input(x)
        use_batch_stats = self.training or self.running_mean is None
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.data = (self.num_batches_tracked + 1).data
            if self.momentum is None:  # a cumulative average of every batch so far, as PyTorch
                momentum = 1.0 / float(self.num_batches_tracked.item())
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            use_batch_stats, momentum, self.eps,
        )

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(BatchNorm2d):
    def _check_input(self, x):
        if x.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected a 2-D or 3-D input (N, C[, L]), got shape {x.shape}")


class _Activation(Module):
    function = None

    def __init__(self, inplace=False):
        super().__init__()  # inplace is accepted for PyTorch compatibility; minigrad never overwrites

    def forward(self, x):
        return type(self).function(x)


class ReLU(_Activation):
    function = staticmethod(F.relu)


class Sigmoid(_Activation):
    function = staticmethod(F.sigmoid)


class Tanh(_Activation):
    function = staticmethod(F.tanh)


class Softmax(Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, self.dim)


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)


class Dropout(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Identity(Module):
    def forward(self, x):
        return x
