"""Module 1 of the course, foundations: convolution, padding, stride, volumes, one layer, pooling, why convolutions (M1.01-M1.20)."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim

from apps.edges import HORIZONTAL, SCHARR, SOBEL, VERTICAL, detect_edges
from course_helpers import PROPERTY, n_params, t

spec = pytest.mark.spec

SIX_BY_SIX = [
    [3, 0, 1, 2, 7, 4],
    [1, 5, 8, 9, 3, 1],
    [2, 7, 2, 5, 1, 3],
    [0, 1, 3, 1, 7, 8],
    [4, 2, 1, 6, 2, 8],
    [2, 4, 5, 2, 3, 9],
]
SIX_BY_SIX_VERTICAL = [
    [-5, -4, 0, 8],
    [-10, -2, 2, 3],
    [0, -2, -4, -7],
    [-3, -2, -3, -16],
]
POOL_4X4 = [[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]]


def conv_sizes(max_n=10, max_f=5, max_p=2, max_s=3):
    """(n_h, n_w, f, p, s) with a kernel that fits the padded input."""
    return st.tuples(
        st.integers(1, max_n), st.integers(1, max_n), st.integers(1, max_f),
        st.integers(0, max_p), st.integers(1, max_s),
    ).filter(lambda v: v[2] <= min(v[0], v[1]) + 2 * v[3] and v[3] < v[2])


def out_size(n, f, p, s):
    return (n + 2 * p - f) // s + 1


# ----- M1.01 ---------------------------------------------------------------------------------

@spec("M1.01")
def test_image_as_feature_vector_has_n_n_3_features():
    """An n x n x 3 image unrolled into a vector has n*n*3 features.

    Erratum: the notes say "an image of size 68 X 68 X 3 ... the input feature dimension
    becomes 12,288". 68*68*3 is 13,872; 12,288 = 64*64*3 (the course's 64x64 cat image).
    """
    for n, features in [(64, 12_288), (720, 1_555_200), (68, 13_872)]:
        x = mg.zeros(1, 3, n, n)
        got = nn.Flatten()(x).shape[1]
        assert got == features, f"{n}x{n}x3 unrolls to {features:,} features, Flatten gave {got:,}"


@spec("M1.01")
@PROPERTY
@given(n=st.integers(1, 40))
def test_feature_vector_size_property(n):
    got = nn.Flatten()(mg.zeros(2, 3, n, n)).shape
    assert got == (2, n * n * 3), f"n={n}: n*n*3 = {n * n * 3} features per image, Flatten gave {got}"


# ----- M1.02 - M1.04: edge detection ------------------------------------------------------------

@spec("M1.02")
def test_six_by_six_example_with_vertical_filter():
    """The notes' 6x6 image * 3x3 vertical filter = the printed 4x4 (cross-correlation: the filter is not flipped)."""
    out = detect_edges(np.array(SIX_BY_SIX, dtype=np.float64), VERTICAL).numpy()
    assert out.shape == (4, 4), f"6x6 * 3x3 -> 4x4, got {out.shape}"
    assert out[0, 0] == -5, f"first element 3*1 + 1*1 + 2*1 + 1*(-1) + 8*(-1) + 2*(-1) = -5, got {out[0, 0]}"
    assert out[0, 1] == -4, f"second element 0 + 5 + 7 - 2 - 9 - 5 = -4, got {out[0, 1]}"
    np.testing.assert_array_equal(out, SIX_BY_SIX_VERTICAL, err_msg="6x6 * vertical != the notes' 4x4")


@spec("M1.02")
def test_six_by_six_example_through_conv2d():
    x = t(SIX_BY_SIX).reshape(1, 1, 6, 6)
    w = t(VERTICAL).reshape(1, 1, 3, 3)
    out = F.conv2d(x, w).numpy()[0, 0]
    np.testing.assert_array_equal(out, SIX_BY_SIX_VERTICAL, err_msg="F.conv2d(6x6, vertical) != the notes' 4x4")


@spec("M1.03")
def test_vertical_edge_on_the_step_image():
    """Rows of 10 10 10 0 0 0 give rows of 0 30 30 0: the edge is found in the middle."""
    image = np.array([[10, 10, 10, 0, 0, 0]] * 6, dtype=np.float64)
    out = detect_edges(image, VERTICAL).numpy()
    np.testing.assert_array_equal(out, [[0, 30, 30, 0]] * 4, err_msg="the 10/0 step * vertical should give rows 0 30 30 0")
    flipped = detect_edges(image[:, ::-1].copy(), VERTICAL).numpy()
    np.testing.assert_array_equal(flipped, [[0, -30, -30, 0]] * 4,
                                  err_msg="a dark-to-bright edge gives -30: the sign tells the edge's direction")


@spec("M1.04")
def test_filters_as_printed():
    np.testing.assert_array_equal(VERTICAL, [[1, 0, -1], [1, 0, -1], [1, 0, -1]])
    np.testing.assert_array_equal(HORIZONTAL, [[1, 1, 1], [0, 0, 0], [-1, -1, -1]])
    np.testing.assert_array_equal(SOBEL, [[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    np.testing.assert_array_equal(SCHARR, [[3, 0, -3], [10, 0, -10], [3, 0, -3]])
    np.testing.assert_array_equal(HORIZONTAL, VERTICAL.T, err_msg="horizontal = vertical transposed")
    for name, w in [("vertical", VERTICAL), ("horizontal", HORIZONTAL), ("Sobel", SOBEL), ("Scharr", SCHARR)]:
        assert w.sum() == 0, f"the {name} filter's weights sum to {w.sum()}, not 0"


@spec("M1.04")
@PROPERTY
@given(c=st.floats(-100, 100), n=st.integers(3, 9), which=st.sampled_from([0, 1, 2, 3]))
def test_flat_image_gives_zero_response(c, n, which):
    kernel = [VERTICAL, HORIZONTAL, SOBEL, SCHARR][which]
    out = detect_edges(np.full((n, n), c), kernel).numpy()
    assert out.shape == (n - 2, n - 2)
    np.testing.assert_allclose(out, 0, atol=1e-9 * max(1, abs(c)),
                               err_msg=f"a flat image (all pixels {c}) must give a zero response")


@spec("M1.04")
def test_horizontal_filter_finds_horizontal_edges():
    image = np.array([[10] * 6] * 3 + [[0] * 6] * 3, dtype=np.float64)
    np.testing.assert_array_equal(detect_edges(image, HORIZONTAL).numpy(), [[0] * 4, [30] * 4, [30] * 4, [0] * 4])
    np.testing.assert_array_equal(detect_edges(image, VERTICAL).numpy(), np.zeros((4, 4)))


# ----- M1.05: a filter can be learned -------------------------------------------------------------

@spec("M1.05")
@pytest.mark.experiment
def test_gradient_descent_learns_the_vertical_filter():
    """From (image, vertical-edge map) pairs, gradient descent on a random 3x3 filter recovers the vertical filter."""
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((16, 1, 10, 10)).astype(np.float32)
    targets = detect_edges(images, VERTICAL).detach()
    x = mg.tensor(images)
    layer = nn.Conv2d(1, 1, 3, bias=False)
    start = np.abs(layer.weight.numpy()[0, 0] - VERTICAL).max()
    opt = optim.SGD(layer.parameters(), lr=0.2)
    for _ in range(120):
        opt.zero_grad()
        loss = F.mse_loss(layer(x), targets)
        loss.backward()
        opt.step()
    learned = layer.weight.numpy()[0, 0]
    err = np.abs(learned - VERTICAL).max()
    assert start > 0.5, "the filter must start far from the target"
    assert err < 0.02, f"learned filter\n{np.round(learned, 3)}\nis {err:.3f} away from the vertical filter"


# ----- M1.06 - M1.08: output sizes ------------------------------------------------------------------

@spec("M1.06")
@PROPERTY
@given(n_h=st.integers(1, 12), n_w=st.integers(1, 12), f=st.integers(1, 6))
def test_valid_convolution_output_size(n_h, n_w, f):
    assume(f <= min(n_h, n_w))
    out = F.conv2d(mg.zeros(1, 1, n_h, n_w), mg.zeros(1, 1, f, f)).shape
    assert out[2:] == (n_h - f + 1, n_w - f + 1), f"n={n_h}x{n_w}, f={f}: n - f + 1 = {n_h - f + 1}x{n_w - f + 1}, conv2d gave {out[2:]}"


@spec("M1.07")
@PROPERTY
@given(n=st.integers(1, 10), f=st.integers(1, 5), p=st.integers(0, 3))
def test_padded_output_size_and_values(n, f, p):
    assume(f <= n + 2 * p)
    rng = np.random.default_rng(n * 100 + f * 10 + p)
    x = rng.standard_normal((1, 2, n, n))
    w = rng.standard_normal((3, 2, f, f))
    out = F.conv2d(t(x), t(w), padding=p).numpy()
    assert out.shape[2:] == (n + 2 * p - f + 1,) * 2, f"n={n}, p={p}, f={f}: n + 2p - f + 1 = {n + 2 * p - f + 1}, got {out.shape[2:]}"
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    np.testing.assert_allclose(out, F.conv2d(t(padded), t(w)).numpy(), atol=1e-10,
                               err_msg="padding p must equal a border of p zeros")


@spec("M1.07")
@PROPERTY
@given(n=st.integers(1, 10), half=st.integers(0, 3))
def test_valid_and_same_padding(n, half):
    f = 2 * half + 1
    rng = np.random.default_rng(n * 10 + half)
    x, w = t(rng.standard_normal((1, 1, n, n))), t(rng.standard_normal((1, 1, f, f)))
    same = F.conv2d(x, w, padding="same").numpy()
    assert same.shape[2:] == (n, n), f"'same' with f={f}: p = (f - 1)/2 = {half} keeps n={n}, got {same.shape[2:]}"
    np.testing.assert_allclose(same, F.conv2d(x, w, padding=half).numpy(), atol=1e-12,
                               err_msg=f"'same' must be p = (f - 1)/2 = {half}")
    if f <= n:
        np.testing.assert_allclose(F.conv2d(x, w, padding="valid").numpy(), F.conv2d(x, w, padding=0).numpy(),
                                   err_msg="'valid' must be p = 0")


@spec("M1.07")
def test_six_by_six_padded_by_one_stays_six_by_six():
    assert F.conv2d(mg.zeros(1, 1, 6, 6), mg.zeros(1, 1, 3, 3), padding=1).shape == (1, 1, 6, 6)


@spec("M1.08")
@PROPERTY
@given(sizes=conv_sizes())
def test_strided_output_size_each_dimension(sizes):
    n_h, n_w, f, p, s = sizes
    out = F.conv2d(mg.zeros(1, 1, n_h, n_w), mg.zeros(1, 1, f, f), stride=s, padding=p).shape
    expected = (out_size(n_h, f, p, s), out_size(n_w, f, p, s))
    assert out[2:] == expected, (
        f"n_H={n_h}, n_W={n_w}, f={f}, p={p}, s={s}: floor((n + 2p - f)/s) + 1 = {expected}, conv2d gave {out[2:]}")
    layer_out = nn.Conv2d(1, 2, f, stride=s, padding=p)(mg.zeros(1, 1, n_h, n_w)).shape
    assert layer_out == (1, 2) + expected, f"nn.Conv2d gave {layer_out}, expected (1, 2) + {expected}"


@spec("M1.08")
@PROPERTY
@given(sizes=conv_sizes())
def test_strided_output_is_the_stride_one_output_subsampled(sizes):
    n_h, n_w, f, p, s = sizes
    rng = np.random.default_rng(sum(sizes))
    x, w = t(rng.standard_normal((1, 2, n_h, n_w))), t(rng.standard_normal((1, 2, f, f)))
    full = F.conv2d(x, w, padding=p).numpy()
    np.testing.assert_allclose(F.conv2d(x, w, stride=s, padding=p).numpy(), full[:, :, ::s, ::s], atol=1e-10,
                               err_msg=f"stride s={s} must take every s-th position of the s=1 output")


@spec("M1.08")
def test_stride_example():
    assert F.conv2d(mg.zeros(1, 1, 7, 7), mg.zeros(1, 1, 3, 3), stride=2).shape == (1, 1, 3, 3), \
        "7x7, f=3, p=0, s=2: floor((7 - 3)/2) + 1 = 3"


# ----- M1.09 - M1.11: volumes, one window, one layer --------------------------------------------------

@spec("M1.09")
def test_convolution_over_volume_shapes():
    x = mg.zeros(1, 3, 6, 6)
    assert F.conv2d(x, mg.zeros(1, 3, 3, 3)).shape == (1, 1, 4, 4), "6x6x3 * 3x3x3 -> 4x4"
    assert F.conv2d(x, mg.zeros(2, 3, 3, 3)).shape == (1, 2, 4, 4), "6x6x3 * two 3x3x3 filters -> 4x4x2"


@spec("M1.09")
@PROPERTY
@given(n=st.integers(3, 8), n_c=st.integers(1, 4), n_c_out=st.integers(1, 5))
def test_n_c_prime_filters_give_n_c_prime_channels(n, n_c, n_c_out):
    out = nn.Conv2d(n_c, n_c_out, 3)(mg.zeros(2, n_c, n, n)).shape
    assert out == (2, n_c_out, n - 2, n - 2), f"{n}x{n}x{n_c} with {n_c_out} 3x3x{n_c} filters -> {n - 2}x{n - 2}x{n_c_out}, got {out}"


@spec("M1.09")
def test_filter_channels_must_match_image_channels():
    with pytest.raises(Exception) as caught:
        F.conv2d(mg.zeros(1, 5, 6, 6), mg.zeros(2, 7, 3, 3))
    message = str(caught.value)
    assert "numba" not in type(caught.value).__module__, "a Numba error is not a clear message"
    assert "5" in message and "7" in message, f"the error should name both channel counts (5 and 7): {message!r}"


@spec("M1.10")
@PROPERTY
@given(sizes=conv_sizes(max_n=7, max_f=3, max_p=1, max_s=2), n_c=st.integers(1, 3), seed=st.integers(0, 99))
def test_each_output_is_a_window_times_the_filter_plus_bias(sizes, n_c, seed):
    n_h, n_w, f, p, s = sizes
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, n_c, n_h, n_w))
    w = rng.standard_normal((2, n_c, f, f))
    b = rng.standard_normal(2)
    out = F.conv2d(t(x), t(w), t(b), stride=s, padding=p).numpy()
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    for k in range(2):
        for i in range(out.shape[2]):
            for j in range(out.shape[3]):
                window = xp[0, :, i * s:i * s + f, j * s:j * s + f]
                expected = np.sum(window * w[k]) + b[k]
                assert abs(out[0, k, i, j] - expected) < 1e-9, (
                    f"z[{i},{j},{k}] = sum(window * w) + b = {expected:.6f}, conv2d gave {out[0, k, i, j]:.6f} "
                    f"(f={f}, p={p}, s={s}, n_c={n_c})")


@spec("M1.10")
def test_a_3x3x3_filter_touches_27_values():
    """One output of a 3x3x3 filter depends on exactly 27 input values (its gradient is the filter)."""
    rng = np.random.default_rng(1)
    x = t(rng.standard_normal((1, 3, 6, 6)), requires_grad=True)
    w = rng.uniform(0.5, 1.5, (1, 3, 3, 3))
    out = F.conv2d(x, t(w))
    out[0, 0, 1, 2].backward()
    grad = x.grad.numpy()
    assert np.count_nonzero(grad) == 27, f"one output of a 3x3x3 filter uses 27 inputs, gradient touches {np.count_nonzero(grad)}"
    np.testing.assert_allclose(grad[0, :, 1:4, 2:5], w[0], err_msg="d z / d window = the filter")


@spec("M1.11")
def test_one_layer_z_equals_w_conv_a_plus_b_and_a_equals_g_of_z():
    rng = np.random.default_rng(2)
    a0 = mg.tensor(rng.standard_normal((1, 3, 6, 6)).astype(np.float32))
    layer = nn.Conv2d(3, 4, 3)
    z = layer(a0)
    b = layer.bias.numpy()
    no_bias = F.conv2d(a0, layer.weight).numpy()
    np.testing.assert_allclose(z.numpy() - no_bias, np.broadcast_to(b.reshape(1, 4, 1, 1), z.shape), atol=1e-5,
                               err_msg="z = w * a + b: one bias per filter, added at every position")
    a1 = nn.ReLU()(z).numpy()
    np.testing.assert_allclose(a1, np.maximum(z.numpy(), 0), err_msg="a = g(z) with g = ReLU")
    assert a1.shape == (1, 4, 4, 4)


# ----- M1.12 - M1.13: parameters, a simple ConvNet -------------------------------------------------------

@spec("M1.12")
def test_ten_3x3x3_filters_have_280_parameters_whatever_the_image_size():
    layer = nn.Conv2d(3, 10, 3)
    assert n_params(layer) == 280, f"(3*3*3 + 1) * 10 = 280, the layer owns {n_params(layer)}"
    for n in (6, 39, 100):
        layer(mg.zeros(1, 3, n, n))
        assert n_params(layer) == 280, f"parameters must not depend on the image size ({n}x{n})"


@spec("M1.12")
@PROPERTY
@given(f=st.integers(1, 7), n_c=st.integers(1, 8), n_c_out=st.integers(1, 8), bias=st.booleans())
def test_conv_layer_parameter_count(f, n_c, n_c_out, bias):
    layer = nn.Conv2d(n_c, n_c_out, f, bias=bias)
    expected = (f * f * n_c + (1 if bias else 0)) * n_c_out
    assert n_params(layer) == expected, f"f={f}, n_c={n_c}, n_c'={n_c_out}, bias={bias}: (f*f*n_c + 1)*n_c' -> {expected}, layer owns {n_params(layer)}"
    assert tuple(layer.weight.shape) == (n_c_out, n_c, f, f)


@spec("M1.13")
def test_simple_convnet_shapes():
    from models import summary

    net = nn.Sequential(
        nn.Conv2d(3, 10, 3, stride=1, padding=0), nn.ReLU(),
        nn.Conv2d(10, 20, 5, stride=2, padding=0), nn.ReLU(),
        nn.Conv2d(20, 40, 5, stride=2, padding=0), nn.ReLU(),
        nn.Flatten(),
    )
    rows = [r for r in summary(net, (3, 39, 39)) if r.kind in ("Conv2d", "Flatten")]
    shapes = [tuple(r.output_shape) for r in rows]
    assert shapes == [(10, 37, 37), (20, 17, 17), (40, 7, 7), (1960,)], (
        f"39x39x3 -> 37x37x10 -> 17x17x20 -> 7x7x40 -> 1,960; got {shapes}")
    assert net(mg.zeros(2, 3, 39, 39)).shape == (2, 1960)


# ----- M1.14 - M1.16: pooling ----------------------------------------------------------------------------

@spec("M1.14")
def test_max_pool_example():
    x = t(POOL_4X4).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(F.max_pool2d(x, 2, 2).numpy()[0, 0], [[9, 2], [6, 3]],
                                  err_msg="max pooling f=2, s=2 on the 4x4 example gives [[9, 2], [6, 3]]")
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).numpy()[0, 0], [[9, 2], [6, 3]],
                                  err_msg="MaxPool2d(2): the stride defaults to the filter size")


@spec("M1.14")
def test_average_pool_example():
    x = t(POOL_4X4).reshape(1, 1, 4, 4)
    np.testing.assert_allclose(F.avg_pool2d(x, 2, 2).numpy()[0, 0], [[3.75, 1.25], [3.75, 2.0]],
                               err_msg="average pooling gives the block means [[15/4, 5/4], [15/4, 8/4]]")


@spec("M1.15")
@PROPERTY
@given(n_h=st.integers(1, 10), n_w=st.integers(1, 10), f=st.integers(1, 4), s=st.integers(1, 4),
       n_c=st.integers(1, 4), kind=st.sampled_from(["max", "avg"]))
def test_pooling_output_size_keeps_channels(n_h, n_w, f, s, n_c, kind):
    assume(f <= min(n_h, n_w))
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    out = pool(mg.zeros(2, n_c, n_h, n_w), f, s).shape
    expected = (2, n_c, (n_h - f) // s + 1, (n_w - f) // s + 1)
    assert out == expected, f"{kind} pool n_h={n_h}, n_w={n_w}, f={f}, s={s}: floor((n - f)/s) + 1 x n_c -> {expected[1:]}, got {out[1:]}"


@spec("M1.15")
@PROPERTY
@given(n_h=st.integers(1, 8), n_w=st.integers(1, 8), f=st.integers(1, 3), s=st.integers(1, 3), seed=st.integers(0, 99))
def test_pooling_values_follow_the_stride(n_h, n_w, f, s, seed):
    assume(f <= min(n_h, n_w))
    x = np.random.default_rng(seed).standard_normal((1, 2, n_h, n_w))
    got_max = F.max_pool2d(t(x), f, s).numpy()
    got_avg = F.avg_pool2d(t(x), f, s).numpy()
    for i in range(got_max.shape[2]):
        for j in range(got_max.shape[3]):
            window = x[0, :, i * s:i * s + f, j * s:j * s + f]
            np.testing.assert_allclose(got_max[0, :, i, j], window.max(axis=(1, 2)),
                                       err_msg=f"max pool output ({i},{j}) = max of the window at ({i}*s, {j}*s), s={s}")
            np.testing.assert_allclose(got_avg[0, :, i, j], window.mean(axis=(1, 2)), atol=1e-12,
                                       err_msg=f"average pool output ({i},{j}) = mean of its window, s={s}")


@spec("M1.15")
def test_pooling_has_no_parameters():
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(3, 2)):
        assert n_params(layer) == 0, f"{layer!r} owns {n_params(layer)} parameters; pooling has none"


@spec("M1.16")
@PROPERTY
@given(k=st.integers(1, 3), f=st.integers(1, 3), n_c=st.integers(1, 2), seed=st.integers(0, 99))
def test_max_pool_gradient_goes_to_the_maximum_only(k, f, n_c, seed):
    rng = np.random.default_rng(seed)
    n = k * f
    values = rng.permutation(n * n * n_c).reshape(1, n_c, n, n).astype(np.float64)  # distinct: one maximum
    x = t(values, requires_grad=True)
    g = rng.uniform(1, 2, (1, n_c, k, k))
    (F.max_pool2d(x, f, f) * t(g)).sum().backward()
    grad = x.grad.numpy()
    expected = np.zeros_like(values)
    for c in range(n_c):
        for i in range(k):
            for j in range(k):
                window = values[0, c, i * f:(i + 1) * f, j * f:(j + 1) * f]
                u, v = np.unravel_index(np.argmax(window), window.shape)
                expected[0, c, i * f + u, j * f + v] = g[0, c, i, j]
    np.testing.assert_allclose(grad, expected, err_msg=f"max pool f=s={f}: dL/da is dL/dz at each window's maximum, 0 elsewhere")


@spec("M1.16")
def test_max_pool_gradient_on_the_4x4_example():
    x = t(POOL_4X4, requires_grad=True)
    F.max_pool2d(x.reshape(1, 1, 4, 4), 2, 2).sum().backward()
    expected = np.zeros((4, 4))
    expected[1, 1] = expected[0, 2] = expected[3, 1] = expected[2, 3] = 1  # the 9, 2, 6 and 3
    np.testing.assert_array_equal(x.grad.numpy(), expected, err_msg="the gradient reaches only the 9, 2, 6 and 3")


@spec("M1.16")
@PROPERTY
@given(k=st.integers(1, 3), f=st.integers(1, 3), seed=st.integers(0, 99))
def test_average_pool_gradient_spreads_evenly(k, f, seed):
    rng = np.random.default_rng(seed)
    n = k * f
    x = t(rng.standard_normal((1, 1, n, n)), requires_grad=True)
    g = rng.uniform(1, 2, (1, 1, k, k))
    (F.avg_pool2d(x, f, f) * t(g)).sum().backward()
    expected = np.kron(g[0, 0], np.ones((f, f))) / (f * f)
    np.testing.assert_allclose(x.grad.numpy()[0, 0], expected, err_msg=f"average pool: each input gets dL/dz / f^2 = dL/dz / {f * f}")


# ----- M1.17 - M1.18: the CNN example and why convolutions -------------------------------------------------

def cnn_example():
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


@spec("M1.17")
def test_cnn_example_shapes_and_parameters():
    from models import summary

    net = cnn_example()
    rows = [r for r in summary(net, (3, 32, 32)) if r.kind not in ("ReLU",)]
    table = [(r.kind, tuple(r.output_shape), r.params) for r in rows]
    expected = [
        ("Conv2d", (6, 28, 28), (5 * 5 * 3 + 1) * 6),
        ("MaxPool2d", (6, 14, 14), 0),
        ("Conv2d", (16, 10, 10), (5 * 5 * 6 + 1) * 16),
        ("MaxPool2d", (16, 5, 5), 0),
        ("Flatten", (400,), 0),
        ("Linear", (120,), 400 * 120 + 120),
        ("Linear", (84,), 120 * 84 + 84),
        ("Linear", (10,), 84 * 10 + 10),
    ]
    assert table == expected, "the CNN example's layers (kind, shape, parameters):\n  got      " + \
        "\n  ".join(map(str, table)) + "\n  expected " + "\n  ".join(map(str, expected))
    assert n_params(net) == 456 + 2416 + 48120 + 10164 + 850
    probs = F.softmax(net(mg.randn(2, 3, 32, 32)), dim=1).numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5, err_msg="the softmax output is a distribution over 10 classes")


@spec("M1.18")
def test_fully_connected_against_convolution_parameters():
    """32x32x3 -> 28x28x6: a fully connected map has 3,072 * 4,704 = 14,450,688 weights; six 5x5x3 filters have 456.

    Erratum: the notes compute the conv layer as (5 x 5 + 1) x 6 = 156, which counts a
    single input channel; the input has 3 channels, so each filter has 5*5*3 = 75
    weights plus a bias: (75 + 1) * 6 = 456.
    """
    fc = nn.Linear(32 * 32 * 3, 28 * 28 * 6, bias=False)
    assert n_params(fc) == 14_450_688, f"3,072 * 4,704 = 14,450,688 weights, the layer owns {n_params(fc):,}"
    conv = nn.Conv2d(3, 6, 5)
    assert conv(mg.zeros(1, 3, 32, 32)).shape == (1, 6, 28, 28)
    assert n_params(conv) == 456, f"(5*5*3 + 1)*6 = 456 (not the notes' 156), the layer owns {n_params(conv)}"
    assert n_params(fc) / n_params(conv) > 30_000


# ----- M1.19 - M1.20: parameter sharing, sparsity of connections ---------------------------------------------

@spec("M1.19")
@PROPERTY
@given(dy=st.integers(0, 4), dx=st.integers(0, 4), f=st.integers(1, 4), seed=st.integers(0, 99))
def test_parameter_sharing_translation_equivariance(dy, dx, f, seed):
    """The same filter at every position: translating the input translates the output."""
    rng = np.random.default_rng(seed)
    x = np.zeros((1, 2, 14, 14))
    x[0, :, 2:8, 2:8] = rng.standard_normal((2, 6, 6))
    shifted = np.zeros_like(x)
    shifted[:, :, dy:, dx:] = x[:, :, :14 - dy, :14 - dx]
    w = t(rng.standard_normal((3, 2, f, f)))
    out = F.conv2d(t(x), w).numpy()
    out_shifted = F.conv2d(t(shifted), w).numpy()
    h = out.shape[2]
    np.testing.assert_allclose(out_shifted[:, :, dy:, dx:], out[:, :, :h - dy, :h - dx], atol=1e-10,
                               err_msg=f"conv(shift(x)) != shift(conv(x)) for a shift of ({dy}, {dx})")


@spec("M1.20")
@PROPERTY
@given(sizes=conv_sizes(max_n=8, max_f=3, max_p=1, max_s=2), seed=st.integers(0, 99), data=st.data())
def test_sparsity_each_output_depends_only_on_its_window(sizes, seed, data):
    n_h, n_w, f, p, s = sizes
    rng = np.random.default_rng(seed)
    x = t(rng.standard_normal((1, 2, n_h, n_w)), requires_grad=True)
    w = rng.uniform(0.5, 1.5, (1, 2, f, f))
    out = F.conv2d(x, t(w), stride=s, padding=p)
    i = data.draw(st.integers(0, out.shape[2] - 1))
    j = data.draw(st.integers(0, out.shape[3] - 1))
    out[0, 0, i, j].backward()
    grad = x.grad.numpy()[0]
    inside = np.zeros((n_h, n_w), dtype=bool)
    inside[max(i * s - p, 0):max(i * s - p + f, 0), max(j * s - p, 0):max(j * s - p + f, 0)] = True
    assert np.all(grad[:, ~inside] == 0), (
        f"dz[{i},{j}]/da must be 0 outside rows {i * s - p}..{i * s - p + f - 1}, cols {j * s - p}..{j * s - p + f - 1} "
        f"(f={f}, p={p}, s={s})")
    assert np.all(grad[:, inside] != 0), "every input inside the window contributes"
