"""Weight initialisation, in place, from the global generator (seed it with mg.manual_seed)."""

import math

import numpy as np

from .. import random


def _fill(tensor, host_values):
    tensor.data = tensor.backend.asarray(host_values.astype(tensor.dtype, copy=False))
    return tensor


def _sample_dtype(tensor):
    # Sampling straight in float32 halves the work and memory for VGG-16's 138M weights.
    return np.float32 if tensor.dtype == np.float32 else np.float64


def calculate_fan_in_and_fan_out(tensor):
    """fan_in = C_in * f * f for a conv weight (C_out, C_in, f, f); in_features for a linear one."""
    if tensor.ndim < 2:
        raise ValueError(f"init: fan in and fan out need at least 2 dimensions, got shape {tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:], dtype=np.int64)) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    gains = {"linear": 1.0, "conv2d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0)}
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity not in gains:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")
    return gains[nonlinearity]


def uniform_(tensor, a=0.0, b=1.0):
    dtype = _sample_dtype(tensor)
    values = random.generator().random(tensor.shape, dtype=dtype)
    values *= dtype(b - a)
    values += dtype(a)
    return _fill(tensor, values)


def normal_(tensor, mean=0.0, std=1.0):
    dtype = _sample_dtype(tensor)
    values = random.generator().standard_normal(tensor.shape, dtype=dtype)
    values *= dtype(std)
    values += dtype(mean)
    return _fill(tensor, values)


def constant_(tensor, value):
    return _fill(tensor, np.full(tensor.shape, value))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))
