"""The fused activation gradients of the CPU backend against the chain rule in numpy."""

import numpy as np
import pytest

from minigrad.backend import cpu


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 4), (64, 6, 28, 28)])  # the calling thread; the parallel kernel
def test_tanh_and_sigmoid_backward(shape, dtype):
    rng = np.random.default_rng(0)
    g = rng.standard_normal(shape).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-14)
    y = np.tanh(x)
    got = cpu.tanh_backward(g, y)
    assert got.dtype == dtype and got.shape == shape
    np.testing.assert_allclose(got, g * (1 - y * y), **tol)
    s = 1 / (1 + np.exp(-x))
    got = cpu.sigmoid_backward(g, s)
    assert got.dtype == dtype and got.shape == shape
    np.testing.assert_allclose(got, g * s * (1 - s), **tol)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(1)
    g = rng.standard_normal((300, 400)).T
    y = np.tanh(rng.standard_normal((400, 300)))
    np.testing.assert_allclose(cpu.tanh_backward(g, y), g * (1 - y * y), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("shape", [(3, 4), (64, 6, 28, 28)])
def test_relu_backward_zero_at_zero_and_nan(shape):
    rng = np.random.default_rng(2)
    g = rng.standard_normal(shape).astype(np.float32)
    y = np.maximum(rng.standard_normal(shape), 0).astype(np.float32)
    y.flat[:3] = [0.0, np.nan, 2.0]
    got = cpu.relu_backward(g, y)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.where(y > 0, g, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, split", [((3, 4), False), ((64, 6, 28, 28), True), ((301, 257), True)])
def test_tanh_forward_split_over_the_threads_gives_numpys_numbers(shape, split, dtype, monkeypatch):
    from minigrad.backend import threads

    calls = []
    real = threads.run_parts
    monkeypatch.setattr(threads, "run_parts", lambda fn, parts: (calls.append(parts), real(fn, parts)))
    monkeypatch.setattr(threads, "worker_count", lambda: 3)   # an odd count: uneven pieces
    rng = np.random.default_rng(3)
    x = (4 * rng.standard_normal(shape)).astype(dtype)
    x.flat[:3] = [np.nan, np.inf, -np.inf]
    for a in (x, x.T):                                  # contiguous, and a transposed view
        got = cpu.tanh(a)
        assert got.dtype == dtype and got.shape == a.shape
        np.testing.assert_array_equal(got, np.tanh(a))  # the same numbers, bit for bit
    assert calls == ([3, 3] if split else [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, parallel", [((3, 4), False), ((64, 6, 28, 28), True), ((301, 257), True)])
def test_relu_forward_in_one_parallel_pass_gives_numpys_numbers(shape, parallel, dtype, monkeypatch):
    from minigrad.backend import cpu_activation

    calls = []
    real = cpu_activation._relu
    monkeypatch.setattr(cpu_activation, "_relu", lambda *args: (calls.append(1), real(*args)))
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[:5] = [np.nan, np.inf, -np.inf, -0.0, 0.0]
    for a in (x, x.T):                                  # contiguous, and a transposed view
        got = cpu.relu(a)
        expected = np.maximum(a, dtype(0))
        assert got.dtype == dtype and got.shape == a.shape
        np.testing.assert_array_equal(got, expected)    # NaN where numpy has NaN
        np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))   # -0 -> 0, as numpy
    assert len(calls) == (2 if parallel else 0)
