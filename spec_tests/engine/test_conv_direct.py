"""conv2d's direct path (cpu_conv_direct) against the window-loop references.

The images are small, so the bar on output pixels is lowered; each case checks that
the direct kernels really ran. Sizes are chosen for the kernels' edges: output widths
that leave 1 or 2 pixels after the 3-pixel tiles, filter counts that leave a partial
block of 4, channel counts that leave a partial block of 3 in dW.
"""

import numpy as np
import pytest

from minigrad.backend import cpu_conv, cpu_conv_direct

from test_kernels import _check_conv


@pytest.fixture
def direct_calls(spy, monkeypatch):
    monkeypatch.setattr(cpu_conv_direct, "MIN_OUTPUTS", 1)
    monkeypatch.setattr(cpu_conv_direct, "MIN_CHANNELS", 1)
    return spy(cpu_conv, "forward_direct", 1), spy(cpu_conv, "weight_grad_direct", 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, stride, pad", [
    ((2, 32, 9, 10), (10, 32, 5, 5), (1, 1), (2, 2, 2, 2)),   # 10 filters: a partial block of 2
    ((3, 29, 8, 7), (8, 29, 5, 5), (1, 1), (1, 0, 2, 1)),     # 29 channels (dW's partial block), asymmetric padding
    ((1, 48, 6, 11), (9, 48, 3, 3), (1, 1), (0, 0, 0, 0)),    # no padding, widths 9 = 3 tiles exactly
    ((2, 48, 11, 12), (8, 48, 3, 3), (2, 2), (1, 1, 1, 1)),   # stride 2: forward direct, dW elsewhere
    ((2, 32, 10, 13), (8, 32, 3, 5), (1, 2), (1, 2, 0, 3)),   # rectangular filter, strides 1 and 2
])
def test_conv2d_direct_path(x_shape, w_shape, stride, pad, dtype, direct_calls):
    forward, weight_grad = direct_calls
    _check_conv(x_shape, w_shape, stride, pad, dtype, seed=11)
    assert forward, "the direct forward did not run"
    assert bool(weight_grad) == (stride == (1, 1)), "dW took the wrong path"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, stride, pad", [
    ((2, 16, 9, 10), (10, 16, 5, 5), (1, 1), (2, 2, 2, 2)),   # column slots of 80: no zero slots
    ((2, 12, 13, 11), (8, 12, 5, 5), (2, 1), (0, 1, 2, 0)),   # slots of 60 rounded to 64, stride 2 down
    ((3, 11, 7, 8), (9, 11, 3, 9), (1, 1), (1, 1, 4, 4)),     # a wide filter, slots of 33 rounded to 40
    ((2, 6, 14, 14), (16, 6, 5, 5), (1, 1), (0, 0, 0, 0)),    # LeNet-5's second conv: slots of 30 -> 32
])
def test_conv2d_direct_windows_with_zero_slots(x_shape, w_shape, stride, pad, dtype, direct_calls, monkeypatch):
    """Column slots rounded up to whole vectors: the zeros in the filter must meet zeros."""
    monkeypatch.setattr(cpu_conv_direct, "MIN_WINDOW", 1)
    _check_conv(x_shape, w_shape, stride, pad, dtype, seed=12)
    assert direct_calls[0]


def test_conv2d_direct_filter_groups(direct_calls, monkeypatch):
    """Large filter banks are split into groups, one task per group and row: every group
    size (a partial last group, groups of a partial block of 4) must give the same y."""
    for group_bytes in (1, 700, 1 << 30):
        monkeypatch.setattr(cpu_conv_direct, "GROUP_BYTES", group_bytes)
        _check_conv((1, 64, 5, 5), (18, 64, 3, 3), (2, 2), (1, 1, 1, 1), np.float32, seed=13)
    assert len(direct_calls[0]) == 3


def test_direct_applies_only_where_it_was_measured_faster():
    def applies(w_shape, x_shape, h_o, w_o):
        return cpu_conv_direct.direct_applies(w_shape, x_shape, h_o, w_o)

    assert applies((32, 192, 5, 5), (16, 192, 28, 28), 28, 28)       # the course's 5 x 5 inception branch
    assert applies((128, 64, 3, 3), (16, 64, 56, 56), 28, 28)        # a ResNet stride-2 conv
    assert applies((32, 16, 5, 5), (16, 16, 28, 28), 28, 28)         # windows of 400
    assert applies((16, 16, 3, 3), (16, 16, 32, 32), 32, 32)         # windows of 144, 16 channels
    assert not applies((16, 6, 5, 5), (64, 6, 14, 14), 10, 10)       # LeNet-5's second conv: 6 channels
    assert not applies((16, 12, 3, 3), (16, 12, 32, 32), 32, 32)     # windows of 108
    assert not applies((6, 16, 5, 5), (64, 16, 10, 10), 14, 14)      # its dx as a conv: 6 filters
    assert not applies((512, 512, 3, 3), (1, 512, 7, 7), 7, 7)       # 49 outputs: setup outweighs the gain
    assert not applies((64, 64, 1, 1), (8, 64, 56, 56), 56, 56)      # 1 x 1 has its own path


@pytest.mark.parametrize("n_ch", [48, 6])   # column slots of 144, and of 18 rounded up to 24
@pytest.mark.parametrize("fill", [np.nan, np.inf])
def test_conv2d_direct_keeps_nan_and_inf(fill, n_ch, direct_calls, monkeypatch):
    """No fast-math flags that assume finite numbers: a NaN or inf in x reaches y as in
    PyTorch, and only the outputs whose window covers it (the zero slots stay zero)."""
    monkeypatch.setattr(cpu_conv_direct, "MIN_WINDOW", 1)
    rng = np.random.default_rng(14)
    x = rng.standard_normal((1, n_ch, 8, 8)).astype(np.float32)
    w = rng.standard_normal((8, n_ch, 3, 3)).astype(np.float32)
    x[0, 3, 4, 4] = fill
    y = cpu_conv.conv2d_forward(x, w, None, (1, 1), (1, 1, 1, 1))
    assert direct_calls[0]
    touched = np.zeros((8, 8), bool)
    touched[3:6, 3:6] = True  # the outputs whose 3 x 3 window covers (4, 4)
    assert not np.isfinite(y[0][:, touched]).any()
    assert np.isfinite(y[0][:, ~touched]).all()


def test_winograd_keeps_the_wide_layers_and_leaves_the_rest_to_the_direct_path():
    def winograd(c_out, n_ch, n_img, size):
        w = np.empty((c_out, n_ch, 3, 3), np.int8)
        return cpu_conv._winograd(w, (1, 1), (n_img, n_ch, size, size), size, size)

    assert winograd(128, 128, 16, 28)        # 3136 tiles, 128 channels: Winograd measured faster
    assert winograd(64, 64, 8, 56)           # 6272 tiles, 64 channels: Winograd too, in blocks
    assert not winograd(32, 32, 16, 56)      # 32 channels: the direct path (a tie, measured)
    assert not winograd(512, 512, 4, 14)     # 196 tiles: direct measured faster
    assert not winograd(16, 16, 8, 56)       # 16 channels: direct (windows of 144)
    assert not winograd(16, 16, 1, 14)       # 49 tiles: under MIN_TILES, a GEMM path
    assert not winograd(256, 256, 8, 4)      # ResNet-18's layer3 at 64 x 64: 32 tiles, im2col
