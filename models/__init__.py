"""The model zoo: LeNet-5, AlexNet, VGG-16/19, ResNet-18/34/50, GoogLeNet, and summary().

The ImageNet models match torchvision's layer names and shapes key for key (see
``models.torchvision_compat``); ``summary(model, input_shape)`` tabulates output
shapes, parameters and the course's multiply counts layer by layer.
"""

from .alexnet import AlexNet, alexnet
from .googlenet import GoogLeNet, googlenet
from .inception import BasicConv2d, InceptionModule
from .lenet import LeNet5, lenet5
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50
from .summary import Summary, SummaryRow, summary
from .torchvision_compat import from_torchvision
from . import weights
from .vgg import VGG, vgg16, vgg19

__all__ = [
    "lenet5", "alexnet", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "googlenet", "summary",
    "BasicBlock", "Bottleneck", "InceptionModule",
    "BasicConv2d", "LeNet5", "AlexNet", "VGG", "ResNet", "GoogLeNet", "Summary", "SummaryRow",
    "from_torchvision", "weights",
]
