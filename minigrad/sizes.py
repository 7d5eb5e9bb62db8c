"""The course's sizes, in one place: pair(), the padding rules and the output size floor((n + 2p - f) / s) + 1.

Every op, backend kernel, model check and benchmark that needs an output size imports it from here.
"""

import numpy as np


def pair(value, name, op):
    """An int or a pair of ints as (h, w), as PyTorch's _pair."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value), int(value))
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


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


def output_size(n, f, p=0, s=1):
    """floor((n + 2p - f) / s) + 1: an n-wide input, an f-wide filter, padding p, stride s.

    ``p`` is the padding on each side, or a ``(before, after)`` pair when the sides differ
    ("same" padding with an even filter); then 2p is ``before + after``.
    """
    two_p = p[0] + p[1] if isinstance(p, tuple) else 2 * p
    return (n + two_p - f) // s + 1
