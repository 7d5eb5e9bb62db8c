"""The CPU conv and pool kernels against slow, obviously-correct numpy loops over windows.

Each reference below pads explicitly and visits every output window in a Python
loop, so it shares no index arithmetic with the Numba kernels it checks. Shapes,
strides, paddings (asymmetric for conv) and dtypes are drawn by hypothesis.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigrad.backend import cpu_conv, cpu_conv_winograd, cpu_conv_workspace, cpu_pool
from minigrad.sizes import output_size
from minigrad.backend.threads import configure_threads, describe_threads, kernel_call

configure_threads()
FEW = settings(max_examples=30, deadline=None)
DTYPES = st.sampled_from([np.float32, np.float64])


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)


# ----- references ------------------------------------------------------------------
def conv_ref(x, w, b, stride, padding):
    (s_h, s_w), (p_t, p_b, p_l, p_r) = stride, padding
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p_t, p_b), (p_l, p_r)))
    f_h, f_w = w.shape[2:]
    h_o = (xp.shape[2] - f_h) // s_h + 1
    w_o = (xp.shape[3] - f_w) // s_w + 1
    y = np.zeros((x.shape[0], w.shape[0], h_o, w_o))
    for oh in range(h_o):
        for ow in range(w_o):
            win = xp[:, :, oh * s_h:oh * s_h + f_h, ow * s_w:ow * s_w + f_w]
            y[:, :, oh, ow] = np.einsum("nchw,kchw->nk", win, w)
    if b is not None:
        y += b[None, :, None, None]
    return y


def conv_grads_ref(gy, x, w, stride, padding):
    (s_h, s_w), (p_t, p_b, p_l, p_r) = stride, padding
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p_t, p_b), (p_l, p_r)))
    gxp = np.zeros_like(xp)
    gw = np.zeros(w.shape)
    f_h, f_w = w.shape[2:]
    for oh in range(gy.shape[2]):
        for ow in range(gy.shape[3]):
            sl = (slice(None), slice(None), slice(oh * s_h, oh * s_h + f_h), slice(ow * s_w, ow * s_w + f_w))
            g = gy[:, :, oh, ow]
            gxp[sl] += np.einsum("nk,kchw->nchw", g, w)
            gw += np.einsum("nk,nchw->kchw", g, xp[sl])
    gx = gxp[:, :, p_t:p_t + x.shape[2], p_l:p_l + x.shape[3]]
    return gx, gw, gy.sum(axis=(0, 2, 3))


def pool_ref(x, kernel, stride, padding, kind):
    """(y, argmax, dx for an upstream gradient of all ones scaled by position)."""
    (f_h, f_w), (s_h, s_w), (p_h, p_w) = kernel, stride, padding
    n, c, height, width = x.shape
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p_h, p_h), (p_w, p_w)), constant_values=fill)
    h_o = (height + 2 * p_h - f_h) // s_h + 1
    w_o = (width + 2 * p_w - f_w) // s_w + 1
    y = np.zeros((n, c, h_o, w_o))
    arg = np.zeros((n, c, h_o, w_o), np.int64)
    gy = np.arange(y.size, dtype=np.float64).reshape(y.shape) % 7 + 1
    gxp = np.zeros_like(xp)
    for a in range(n):
        for b in range(c):
            for oh in range(h_o):
                for ow in range(w_o):
                    r, q = oh * s_h, ow * s_w
                    win = xp[a, b, r:r + f_h, q:q + f_w]
                    if kind == "max":
                        k = int(np.argmax(win))  # first maximum in row-major order
                        i, j = divmod(k, f_w)
                        y[a, b, oh, ow] = win[i, j]
                        arg[a, b, oh, ow] = (r + i - p_h) * width + (q + j - p_w)
                        gxp[a, b, r + i, q + j] += gy[a, b, oh, ow]
                    else:
                        y[a, b, oh, ow] = win.sum() / (f_h * f_w)
                        gxp[a, b, r:r + f_h, q:q + f_w] += gy[a, b, oh, ow] / (f_h * f_w)
    gx = gxp[:, :, p_h:p_h + height, p_w:p_w + width]
    return y, arg, gy, gx


# ----- strategies ------------------------------------------------------------------
@st.composite
def conv_cases(draw):
    f_h, f_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = tuple(draw(st.integers(0, 2)) for _ in range(4))
    height = draw(st.integers(max(1, f_h - pad[0] - pad[1]), 9))
    width = draw(st.integers(max(1, f_w - pad[2] - pad[3]), 9))
    n, c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return (n, c_in, height, width), (c_out, c_in, f_h, f_w), s, pad, draw(DTYPES), draw(st.integers(0, 2**31))


@st.composite
def pool_cases(draw):
    f_h, f_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, f_h // 2)), draw(st.integers(0, f_w // 2)))
    height = draw(st.integers(max(1, f_h - 2 * p[0]), 9))
    width = draw(st.integers(max(1, f_w - 2 * p[1]), 9))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), height, width)
    return shape, (f_h, f_w), s, p, draw(DTYPES), draw(st.integers(0, 2**31)), draw(st.booleans())


# ----- conv ------------------------------------------------------------------------
def _check_conv(x_shape, w_shape, stride, pad, dtype, seed, needs=(True, True, True)):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    y = cpu_conv.conv2d_forward(x, w, b, stride, pad)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, conv_ref(x, w, b, stride, pad), **_tol(dtype))
    gy = rng.standard_normal(y.shape).astype(dtype)
    got = cpu_conv.conv2d_backward(gy, x, w, stride, pad, needs)
    for need, g, ref in zip(needs, got, conv_grads_ref(gy, x, w, stride, pad)):
        if not need:
            assert g is None
            continue
        assert g.dtype == dtype and g.shape == ref.shape
        np.testing.assert_allclose(g, ref, **_tol(dtype))


@FEW
@given(conv_cases(), st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_conv2d_matches_window_loops(case, needs):
    _check_conv(*case, needs=needs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("w_shape, stride, pad", [
    ((5, 3, 1, 1), (1, 1), (0, 0, 0, 0)),   # pointwise fast path, more outputs than inputs
    ((2, 6, 1, 1), (1, 1), (0, 0, 0, 0)),   # pointwise, dx through the transposed conv
    ((2, 6, 3, 3), (1, 1), (1, 1, 1, 1)),   # dx as a conv of dy (stride 1, n_c' < n_c)
    ((2, 6, 2, 2), (1, 1), (0, 1, 1, 0)),   # the same with "same"-style asymmetric padding
    ((6, 2, 3, 3), (2, 2), (1, 1, 1, 1)),   # dx through col2im
])
def test_conv2d_paths(w_shape, stride, pad, dtype):
    x_shape = (3, w_shape[1], 7, 6)
    _check_conv(x_shape, w_shape, stride, pad, dtype, seed=1)


@pytest.mark.parametrize("x_shape, w_shape, stride, pad", [
    ((4, 16, 48, 48), (8, 16, 5, 5), (1, 2), (2, 2, 1, 1)),   # parallel im2col and col2im
    ((4, 8, 40, 40), (16, 8, 5, 5), (1, 1), (2, 2, 2, 2)),    # parallel im2col, stride 1
])
def test_conv2d_large_enough_for_the_parallel_kernels(x_shape, w_shape, stride, pad):
    h_o = output_size(x_shape[2], w_shape[2], (pad[0], pad[1]), stride[0])
    w_o = output_size(x_shape[3], w_shape[3], (pad[2], pad[3]), stride[1])
    assert w_shape[1] * w_shape[2] * w_shape[3] * x_shape[0] * h_o * w_o >= cpu_conv_workspace.SERIAL_BELOW
    _check_conv(x_shape, w_shape, stride, pad, np.float32, seed=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, c_out", [
    ((5, 32, 24, 23), 48),   # images shared out over the threads (odd count, odd sizes)
    ((1, 64, 40, 40), 24),   # one image: its GEMMs split into blocks instead
])
def test_conv2d_pointwise_parallel(x_shape, c_out, dtype):
    n_img = x_shape[0]
    assert n_img * c_out * x_shape[1] * x_shape[2] * x_shape[3] >= 1 << 20  # enough to use the workers
    _check_conv(x_shape, (c_out, x_shape[1], 1, 1), (1, 1), (0, 0, 0, 0), dtype, seed=5)


def test_conv2d_chunks_the_batch_and_reuses_buffers(monkeypatch):
    # A tiny cap forces one image per chunk for some calls and uneven chunks for others.
    for cap in (1, 3000, 7000):
        monkeypatch.setattr(cpu_conv_workspace, "WORKSPACE_BYTES", cap)
        _check_conv((5, 2, 6, 5), (3, 2, 3, 2), (1, 2), (1, 0, 2, 1), np.float64, seed=cap)
        _check_conv((5, 4, 6, 5), (2, 4, 3, 3), (1, 1), (1, 1, 1, 1), np.float32, seed=cap)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, pad, min_pixels", [
    ((2, 8, 23, 21), (4, 8, 3, 3), (1, 0, 2, 1), None),   # odd sizes, asymmetric padding
    ((1, 6, 33, 31), (6, 6, 5, 5), (2, 2, 2, 2), None),   # n_c' == n_c, 5 x 5
    ((3, 6, 7, 6), (2, 6, 3, 3), (1, 1, 1, 1), 1),        # a tiny batch, with the bar lowered
])
def test_conv2d_shift_add_path(x_shape, w_shape, pad, min_pixels, dtype, spy, monkeypatch):
    from minigrad.backend import cpu_conv_shifted

    if min_pixels is not None:
        monkeypatch.setattr(cpu_conv_shifted, "MIN_PIXELS", min_pixels)
    # Fewer than 8 channels take the tap path's forward now; shift-add still takes such
    # layers from 8 channels on, and its dW: the test keeps covering it on small shapes.
    monkeypatch.setattr(cpu_conv, "TAPS", False)
    forward, weight_grad = spy(cpu_conv, "forward_shifted", 0), spy(cpu_conv, "weight_grad_shifted", 1)
    _check_conv(x_shape, w_shape, (1, 1), pad, dtype, seed=8)
    assert forward and weight_grad, "the shift-add path did not run"


def test_conv2d_small_images_leave_shift_add_and_per_image_for_im2col(spy):
    forward, per_image = spy(cpu_conv, "forward_shifted", 0), spy(cpu_conv, "forward_groups", 0)
    im2col = spy(cpu_conv, "forward_im2col", 0)
    _check_conv((1, 128, 5, 5), (128, 128, 3, 3), (1, 1), (1, 1, 1, 1), np.float32, seed=9)  # 9 tiles: no Winograd
    assert not forward and not per_image and im2col


@pytest.fixture
def winograd_calls(spy, monkeypatch):
    """Counts the Winograd path's calls, so a test knows the path it meant to cover ran.
    The tiny shapes below have fewer tiles than the path asks for: the bar is lowered."""
    monkeypatch.setattr(cpu_conv_winograd, "MIN_TILES", 1)
    return spy(cpu_conv, "forward_winograd", 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, c_out, pad", [
    ((2, 16, 7, 9), 17, (1, 1, 1, 1)),    # odd sizes: the last tile row and column half outside
    ((3, 20, 6, 5), 16, (0, 2, 1, 0)),    # asymmetric padding, fewer outputs than inputs
    ((2, 16, 8, 8), 32, (0, 0, 0, 0)),    # no padding; dx pads dy by 2
    ((1, 16, 1, 1), 16, (1, 1, 1, 1)),    # one pixel: a single tile, mostly padding
    ((2, 16, 5, 6), 16, (3, 0, 0, 3)),    # padding > f - 1: dx through col2im instead
])
def test_conv2d_winograd(x_shape, c_out, pad, dtype, winograd_calls):
    _check_conv(x_shape, (c_out, x_shape[1], 3, 3), (1, 1), pad, dtype, seed=3)
    assert winograd_calls, "the Winograd path did not run"


def test_conv2d_winograd_not_for_stride_2_or_few_channels(winograd_calls):
    _check_conv((2, 16, 9, 8), (16, 16, 3, 3), (2, 2), (1, 1, 1, 1), np.float32, seed=4)
    _check_conv((2, 3, 9, 8), (16, 3, 3, 3), (1, 1), (1, 1, 1, 1), np.float32, seed=4)
    assert not winograd_calls


def test_conv2d_winograd_needs_enough_tiles(spy, monkeypatch):
    # With the direct path off (it takes such narrow layers first), only the tile count decides.
    monkeypatch.setattr(cpu_conv, "DIRECT", False)
    calls = spy(cpu_conv, "forward_winograd", 1)
    _check_conv((1, 16, 15, 15), (16, 16, 3, 3), (1, 1), (1, 1, 1, 1), np.float32, seed=6)  # 64 tiles
    assert not calls
    _check_conv((2, 16, 16, 16), (16, 16, 3, 3), (1, 1), (1, 1, 1, 1), np.float32, seed=6)  # 128 tiles
    assert calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_winograd_in_blocks_of_tile_rows(monkeypatch, winograd_calls, dtype):
    # 5 images of 3 x 4 tiles (outputs 5 x 8): 15 tile rows. Blocks of one tile row each,
    # then of 4 (16 tiles): blocks that cross from one image into the next, and a last
    # block of 3 rows; both threads take several blocks, the forward pass's and dW's.
    monkeypatch.setattr(cpu_conv_winograd, "BLOCK_BYTES", 1)
    monkeypatch.setattr(cpu_conv_winograd, "WEIGHT_GRAD_BLOCK_BYTES", 1)
    for tiles, seed in ((1, 10), (16, 11)):
        monkeypatch.setattr(cpu_conv_winograd, "MIN_BLOCK_TILES", tiles)
        _check_conv((5, 16, 6, 7), (16, 16, 3, 3), (1, 1), (1, 0, 2, 1), dtype, seed=seed)
    # dW's sums capped at one thread's: that thread takes every block.
    threads_of_dw = []
    kernel = cpu_conv_winograd._weight_grad_blocks
    monkeypatch.setattr(cpu_conv_winograd, "_weight_grad_blocks",
                        lambda *args: (threads_of_dw.append(args[-1].shape[0]), kernel(*args)))
    monkeypatch.setattr(cpu_conv_winograd, "WEIGHT_GRAD_SUMS_BYTES", 1)
    _check_conv((5, 16, 6, 7), (16, 16, 3, 3), (1, 1), (1, 0, 2, 1), dtype, seed=12)
    assert threads_of_dw == [1]
    assert cpu_conv_winograd._blocks(16, 16, 3, 4, 5, 4, 1)[:2] == (4, 16)
    assert len(winograd_calls) >= 4  # forward and dx, for both block sizes


# ----- pool ------------------------------------------------------------------------
def _pool_input(rng, shape, dtype, ties):
    # Small integers make ties common, so the first-maximum rule is exercised.
    if ties:
        return rng.integers(0, 3, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@FEW
@given(pool_cases())
def test_max_pool2d_matches_window_loops(case):
    shape, kernel, stride, pad, dtype, seed, ties = case
    x = _pool_input(np.random.default_rng(seed), shape, dtype, ties)
    y_ref, arg_ref, gy, gx_ref = pool_ref(x, kernel, stride, pad, "max")
    y, arg = cpu_pool.max_pool2d_forward(x, kernel, stride, pad)
    assert y.dtype == dtype and arg.shape == y.shape
    np.testing.assert_array_equal(y, y_ref.astype(dtype))
    np.testing.assert_array_equal(arg, arg_ref)
    gx = cpu_pool.max_pool2d_backward(gy.astype(dtype), arg, shape, kernel, stride, pad)
    assert gx.dtype == dtype
    np.testing.assert_allclose(gx, gx_ref, **_tol(dtype))


@FEW
@given(pool_cases())
def test_avg_pool2d_matches_window_loops(case):
    shape, kernel, stride, pad, dtype, seed, ties = case
    x = _pool_input(np.random.default_rng(seed), shape, dtype, ties)
    y_ref, _, gy, gx_ref = pool_ref(x, kernel, stride, pad, "avg")
    y = cpu_pool.avg_pool2d_forward(x, kernel, stride, pad)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **_tol(dtype))
    gx = cpu_pool.avg_pool2d_backward(gy.astype(dtype), shape, kernel, stride, pad)
    assert gx.dtype == dtype
    np.testing.assert_allclose(gx, gx_ref, **_tol(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, stride, pad", [
    ((2, 2), (2, 2), (0, 0)),   # tiling fast path
    ((3, 2), (3, 2), (0, 0)),   # tiling, non-square
    ((3, 3), (2, 2), (1, 1)),   # overlapping windows with padding
    ((3, 3), (1, 1), (1, 1)),   # heavy overlap: one input wins many windows
])
def test_pools_fast_and_overlapping_paths(kernel, stride, pad, dtype):
    x = _pool_input(np.random.default_rng(0), (2, 3, 6, 6), dtype, ties=True)
    for kind in ("max", "avg"):
        y_ref, arg_ref, gy, gx_ref = pool_ref(x, kernel, stride, pad, kind)
        if kind == "max":
            y, arg = cpu_pool.max_pool2d_forward(x, kernel, stride, pad)
            np.testing.assert_array_equal(arg, arg_ref)
            gx = cpu_pool.max_pool2d_backward(gy.astype(dtype), arg, x.shape, kernel, stride, pad)
        else:
            y = cpu_pool.avg_pool2d_forward(x, kernel, stride, pad)
            gx = cpu_pool.avg_pool2d_backward(gy.astype(dtype), x.shape, kernel, stride, pad)
        np.testing.assert_allclose(y, y_ref, **_tol(dtype))
        np.testing.assert_allclose(gx, gx_ref, **_tol(dtype))


def test_max_pool2d_first_maximum_wins_on_ties():
    x = np.ones((1, 1, 4, 4))
    y, arg = cpu_pool.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(arg[0, 0], [[0, 2], [8, 10]])
    y, arg = cpu_pool.max_pool2d_forward(x, (3, 3), (1, 1), (1, 1))
    assert arg[0, 0, 0, 0] == 0 and arg[0, 0, 2, 2] == 5


# ----- threads ---------------------------------------------------------------------
def test_kernel_call_restores_blas_threads_and_describe_reports():
    from threadpoolctl import threadpool_info

    from minigrad.backend import threads

    # The BLAS libraries loaded when minigrad first ran a kernel (numpy's among them).
    held = {c.filepath for c in threads._blas_controllers()}
    assert held

    def counts():
        return [p["num_threads"] for p in threadpool_info() if p["filepath"] in held]

    before = counts()
    with kernel_call():
        inside = counts()
    assert all(n == 1 for n in inside) and counts() == before
    info = describe_threads()
    assert info["numba_threads"] >= 1 and "thread_pools" in info and "numba_threading_layer" in info


def test_kernel_call_holds_blas_at_one_thread_nested_and_through_errors():
    """kernel_call sets OpenBLAS's threads through its C functions: a user's setting of 3
    must read 1 inside (nested calls too) and 3 again after, also when the kernel raises."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from minigrad.backend import threads

    held = {c.filepath for c in threads._blas_controllers()}

    def counts():
        return {p["num_threads"] for p in threadpool_info() if p["filepath"] in held}

    with threadpool_limits(3, user_api="blas"):
        assert counts() == {3}
        with kernel_call():
            with kernel_call():
                assert counts() == {1}
            assert counts() == {1}
        assert counts() == {3}
        with pytest.raises(RuntimeError):
            with kernel_call():
                raise RuntimeError("a kernel failed")
        assert counts() == {3}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, stride, pad", [((2, 2), (2, 2), (0, 0)), ((3, 3), (3, 3), (0, 0)),
                                                 ((2, 2), (1, 1), (1, 1))])
def test_max_pool2d_nan_wins_first_as_in_pytorch(kernel, stride, pad, dtype):
    """A NaN in a window is its maximum (the first NaN, in row-major order), on the tiled
    (branch-free) kernels and the clipped-window ones alike."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, 3, (2, 3, 6, 6)).astype(dtype)
    x[rng.random(x.shape) < 0.15] = np.nan
    y, arg = cpu_pool.max_pool2d_forward(x, kernel, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0],) * 2, (pad[1],) * 2), constant_values=-np.inf)
    for n, c, oh, ow in np.ndindex(*y.shape):
        best, where = None, None
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                h, w = oh * stride[0] + i, ow * stride[1] + j
                v = xp[n, c, h, w]
                if best is None or v > best or (np.isnan(v) and not np.isnan(best)):
                    best, where = v, (h - pad[0]) * x.shape[3] + (w - pad[1])
        assert (np.isnan(best) and np.isnan(y[n, c, oh, ow])) or best == y[n, c, oh, ow]
        assert arg[n, c, oh, ow] == where
