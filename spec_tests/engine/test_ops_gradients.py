"""Every differentiable op of the public API: forward against a direct numpy expression, gradients against finite differences.

One helper, ``check_op``, does the work, so an op's test is about three lines:
hypothesis draws shapes (broadcastable pairs included), a seed for the values,
strides and paddings; ``check_op`` compares the forward in float64 (and float32)
with a numpy reference written independently of the engine (naive loops for
conv and pool), checks that float32 stays float32 through outputs and gradients,
and runs ``mg.gradcheck`` in float64.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.functional as F

FEW = settings(max_examples=12, deadline=None)
SOME = settings(max_examples=25, deadline=None)


# ----- the helper ------------------------------------------------------------------
def _values(rng, shape, domain):
    """Values for one input, kept away from the op's kinks so finite differences are fair."""
    if domain == "any":
        return rng.standard_normal(shape)
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "unit":  # probabilities, away from 0 and 1
        return rng.uniform(0.1, 0.9, shape)
    if domain == "nonzero":  # |x| >= 0.1: relu and abs are smooth there
        return rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if domain == "distinct":  # all values at least 0.1 apart: max is smooth, no ties
        n = int(np.prod(shape, dtype=np.int64))
        return (rng.permutation(n) * 0.1 - n * 0.05 + rng.uniform(0, 0.02, n)).reshape(shape)
    raise ValueError(domain)


def check_op(fn, *shapes, data, reference=None, domains=None, atol=1e-5):
    """Draw values for each shape, compare fn's forward with reference's, gradcheck fn in float64.

    ``domains`` names, per input, where its values come from (see _values).
    """
    domains = domains or ("any",) * len(shapes)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    arrays = [_values(rng, shape, d) for shape, d in zip(shapes, domains)]

    if reference is not None:
        want = np.asarray(reference(*arrays), dtype=np.float64)
        got = fn(*[mg.tensor(a) for a in arrays])
        assert got.dtype == mg.float64
        assert got.shape == want.shape, (got.shape, want.shape)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10)

    # float32 in, float32 out, float32 gradients, values near the float64 ones.
    singles = [mg.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    out = fn(*singles)
    assert out.dtype == mg.float32
    if reference is not None:
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-4, atol=1e-4)
    out.sum().backward()
    for t in singles:
        assert t.grad is not None and t.grad.dtype == mg.float32 and t.grad.shape == t.shape

    doubles = [mg.tensor(a, requires_grad=True) for a in arrays]
    # rtol tighter than gradcheck's default 1e-3: central differences in float64 are good to ~1e-8 here
    assert mg.gradcheck(fn, doubles, eps=1e-6, atol=atol, rtol=1e-5)


# ----- strategies -----------------------------------------------------------------
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
nonempty_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3).map(lambda b: b.input_shapes)


@st.composite
def shape_and_dims(draw, min_dims=1):
    """A shape and a dim argument: None, an int (maybe negative) or a tuple of distinct dims."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=3))
    n = len(shape)
    if n == 0:
        return shape, None
    dim = draw(st.one_of(
        st.none(),
        st.integers(-n, n - 1),
        st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True).map(
            lambda ds: tuple(d - n if i % 2 else d for i, d in enumerate(ds))),
    ))
    return shape, dim


def _np_axes(dim):
    return None if dim is None else dim


# ----- elementwise ------------------------------------------------------------------
@SOME
@given(pairs, st.data())
def test_add(shapes, data):
    check_op(lambda a, b: a + b, *shapes, data=data, reference=np.add)


@SOME
@given(pairs, st.data())
def test_sub(shapes, data):
    check_op(lambda a, b: a - b, *shapes, data=data, reference=np.subtract)


@SOME
@given(pairs, st.data())
def test_mul(shapes, data):
    check_op(lambda a, b: a * b, *shapes, data=data, reference=np.multiply)


@SOME
@given(pairs, st.data())
def test_div(shapes, data):
    check_op(lambda a, b: a / b, *shapes, data=data, reference=np.divide, domains=("any", "positive"))


@SOME
@given(pairs, st.data())
def test_pow_tensor_exponent(shapes, data):
    check_op(lambda a, b: a ** b, *shapes, data=data, reference=np.power, domains=("positive", "any"))


@FEW
@given(shapes, st.sampled_from([2, 3, 0.5, -1.5]), st.data())
def test_pow_scalar_exponent(shape, k, data):
    check_op(lambda a: a ** k, shape, data=data, reference=lambda a: a ** k, domains=("positive",))


@FEW
@given(shapes, st.sampled_from([0.5, 2.0, 3.0]), st.data())
def test_scalar_on_the_left(shape, c, data):
    ref = lambda a: (c - a) * (c / a) + c ** a + c * a  # noqa: E731
    check_op(lambda a: (c - a) * (c / a) + c ** a + c * a, shape, data=data, reference=ref, domains=("positive",))


@FEW
@given(shapes, st.data())
def test_neg(shape, data):
    check_op(lambda a: -a, shape, data=data, reference=np.negative)


UNARY = {
    "exp": (np.exp, "any"),
    "log": (np.log, "positive"),
    "sqrt": (np.sqrt, "positive"),
    "abs": (np.abs, "nonzero"),
    "relu": (lambda a: np.where(a > 0, a, 0.0), "nonzero"),
    "sigmoid": (lambda a: 1 / (1 + np.exp(-a)), "any"),
    "tanh": (lambda a: (np.exp(a) - np.exp(-a)) / (np.exp(a) + np.exp(-a)), "any"),
}


@SOME
@given(st.sampled_from(sorted(UNARY)), shapes, st.data())
def test_unary_methods(name, shape, data):
    ref, domain = UNARY[name]
    check_op(lambda a: getattr(a, name)(), shape, data=data, reference=ref, domains=(domain,))


@FEW
@given(st.sampled_from(["relu", "sigmoid", "tanh"]), shapes, st.data())
def test_functional_activations(name, shape, data):
    ref, domain = UNARY[name]
    check_op(getattr(F, name), shape, data=data, reference=ref, domains=(domain,))


@FEW
@given(shapes, st.data())
def test_clamp(shape, data):
    # "distinct" values sit on a 0.1 grid offset by < 0.02; bounds at +-0.125 stay clear of them.
    check_op(lambda a: mg.clamp(a, -0.125, 0.125), shape, data=data,
             reference=lambda a: np.minimum(np.maximum(a, -0.125), 0.125), domains=("distinct",))


# ----- reductions ----------------------------------------------------------------------
@SOME
@given(shape_and_dims(min_dims=0), st.booleans(), st.data())
def test_sum(shape_dim, keepdim, data):
    shape, dim = shape_dim
    check_op(lambda a: a.sum(dim=dim, keepdim=keepdim), shape, data=data,
             reference=lambda a: np.sum(a, axis=_np_axes(dim), keepdims=keepdim))


@SOME
@given(shape_and_dims(min_dims=0), st.booleans(), st.data())
def test_mean(shape_dim, keepdim, data):
    shape, dim = shape_dim
    check_op(lambda a: a.mean(dim, keepdim), shape, data=data,
             reference=lambda a: np.mean(a, axis=_np_axes(dim), keepdims=keepdim))


@FEW
@given(nonempty_shapes, st.data())
def test_max_all(shape, data):
    check_op(lambda a: a.max(), shape, data=data, reference=np.max, domains=("distinct",))


@SOME
@given(nonempty_shapes, st.booleans(), st.data())
def test_max_dim_values_and_indices(shape, keepdim, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    check_op(lambda a: a.max(dim, keepdim=keepdim)[0], shape, data=data,
             reference=lambda a: np.max(a, axis=dim, keepdims=keepdim), domains=("distinct",))
    x = np.random.default_rng(0).standard_normal(shape)
    values, indices = mg.tensor(x).max(dim=dim, keepdim=keepdim)
    assert indices.dtype == mg.int64
    np.testing.assert_array_equal(indices.numpy(), np.argmax(x, axis=dim).reshape(values.shape))
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x, np.expand_dims(np.argmax(x, dim), dim), dim).reshape(values.shape))


def test_max_dim_ties_send_the_gradient_to_the_first_index():
    x = mg.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 1.0]], requires_grad=True)
    values, indices = x.max(1)
    assert indices.numpy().tolist() == [1, 0]
    values.sum().backward()
    assert x.grad.numpy().tolist() == [[0, 1, 0], [1, 0, 0]]


# ----- shape ------------------------------------------------------------------------------
@FEW
@given(nonempty_shapes, st.data())
def test_reshape(shape, data):
    n = int(np.prod(shape))
    check_op(lambda a: a.reshape(-1, 1), shape, data=data, reference=lambda a: a.reshape(n, 1))
    check_op(lambda a: a.reshape((1, n)), shape, data=data, reference=lambda a: a.reshape(1, n))


@FEW
@given(hnp.array_shapes(min_dims=2, max_dims=3, max_side=3), st.data())
def test_transpose(shape, data):
    d0, d1 = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=2, max_size=2), label="dims")
    check_op(lambda a: a.transpose(d0, d1), shape, data=data, reference=lambda a: np.swapaxes(a, d0, d1))


@FEW
@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), st.data())
def test_permute(shape, data):
    perm = data.draw(st.permutations(range(len(shape))), label="perm")
    check_op(lambda a: a.permute(*perm), shape, data=data, reference=lambda a: np.transpose(a, perm))


@FEW
@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), st.data())
def test_flatten(shape, data):
    start = data.draw(st.integers(0, len(shape) - 1), label="start_dim")
    check_op(lambda a: a.flatten(start_dim=start), shape, data=data,
             reference=lambda a: a.reshape(a.shape[:start] + (-1,)))


@st.composite
def basic_index(draw, shape):
    """A tuple of ints and slices (positive steps), one per leading dim."""
    items = []
    for n in shape[:draw(st.integers(1, len(shape)))]:
        if draw(st.booleans()):
            items.append(draw(st.integers(-n, n - 1)))
        else:
            start = draw(st.integers(0, n - 1))
            items.append(slice(start, draw(st.integers(start + 1, n)), draw(st.integers(1, 2))))
    return tuple(items)


@SOME
@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), st.data())
def test_getitem(shape, data):
    index = data.draw(basic_index(shape), label="index")
    check_op(lambda a: a[index] * 1.0, shape, data=data, reference=lambda a: a[index])


@FEW
@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), st.integers(1, 3), st.data())
def test_cat(shape, extra, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    other = list(shape)
    other[dim] = extra
    check_op(lambda a, b: mg.cat([a, b], dim), shape, tuple(other), data=data,
             reference=lambda a, b: np.concatenate([a, b], axis=dim))


@FEW
@given(shapes, st.data())
def test_stack(shape, data):
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)), label="dim")
    check_op(lambda a, b, c: mg.stack([a, b, c], dim=dim), shape, shape, shape, data=data,
             reference=lambda a, b, c: np.stack([a, b, c], axis=dim))


# ----- matmul and linear ------------------------------------------------------------
def naive_matmul(a, b):
    """matmul from broadcasting and a sum (1-D operands become a row / a column, then the axis is dropped)."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    out = (a2[..., :, :, None] * b2[..., None, :, :]).sum(axis=-2)
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


@st.composite
def matmul_shapes(draw):
    m, k, n = (draw(st.integers(1, 3)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=2)).input_shapes
    a = draw(st.sampled_from([(k,), batch[0] + (m, k)]))
    b = draw(st.sampled_from([(k,), batch[1] + (k, n)]))
    return a, b


@SOME
@given(matmul_shapes(), st.data())
def test_matmul(shapes, data):
    check_op(lambda a, b: a @ b, *shapes, data=data, reference=naive_matmul)


@FEW
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.booleans(), st.data())
def test_linear(n, fan_in, fan_out, bias, data):
    if bias:
        check_op(F.linear, (n, fan_in), (fan_out, fan_in), (fan_out,), data=data,
                 reference=lambda x, w, b: np.einsum("ni,oi->no", x, w) + b)
    else:
        check_op(lambda x, w: F.linear(x, w), (n, fan_in), (fan_out, fan_in), data=data,
                 reference=lambda x, w: np.einsum("ni,oi->no", x, w))


@pytest.mark.parametrize("bias", [True, False])
def test_linear_of_a_2d_input_is_one_node_with_the_chains_numbers(bias):
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.standard_normal((5, 7)).astype(np.float32), requires_grad=True)
    w = mg.tensor(rng.standard_normal((3, 7)).astype(np.float32), requires_grad=True)
    b = mg.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True) if bias else None
    x3 = mg.tensor(x.numpy()[None], requires_grad=True)   # (1, N, in): the unfused chain
    fused, chain = F.linear(x, w, b), F.linear(x3, w, b)
    assert fused._ctx.parents == ((x, w, b) if bias else (x, w))
    np.testing.assert_allclose(fused.numpy(), chain.numpy()[0], rtol=1e-6, atol=1e-6)
    weights = rng.standard_normal(fused.shape).astype(np.float32)
    (fused * mg.tensor(weights)).sum().backward()
    fused_grads = [t.grad.numpy().copy() for t in (w, b) if t is not None]
    for t in (w, b):
        if t is not None:
            t.grad = None
    (chain * mg.tensor(weights[None])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x3.grad.numpy()[0], rtol=1e-6, atol=1e-6)
    for got, t in zip(fused_grads, [t for t in (w, b) if t is not None]):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-5, atol=1e-5)


# ----- convolution and pooling ------------------------------------------------------------
def naive_conv2d(x, w, b, stride, pads):
    """Cross-correlation by the definition: one output value per (n, c', i, j) as a triple sum."""
    (s_h, s_w), (top, bottom, left, right) = stride, pads
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, c, h, wd = x.shape
    c_out, _, f_h, f_w = w.shape
    out = np.zeros((n, c_out, (h - f_h) // s_h + 1, (wd - f_w) // s_w + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            for k in range(c_out):
                patch = x[:, :, i * s_h:i * s_h + f_h, j * s_w:j * s_w + f_w]
                out[:, k, i, j] = (patch * w[k]).sum(axis=(1, 2, 3)) + (0 if b is None else b[k])
    return out


@st.composite
def conv_case(draw):
    """(x shape, w shape, stride, padding argument, (top, bottom, left, right)) with a kernel that fits."""
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    f_h, f_w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["int", "pair", "valid", "same"]))
    stride = (1, 1) if kind == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if kind == "int":
        p = draw(st.integers(0, 2))
        padding, pads = p, (p, p, p, p)
    elif kind == "pair":
        p_h, p_w = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        padding, pads = (p_h, p_w), (p_h, p_h, p_w, p_w)
    elif kind == "valid":
        padding, pads = "valid", (0, 0, 0, 0)
    else:  # an even kernel puts its extra zero at the bottom / right, as PyTorch
        padding = "same"
        pads = ((f_h - 1) // 2, f_h - 1 - (f_h - 1) // 2, (f_w - 1) // 2, f_w - 1 - (f_w - 1) // 2)
    h = draw(st.integers(max(1, f_h - pads[0] - pads[1]), 5))
    w = draw(st.integers(max(1, f_w - pads[2] - pads[3]), 5))
    return (n, c_in, h, w), (c_out, c_in, f_h, f_w), stride, padding, pads


@SOME
@given(conv_case(), st.booleans(), st.data())
def test_conv2d(case, bias, data):
    x_shape, w_shape, stride, padding, pads = case
    if bias:
        check_op(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), x_shape, w_shape, w_shape[:1],
                 data=data, reference=lambda x, w, b: naive_conv2d(x, w, b, stride, pads))
    else:
        check_op(lambda x, w: F.conv2d(x, w, stride=stride, padding=padding), x_shape, w_shape,
                 data=data, reference=lambda x, w: naive_conv2d(x, w, None, stride, pads))


@FEW
@given(conv_case(), st.data())
def test_conv2d_unbatched_input(case, data):
    x_shape, w_shape, stride, padding, pads = case
    check_op(lambda x, w: F.conv2d(x, w, None, stride, padding), x_shape[1:], w_shape, data=data,
             reference=lambda x, w: naive_conv2d(x[None], w, None, stride, pads)[0])


def naive_pool(x, kernel, stride, padding, how):
    """max (padding -inf) or mean (padding zeros, counted) of each window, by the definition."""
    (f_h, f_w), (s_h, s_w), (p_h, p_w) = kernel, stride, padding
    fill = -np.inf if how == "max" else 0.0
    x = np.pad(x, ((0, 0), (0, 0), (p_h, p_h), (p_w, p_w)), constant_values=fill)
    h_out, w_out = (x.shape[2] - f_h) // s_h + 1, (x.shape[3] - f_w) // s_w + 1
    out = np.zeros(x.shape[:2] + (h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, :, i * s_h:i * s_h + f_h, j * s_w:j * s_w + f_w]
            out[:, :, i, j] = window.max(axis=(2, 3)) if how == "max" else window.mean(axis=(2, 3))
    return out


@st.composite
def pool_case(draw):
    """(x shape, kernel, stride argument (None = kernel), stride, padding) with padding <= kernel // 2."""
    f_h, f_w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = (draw(st.integers(0, f_h // 2)), draw(st.integers(0, f_w // 2)))
    stride_arg = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    stride = (f_h, f_w) if stride_arg is None else stride_arg
    h = draw(st.integers(max(1, f_h - 2 * padding[0]), 5))
    w = draw(st.integers(max(1, f_w - 2 * padding[1]), 5))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w), (f_h, f_w), stride_arg, stride, padding


@SOME
@given(pool_case(), st.data())
def test_max_pool2d(case, data):
    x_shape, kernel, stride_arg, stride, padding = case
    check_op(lambda x: F.max_pool2d(x, kernel, stride_arg, padding), x_shape, data=data,
             reference=lambda x: naive_pool(x, kernel, stride, padding, "max"), domains=("distinct",))


@SOME
@given(pool_case(), st.data())
def test_avg_pool2d(case, data):
    x_shape, kernel, stride_arg, stride, padding = case
    check_op(lambda x: F.avg_pool2d(x, kernel, stride=stride_arg, padding=padding), x_shape, data=data,
             reference=lambda x: naive_pool(x, kernel, stride, padding, "mean"))


def test_max_pool2d_ties_send_the_gradient_to_the_first_maximum():
    x = mg.tensor(np.ones((1, 1, 2, 4)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.numpy()[0, 0].tolist() == [[1, 0, 1, 0], [0, 0, 0, 0]]


def test_avg_pool2d_counts_padded_zeros():
    out = F.avg_pool2d(mg.ones(1, 1, 2, 2), 2, stride=2, padding=1)
    np.testing.assert_allclose(out.numpy(), np.full((1, 1, 2, 2), 0.25))


def naive_adaptive_avg_pool(x, out_h, out_w):
    h, w = x.shape[2:]
    out = np.zeros(x.shape[:2] + (out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(int(np.floor(i * h / out_h)), int(np.ceil((i + 1) * h / out_h)))
            cols = slice(int(np.floor(j * w / out_w)), int(np.ceil((j + 1) * w / out_w)))
            out[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    return out


@FEW
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 4), st.integers(1, 4), st.data())
def test_adaptive_avg_pool2d(h, w, out_h, out_w, data):
    check_op(lambda x: F.adaptive_avg_pool2d(x, (out_h, out_w)), (2, 1, h, w), data=data,
             reference=lambda x: naive_adaptive_avg_pool(x, out_h, out_w))


# ----- softmax, losses, normalisation, dropout ------------------------------------------
@FEW
@given(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), st.data())
def test_softmax_and_log_softmax(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    soft = lambda a: np.exp(a) / np.exp(a).sum(axis=dim, keepdims=True)  # noqa: E731
    check_op(lambda a: F.softmax(a, dim), shape, data=data, reference=soft)
    check_op(lambda a: F.log_softmax(a, dim=dim), shape, data=data, reference=lambda a: np.log(soft(a)))


@FEW
@given(st.integers(1, 4), st.integers(2, 4), st.data())
def test_cross_entropy(n, c, data):
    target = np.asarray(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n), label="target"))
    ref = lambda z: -np.mean(np.log(np.exp(z) / np.exp(z).sum(1, keepdims=True))[np.arange(n), target])  # noqa: E731
    check_op(lambda z: F.cross_entropy(z, mg.tensor(target)), (n, c), data=data, reference=ref)


@FEW
@given(st.integers(1, 4), st.integers(2, 4), st.sampled_from(["sum", "none"]), st.data())
def test_cross_entropy_sum_and_none(n, c, reduction, data):
    target = np.asarray(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n), label="target"))
    per_example = lambda z: -np.log(np.exp(z) / np.exp(z).sum(1, keepdims=True))[np.arange(n), target]  # noqa: E731
    ref = (lambda z: per_example(z).sum()) if reduction == "sum" else per_example  # noqa: E731
    check_op(lambda z: F.cross_entropy(z, mg.tensor(target), reduction=reduction), (n, c), data=data, reference=ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_of_n_c_logits_is_one_node_with_the_chains_numbers(reduction, dtype):
    rng = np.random.default_rng(0)
    z = mg.tensor((3 * rng.standard_normal((6, 5))).astype(dtype), requires_grad=True)
    z3 = mg.tensor(z.numpy()[:, :, None], requires_grad=True)   # (N, C, 1): the unfused chain of nodes
    target = rng.integers(0, 5, 6)
    fused = F.cross_entropy(z, mg.tensor(target), reduction=reduction)
    chain = F.cross_entropy(z3, mg.tensor(target[:, None]), reduction=reduction)
    assert fused._ctx.parents == (z,)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(fused.numpy(), chain.numpy().reshape(fused.shape), **tol)
    weights = rng.standard_normal(fused.shape).astype(dtype)
    (fused * mg.tensor(weights)).sum().backward()
    (chain * mg.tensor(weights.reshape(chain.shape))).sum().backward()
    assert z.grad.dtype == dtype
    np.testing.assert_allclose(z.grad.numpy(), z3.grad.numpy()[:, :, 0], **tol)


@FEW
@given(shapes, st.data())
def test_binary_cross_entropy(shape, data):
    ref = lambda p, y: np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))  # noqa: E731
    check_op(F.binary_cross_entropy, shape, shape, data=data, reference=ref, domains=("unit", "unit"))


@FEW
@given(shapes, st.data())
def test_mse_loss(shape, data):
    check_op(F.mse_loss, shape, shape, data=data, reference=lambda a, b: np.mean((a - b) ** 2))


@FEW
@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from([0.0, 0.2, 1.0]), st.data())
def test_triplet_loss(m, d, margin, data):
    def ref(a, p, n):
        gap = ((a - p) ** 2).sum(-1) - ((a - n) ** 2).sum(-1) + margin
        return np.maximum(gap, 0).sum()

    check_op(lambda a, p, n: F.triplet_loss(a, p, n, margin=margin), (m, d), (m, d), (m, d), data=data, reference=ref)


@FEW
@given(st.sampled_from([(3, 2), (2, 2, 3), (2, 3, 2, 2)]), st.data())
def test_batch_norm_training(shape, data):
    axes = (0,) + tuple(range(2, len(shape)))
    stat = (1, shape[1]) + (1,) * (len(shape) - 2)

    def ref(x, w, b):
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-5) * w.reshape(stat) + b.reshape(stat)

    c = shape[1]
    check_op(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), shape, (c,), (c,),
             data=data, reference=ref, atol=1e-4)


@FEW
@given(st.sampled_from([(3, 2), (2, 3, 2, 2)]), st.data())
def test_batch_norm_eval(shape, data):
    c, stat = shape[1], (1, shape[1]) + (1,) * (len(shape) - 2)
    mean, var = np.linspace(-1, 1, c), np.linspace(0.5, 2, c)

    def fn(x, w, b):
        return F.batch_norm(x, mg.tensor(mean).to(x.dtype), mg.tensor(var).to(x.dtype), w, b, False, 0.1, 1e-5)

    ref = lambda x, w, b: (x - mean.reshape(stat)) / np.sqrt(var.reshape(stat) + 1e-5) * w.reshape(stat) + b.reshape(stat)  # noqa: E731
    check_op(fn, shape, (c,), (c,), data=data, reference=ref)


@FEW
@given(shapes, st.sampled_from([0.25, 0.5]), st.data())
def test_dropout_gradient_with_a_fixed_mask(shape, p, data):
    def fn(x):
        mg.manual_seed(7)  # the same mask at every call, so finite differences see one function
        return F.dropout(x, p, training=True)

    check_op(fn, shape, data=data)


# ----- dtypes: inference and promotion, as PyTorch ------------------------------------------
@pytest.mark.parametrize("data, dtype", [
    ([1.0, 2.0], "float32"), (1.5, "float32"), ([[1, 2.5]], "float32"),
    ([1, 2], "int64"), (3, "int64"), ([True, False], "bool"), (True, "bool"), ([], "float32"),
    (np.zeros(2), "float64"), (np.zeros(2, np.float32), "float32"), (np.zeros(2, np.int32), "int32"),
    (np.zeros(2, np.uint8), "uint8"), (np.zeros(2, bool), "bool"),
])
def test_tensor_infers_the_dtype(data, dtype):
    assert mg.tensor(data).dtype == np.dtype(dtype)


def test_tensor_dtype_argument_and_copy():
    a = np.array([1.0, 2.0])
    t = mg.tensor(a, dtype=mg.float32)
    a[0] = 9.0
    assert t.dtype == mg.float32 and t.numpy().tolist() == [1.0, 2.0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_python_scalars_keep_a_float_tensor_dtype(dtype):
    x = mg.tensor(np.array([1.0, 2.0], dtype))
    for y in (x + 1, 2 * x, x - 0.5, 1.5 / x, x ** 2, 2.0 ** x, -x):
        assert y.dtype == np.dtype(dtype)


@pytest.mark.parametrize("int_dtype", ["int64", "int32", "uint8"])
def test_int_tensors_promote_as_pytorch(int_dtype):
    i = mg.tensor(np.array([1, 2, 4], int_dtype))
    assert (i + 1).dtype == np.dtype(int_dtype)
    assert (i * 2.5).dtype == mg.float32  # a Python float makes float32, not float64
    assert (i + mg.tensor(np.ones(3, np.float32))).dtype == mg.float32
    assert (i + mg.tensor(np.ones(3))).dtype == mg.float64
    half = i / 2  # true division of ints is float32
    assert half.dtype == mg.float32 and half.numpy().tolist() == [0.5, 1.0, 2.0]
    assert (i / i).dtype == mg.float32
    for y in (i.exp(), i.log(), i.sqrt(), i.sigmoid(), i.tanh()):
        assert y.dtype == mg.float32
    np.testing.assert_allclose(i.sigmoid().numpy(), 1 / (1 + np.exp(-np.array([1.0, 2.0, 4.0]))), rtol=1e-6)


def test_float_widths_promote_to_the_wider():
    a, b = mg.tensor(np.ones(2, np.float32)), mg.tensor(np.ones(2))
    assert (a * b).dtype == (b - a).dtype == (a @ b).dtype == mg.float64


def test_cat_and_stack_promote_as_binary_ops():
    i, f, d = mg.tensor([1]), mg.tensor([2.0]), mg.tensor(np.array([3.0]))
    assert mg.cat([i, f]).dtype == mg.float32
    assert mg.cat([f, d]).dtype == mg.float64
    assert mg.stack([i, mg.tensor(np.array([5], np.int32))]).dtype == mg.int64


def test_reductions_of_ints_and_bools_give_int64():
    assert mg.tensor([True, True, False]).sum().dtype == mg.int64
    assert mg.tensor([True, True, False]).sum().item() == 2
    assert mg.tensor([3, 9, 2]).max().item() == 9


def test_empty_dim_tuple_reduces_every_axis():
    x = mg.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(dim=()).item() == 15.0 and x.sum(()).shape == ()


def test_pools_accept_unbatched_input():
    x = np.arange(32.0).reshape(2, 4, 4)
    np.testing.assert_array_equal(F.max_pool2d(mg.tensor(x), 2).numpy(), x.reshape(2, 2, 2, 2, 2).max(axis=(2, 4)))
    np.testing.assert_array_equal(F.avg_pool2d(mg.tensor(x), 2).numpy(), x.reshape(2, 2, 2, 2, 2).mean(axis=(2, 4)))
    assert F.adaptive_avg_pool2d(mg.tensor(x), 1).shape == (2, 1, 1)


def test_binary_cross_entropy_is_finite_at_zero_and_one():
    # logs clamp at -100; the gradient is (p - y) / max(p (1 - p), 1e-12) / N, as PyTorch
    p = mg.tensor(np.array([0.0, 1.0, 0.0, 1.0]), requires_grad=True)
    loss = F.binary_cross_entropy(p, mg.tensor(np.array([0.0, 1.0, 1.0, 0.0])))
    assert loss.item() == pytest.approx((0 + 0 + 100 + 100) / 4)
    loss.backward()
    np.testing.assert_allclose(p.grad.numpy(), [0.0, 0.0, -1e12 / 4, 1e12 / 4])


@pytest.mark.parametrize("zero_d, dimensioned, want", [
    (np.array(2.5), np.ones(2, np.float32), "float32"),  # same category: the dimensioned tensor wins
    (np.array(2.5, np.float32), np.ones(2), "float64"),
    (np.array(3), np.ones(2, np.uint8), "uint8"),
    (np.array(2.5), np.ones(2, np.int64), "float64"),  # a higher category wins with its own width
    (np.array(3), np.ones(2, bool), "int64"),
])
def test_a_zero_d_tensor_promotes_like_pytorch(zero_d, dimensioned, want):
    a, b = mg.tensor(zero_d), mg.tensor(dimensioned)
    assert (a * b).dtype == (b + a).dtype == np.dtype(want)


def test_comparisons_are_elementwise():
    x, y = mg.tensor([1.0, 2.0, 3.0]), mg.tensor([1.0, 5.0, 0.0])
    assert (x == y).numpy().tolist() == [True, False, False]
    assert (x != y).numpy().tolist() == [False, True, True]
    assert (x == 2.0).numpy().tolist() == [False, True, False]
    assert (x > y).numpy().tolist() == [False, False, True]
    assert (x <= y).numpy().tolist() == [True, True, False]
    assert (x == y).dtype == mg.bool_
    assert (mg.tensor([0, 1, 2]) == mg.tensor([0, 1, 1])).sum().item() == 2  # accuracy the PyTorch way
    assert (x == None) is False and (x != None) is True  # noqa: E711
    assert {x: 1}[x] == 1  # tensors stay hashable by identity
