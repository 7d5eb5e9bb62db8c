"""Layers and models as Modules, PyTorch-style: nn.Conv2d, nn.Linear, nn.Sequential, ..."""

from . import init
from .containers import ModuleList, Sequential
from .layers import (
    AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Identity, Linear,
    LogSoftmax, MaxPool2d, ReLU, Sigmoid, Softmax, Tanh,
)
from .module import Module
from .parameter import Parameter

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "Conv2d", "Linear", "MaxPool2d", "AvgPool2d",
    "AdaptiveAvgPool2d", "BatchNorm2d", "BatchNorm1d", "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "Flatten", "Dropout", "Identity", "init",
]
