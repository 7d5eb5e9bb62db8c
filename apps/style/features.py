"""The networks whose activations define content and style: VGG-16's real features, or a random multi-scale fallback.

Both are a :class:`FeatureExtractor`: a chain of layers with names for some of their
outputs (``conv1_1`` ... ``conv5_3``, each the ReLU output after that conv, as in Gatys
et al.), which runs an image only as deep as the deepest layer asked for and returns
the named activations. The image is float RGB in [0, 1], (1, 3, H, W); the extractor
applies the preprocessing its weights expect, differentiably, so the optimiser works
on the picture itself.
"""

import numpy as np

from minigrad import nn

__all__ = ["FeatureExtractor", "vgg16_features", "random_features"]


class FeatureExtractor:
    """Named activations of a chain of layers, computed only as deep as needed.

    Args:
        layers: the modules in order (their weights are frozen here).
        names: {layer name: index in ``layers`` whose output it is}.
        preprocess: maps the (1, 3, H, W) RGB Tensor in [0, 1] to the network's input.
        label: what the features are, for reports ("vgg16 (imagenet)").
    """

    def __init__(self, layers, names, preprocess, label):
        self.layers, self.names, self.preprocess, self.label = list(layers), dict(names), preprocess, label
        for layer in self.layers:
            layer.requires_grad_(False)     # gradients w.r.t. the image only, never the weights

    def check(self, wanted):
        unknown = [name for name in wanted if name not in self.names]
        if unknown:
            raise ValueError(f"unknown layer(s) {', '.join(unknown)} for {self.label}; "
                             f"known: {', '.join(self.names)}")

    def __call__(self, image, wanted):
        """{name: activation (1, C, H', W')} for each name in ``wanted``; ``image`` (1, 3, H, W) RGB in [0, 1]."""
        self.check(wanted)
        stops = {self.names[name]: name for name in wanted}
        deepest = max(stops)
        x, out = self.preprocess(image), {}
        for i, layer in enumerate(self.layers[:deepest + 1]):
            x = layer(x)
            if i in stops:
                out[stops[i]] = x
        return {name: out[name] for name in wanted}


def vgg16_features():
    """VGG-16's convolutional trunk with the installed pretrained weights.

    Builds only ``features`` (not the 124 M-parameter classifier) and loads the cache
    written by ``minigrad weights install vgg16``; raises ``models.weights.WeightsNotInstalled``
    (its message names the install command) when there is none.
    """
    from models import weights
    from models.vgg import VGG16_CONFIG, feature_names, vgg_features

    state = weights.load_features("vgg16")            # fails before any work when not installed
    trunk = vgg_features(VGG16_CONFIG)
    trunk.load_state_dict({key[len("features."):]: value for key, value in state.items()})

    def preprocess(image):
        return weights.preprocess(image, "vgg16")

    return FeatureExtractor(list(trunk), feature_names(VGG16_CONFIG), preprocess, "vgg16 (imagenet features)")


# The fallback: five blocks, each a 3x3 conv + ReLU then a 2x2 average pool, so block b sees
# the picture at 1/2**(b-1) of its size (multi-scale). Random filters already give Gram
# matrices that capture texture statistics (Ustyuzhaninov et al., "Texture synthesis using
# shallow convolutional networks with random filters", 2016); the names mirror VGG's.
RANDOM_WIDTHS = (32, 64, 128, 128, 128)


def random_features(seed=0):
    """A multi-scale network of random (He-initialised, seeded) filters with VGG's layer names."""
    rng = np.random.default_rng(seed)
    layers, names, in_c = [], {}, 3
    for block, width in enumerate(RANDOM_WIDTHS, start=1):
        for conv in (1, 2) if block == 4 else (1,):     # conv4_2 is the default content layer
            layer = nn.Conv2d(in_c, width, 3, padding=1)
            std = np.sqrt(2.0 / (in_c * 9))
            layer.load_state_dict({"weight": rng.normal(0.0, std, (width, in_c, 3, 3)).astype(np.float32),
                                   "bias": np.zeros(width, np.float32)})
            layers += [layer, nn.ReLU()]
            names[f"conv{block}_{conv}"] = len(layers) - 1
            in_c = width
        layers.append(nn.AvgPool2d(2, 2))

    def preprocess(image):
        # Centred (random filters see both signs) and on VGG's 0-255 pixel scale: costs scale with
        # the activations (J_style ~ a^4, J_content ~ a^2), so the paper's alpha/beta apply here too.
        return (image - 0.5) * 255.0

    return FeatureExtractor(layers, names, preprocess, f"random multi-scale features (seed {seed})")
