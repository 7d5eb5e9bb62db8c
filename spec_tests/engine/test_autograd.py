"""The autograd engine itself: deep graphs, accumulation, un-broadcasting, grad mode, pruning, retain_graph, freeing."""

import gc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.functional as F


def _graph_nodes(root):
    """Every Function reachable from root (walked iteratively)."""
    nodes, stack, seen = [], [root], set()
    while stack:
        t = stack.pop()
        ctx = t.grad_fn
        if ctx is None or id(ctx) in seen:
            continue
        seen.add(id(ctx))
        nodes.append(ctx)
        stack.extend(ctx.parents)
    return nodes


# ----- depth ---------------------------------------------------------------------------
def test_a_chain_of_100000_ops_backpropagates_without_recursion():
    x = mg.tensor(2.0, requires_grad=True)
    y = x
    for _ in range(100_001):  # neg is the cheapest op; an odd count makes d(-(-(...x)))/dx = -1
        y = -y
    y.backward()
    assert y.item() == -2.0
    assert x.grad.item() == -1.0


# ----- accumulation ----------------------------------------------------------------------
def test_gradients_accumulate_across_backward_calls():
    x = mg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1.0, -2.0, 3.0]) + 3.0)


def test_a_tensor_used_twice_gets_both_contributions():
    x = mg.tensor([2.0, 5.0], requires_grad=True)
    h = x * x  # used by both branches below
    (h * x + h.exp()).sum().backward()
    v = np.array([2.0, 5.0])
    np.testing.assert_allclose(x.grad.numpy(), 3 * v**2 + 2 * v * np.exp(v**2), rtol=1e-5)


def test_retain_graph_allows_a_second_backward():
    x = mg.tensor([0.5, 1.5], requires_grad=True)
    y = (x.sigmoid() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-6)


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = (x * 3.0).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 12.0])
    np.testing.assert_allclose(x.grad.numpy(), [18.0, 36.0])


# ----- un-broadcasting ---------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3), st.integers(0, 2**31))
def test_gradients_are_summed_back_to_each_input_shape(shapes, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    a_np, b_np = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    a, b = mg.tensor(a_np, requires_grad=True), mg.tensor(b_np, requires_grad=True)
    out_shape = shapes.result_shape
    g = rng.standard_normal(out_shape)
    (a * b).backward(mg.tensor(g))
    assert a.grad.shape == a_shape and b.grad.shape == b_shape
    # d(sum g * a * b)/da: g * b broadcast to the output, then summed over every broadcast axis
    want_a = _sum_to(g * np.broadcast_to(b_np, out_shape), a_shape)
    np.testing.assert_allclose(a.grad.numpy(), want_a, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), _sum_to(g * np.broadcast_to(a_np, out_shape), b_shape), rtol=1e-10, atol=1e-12)


def _sum_to(g, shape):
    """The textbook rule, element by element: each input element collects every output it was copied to."""
    out = np.zeros(shape)
    lead = g.ndim - len(shape)
    for idx in np.ndindex(g.shape):
        src = tuple(0 if n == 1 else i for i, n in zip(idx[lead:], shape))
        out[src] += g[idx]
    return out


def test_scalar_operands_get_no_gradient_and_keep_the_tensor_shape():
    x = mg.tensor([[1.0, 2.0]], requires_grad=True)
    (2.0 * x + 1.0).sum().backward()
    assert x.grad.shape == (1, 2)
    np.testing.assert_allclose(x.grad.numpy(), [[2.0, 2.0]])


# ----- grad mode ------------------------------------------------------------------------
def test_no_grad_as_a_context_manager_restores_the_flag():
    x = mg.ones(2, requires_grad=True)
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = x * 2
        with mg.enable_grad():
            z = x * 2
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_restores_the_flag_after_an_exception():
    with pytest.raises(KeyError):
        with mg.no_grad():
            raise KeyError("boom")
    assert mg.is_grad_enabled()


@pytest.mark.parametrize("bare", [False, True])
def test_no_grad_as_a_decorator(bare):
    def double(t):
        assert not mg.is_grad_enabled()
        return t * 2

    decorated = mg.no_grad(double) if bare else mg.no_grad()(double)
    x = mg.ones(2, requires_grad=True)
    assert not decorated(x).requires_grad
    assert mg.is_grad_enabled()


def test_no_grad_decorator_restores_the_flag_after_an_exception():
    @mg.no_grad()
    def fails():
        raise ValueError("inside")

    with pytest.raises(ValueError):
        fails()
    assert mg.is_grad_enabled()


def test_no_grad_inside_no_grad_restores_the_outer_state():
    with mg.no_grad():
        with mg.no_grad():
            pass
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


# ----- pruning ---------------------------------------------------------------------------
def test_no_node_is_recorded_when_no_input_needs_a_gradient():
    a, b = mg.ones(3), mg.ones(3)
    y = F.conv2d(mg.ones(1, 1, 3, 3), mg.ones(1, 1, 2, 2)).sum() + (a * b).exp().sum()
    assert not y.requires_grad and y.grad_fn is None


def test_inputs_that_do_not_need_a_gradient_get_none():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0])
    y = (a * b).sum()
    assert y.requires_grad and y.grad_fn is not None
    y.backward()
    assert b.grad is None
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])


def test_detach_cuts_the_graph():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    d = (a * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    (a * d).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [2.0, 4.0])


def test_gradients_keep_the_leaf_dtype():
    a = mg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    (a.to(mg.float64) * mg.tensor(np.array([3.0, 4.0]))).sum().backward()
    assert a.grad.dtype == mg.float32
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])


# ----- memory ------------------------------------------------------------------------------
def test_saved_arrays_are_freed_after_backward():
    x = mg.randn(1, 2, 6, 6, requires_grad=True)
    w = mg.randn(3, 2, 3, 3, requires_grad=True)
    y = F.max_pool2d(F.conv2d(x, w, padding=1).relu(), 2)
    loss = (y.sigmoid() * y).sum()
    nodes = _graph_nodes(loss)
    pool = next(n for n in nodes if n.op_name() == "max_pool2d")
    argmax = weakref.ref(pool.argmax)  # an array only the pool node holds
    loss.backward()
    gc.collect()
    assert argmax() is None
    for node in nodes:
        assert not [k for k, v in vars(node).items() if isinstance(v, np.ndarray)], node.op_name()
        with pytest.raises(RuntimeError, match="second time"):
            node.saved_arrays


def test_retain_graph_keeps_the_saved_arrays():
    x = mg.randn(1, 1, 4, 4, requires_grad=True)
    loss = F.max_pool2d(x, 2).sum()
    pool = loss.grad_fn.parents[0].grad_fn
    loss.backward(retain_graph=True)
    assert pool.argmax is not None
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy().sum(), 8.0)


# ----- gradcheck itself ------------------------------------------------------------------
class _SquareWithAWrongGradient(mg.Function):
    def forward(self, a):
        self.save_for_backward(a)
        return a * a

    def backward(self, grad):
        (a,) = self.saved_arrays
        return grad * a  # should be 2 a


def test_gradcheck_accepts_a_right_gradient_and_rejects_a_wrong_one():
    x = mg.tensor(np.array([[0.5, -1.0], [2.0, 1.5]]), requires_grad=True)
    assert mg.gradcheck(lambda a: (a * a).sum(dim=1), [x]) is True
    assert mg.gradcheck(lambda a: _SquareWithAWrongGradient.apply(a), [x], raise_exception=False) is False
    with pytest.raises(AssertionError, match="input 0"):
        mg.gradcheck(lambda a: _SquareWithAWrongGradient.apply(a), [x])


def test_gradcheck_checks_every_input_in_float64():
    a = mg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    b = mg.tensor(np.array([3.0, -1.0], np.float32), requires_grad=True)
    seen = []

    def fn(u, v):
        seen.append((u.dtype, v.dtype))
        return u * v.exp()

    assert mg.gradcheck(fn, (a, b), eps=1e-6, atol=1e-5)
    assert set(seen) == {(mg.float64, mg.float64)}
