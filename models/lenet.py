"""LeNet-5: the course's first case study, conv-pool-conv-pool-FC-FC-output on 1x32x32.

Layers (course notation: n input size, f filter, s stride, p padding, n_c channels):

    input             1x32x32
    features.0  conv  f=5, s=1, p=0, 6 filters   ->  6x28x28   (5*5*1 + 1)*6   =    156
    features.2  pool  f=2, s=2                   ->  6x14x14
    features.3  conv  f=5, s=1, p=0, 16 filters  -> 16x10x10   (5*5*6 + 1)*16  =  2,416
    features.5  pool  f=2, s=2                   -> 16x5x5     (flattened: 400)
    classifier.0  FC 400 -> 120                                (400 + 1)*120   = 48,120
    classifier.2  FC 120 -> 84                                 (120 + 1)*84    = 10,164
    classifier.4  FC 84 -> num_classes                         (84 + 1)*10     =    850
                                                               total           = 61,706
"""

from minigrad import nn

from ._checks import check_image

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}
_POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


class LeNet5(nn.Module):
    """LeNet-5 for 1x32x32 grayscale images.

    Args:
        num_classes: size of the output layer (10 by default: 61,706 parameters).
        activation: "tanh" (the original, default), "relu" or "sigmoid".
        pooling: "avg" (the original, default) or "max"; 2x2 windows with stride 2.

    Shape:
        Input (N, 1, 32, 32); output (N, num_classes) logits (apply softmax in the loss).
        Each conv/pool layer gives floor((n + 2p - f) / s) + 1: 32 -> 28 -> 14 -> 10 -> 5.
        Other sizes raise ValueError: the first FC layer needs exactly 16*5*5 = 400 inputs.
    """

    input_channels = 1
    input_size = (32, 32)

    def __init__(self, num_classes=10, activation="tanh", pooling="avg"):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if pooling not in _POOLS:
            raise ValueError(f"pooling must be one of {sorted(_POOLS)}, got {pooling!r}")
        act, pool = _ACTIVATIONS[activation], _POOLS[pooling]
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), act(), pool(2, 2),
            nn.Conv2d(6, 16, 5), act(), pool(2, 2),
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), act(),
            nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        check_image(x, "lenet5", self.input_channels, exact=self.input_size)
        return self.classifier(self.flatten(self.features(x)))


def lenet5(num_classes=10, activation="tanh", pooling="avg"):
    """LeNet-5 (see :class:`LeNet5`): 61,706 parameters with the defaults."""
    return LeNet5(num_classes=num_classes, activation=activation, pooling=pooling)
