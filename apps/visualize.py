"""What a hidden unit learns (module 4): the input patches that activate one unit the most (the course's top nine).

Pick a unit (a channel) of some layer, run many images through the network up to that
layer, and keep the k positions (image, i, j) where the unit's activation is largest;
each position sees a patch of the input, its receptive field. The first layers'
units answer to edges and colours; deeper units see larger patches and more complex
shapes.
"""

import numpy as np

import minigrad as mg
from minigrad import nn

__all__ = ["receptive_field", "top_patches"]


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _leaves(module):
    kids = list(module.children()) if hasattr(module, "children") else []
    if not kids:
        return [module]
    return [leaf for kid in kids for leaf in _leaves(kid)]


def receptive_field(model):
    """(F, J, P): the receptive field size, jump (stride) and padding, in input pixels, of the output positions of a chain of layers.

    Walks the leaves of ``model`` in order: each conv or pool with filter f, stride s and
    padding p gives F += (f - 1) * J, P += p * J, J *= s; other layers (activations,
    batch norm) keep them. Output position (i, j) sees input rows i*J - P ... i*J - P + F - 1.
    Assumes square filters and numeric padding ("same" is read as (f - 1) // 2).
    """
    size, jump, pad = 1, 1, 0
    for layer in _leaves(model):
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            f = _pair(layer.kernel_size)[0]
            s = _pair(layer.stride)[0]
            p = layer.padding
            p = (f - 1) // 2 if p == "same" else 0 if p == "valid" else _pair(p)[0]
            size += (f - 1) * jump
            pad += p * jump
            jump *= s
        elif isinstance(layer, (nn.Linear, nn.Flatten, nn.AdaptiveAvgPool2d)):
            raise ValueError(f"receptive_field: {type(layer).__name__} has no spatial receptive field; "
                             "pass the convolutional part of the network")
    return size, jump, pad


def top_patches(model, images, unit, k=9, field=None):
    """The ``k`` input patches that activate channel ``unit`` of ``model(images)`` the most.

    Args:
        model: the network up to the layer of interest (an nn.Module giving (N, C, H', W')).
        images: (N, C_in, H, W) numpy array or Tensor.
        unit: the channel index of the hidden unit.
        k: how many patches (the course shows nine).
        field: (F, J, P) as from ``receptive_field``; computed from ``model`` when None.

    Returns:
        ``(patches (k, C_in, F, F), activations (k,), where (k, 3) as (image, i, j))``, the
        strongest first; patch pixels outside the image (padding) are 0.
    """
    x = images.numpy() if isinstance(images, mg.Tensor) else np.asarray(images, dtype=np.float32)
    with mg.no_grad():
        acts = model(mg.tensor(x)).numpy()
    if acts.ndim != 4 or not 0 <= unit < acts.shape[1]:
        raise ValueError(f"unit {unit} is not a channel of the activations of shape {acts.shape}")
    size, jump, pad = field if field is not None else receptive_field(model)
    a = acts[:, unit]
    order = np.argsort(-a, axis=None, kind="stable")[:k]
    where = np.stack(np.unravel_index(order, a.shape), axis=1)
    margin = size + pad
    padded = np.pad(x, ((0, 0), (0, 0), (margin, margin), (margin, margin)))
    patches = np.stack([
        padded[n, :, margin + i * jump - pad:margin + i * jump - pad + size,
               margin + j * jump - pad:margin + j * jump - pad + size]
        for n, i, j in where
    ])
    return patches, a.reshape(-1)[order], where
