"""Where each VGG conv layer lives in each format, and the one layout conversion (Keras -> PyTorch).

Every importer reduces its file to a list of (kernel, bias) pairs in network order, one per
conv layer, and :func:`features_state_dict` names them with torchvision's keys:

- vgg16 ("D"): ``features.{0,2,5,7,10,12,14,17,19,21,24,26,28}.{weight,bias}``;
- vgg19 ("E"): ``features.{0,2,5,7,10,12,14,16,19,21,23,25,28,30,32,34}.{weight,bias}``.

Keras names the same layers ``block{b}_conv{c}`` (vgg16: 2, 2, 3, 3, 3 convs per block;
vgg19: 2, 2, 4, 4, 4) and stores kernels as (f, f, C_in, C_out); PyTorch and minigrad use
(C_out, C_in, f, f). Both compute a cross-correlation (no kernel flip), so the conversion is
a pure transpose.
"""

import re

import numpy as np

# Convs per block; the indices in `features` follow from it (each conv is followed by a ReLU,
# each block by a max pool).
CONVS_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
ARCHS = tuple(CONVS_PER_BLOCK)
KERAS_LAYER_NAME = re.compile(r"block(\d)_conv(\d)")


def check_arch(arch):
    if arch not in CONVS_PER_BLOCK:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")


def feature_indices(arch):
    """The `features` indices of the convs: vgg16 -> [0, 2, 5, 7, 10, ..., 28]."""
    check_arch(arch)
    indices, i = [], 0
    for convs in CONVS_PER_BLOCK[arch]:
        for _ in range(convs):
            indices.append(i)
            i += 2                      # conv, ReLU
        i += 1                          # max pool
    return indices


def keras_names(arch):
    """Keras's layer names in network order: block1_conv1, block1_conv2, block2_conv1, ..."""
    check_arch(arch)
    return [f"block{b}_conv{c}" for b, convs in enumerate(CONVS_PER_BLOCK[arch], 1) for c in range(1, convs + 1)]


def conv_shapes(arch):
    """(C_out, C_in, 3, 3) of each conv in network order."""
    channels = (64, 128, 256, 512, 512)
    shapes, c_in = [], 3
    for convs, c_out in zip(CONVS_PER_BLOCK[arch], channels):
        for _ in range(convs):
            shapes.append((c_out, c_in, 3, 3))
            c_in = c_out
    return shapes


def keras_to_torch_kernel(kernel):
    """(f, f, C_in, C_out) -> (C_out, C_in, f, f), contiguous float32."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise ValueError(f"kernel must be 4-D (f, f, C_in, C_out), got shape {kernel.shape}")
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32)


def features_state_dict(pairs, arch, source="the file"):
    """[(weight (C_out, C_in, f, f), bias (C_out,)), ...] in network order -> torchvision's keys.

    Checks the count and every shape against ``arch`` first, naming the layer and both shapes.
    """
    expected = conv_shapes(arch)
    if len(pairs) != len(expected):
        raise ValueError(f"{source} has {len(pairs)} conv layers; {arch} has {len(expected)}")
    out = {}
    for index, (weight, bias), shape, name in zip(feature_indices(arch), pairs, expected, keras_names(arch)):
        weight, bias = np.asarray(weight, dtype=np.float32), np.asarray(bias, dtype=np.float32).reshape(-1)
        if weight.shape != shape or bias.shape != shape[:1]:
            raise ValueError(
                f"{source}: conv layer {name} (features.{index}) has weight {weight.shape} and bias "
                f"{bias.shape}; {arch} needs {shape} and {shape[:1]}"
            )
        out[f"features.{index}.weight"] = np.ascontiguousarray(weight)
        out[f"features.{index}.bias"] = np.ascontiguousarray(bias)
    return out
