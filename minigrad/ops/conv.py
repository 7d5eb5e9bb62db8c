"""conv2d: argument checks and normalisation, then the backend's kernels forward and backward.

Course notation: an n x n input, an f x f filter, padding p and stride s give an
output of floor((n + 2p - f) / s) + 1 in each spatial dimension.
"""

import numpy as np

from ..autograd import Function


def pair(value, name, op):
    """An int or a pair of ints as (h, w), as PyTorch's _pair."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value), int(value))
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def check_float_input(x, name, op):
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{op}: {name} must be float32 or float64, got dtype {x.dtype} (shape {x.shape})")


def conv_padding(padding, kernel, stride, op="conv2d"):
    """(top, bottom, left, right) zeros from int, (p_h, p_w), "valid" or "same"."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1 (output size n), got stride {stride}")
            # An even filter cannot pad evenly: the extra zero goes to the bottom/right, as PyTorch.
            (fh, fw) = kernel
            return ((fh - 1) // 2, fh - 1 - (fh - 1) // 2, (fw - 1) // 2, fw - 1 - (fw - 1) // 2)
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    ph, pw = pair(padding, "padding", op)
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {padding!r}")
    return (ph, ph, pw, pw)


def output_size(n, f, pad_total, s):
    """floor((n + 2p - f) / s) + 1, with 2p written as the total padding of that dimension."""
    return (n + pad_total - f) // s + 1


class Conv2d(Function):
    name = "conv2d"

    def forward(self, x, w, b, stride, padding):
        self.save_for_backward(x, w)
        self.stride, self.padding = stride, padding
        self.has_bias = b is not None
        return self.xp.conv2d_forward(x, w, b, stride, padding)

    def backward(self, grad):
        x, w = self.saved_arrays
        needs = tuple(self.needs_input_grad) + ((False,) if not self.has_bias else ())
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
