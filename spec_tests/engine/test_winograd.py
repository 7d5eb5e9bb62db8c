"""Winograd F(2x2, 3x3): the filter transforms as GEMMs, and float32 accuracy."""

import numpy as np
import pytest

from minigrad.backend import cpu_conv
from minigrad.backend.cpu_conv_winograd import _G, _filter_grad, _filter_transform
from minigrad.backend.threads import kernel_call


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_filter_transform_is_g_g_gt_for_every_filter(dtype):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 7, 3, 3)).astype(dtype)
    with kernel_call():
        u = _filter_transform(w)
    want = np.einsum("ui,kcij,qj->uqkc", _G, w.astype(np.float64), _G).reshape(16, 5, 7)
    assert u.dtype == dtype
    np.testing.assert_allclose(u, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_filter_grad_is_gt_du_g(dtype):
    rng = np.random.default_rng(1)
    du = rng.standard_normal((16, 4, 6)).astype(dtype)
    with kernel_call():
        gw = _filter_grad(du)
    want = np.einsum("ui,uqkc,qj->kcij", _G, du.astype(np.float64).reshape(4, 4, 4, 6), _G)
    assert gw.dtype == dtype and gw.shape == (4, 6, 3, 3)
    np.testing.assert_allclose(gw, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("channels", [16, 128])
def test_float32_within_torch_testings_default_tolerance(channels):
    """The transforms add rounding; F(2x2, 3x3)'s stays within rtol 1.3e-6, atol 1e-5
    (torch.testing's float32 default) of the exact result. F(4x4, 3x3) did not (2-4e-5)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, channels, 14, 14)).astype(np.float32)
    w = (rng.standard_normal((channels, channels, 3, 3)) / np.sqrt(9 * channels)).astype(np.float32)
    gy = rng.standard_normal((2, channels, 14, 14)).astype(np.float32)
    x64, w64, gy64 = (a.astype(np.float64) for a in (x, w, gy))
    y = cpu_conv.conv2d_forward(x, w, None, (1, 1), (1, 1, 1, 1))
    np.testing.assert_allclose(y, cpu_conv.conv2d_forward(x64, w64, None, (1, 1), (1, 1, 1, 1)), rtol=1.3e-6, atol=1e-5)
    gx, gw, _ = cpu_conv.conv2d_backward(gy, x, w, (1, 1), (1, 1, 1, 1), (True, True, False))
    gx64, gw64, _ = cpu_conv.conv2d_backward(gy64, x64, w64, (1, 1), (1, 1, 1, 1), (True, True, False))
    np.testing.assert_allclose(gx, gx64, rtol=1.3e-6, atol=1e-5)
    np.testing.assert_allclose(gw, gw64, rtol=1.3e-6, atol=1e-5 * np.abs(gw64).max())
