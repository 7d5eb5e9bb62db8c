"""Batch normalisation and dropout: the layers that behave differently in training and evaluation."""

import numpy as np

from .. import random
from ..autograd import Function
from ..tensor import Tensor


class BatchNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per channel, in one pass each way.

    One Function instead of a dozen elementwise ops: it keeps only x_hat and
    1/sqrt(var + eps) for the backward, whose input gradient in training is
    dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)).
    """

    name = "batch_norm"

    def forward(self, x, *affine, has_weight, has_bias, count, running_mean, running_var, training, eps, stats_out):
        self.has_weight, self.has_bias, self.count, self.training = has_weight, has_bias, count, training
        weight = affine[0] if has_weight else None
        bias = affine[-1] if has_bias else None
        # The backend fuses each pass per channel (batch statistics, x_hat, the affine map).
        out, x_hat, inv_std, mean, var = self.xp.batch_norm_forward(
            x, running_mean, running_var, weight, bias, eps, training)
        if training:
            stats_out.extend((mean, var))
        self.save_for_backward(x_hat, inv_std, weight)
        return out

    def backward(self, grad):
        x_hat, inv_std, weight = self.saved_arrays
        # The backend fuses the formula above per channel: dx, dweight = sum(dy x_hat), dbias = sum(dy).
        dx, dweight, dbias = self.xp.batch_norm_grads(grad, x_hat, inv_std, weight, self.training)
        needs = list(self.needs_input_grad)
        grads = [dx if needs.pop(0) else None]
        if self.has_weight:
            grads.append(dweight if needs.pop(0) else None)
        if self.has_bias:
            grads.append(dbias if needs.pop(0) else None)
        return tuple(grads)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel (dim 1) over the batch and spatial dims, then scale and shift.

    Training normalises with the batch's biased variance and updates the running
    statistics with the unbiased one (as PyTorch); evaluation uses the running ones.
    """
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"batch_norm: input must be (N, C), (N, C, L) or (N, C, H, W), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"batch_norm: input must be float32 or float64, got {x.dtype}")
    channels = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise ValueError(f"batch_norm: {name} must have shape ({channels},) for input {x.shape}, got {t.shape}")
    count = int(np.prod([x.shape[d] for d in (0,) + tuple(range(2, x.ndim))]))
    if training and count <= 1:
        raise ValueError(f"batch_norm: training needs more than one value per channel, got input shape {x.shape}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
    stats = []
    affine = [t for t in (weight, bias) if t is not None]
    out = BatchNorm.apply(
        x, *affine, has_weight=weight is not None, has_bias=bias is not None, count=count,
        running_mean=None if training else running_mean.data, running_var=None if training else running_var.data,
        training=training, eps=eps, stats_out=stats,
    )
    if training and running_mean is not None:
        _update_running(running_mean, stats[0], momentum, 1.0)
        _update_running(running_var, stats[1], momentum, count / (count - 1))  # the unbiased variance
    return out


def _update_running(running, batch_stat, momentum, scale):
    """running = (1 - momentum) * running + momentum * scale * batch_stat, in the running tensor's dtype."""
    xp, dtype = running.backend, running.dtype
    batch = xp.astype(xp.reshape(batch_stat, running.shape), dtype)
    running.data = xp.add(
        xp.multiply(running.data, xp.full((), 1 - momentum, dtype)),
        xp.multiply(batch, xp.full((), momentum * scale, dtype)),
    )


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
