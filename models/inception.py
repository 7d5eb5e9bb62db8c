"""The Inception module: 1x1, 3x3, 5x5 and max-pool branches side by side, concatenated.

The course's motivation (M2.09-M2.11): instead of choosing a filter size, apply them
all with same padding (p = (f - 1)/2, so every branch keeps n x n) and stack the
outputs along the channels. A 5x5 conv straight from 28x28x192 to 28x28x32 costs
28*28*32*5*5*192 = 120,422,400 multiplies; a 1x1 "bottleneck" to 16 channels first
costs 28*28*16*1*1*192 = 2,408,448 plus 28*28*32*5*5*16 = 10,035,200, together
12,443,648: ten times fewer. ``models.summary`` counts these multiplies per layer.

Key names follow torchvision's ``Inception`` block: ``branch1`` (1x1), ``branch2``
(1x1 reduce, then 3x3), ``branch3`` (1x1 reduce, then the "5x5"), ``branch4`` (max pool,
then 1x1 projection); each conv is a :class:`BasicConv2d` with ``conv`` and ``bn``.
"""

import minigrad as mg
from minigrad import nn


class BasicConv2d(nn.Module):
    """Conv, batch norm, ReLU: torchvision's ``BasicConv2d`` (conv without bias, BN eps=0.001).

    Args:
        in_channels, out_channels: n_c and n_c'.
        kernel_size: f; stride: s; padding: p.
        batch_norm: True (torchvision's) for conv(bias=False) + BatchNorm2d(eps=0.001);
            False for the course's plain conv with bias, then ReLU.

    Shape:
        (N, n_c, n, n) -> (N, n_c', n', n') with n' = floor((n + 2p - f) / s) + 1.
        Parameters: f*f*n_c*n_c' + 2*n_c' with batch norm, (f*f*n_c + 1)*n_c' without.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, batch_norm=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=not batch_norm)
        if batch_norm:
            self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.batch_norm = batch_norm
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.conv(x)
        if self.batch_norm:
            x = self.bn(x)
        return self.relu(x)


def _conv_branch(in_c, reduce_c, out_c, f, batch_norm):
    """An optional 1x1 bottleneck to reduce_c channels, then an f x f same conv to out_c."""
    layers = []
    if reduce_c is not None:
        layers.append(BasicConv2d(in_c, reduce_c, 1, batch_norm=batch_norm))
        in_c = reduce_c
    layers.append(BasicConv2d(in_c, out_c, f, padding=(f - 1) // 2, batch_norm=batch_norm))
    return nn.Sequential(*layers)


class InceptionModule(nn.Module):
    """One Inception block: four branches with same padding, concatenated along channels.

    Args (in torchvision's order):
        in_channels: n_c of the input.
        ch1x1: filters of the 1x1 branch.
        ch3x3red, ch3x3: 1x1 bottleneck channels (None: no bottleneck) and 3x3 filters.
        ch5x5red, ch5x5: 1x1 bottleneck channels (None: no bottleneck) and filters of the
            large branch, whose filter size is ``kernel_5x5`` (5 as in the course and the
            paper; torchvision's GoogLeNet uses 3 there, see :func:`models.googlenet`).
        pool_proj: 1x1 projection after the 3x3, s=1, p=1 max pool (None: the pool's
            n_c channels pass through unchanged, as in the course's naive module).
        kernel_5x5: filter size f of the large branch (odd, so that p = (f - 1)/2 is same).
        batch_norm: BasicConv2d with batch norm (True, torchvision's) or plain conv + bias.

    Shape:
        (N, n_c, n, n) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, n, n): every branch uses
        same padding, floor((n + 2(f - 1)/2 - f) / 1) + 1 = n.
        E.g. 192x28x28 with (64, 96, 128, 16, 32, 32) gives 256x28x28.
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                 kernel_5x5=5, batch_norm=True):
        super().__init__()
        if kernel_5x5 % 2 != 1:
            raise ValueError(f"kernel_5x5 must be odd for same padding, got {kernel_5x5}")
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, batch_norm=batch_norm)
        self.branch2 = _conv_branch(in_channels, ch3x3red, ch3x3, 3, batch_norm)
        self.branch3 = _conv_branch(in_channels, ch5x5red, ch5x5, kernel_5x5, batch_norm)
        pool = [nn.MaxPool2d(3, 1, 1)]
        if pool_proj is not None:
            pool.append(BasicConv2d(in_channels, pool_proj, 1, batch_norm=batch_norm))
        self.branch4 = nn.Sequential(*pool)
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + (in_channels if pool_proj is None else pool_proj)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"InceptionModule expects input of shape (N, {self.in_channels}, H, W); "
                             f"got {tuple(x.shape)}")
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return mg.cat(branches, 1)
