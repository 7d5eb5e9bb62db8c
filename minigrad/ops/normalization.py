"""Batch normalisation and dropout: the layers that behave differently in training and evaluation."""

import numpy as np

from .. import random
from ..tensor import Tensor
from . import elementwise, reduce


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel (dim 1) over the batch and spatial dims, then scale and shift.

    Training normalises with the batch's biased variance and updates the running
    statistics with the unbiased one (as PyTorch); evaluation uses the running ones.
    """
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"batch_norm: input must be (N, C), (N, C, L) or (N, C, H, W), got shape {x.shape}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ValueError(f"batch_norm: {name} must have shape ({channels},) for input {x.shape}, got {t.shape}")
    dims = (0,) + tuple(range(2, x.ndim))
    stat_shape = (1, channels) + (1,) * (x.ndim - 2)
    if training:
        count = int(np.prod([x.shape[d] for d in dims]))
        if count <= 1:
            raise ValueError(f"batch_norm: training needs more than one value per channel, got input shape {x.shape}")
        mean = reduce.mean(x, dim=dims, keepdim=True)
        centred = x - mean
        var = reduce.mean(centred * centred, dim=dims, keepdim=True)
        if running_mean is not None:
            m = momentum
            batch_mean = mean.detach().reshape(channels)
            unbiased = var.detach().reshape(channels) * (count / (count - 1))
            running_mean.data = ((1 - m) * running_mean.detach() + m * batch_mean.to(running_mean.dtype)).data
            running_var.data = ((1 - m) * running_var.detach() + m * unbiased.to(running_var.dtype)).data
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
        mean = running_mean.detach().reshape(stat_shape)
        centred = x - mean
        var = running_var.detach().reshape(stat_shape)
    out = centred / elementwise.sqrt(var + eps)
    if weight is not None:
        out = out * weight.reshape(stat_shape)
    if bias is not None:
        out = out + bias.reshape(stat_shape)
    return out


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    xp = x.backend
    if p == 1:
        return x * Tensor._from_array(xp.zeros(x.shape, x.dtype), x.device)
    keep = xp.greater(xp.uniform(x.shape, x.dtype, random.next_seed()), xp.full((), p, x.dtype))
    mask = xp.multiply(xp.astype(keep, x.dtype), xp.full((), 1.0 / (1.0 - p), x.dtype))
    return x * Tensor._from_array(mask, x.device)
