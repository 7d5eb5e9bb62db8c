"""Max and average pooling, and adaptive average pooling.

Course notation: pooling an n_h x n_w x n_c volume with an f x f window and
stride s gives floor((n_h - f) / s) + 1 by floor((n_w - f) / s) + 1 by n_c.
Pooling has no parameters; it keeps the channels.
"""

from ..autograd import Function
from . import reduce
from ..sizes import pair
from .conv import check_float_input
from .shape import cat


class MaxPool2d(Function):
    name = "max_pool2d"

    def forward(self, x, kernel, stride, padding):
        out, self.argmax = self.xp.max_pool2d_forward(x, kernel, stride, padding)
        self.x_shape, self.args = tuple(x.shape), (kernel, stride, padding)
        return out

    def backward(self, grad):
        return self.xp.max_pool2d_backward(grad, self.argmax, self.x_shape, *self.args)


class AvgPool2d(Function):
    name = "avg_pool2d"

    def forward(self, x, kernel, stride, padding):
        self.x_shape, self.args = tuple(x.shape), (kernel, stride, padding)
        return self.xp.avg_pool2d_forward(x, kernel, stride, padding)

    def backward(self, grad):
        return self.xp.avg_pool2d_backward(grad, self.x_shape, *self.args)


def _pool_args(op, x, kernel_size, stride, padding):
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be (N, C, H, W) or (C, H, W), got shape {x.shape}")
    check_float_input(x, "input", op)
    kernel = pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None else pair(stride, "stride", op)
    padding = pair(padding, "padding", op)
    if min(kernel) <= 0:
        raise ValueError(f"{op}: kernel_size must be positive, got {kernel_size!r}")
    if min(stride) <= 0:
        raise ValueError(f"{op}: stride must be positive, got {stride}")
    if min(padding) < 0 or padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding must be between 0 and half the kernel size {kernel}, got {padding}")
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(
            f"{op}: the {kernel[0]}x{kernel[1]} window is larger than the padded input {padded[0]}x{padded[1]} "
            f"(input shape {x.shape}, padding {padding})"
        )
    return kernel, stride, padding


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """The maximum of each f x f window; stride defaults to kernel_size; padding is -inf.

    Ties send the gradient to the first maximum in the window (row-major), as PyTorch.
    A 3-D x (C, H, W) is treated as a batch of one, as PyTorch does.
    """
    if x.ndim == 3:
        return max_pool2d(x.unsqueeze(0), kernel_size, stride, padding).squeeze(0)
    return MaxPool2d.apply(x, *_pool_args("max_pool2d", x, kernel_size, stride, padding))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """The mean of each f x f window; padded zeros count in the mean (count_include_pad, as PyTorch)."""
    if x.ndim == 3:
        return avg_pool2d(x.unsqueeze(0), kernel_size, stride, padding).squeeze(0)
    return AvgPool2d.apply(x, *_pool_args("avg_pool2d", x, kernel_size, stride, padding))


def adaptive_avg_pool2d(x, output_size):
    """Average-pool to a fixed output size; cell i covers [floor(i n / o), ceil((i + 1) n / o)), as PyTorch."""
    if x.ndim == 3:
        return adaptive_avg_pool2d(x.unsqueeze(0), output_size).squeeze(0)
    if x.ndim != 4:
        raise ValueError(f"adaptive_avg_pool2d: input must be (N, C, H, W) or (C, H, W), got shape {x.shape}")
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    out_h, out_w = (x.shape[2] if output_size[0] is None else output_size[0],
                    x.shape[3] if output_size[1] is None else output_size[1])
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {output_size}")
    h, w = x.shape[2:]
    if (out_h, out_w) == (1, 1):
        return reduce.mean(x, dim=(2, 3), keepdim=True)
    if h % out_h == 0 and w % out_w == 0:
        return avg_pool2d(x, (h // out_h, w // out_w))
    rows = []
    for i in range(out_h):
        top, bottom = (i * h) // out_h, -(-((i + 1) * h) // out_h)
        cells = []
        for j in range(out_w):
            left, right = (j * w) // out_w, -(-((j + 1) * w) // out_w)
            cells.append(reduce.mean(x[:, :, top:bottom, left:right], dim=(2, 3), keepdim=True))
        rows.append(cat(cells, dim=3))
    return cat(rows, dim=2)
