"""PyTorch mirrors of the model zoo's benchmarked networks, layer for layer (torchvision is not required).

Each builder returns a torch.nn.Module with the same layers, shapes and order as
the minigrad model of the same name in ``models/`` (torchvision's layout), so the
two engines do the same arithmetic. Imported only when torch is installed.
"""

import torch
from torch import nn

# The same layer list as minigrad's VGG-16, so the PyTorch peer mirrors it by construction.
from models.vgg import VGG16_CONFIG


def lenet5(num_classes=10):
    """LeNet-5 as ``models.lenet5()``: tanh activations and 2x2 average pools on 1x32x32."""
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2, 2),
                      nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2, 2)),
        nn.Flatten(),
        nn.Sequential(nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes)),
    )


def vgg16_features(config=VGG16_CONFIG):
    layers, in_c = [], 3
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_c, v, 3, padding=1), nn.ReLU()]
            in_c = v
    return nn.Sequential(*layers)


def vgg16(num_classes=1000):
    """VGG-16 (configuration D) as ``models.vgg16()``."""
    return nn.Sequential(
        vgg16_features(), nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(),
        nn.Sequential(nn.Linear(512 * 49, 4096), nn.ReLU(), nn.Dropout(0.5),
                      nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, num_classes)),
    )


def _conv_bn(in_c, out_c, f, s=1):
    return nn.Conv2d(in_c, out_c, f, s, (f - 1) // 2, bias=False), nn.BatchNorm2d(out_c)


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), as ``models.BasicBlock``."""

    expansion = 1

    def __init__(self, in_c, c, stride=1):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(in_c, c, 3, stride)
        self.conv2, self.bn2 = _conv_bn(c, c, 3)
        self.relu = nn.ReLU()
        self.downsample = nn.Sequential(*_conv_bn(in_c, c, 1, stride)) if stride != 1 or in_c != c else None

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (with the stride: ResNet v1.5), 1x1 expand by 4, as ``models.Bottleneck``."""

    expansion = 4

    def __init__(self, in_c, c, stride=1):
        super().__init__()
        out_c = c * 4
        self.conv1, self.bn1 = _conv_bn(in_c, c, 1)
        self.conv2, self.bn2 = _conv_bn(c, c, 3, stride)
        self.conv3, self.bn3 = _conv_bn(c, out_c, 1)
        self.relu = nn.ReLU()
        self.downsample = nn.Sequential(*_conv_bn(in_c, out_c, 1, stride)) if stride != 1 or in_c != out_c else None

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_c, stages = 64, []
        for i, (c, n) in enumerate(zip((64, 128, 256, 512), layers)):
            blocks = []
            for k in range(n):
                blocks.append(block(in_c, c, 2 if (k == 0 and i > 0) else 1))
                in_c = c * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_c, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes=1000):
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet50(num_classes=1000):
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)
