"""VGG-16 and VGG-19 in torchvision's layout (configurations "D" and "E", no batch norm).

VGG-16 has 138,357,544 parameters, VGG-19 143,667,240 (three more 3x3 convs, in stages 3-5).

The course's idea: only 3x3 convolutions with s=1 and same padding (p = (f - 1)/2 = 1),
which keep n, and 2x2 max pools with s=2, which halve it; the channels double from
64 to 512 stage by stage. Sizes for a 3x224x224 input:

    stage 1: 2 conv  64  -> 64x224x224, pool -> 64x112x112
    stage 2: 2 conv 128  -> 128x112x112, pool -> 128x56x56
    stage 3: 3 conv 256  -> 256x56x56,  pool -> 256x28x28
    stage 4: 3 conv 512  -> 512x28x28,  pool -> 512x14x14
    stage 5: 3 conv 512  -> 512x14x14,  pool -> 512x7x7
    avgpool: adaptive average pool to 7x7 (25,088 features)
    classifier.0 FC 25088 -> 4096, classifier.3 FC 4096 -> 4096, classifier.6 FC 4096 -> num_classes

``features`` is one nn.Sequential in which each conv is followed by a ReLU and each
stage by a max pool, so the conv indices are torchvision's: 0, 2, 5, 7, 10, 12, 14, 17,
19, 21, 24, 26, 28 (e.g. ``features.28.weight`` (512, 512, 3, 3)); the classifier's
``classifier.0.weight`` is (4096, 25088). VGG-19's conv indices are 0, 2, 5, 7, 10, 12, 14,
16, 19, 21, 23, 25, 28, 30, 32, 34.

``weights="imagenet-features"`` loads pretrained conv weights installed by
``minigrad weights install vgg16`` or ``minigrad weights import FILE`` (see ``models.weights``):
only ``features.*``, which is all that style transfer and feature visualisation use. The
classifier stays randomly initialised, so the logits mean nothing.
"""

from minigrad import nn

from . import weights as pretrained
from ._checks import check_image

# Output channels of each conv; "M" is a 2x2, stride-2 max pool.
VGG16_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                512, 512, 512, "M", 512, 512, 512, "M"]
VGG19_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
WEIGHTS = (None, "imagenet-features")


def feature_names(config):
    """{"conv1_1": index in ``features`` of that conv's ReLU, ...} (block b, conv i), the names Gatys et al. use."""
    names, block, conv, index = {}, 1, 0, 0
    for v in config:
        if v == "M":
            block, conv, index = block + 1, 0, index + 1
        else:
            conv += 1
            names[f"conv{block}_{conv}"] = index + 1   # the conv at index, its ReLU at index + 1
            index += 2
    return names


def vgg_features(config, in_channels=3):
    """VGG's convolutional trunk (torchvision's ``features`` indices): 3x3 same convs + ReLU, 2x2 max pools at "M"."""
    layers, in_c = [], in_channels
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_c, v, 3, padding=1), nn.ReLU()]
            in_c = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A VGG network from a configuration list (torchvision's layout and key names).

    Args:
        config: conv output channels and "M" for max pools (``VGG16_CONFIG`` for VGG-16).
        num_classes: size of the output layer (1000 by default).
        dropout: dropout probability after the two hidden FC layers (0.5).
        name: the name used in error messages.

    Shape:
        Input (N, 3, H, W) with H, W >= 2**k for k max pools (32 for VGG-16): each conv
        keeps n (floor((n + 2*1 - 3) / 1) + 1 = n), each pool gives floor((n - 2) / 2) + 1,
        and the adaptive average pool maps any size to 7x7. Output (N, num_classes).
    """

    input_channels = 3

    def __init__(self, config, num_classes=1000, dropout=0.5, name="vgg"):
        super().__init__()
        self.name = name
        self.min_input_size = 2 ** config.count("M")
        self.features = vgg_features(config, self.input_channels)
        in_c = [v for v in config if v != "M"][-1]
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(in_c * 7 * 7, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        check_image(x, self.name, self.input_channels, minimum=self.min_input_size)
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


def load_pretrained_features(model, arch, state=None):
    """Copy the installed ``arch`` conv weights into ``model.features`` (the classifier is untouched)."""
    state = pretrained.load_features(arch) if state is None else state
    model.features.load_state_dict({key[len("features."):]: value for key, value in state.items()})
    return model


def _build(config, arch, num_classes, weights):
    if weights not in WEIGHTS:
        raise ValueError(f"{arch}: weights must be None or 'imagenet-features', got {weights!r}")
    state = pretrained.load_features(arch) if weights else None   # not installed: fail before building 138M parameters
    model = VGG(config, num_classes=num_classes, name=arch)
    return load_pretrained_features(model, arch, state) if weights else model


def vgg16(num_classes=1000, weights=None):
    """VGG-16 (see :class:`VGG`): 138,357,544 parameters with 1000 classes.

    ``weights="imagenet-features"`` loads the installed pretrained conv weights (raises
    ``models.weights.WeightsNotInstalled``, whose message gives the install command, if there
    are none); the classifier stays random.
    """
    return _build(VGG16_CONFIG, "vgg16", num_classes, weights)


def vgg19(num_classes=1000, weights=None):
    """VGG-19 (see :class:`VGG`): 143,667,240 parameters with 1000 classes; ``weights`` as for vgg16."""
    return _build(VGG19_CONFIG, "vgg19", num_classes, weights)
