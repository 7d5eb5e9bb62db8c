"""conv2d: argument checks and normalisation, then the backend's kernels forward and backward.

Course notation: an n x n input, an f x f filter, padding p and stride s give an
output of floor((n + 2p - f) / s) + 1 in each spatial dimension.
"""

import numpy as np

from ..autograd import Function
from ..sizes import conv_padding, pair


def check_float_input(x, name, op):
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{op}: {name} must be float32 or float64, got dtype {x.dtype} (shape {x.shape})")


class Conv2d(Function):
    name = "conv2d"

    def forward(self, x, w, b, stride, padding):
        self.save_for_backward(x, w)
        self.stride, self.padding = stride, padding
        self.has_bias = b is not None
        with np.errstate(invalid="ignore", over="ignore"):   # inf * 0 = nan is the answer, as in PyTorch
            return self.xp.conv2d_forward(x, w, b, stride, padding)

    def backward(self, grad):
        x, w = self.saved_arrays
        needs = tuple(self.needs_input_grad) + ((False,) if not self.has_bias else ())
        with np.errstate(invalid="ignore", over="ignore"):
            gx, gw, gb = self.xp.conv2d_backward(grad, x, w, self.stride, self.padding, needs)
        return (gx, gw, gb) if self.has_bias else (gx, gw)


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """Cross-correlate x (N, C_in, H, W) with weight (C_out, C_in, f_h, f_w), add bias (C_out,).

    Shape: out (N, C_out, H_out, W_out) with H_out = floor((H + 2p - f) / s) + 1.
    A 3-D x (C_in, H, W) is treated as a batch of one, as PyTorch does.
    """
    if x.ndim == 3:
        return conv2d(x.unsqueeze(0), weight, bias, stride, padding).squeeze(0)
    if x.ndim != 4:
        raise ValueError(f"conv2d: input must be (N, C_in, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be (C_out, C_in, f_h, f_w), got shape {weight.shape}")
    check_float_input(x, "input", "conv2d")
    if weight.dtype != x.dtype:
        raise TypeError(f"conv2d: input is {x.dtype} but weight is {weight.dtype}; convert one with .to(dtype)")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"conv2d: input has {x.shape[1]} channels (input shape {x.shape}) but the filters have "
            f"{weight.shape[1]} (weight shape {weight.shape}); filter channels must equal input channels"
        )
    if bias is not None:
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"conv2d: bias must have shape ({weight.shape[0]},) for weight {weight.shape}, got {bias.shape}")
        if bias.dtype != x.dtype:
            raise TypeError(f"conv2d: input is {x.dtype} but bias is {bias.dtype}")
    stride = pair(stride, "stride", "conv2d")
    if min(stride) <= 0:
        raise ValueError(f"conv2d: stride must be positive, got {stride}")
    kernel = tuple(weight.shape[2:])
    if min(kernel) <= 0 or min(weight.shape[:2]) <= 0:
        raise ValueError(f"conv2d: weight must have non-empty (C_out, C_in, f_h, f_w), got shape {weight.shape}")
    pads = conv_padding(padding, kernel, stride)
    padded = (x.shape[2] + pads[0] + pads[1], x.shape[3] + pads[2] + pads[3])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(
            f"conv2d: the {kernel[0]}x{kernel[1]} kernel (weight shape {weight.shape}) is larger than the padded "
            f"input {padded[0]}x{padded[1]} (input shape {x.shape}, padding {padding!r})"
        )
    if bias is None:
        return Conv2d.apply(x, weight, None, stride, pads)
    return Conv2d.apply(x, weight, bias, stride, pads)
