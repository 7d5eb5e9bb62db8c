"""GoogLeNet (Inception v1) in torchvision's layout, without the auxiliary heads: 6,624,904 parameters.

Sizes for a 3x224x224 input (course notation: f filter, s stride, p padding):

    conv1        BasicConv2d 64, f=7 s=2 p=3     ->   64x112x112
    maxpool1     max pool f=3 s=2 (ceil mode)    ->   64x56x56
    conv2, conv3 BasicConv2d 64 f=1; 192 f=3 p=1 ->  192x56x56
    maxpool2     max pool f=3 s=2 (ceil mode)    ->  192x28x28
    inception3a, 3b                              ->  256x28x28, 480x28x28
    maxpool3     max pool f=3 s=2 (ceil mode)    ->  480x14x14
    inception4a ... 4e                           ->  512, 512, 512, 528, 832 x14x14
    maxpool4     max pool f=2 s=2 (ceil mode)    ->  832x7x7
    inception5a, 5b                              ->  832x7x7, 1024x7x7
    avgpool      adaptive average pool to 1x1; dropout p=0.2; fc 1024 -> num_classes

Note: torchvision's GoogLeNet (and so this one) uses a 3x3 conv in the branch that the
paper and the course call the 5x5 branch (``branch3``); :class:`InceptionModule` takes
``kernel_5x5=5`` for the course's version. The auxiliary classifiers (aux1, aux2) and
torchvision's ``transform_input`` are left out. Keys match torchvision's, e.g.
``conv1.conv.weight`` (64, 3, 7, 7), ``conv1.bn.running_var`` (64,),
``inception3a.branch3.1.conv.weight`` (32, 16, 3, 3), ``fc.weight`` (1000, 1024).
"""

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn

from ._checks import check_image, out_size
from .inception import BasicConv2d, InceptionModule


class CeilMaxPool2d(nn.Module):
    """Max pool with ceil mode: n' = ceil((n - f) / s) + 1 instead of the floor.

    Pads the right and bottom edges with the dtype's lowest value (never a window's
    maximum, since every window starts inside the input) so that the last, partial
    window is kept, then max-pools; equal to PyTorch's ``MaxPool2d(f, s, ceil_mode=True)``.

    Shape:
        (N, C, n_H, n_W) -> (N, C, ceil((n_H - f) / s) + 1, ceil((n_W - f) / s) + 1).
    """

    def __init__(self, kernel_size, stride):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def _pad(self, x, dim):
        n = x.shape[dim]
        extra = (out_size(n, self.kernel_size, self.stride, 0, ceil_mode=True) - 1) * self.stride \
            + self.kernel_size - n
        if extra <= 0:
            return x
        shape = list(x.shape)
        shape[dim] = extra
        low = mg.full(shape, float(np.finfo(x.dtype).min), dtype=x.dtype, device=x.device)
        return mg.cat([x, low], dim)

    def forward(self, x):
        x = self._pad(self._pad(x, 2), 3)
        return F.max_pool2d(x, self.kernel_size, self.stride)


def _min_input_size():
    """The smallest n for which every pool of the stem still fits its window."""
    for n in range(1, 512):
        m, ok = out_size(n, 7, 2, 3), True
        for f in (3, 3, 3, 2):            # maxpool1..3 (f=3) and maxpool4 (f=2), all s=2
            ok = ok and m >= f
            m = out_size(m, f, 2, 0, ceil_mode=True)
        if ok and m >= 1:
            return n
    raise AssertionError("unreachable")


class GoogLeNet(nn.Module):
    """GoogLeNet without auxiliary heads (torchvision's layout and key names).

    Args:
        num_classes: size of the output layer (1000 by default).
        dropout: dropout probability before the FC layer (0.2).

    Shape:
        Input (N, 3, H, W) with H, W >= 31 (3x224x224 usual): the stem conv gives
        floor((n + 2*3 - 7) / 2) + 1, each ceil-mode pool ceil((n - f) / s) + 1
        (224 -> 112 -> 56 -> 28 -> 14 -> 7); 31 is the smallest n for which maxpool4 still
        fits its 2x2 window. Output (N, num_classes) logits.
    """

    input_channels = 3
    min_input_size = _min_input_size()

    def __init__(self, num_classes=1000, dropout=0.2):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = CeilMaxPool2d(3, 2)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = CeilMaxPool2d(3, 2)
        self.inception3a = InceptionModule(192, 64, 96, 128, 16, 32, 32, kernel_5x5=3)
        self.inception3b = InceptionModule(256, 128, 128, 192, 32, 96, 64, kernel_5x5=3)
        self.maxpool3 = CeilMaxPool2d(3, 2)
        self.inception4a = InceptionModule(480, 192, 96, 208, 16, 48, 64, kernel_5x5=3)
        self.inception4b = InceptionModule(512, 160, 112, 224, 24, 64, 64, kernel_5x5=3)
        self.inception4c = InceptionModule(512, 128, 128, 256, 24, 64, 64, kernel_5x5=3)
        self.inception4d = InceptionModule(512, 112, 144, 288, 32, 64, 64, kernel_5x5=3)
        self.inception4e = InceptionModule(528, 256, 160, 320, 32, 128, 128, kernel_5x5=3)
        self.maxpool4 = CeilMaxPool2d(2, 2)
        self.inception5a = InceptionModule(832, 256, 160, 320, 32, 128, 128, kernel_5x5=3)
        self.inception5b = InceptionModule(832, 384, 192, 384, 48, 128, 128, kernel_5x5=3)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        check_image(x, "googlenet", self.input_channels, minimum=self.min_input_size)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for name in ("inception4a", "inception4b", "inception4c", "inception4d", "inception4e"):
            x = getattr(self, name)(x)
        x = self.inception5b(self.inception5a(self.maxpool4(x)))
        return self.fc(self.dropout(self.flatten(self.avgpool(x))))


def googlenet(num_classes=1000):
    """GoogLeNet (see :class:`GoogLeNet`): 6,624,904 parameters with 1000 classes."""
    return GoogLeNet(num_classes=num_classes)
