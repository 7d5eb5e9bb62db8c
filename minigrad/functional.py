"""The F.* functions: the engine's operations under PyTorch's names (import minigrad.functional as F)."""

from .ops.conv import conv2d
from .ops.elementwise import relu, sigmoid, tanh
from .ops.linalg import linear
from .ops.losses import binary_cross_entropy, cross_entropy, mse_loss, nll_loss, triplet_loss
from .ops.normalization import batch_norm, dropout
from .ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .ops.softmax import log_softmax, softmax

__all__ = [
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "linear",
    "relu", "sigmoid", "tanh", "softmax", "log_softmax", "dropout", "batch_norm",
    "cross_entropy", "nll_loss", "binary_cross_entropy", "mse_loss", "triplet_loss",
]
