"""The CUDA backend, array by array: each contract function against numpy (issue 6).

Runs on numba's CUDA simulator unless MINIGRAD_REAL_GPU=1 (see spec_tests/conftest.py).
The simulator pays ~0.2 ms per thread and a little per launch, so shapes are tiny
and several checks share one launch where they can.
"""

import numpy as np
import pytest

from minigrad.backend import cuda as B

pytestmark = pytest.mark.cuda
rng = np.random.default_rng(0)


def dev(a):
    return B.asarray(np.asarray(a))


def host(a):
    return B.to_numpy(a)


def close(got, want, dtype=np.float64):
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
    got = host(got)
    assert got.shape == np.shape(want)
    assert got.dtype == np.asarray(want).dtype, (got.dtype, np.asarray(want).dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# ----------------------------------------------------------------- creation and transfer
def test_transfer_roundtrip_counts_and_keeps_dtype():
    B.reset_transfer_count()
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    d = B.asarray(a)
    assert B.is_device_array(d) and not B.is_device_array(a)
    assert B.transfer_count() == 1
    back = B.to_numpy(d)
    assert B.transfer_count() == 2
    assert back.dtype == np.float32 and np.array_equal(back, a)
    assert B.asarray(a, np.float64).dtype == np.float64
    assert B.asarray(d) is d and B.transfer_count() == 3  # a device array is not copied again
    non_contiguous = B.asarray(a.T)
    assert np.array_equal(host(non_contiguous), a.T)
    assert host(B.asarray(np.float64(2.5))).shape == ()  # 0-d stays 0-d


def test_unsupported_dtype_is_a_clear_error():
    with pytest.raises(TypeError, match="float16 is not supported"):
        B.asarray(np.zeros(2, np.float16))
    with pytest.raises(TypeError, match="float16 is not supported"):
        B.astype(B.zeros((2,), np.float32), np.float16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zeros_ones_full(dtype):
    close(B.zeros((2, 3), dtype), np.zeros((2, 3), dtype), dtype)
    close(B.ones((4,), dtype), np.ones(4, dtype), dtype)
    close(B.full((), 2.5, dtype), np.full((), 2.5, dtype), dtype)


def test_random_is_seeded_and_in_range():
    u32 = host(B.uniform((40,), np.float32, 7))
    assert u32.dtype == np.float32 and u32.min() >= 0 and u32.max() < 1
    assert np.array_equal(u32, host(B.uniform((40,), np.float32, 7)))
    u64 = host(B.uniform((5, 8), np.float64, 8))
    assert u64.dtype == np.float64 and u64.shape == (5, 8) and not np.allclose(u64.ravel(), u32)
    assert 0.3 < u64.mean() < 0.7
    n = host(B.normal((64,), np.float64, 3))
    assert n.dtype == np.float64 and abs(n.mean()) < 0.5 and 0.6 < n.std() < 1.4
    assert np.isfinite(n).all() and (n < 0).any() and (n > 0).any()


def test_astype_and_copy():
    a = rng.standard_normal((2, 3))
    close(B.astype(dev(a), np.float32), a.astype(np.float32), np.float32)
    d = dev(a)
    c = B.copy(d)
    assert c is not d
    close(c, a)


# ----------------------------------------------------------------- elementwise
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_ops_broadcast(dtype):
    a = rng.uniform(0.5, 2.0, (2, 1, 3)).astype(dtype)
    b = rng.uniform(0.5, 2.0, (4, 3)).astype(dtype)
    b[0, 0] = a[0, 0, 0]  # one tie, so equal() has a True
    da, db = dev(a), dev(b)
    for name in ("add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "greater", "equal"):
        want = getattr(np, name)(a, b)
        got = getattr(B, name)(da, db)
        close(got, want, dtype)


def test_binary_mixed_dtypes_and_scalars_follow_numpy():
    a = np.array([1.0, -2.0, 3.0], np.float32)
    b = np.array([[0.5], [2.0]])
    close(B.add(dev(a), dev(b)), a + b)
    close(B.multiply(dev(a), 2.0), a * 2.0, np.float32)
    close(B.subtract(1.5, dev(a)), 1.5 - a, np.float32)
    with pytest.raises(ValueError):
        B.add(dev(np.zeros(3)), dev(np.zeros(4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_ops(dtype):
    a = np.array([[-2.0, -0.5, 0.0], [0.25, 1.0, 30.0]], dtype)
    pos = np.abs(a) + 0.5
    d, dpos = dev(a), dev(pos)
    for name in ("negative", "abs", "sign", "tanh", "exp"):
        close(getattr(B, name)(d), getattr(np, name)(a), dtype)
    close(B.log(dpos), np.log(pos), dtype)
    close(B.sqrt(dpos), np.sqrt(pos), dtype)
    close(B.sigmoid(d), (1 / (1 + np.exp(-a.astype(np.float64)))).astype(dtype), dtype)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, -3.0, 2.0], dtype)
    got = B.to_numpy(B.relu(dev(special)))
    np.testing.assert_array_equal(got, np.maximum(special, dtype(0)))
    assert got.dtype == dtype and not np.signbit(got[3])


def test_extreme_values_match_numpy():
    a = np.array([-1000.0, 0.0, -1.0, 1000.0])
    with np.errstate(all="ignore"):
        close(B.exp(dev(a)), np.exp(a))
        close(B.log(dev(a)), np.log(a))
        close(B.sqrt(dev(a)), np.sqrt(a))
    close(B.sigmoid(dev(a)), np.array([0.0, 0.5, 1 / (1 + np.e), 1.0]))


def test_where_broadcasts_all_three():
    cond = np.array([[True], [False]])
    a = rng.standard_normal((2, 3))
    b = rng.standard_normal((3,))
    close(B.where(dev(cond), dev(a), dev(b)), np.where(cond, a, b))
    close(B.where(dev(cond), dev(a), 0.0), np.where(cond, a, 0.0))


# ----------------------------------------------------------------- reductions
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_and_max_over_axes(dtype):
    a = rng.standard_normal((2, 3, 4)).astype(dtype)
    d = dev(a)
    for axis, keepdims in [(None, False), (1, False), ((0, 2), True), (-1, True)]:
        close(B.sum(d, axis, keepdims), np.sum(a, axis=axis, keepdims=keepdims).astype(dtype), dtype)
    for axis, keepdims in [(None, False), ((0, 1), False), (2, True)]:
        close(B.max(d, axis, keepdims), np.max(a, axis=axis, keepdims=keepdims), dtype)


def test_long_sums_split_in_two_passes():
    # slices of 700 and 2048 elements are cut into chunks (see cuda_reduce.chunks_for)
    a = rng.standard_normal((3, 700)).astype(np.float32)
    assert B.cuda_reduce.chunks_for(3, 700) == 2 and B.cuda_reduce.chunks_for(1, 2048) == 8
    close(B.sum(dev(a), 1), a.sum(1), np.float32)
    b = rng.standard_normal(2048)
    close(B.sum(dev(b)), b.sum())


def test_sum_of_bools_counts():
    close(B.sum(dev(np.array([True, False, True]))), np.sum(np.array([True, False, True])))


def test_argmax_first_of_ties():
    a = np.array([[1.0, 3.0, 3.0], [5.0, 5.0, 2.0]])
    close(B.argmax(dev(a), 1), np.argmax(a, 1))
    close(B.argmax(dev(a), 0), np.argmax(a, 0))
    close(B.argmax(dev(a), None), np.argmax(a))


def test_sum_to_shape_undoes_broadcasting():
    g = rng.standard_normal((2, 3, 4))
    close(B.sum_to_shape(dev(g), (3, 1)), g.sum(axis=(0, 2)).reshape(3, 1))
    close(B.sum_to_shape(dev(g), (1, 1, 4)), g.sum(axis=(0, 1), keepdims=True))
    d = dev(g)
    assert B.sum_to_shape(d, (2, 3, 4)) is d


# ----------------------------------------------------------------- shape and indexing
def test_reshape_transpose_broadcast_to():
    a = rng.standard_normal((2, 3, 4))
    d = dev(a)
    close(B.reshape(d, (4, -1)), a.reshape(4, -1))
    close(B.transpose(d, (2, 0, 1)), np.transpose(a, (2, 0, 1)))
    b = rng.standard_normal((3, 1))
    close(B.broadcast_to(dev(b), (2, 3, 4)), np.broadcast_to(b, (2, 3, 4)))
    with pytest.raises(ValueError):
        B.broadcast_to(dev(b), (2, 4, 4))


@pytest.mark.parametrize("index", [
    1, (slice(None), 2), (Ellipsis, slice(1, None, 2)), (slice(None, None, -1), None, 0), (1, 2, 3),
])
def test_getitem_and_index_put_zeros(index):
    a = rng.standard_normal((3, 4, 5))
    close(B.getitem(dev(a), index), a[index])
    values = a[index]
    want = np.zeros_like(a)
    want[index] = values
    close(B.index_put_zeros(a.shape, index, dev(np.asarray(values)), np.float64), want)


def test_getitem_rejects_advanced_index():
    with pytest.raises(TypeError, match="basic indexing"):
        B.getitem(dev(np.zeros(3)), np.array([0, 1]))


def test_concatenate_and_stack():
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 1))
    close(B.concatenate([dev(a), dev(b)], 1), np.concatenate([a, b], 1))
    c = rng.standard_normal((2, 3))
    close(B.stack([dev(a), dev(c)], 1), np.stack([a, c], 1))


# ----------------------------------------------------------------- linear algebra
@pytest.mark.parametrize("dtype, m, k, n", [(np.float32, 17, 20, 18), (np.float64, 8, 11, 7)])
def test_matmul_tiles(dtype, m, k, n):
    # each shape crosses its tiles (16-wide, then 8-wide) in every direction it can
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    close(B.matmul(dev(a), dev(b)), a @ b, dtype)


@pytest.mark.parametrize("sa, sb", [((2, 1, 2, 3), (4, 3, 2)), ((3,), (2, 3, 2)), ((2, 3), (3,)), ((3,), (3,))])
def test_matmul_numpy_semantics(sa, sb):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    close(B.matmul(dev(a), dev(b)), np.matmul(a, b))


def test_matmul_shape_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 3\)"):
        B.matmul(dev(np.zeros((2, 3))), dev(np.zeros((2, 3))))


# ----------------------------------------------------------------- nn kernels
def test_log_softmax_and_one_hot():
    a = rng.standard_normal((2, 3, 2)) * 10
    want = a - a.max(1, keepdims=True)
    want = want - np.log(np.exp(want).sum(1, keepdims=True))
    close(B.log_softmax(dev(a), 1), want)
    t = np.array([[2, 0], [1, 3]])
    close(B.one_hot(dev(t), 4, np.float32), np.eye(4, dtype=np.float32)[t], np.float32)
    # no exception can leave the device without a host copy: a bad label poisons its row with NaN
    bad = host(B.one_hot(dev(np.array([1, 4, -1])), 4, np.float64))
    assert np.array_equal(bad[0], [0, 1, 0, 0]) and np.isnan(bad[1:]).all()


def conv_reference(x, w, b, stride, padding):
    """numpy conv2d with its two gradients for an all-ones dy: loops over the f x f offsets only."""
    (sh, sw), (top, bottom, left, right) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, c, hp, wp = xp.shape
    k, _, fh, fw = w.shape
    ho, wo = (hp - fh) // sh + 1, (wp - fw) // sw + 1
    y = np.zeros((n, k, ho, wo)) + (0 if b is None else b[None, :, None, None])
    gy = rng.standard_normal(y.shape)
    gxp, gw = np.zeros_like(xp), np.zeros_like(w)
    for p in range(fh):
        for q in range(fw):
            window = (slice(None), slice(None), slice(p, p + sh * (ho - 1) + 1, sh), slice(q, q + sw * (wo - 1) + 1, sw))
            y += np.einsum("ncij,kc->nkij", xp[window], w[:, :, p, q])
            gw[:, :, p, q] = np.einsum("nkij,ncij->kc", gy, xp[window])
            gxp[window] += np.einsum("nkij,kc->ncij", gy, w[:, :, p, q])
    return y, gy, gxp[:, :, top:top + x.shape[2], left:left + x.shape[3]], gw, gy.sum((0, 2, 3))


@pytest.mark.parametrize("dtype, stride, padding, bias, x_shape, w_shape", [
    (np.float64, (1, 1), (1, 1, 1, 1), True, (2, 2, 5, 4), (3, 2, 3, 2)),
    (np.float32, (2, 1), (0, 1, 1, 0), False, (2, 2, 5, 4), (3, 2, 3, 2)),
    # 3 images x 16 x 12 outputs: the weight gradient is split over groups of images
    (np.float64, (1, 1), (1, 1, 1, 1), True, (3, 1, 16, 12), (1, 1, 3, 3)),
])
def test_conv2d_forward_backward(dtype, stride, padding, bias, x_shape, w_shape):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0]) if bias else None
    if x_shape[0] == 3:
        assert B.cuda_reduce.chunks_for(w.size, 3 * 16 * 12) > 1  # the split path is the one tested
    y, gy, gx, gw, gb = conv_reference(x, w, b, stride, padding)
    cast = lambda a: dev(a.astype(dtype))  # noqa: E731
    close(B.conv2d_forward(cast(x), cast(w), None if b is None else cast(b), stride, padding), y.astype(dtype), dtype)
    got = B.conv2d_backward(cast(gy), cast(x), cast(w), stride, padding, (True, True, bias))
    for g, want in zip(got, (gx, gw, gb if bias else None)):
        if want is None:
            assert g is None
        else:
            close(g, want.astype(dtype), dtype)


def pool_reference(x, kernel, stride, padding, mode):
    (fh, fw), (sh, sw), (ph, pw) = kernel, stride, padding
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    n, c, h, w = x.shape
    ho, wo = (h + 2 * ph - fh) // sh + 1, (w + 2 * pw - fw) // sw + 1
    y, arg = np.zeros((n, c, ho, wo)), np.zeros((n, c, ho, wo), np.int64)
    for i in range(ho):
        for j in range(wo):
            win = xp[:, :, i * sh:i * sh + fh, j * sw:j * sw + fw].reshape(n, c, -1)
            if mode == "avg":
                y[:, :, i, j] = win.mean(-1)
                continue
            k = win.argmax(-1)
            y[:, :, i, j] = win.max(-1)
            arg[:, :, i, j] = (i * sh - ph + k // fw) * w + (j * sw - pw + k % fw)
    return y, arg


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_ties_padding_and_backward(dtype):
    x = np.array([[[[1, 3, 3, 0], [2, 3, 1, 1], [0, 0, 4, 4], [5, -1, 4, 2]]]], dtype) * -1
    x = np.concatenate([x, -x], 1)  # two channels, ties everywhere
    kernel, stride, padding = (2, 2), (1, 2), (1, 1)
    y_want, arg_want = pool_reference(x, kernel, stride, padding, "max")
    y, arg = B.max_pool2d_forward(dev(x), kernel, stride, padding)
    close(y, y_want.astype(dtype), dtype)
    close(arg, arg_want)
    gy = rng.standard_normal(y_want.shape).astype(dtype)
    gx_want = np.zeros(x.shape)
    for idx in np.ndindex(*y_want.shape):
        gx_want[idx[0], idx[1]].flat[arg_want[idx]] += gy[idx]
    close(B.max_pool2d_backward(dev(gy), arg, x.shape, kernel, stride, padding), gx_want.astype(dtype), dtype)


def test_avg_pool_counts_padding_and_backward():
    x = rng.standard_normal((1, 2, 4, 5))
    kernel, stride, padding = (3, 2), (2, 2), (1, 1)
    y_want, _ = pool_reference(x, kernel, stride, padding, "avg")
    close(B.avg_pool2d_forward(dev(x), kernel, stride, padding), y_want)
    gy = rng.standard_normal(y_want.shape)
    gxp = np.zeros((1, 2, 6, 7))
    for i in range(y_want.shape[2]):
        for j in range(y_want.shape[3]):
            gxp[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 2] += gy[:, :, i:i + 1, j:j + 1] / 6
    close(B.avg_pool2d_backward(dev(gy), x.shape, kernel, stride, padding), gxp[:, :, 1:5, 1:6])


def test_activation_backwards_from_outputs():
    g = rng.standard_normal((3, 5))
    y = np.tanh(rng.standard_normal((3, 5)))
    close(B.tanh_backward(dev(g), dev(y)), g * (1 - y * y))
    s = 1 / (1 + np.exp(-rng.standard_normal((3, 5))))
    close(B.sigmoid_backward(dev(g), dev(s)), g * s * (1 - s))


def test_relu_backward_from_outputs():
    g = rng.standard_normal((2, 4))
    y = np.array([[0.0, 1.5, np.nan, 2.0], [3.0, 0.0, 0.5, 0.0]])
    close(B.relu_backward(dev(g), dev(y)), np.where(y > 0, g, 0.0))
