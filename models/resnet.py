"""Residual networks: BasicBlock, Bottleneck and ResNet-18/34/50 in torchvision's layout.

The course's residual block: the activation a[l] skips ahead and is added before the
last non-linearity, ``a[l+2] = g(z[l+2] + a[l])``. With W[l+2] = 0 and b[l+2] = 0 the
block computes g(a[l]) = a[l] for ReLU, so an extra block can always learn the identity.
When the block changes the shape (stride 2 or more channels) the shortcut is a 1x1
conv with the same stride followed by batch norm (``downsample``), as in torchvision.

Parameter totals with 1000 classes: resnet18 11,689,512; resnet34 21,797,672;
resnet50 25,557,032 (the ResNet "v1.5" variant: the stride sits on the 3x3 conv of a
Bottleneck). Keys and shapes match torchvision's, e.g. ``conv1.weight`` (64, 3, 7, 7),
``layer1.0.conv1.weight`` (64, 64, 3, 3), ``layer2.0.downsample.0.weight`` (128, 64, 1, 1),
``layer2.0.downsample.1.running_mean`` (128,), ``fc.weight`` (1000, 512) (resnet50:
(1000, 2048)).
"""

from minigrad import nn

from ._checks import check_image


def _conv_bn(in_c, out_c, f, s=1):
    """A bias-free f x f conv with same padding p = (f - 1) // 2, and its batch norm."""
    return nn.Conv2d(in_c, out_c, f, stride=s, padding=(f - 1) // 2, bias=False), nn.BatchNorm2d(out_c)


def _shortcut(in_c, out_c, stride):
    """The projection shortcut (1x1 conv + BN) when a block changes shape, else None."""
    if stride == 1 and in_c == out_c:
        return None
    conv, bn = _conv_bn(in_c, out_c, 1, stride)
    return nn.Sequential(conv, bn)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a skip connection: ``a[l+2] = relu(bn2(conv2(a[l+1])) + a[l])``.

    Args:
        in_channels: n_c of the input a[l].
        channels: n_c of both convs and of the output (expansion 1).
        stride: stride s of the first conv (and of the shortcut); 2 halves n.

    Shape:
        (N, in_channels, n, n) -> (N, channels, n', n') with
        n' = floor((n + 2*1 - 3) / s) + 1 (n for s=1, ceil(n/2) for s=2).
    """

    expansion = 1

    def __init__(self, in_channels, channels, stride=1):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(in_channels, channels, 3, stride)
        self.relu = nn.ReLU()
        self.conv2, self.bn2 = _conv_bn(channels, channels, 3)
        self.downsample = _shortcut(in_channels, channels, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), with a skip connection around the three.

    Args:
        in_channels: n_c of the input a[l].
        channels: n_c of the 1x1 and 3x3 convs; the output has 4 * channels.
        stride: stride s of the 3x3 conv (torchvision's v1.5 placement) and of the shortcut.

    Shape:
        (N, in_channels, n, n) -> (N, 4*channels, n', n') with n' = floor((n + 2 - 3) / s) + 1.
    """

    expansion = 4

    def __init__(self, in_channels, channels, stride=1):
        super().__init__()
        out_c = channels * self.expansion
        self.conv1, self.bn1 = _conv_bn(in_channels, channels, 1)
        self.conv2, self.bn2 = _conv_bn(channels, channels, 3, stride)
        self.conv3, self.bn3 = _conv_bn(channels, out_c, 1)
        self.relu = nn.ReLU()
        self.downsample = _shortcut(in_channels, out_c, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A ResNet: a 7x7 stem, four stages of residual blocks, global average pool, FC.

    Args:
        block: BasicBlock or Bottleneck.
        layers: blocks per stage, e.g. [2, 2, 2, 2] for ResNet-18.
        num_classes: size of the output layer (1000 by default).
        name: the name used in error messages.

    Shape:
        Input (N, 3, H, W), any H, W >= 1 (3x224x224 usual): the stem conv (f=7, s=2, p=3)
        and max pool (f=3, s=2, p=1) and the first block of stages 2-4 (s=2) each give
        floor((n + 2p - f) / s) + 1, never 0 (224 -> 112 -> 56 -> 56 -> 28 -> 14 -> 7);
        the adaptive average pool maps any size to 1x1. Output (N, num_classes).
    """

    input_channels = 3
    min_input_size = 1

    def __init__(self, block, layers, num_classes=1000, name="resnet"):
        super().__init__()
        self.name = name
        self.conv1, self.bn1 = _conv_bn(self.input_channels, 64, 7, 2)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_c = 64
        for i, (channels, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            stage = [block(in_c, channels, stride)]
            in_c = channels * block.expansion
            stage += [block(in_c, channels) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(in_c, num_classes)

    def forward(self, x):
        check_image(x, self.name, self.input_channels, minimum=self.min_input_size)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))


def resnet18(num_classes=1000):
    """ResNet-18: BasicBlock x [2, 2, 2, 2]; 11,689,512 parameters with 1000 classes."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, name="resnet18")


def resnet34(num_classes=1000):
    """ResNet-34: BasicBlock x [3, 4, 6, 3]; 21,797,672 parameters with 1000 classes."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, name="resnet34")


def resnet50(num_classes=1000):
    """ResNet-50: Bottleneck x [3, 4, 6, 3]; 25,557,032 parameters with 1000 classes."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, name="resnet50")
