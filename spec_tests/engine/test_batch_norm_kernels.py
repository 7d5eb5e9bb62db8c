"""The backends' fused batch-norm passes against the formulas, written out in numpy."""

import numpy as np
import pytest

from minigrad.backend import cpu


def reference(grad, x_hat, inv_std, weight, training):
    dims = (0,) + tuple(range(2, grad.ndim))
    stat = (1, grad.shape[1]) + (1,) * (grad.ndim - 2)
    g = grad.astype(np.float64)
    w = np.ones(stat) if weight is None else weight.reshape(stat).astype(np.float64)
    g_hat = g * w
    if training:
        g_hat = g_hat - g_hat.mean(axis=dims, keepdims=True) - x_hat * (g_hat * x_hat).mean(axis=dims, keepdims=True)
    return g_hat * inv_std.reshape(stat), (g * x_hat).sum(axis=dims), g.sum(axis=dims)


def _case(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    channels = shape[1]
    grad = rng.standard_normal(shape).astype(dtype)
    x_hat = rng.standard_normal(shape).astype(dtype)
    inv_std = rng.uniform(0.5, 2.0, (1, channels) + (1,) * (len(shape) - 2)).astype(dtype)
    weight = rng.standard_normal(channels).astype(dtype)
    return grad, x_hat, inv_std, weight


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 7), (8, 16, 9, 10)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("with_weight", [True, False])
def test_cpu_batch_norm_grads(shape, dtype, training, with_weight):
    grad, x_hat, inv_std, weight = _case(shape, dtype, seed=len(shape))
    weight = weight if with_weight else None
    got = cpu.batch_norm_grads(grad, x_hat, inv_std, weight, training)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for g, want in zip(got, reference(grad, x_hat, inv_std, weight, training)):
        assert g.dtype == dtype and g.shape == want.shape
        np.testing.assert_allclose(g, want, **tol)


@pytest.mark.cuda
@pytest.mark.parametrize("training", [True, False])
def test_cuda_batch_norm_grads_match(training):
    from minigrad.backend import cuda as B

    grad, x_hat, inv_std, weight = _case((2, 3, 2, 2), np.float64, seed=9)
    got = B.batch_norm_grads(*(B.asarray(a) for a in (grad, x_hat, inv_std, weight)), training)
    for g, want in zip(got, reference(grad, x_hat, inv_std, weight, training)):
        np.testing.assert_allclose(B.to_numpy(g), want, rtol=1e-12, atol=1e-12)


def forward_reference(x, mean, var, weight, bias, eps, training):
    dims = (0,) + tuple(range(2, x.ndim))
    stat = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    x64 = x.astype(np.float64)
    if training:
        mean, var = x64.mean(axis=dims), x64.var(axis=dims)
    inv_std = 1 / np.sqrt(var.astype(np.float64) + eps)
    x_hat = (x64 - mean.reshape(stat)) * inv_std.reshape(stat)
    w = np.ones(x.shape[1]) if weight is None else weight
    b = np.zeros(x.shape[1]) if bias is None else bias
    return x_hat * w.reshape(stat) + b.reshape(stat), x_hat, inv_std, mean, var


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 7), (8, 16, 9, 10)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_cpu_batch_norm_forward(shape, dtype, training, affine):
    rng = np.random.default_rng(3)
    channels = shape[1]
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    running_mean = rng.standard_normal(channels).astype(np.float32)  # float32 stats beside float64 x
    running_var = rng.uniform(0.5, 2, channels).astype(np.float32)
    weight = rng.standard_normal(channels).astype(dtype) if affine else None
    bias = rng.standard_normal(channels).astype(dtype) if affine else None
    got = cpu.batch_norm_forward(x, None if training else running_mean, None if training else running_var,
                                 weight, bias, 1e-5, training)
    want = forward_reference(x, running_mean, running_var, weight, bias, 1e-5, training)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for g, w in zip(got, want):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, w.reshape(g.shape), **tol)


@pytest.mark.cuda
@pytest.mark.parametrize("training", [True, False])
def test_cuda_batch_norm_forward_matches(training):
    from minigrad.backend import cuda as B

    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 2, 2))
    mean, var, weight, bias = rng.standard_normal(3), rng.uniform(0.5, 2, 3), rng.standard_normal(3), rng.standard_normal(3)
    got = B.batch_norm_forward(*(B.asarray(a) for a in (x, mean, var, weight, bias)), 1e-5, training)
    for g, w in zip(got, forward_reference(x, mean, var, weight, bias, 1e-5, training)):
        np.testing.assert_allclose(B.to_numpy(g), w.reshape(g.shape), rtol=1e-12, atol=1e-12)
