"""AlexNet in torchvision's layout (its single-GPU variant): 61,100,840 parameters.

Layers (course notation: f filter, s stride, p padding; sizes for a 3x224x224 input):

    features.0   conv 64 filters  f=11 s=4 p=2  ->  64x55x55
    features.2   max pool f=3 s=2                ->  64x27x27
    features.3   conv 192, f=5 p=2 (same)        -> 192x27x27
    features.5   max pool f=3 s=2                -> 192x13x13
    features.6   conv 384, f=3 p=1               -> 384x13x13
    features.8   conv 256, f=3 p=1               -> 256x13x13
    features.10  conv 256, f=3 p=1               -> 256x13x13
    features.12  max pool f=3 s=2                -> 256x6x6
    avgpool      adaptive average pool to 6x6    -> 256x6x6  (9,216 features)
    classifier.1 FC 9216 -> 4096, classifier.4 FC 4096 -> 4096, classifier.6 FC 4096 -> num_classes
    (ReLU after every conv and hidden FC; dropout p=0.5 before the first two FC layers)

Every key of torchvision's ``alexnet().state_dict()`` exists here with the same shape
(e.g. ``features.0.weight`` (64, 3, 11, 11), ``classifier.1.weight`` (4096, 9216)).
"""

from minigrad import nn

from ._checks import check_image


class AlexNet(nn.Module):
    """AlexNet (torchvision's layout and key names).

    Args:
        num_classes: size of the output layer (1000 by default).
        dropout: dropout probability before the first two FC layers (0.5).

    Shape:
        Input (N, 3, H, W) with H, W >= 63; 3x224x224 is the usual size. Each layer gives
        floor((n + 2p - f) / s) + 1 (224 -> 55 -> 27 -> 27 -> 13 -> 13 -> 6); 63 is the smallest
        n whose third pool still has one output (63 -> 15 -> 7 -> 3 -> 1), and the adaptive
        average pool then maps any size to 6x6. Output (N, num_classes) logits.
    """

    input_channels = 3
    min_input_size = 63

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        check_image(x, "alexnet", self.input_channels, minimum=self.min_input_size)
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


def alexnet(num_classes=1000):
    """AlexNet (see :class:`AlexNet`): 61,100,840 parameters with 1000 classes."""
    return AlexNet(num_classes=num_classes)
