"""The detector network: a small fully-convolutional net (conv + batch norm + leaky ReLU) from a 96 x 96 image to an S x S x B grid of YOLO vectors.

Shape: ``(N, 1, 96, 96) -> (N, S, S, B, 5 + C)`` with ``S = 96 / 8 = 12`` (a stride-2 first
convolution, then two 2x2 max pools), ``B`` anchors per cell and ``C = 10`` classes. Each of the ``B`` vectors holds the
raw outputs ``(t_o, t_x, t_y, t_h, t_w, t_1 ... t_C)``; ``activate`` turns them into the
course's ``(p_c, b_x, b_y, b_h, b_w, c_1 ... c_C)``:

    p_c = sigmoid(t_o)                       probability that an object's centre is here
    b_x = sigmoid(t_x),  b_y = sigmoid(t_y)  the centre, as a fraction of the cell (0..1)
    b_h = p_h exp(t_h),  b_w = p_w exp(t_w)  the size, as a fraction of the image; (p_h, p_w) the anchor
    c_i = softmax(t_1 ... t_C)_i             class probabilities

The anchors (k-means on the training boxes, ``apps.yolo.anchors``) are a buffer of the
model, so a weights file carries its own.
"""

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn

INPUT_SIZE = 96
STRIDE = 8
N_CLASSES = 10
LEAKY_SLOPE = 0.1
WIDTHS = (16, 32, 64, 128, 128)


class LeakyReLU(nn.Module):
    """``max(x, a x)`` for ``0 < a < 1``, written as ``(1 - a) relu(x) + a x`` from the engine's own ops."""

    def __init__(self, slope=LEAKY_SLOPE):
        super().__init__()
        self.slope = slope

    def forward(self, x):
        return x.relu() * (1.0 - self.slope) + x * self.slope


def conv_bn_leaky(c_in, c_out, f=3, stride=1):
    """The network's one building block: an f x f convolution (no bias: batch norm shifts), batch norm, leaky ReLU."""
    return [nn.Conv2d(c_in, c_out, f, stride=stride, padding=f // 2, bias=False), nn.BatchNorm2d(c_out), LeakyReLU()]


class YoloNet(nn.Module):
    """Backbone of five conv blocks (the first with stride 2, the next two followed by 2x2 max pooling) and a 1x1 conv head of B (5 + C) channels."""

    def __init__(self, anchors_hw, n_classes=N_CLASSES, widths=WIDTHS):
        super().__init__()
        anchors = np.asarray(anchors_hw, np.float32).reshape(-1, 2)
        if anchors.shape[0] < 1 or np.any(anchors <= 0):
            raise ValueError(f"anchors_hw must be (B, 2) positive (h, w) sizes, got {np.asarray(anchors_hw).shape}")
        self.n_anchors, self.n_classes = anchors.shape[0], int(n_classes)
        layers, c_in = [], 1
        for i, width in enumerate(widths):
            # the first block strides by 2 (the 96 x 96 map is never stored), the next two pool 2 x 2
            layers += conv_bn_leaky(c_in, width, stride=2 if i == 0 else 1)
            if i in (1, 2):
                layers.append(nn.MaxPool2d(2))
            c_in = width
        self.backbone = nn.Sequential(*layers)
        self.head = nn.Conv2d(c_in, self.n_anchors * (5 + self.n_classes), 1)
        # objectness starts at p_c = 0.01 (most anchors hold nothing), so the first steps are not spent learning that
        bias = self.head.bias.numpy().reshape(self.n_anchors, 5 + self.n_classes)
        bias[:, 0] = np.log(0.01 / 0.99)
        self.head.bias.data = mg.tensor(bias.reshape(-1).astype(np.float32)).data
        self.register_buffer("anchors", mg.tensor(anchors))

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] % STRIDE or x.shape[3] % STRIDE:
            raise ValueError(f"YoloNet: expected (N, 1, H, W) with H, W multiples of {STRIDE}, got shape {x.shape}")
        t = self.head(self.backbone(x))
        n, _, s_h, s_w = t.shape
        t = t.reshape(n, self.n_anchors, 5 + self.n_classes, s_h, s_w)
        return t.permute(0, 3, 4, 1, 2)          # (N, S, S, B, 5 + C)


def from_state_dict(state):
    """A YoloNet shaped like the one that saved ``state`` (its anchors, widths and classes), loaded with it."""
    anchors = state["anchors"].numpy() if hasattr(state["anchors"], "numpy") else np.asarray(state["anchors"])
    convs = sorted((int(key.split(".")[1]), value) for key, value in state.items()
                   if key.startswith("backbone.") and key.endswith(".weight") and len(value.shape) == 4)
    head = state["head.weight"]
    model = YoloNet(anchors, n_classes=head.shape[0] // len(anchors) - 5, widths=tuple(w.shape[0] for _, w in convs))
    model.load_state_dict(state)
    return model


def activate(t, anchors_hw):
    """The course's quantities from raw outputs ``t`` (N, S, S, B, 5 + C), as tensors (differentiable).

    Returns ``(p_c (..., 1), b_xy (..., 2) in cells, log_b_hw (..., 2), class_logits (..., C))``;
    ``log_b_hw = log(p_hw) + t_hw`` is ``log(b_h), log(b_w)`` (the loss compares sizes in log space,
    detection takes ``exp``).
    """
    log_anchors = np.log(np.asarray(anchors_hw.numpy() if hasattr(anchors_hw, "numpy") else anchors_hw))
    p_c = t[..., 0:1].sigmoid()
    b_xy = t[..., 1:3].sigmoid()
    log_b_hw = t[..., 3:5] + mg.tensor(log_anchors.reshape(-1, 2).astype(t.dtype))
    return p_c, b_xy, log_b_hw, t[..., 5:]


def course_output(t, anchors_hw):
    """Raw outputs -> the course's ``y = (p_c, b_x, b_y, b_h, b_w, c_1 ... c_C)`` (numpy, float64), for ``decode_predictions``."""
    with mg.no_grad():
        p_c, b_xy, log_b_hw, logits = activate(t, anchors_hw)
        probs = F.softmax(logits, dim=-1)
    sizes = np.exp(np.clip(log_b_hw.numpy().astype(np.float64), -20, 5))   # clipped: an untrained net stays finite
    return np.concatenate([p_c.numpy(), b_xy.numpy(), sizes, probs.numpy()], axis=-1).astype(np.float64)
