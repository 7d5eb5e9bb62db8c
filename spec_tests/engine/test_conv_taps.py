"""conv2d's tap path (cpu_conv_taps) against the window-loop references.

Sizes are chosen for the kernel's edges: odd filter counts (the last pair repeats its
filter), tap counts that leave 1-3 taps after the groups of 4, runs longer than one
chunk, asymmetric padding, and unpadded inputs, which the kernel reads in place (the
last image's run must not be rounded past the end of x).
"""

import numpy as np
import pytest

from minigrad.backend import cpu_conv, cpu_conv_taps

from test_kernels import _check_conv


@pytest.fixture
def taps_calls(spy):
    return spy(cpu_conv, "forward_taps", 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, pad", [
    ((3, 1, 12, 12), (6, 1, 5, 5), (0, 0, 0, 0)),     # LeNet-5's first conv, small: 25 taps = 6 groups + 1
    ((2, 6, 14, 14), (16, 6, 5, 5), (0, 0, 0, 0)),    # LeNet-5's second conv: 150 taps = 37 groups + 2
    ((2, 3, 9, 11), (5, 3, 3, 3), (1, 1, 1, 1)),      # 5 filters: the last pair repeats filter 4
    ((2, 2, 7, 8), (3, 2, 3, 2), (2, 0, 1, 2)),       # rectangular filter, asymmetric padding
    ((1, 2, 48, 48), (4, 2, 5, 5), (2, 2, 2, 2)),     # runs of 2492: three chunks of 1024
    ((2, 1, 40, 37), (7, 1, 3, 3), (0, 0, 0, 0)),     # unpadded, three chunks, last one cut at x's end
])
def test_conv2d_taps_path(x_shape, w_shape, pad, dtype, taps_calls):
    _check_conv(x_shape, w_shape, (1, 1), pad, dtype, seed=21)
    assert taps_calls and taps_calls[0] == x_shape, "the tap path did not run the forward pass"


@pytest.mark.parametrize("fill", [np.nan, np.inf])
@pytest.mark.parametrize("pad", [(0, 0, 0, 0), (1, 1, 1, 1)])
def test_conv2d_taps_keeps_nan_and_inf_in_their_windows(fill, pad, taps_calls):
    """A NaN or inf reaches exactly the outputs whose window covers it, as in PyTorch. The
    wrapped-around columns and the rounded run past a plane's end (read from the next
    image when x is read in place) are computed too, but must never be stored."""
    rng = np.random.default_rng(22)
    x = rng.standard_normal((3, 2, 9, 9)).astype(np.float32)
    w = rng.standard_normal((5, 2, 3, 3)).astype(np.float32)
    x[1, 1, 0, 0] = fill   # the first number of image 1: right after image 0's last run
    x[2, 0, 4, 4] = fill
    y = cpu_conv.conv2d_forward(x, w, None, (1, 1), pad)
    assert taps_calls
    p = pad[0]
    touched = np.zeros(y.shape, bool)
    for n, (r, c) in ((1, (0, 0)), (2, (4, 4))):
        # Outputs (h, w) whose window rows h..h+2, columns w..w+2 (padded grid) cover (r + p, c + p).
        touched[n, :, max(0, r + p - 2):r + p + 1, max(0, c + p - 2):c + p + 1] = True
    assert not np.isfinite(y[touched]).any()
    assert np.isfinite(y[~touched]).all()


def test_taps_takes_the_few_channel_layers_it_was_measured_faster_on():
    def taps(x_shape, w_shape, pad=(0, 0, 0, 0), stride=(1, 1)):
        x, w = np.empty(x_shape, np.float32), np.empty(w_shape, np.float32)
        return cpu_conv._taps(x, w, stride, pad)

    assert taps((64, 1, 32, 32), (6, 1, 5, 5))                      # LeNet-5, conv 1
    assert taps((64, 6, 14, 14), (16, 6, 5, 5))                     # LeNet-5, conv 2
    assert taps((1, 3, 128, 128), (64, 3, 3, 3), (1, 1, 1, 1))      # the style workload's first conv
    assert taps((2, 3, 64, 64), (64, 3, 7, 7), (3, 3, 3, 3))        # 147 taps, per-image does not apply
    assert not taps((8, 6, 32, 32), (64, 6, 5, 5))                  # 9600 weights: the per-image GEMMs
    assert not taps((4, 8, 64, 64), (16, 8, 3, 3), (1, 1, 1, 1))    # 8 channels
    assert not taps((1, 3, 224, 224), (64, 3, 3, 3), (1, 1, 1, 1))  # a 153k-number padded image
    assert not taps((64, 1, 32, 32), (6, 1, 5, 5), stride=(2, 2))   # stride 2
    assert not taps((64, 3, 32, 32), (6, 3, 1, 1))                  # 1 x 1 has its own path


def test_taps_path_off_switch_gives_the_same_forward(monkeypatch):
    """The A/B switch the benchmarks use: off, the per-image path takes the layer."""
    rng = np.random.default_rng(23)
    x = rng.standard_normal((4, 6, 14, 14)).astype(np.float32)
    w = rng.standard_normal((16, 6, 5, 5)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    on = cpu_conv.conv2d_forward(x, w, b, (1, 1), (0, 0, 0, 0))
    monkeypatch.setattr(cpu_conv, "TAPS", False)
    off = cpu_conv.conv2d_forward(x, w, b, (1, 1), (0, 0, 0, 0))
    np.testing.assert_allclose(on, off, rtol=1e-4, atol=1e-4)
    assert cpu_conv_taps.MAX_CHANNELS == 8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_windows_in_the_tap_region_take_the_direct_forward_kernel(dtype, spy):
    """LeNet-5's second conv (windows of 150 numbers, 6 channels): the forward pass runs on
    the direct path's dot products, dx and dW stay on the per-image GEMMs."""
    direct, taps = spy(cpu_conv, "forward_direct", 0), spy(cpu_conv, "forward_taps", 0)
    per_image, direct_dw = spy(cpu_conv, "backward_groups", 0), spy(cpu_conv, "weight_grad_direct", 1)
    _check_conv((3, 6, 14, 14), (16, 6, 5, 5), (1, 1), (0, 0, 0, 0), dtype, seed=24)   # 300 outputs
    assert direct == [(3, 6, 14, 14)] and not taps
    assert per_image and not direct_dw
