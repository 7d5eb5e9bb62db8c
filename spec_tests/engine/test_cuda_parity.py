"""Every public op on "cpu" and on "cuda": same forward values, same gradients (issue 6).

Each case builds its inputs from one seeded numpy draw on both devices, runs the
op, back-propagates one shared random upstream gradient, and compares outputs
and input gradients in float32 and float64. On a machine without a GPU the
"cuda" side runs on numba's CUDA simulator (see spec_tests/conftest.py), which
pays per kernel launch: shapes stay tiny and each case is one small graph.
"""

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.backend import get_backend

pytestmark = pytest.mark.cuda
DTYPES = [np.float32, np.float64]


def _tol(dtype):
    return dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)


def _assert_same(cpu, cuda, dtype, what):
    assert cuda.shape == cpu.shape, f"{what}: shape {cuda.shape} on cuda, {cpu.shape} on cpu"
    assert cuda.dtype == cpu.dtype, f"{what}: dtype {cuda.dtype} on cuda, {cpu.dtype} on cpu"
    if cpu.dtype.kind in "biu":
        np.testing.assert_array_equal(cuda, cpu, err_msg=what)
    else:
        np.testing.assert_allclose(cuda, cpu, err_msg=what, **_tol(dtype))


def run_on(device, fn, arrays, dtype, upstream=None):
    """fn applied to tensors made from ``arrays`` on ``device``; float arrays require grad.

    Returns (outputs as numpy, input gradients as numpy or None). With ``upstream``
    (one array per differentiable output) it back-propagates those gradients.
    """
    inputs = [mg.tensor(a.astype(dtype) if a.dtype.kind == "f" else a, device=device,
                        requires_grad=a.dtype.kind == "f" and upstream is not None) for a in arrays]
    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for t in outs:
        assert t.device == device, f"an op on {device} returned a tensor on {t.device}"
    if upstream is not None:
        diff = [(o, g) for o, g in zip(outs, upstream) if g is not None]
        total = None
        for o, g in diff:
            term = (o * mg.tensor(g.astype(o.dtype), device=device)).sum()
            total = term if total is None else total + term
        if len(diff) == 1:
            diff[0][0].backward(mg.tensor(diff[0][1].astype(diff[0][0].dtype), device=device))
        elif diff:
            total.backward()
    grads = [t.grad.numpy() if t.grad is not None else None for t in inputs]
    return [o.numpy() for o in outs], grads


def check(fn, arrays, dtype, grad=True, seed=1):
    """Compare ``fn`` on cpu and cuda: outputs, then gradients of every float input."""
    cpu_out, _ = run_on("cpu", fn, arrays, dtype)
    upstream = None
    if grad:
        rng = np.random.default_rng(seed)
        upstream = [rng.standard_normal(o.shape) if o.dtype.kind == "f" else None for o in cpu_out]
        cpu_out, cpu_grads = run_on("cpu", fn, arrays, dtype, upstream)
    cuda_out, cuda_grads = run_on("cuda", fn, arrays, dtype, upstream)
    for i, (c, g) in enumerate(zip(cpu_out, cuda_out)):
        _assert_same(c, g, dtype, f"output {i}")
    if grad:
        for i, (c, g) in enumerate(zip(cpu_grads, cuda_grads)):
            assert (c is None) == (g is None), f"input {i}: gradient on one device only"
            if c is not None:
                _assert_same(c, g, dtype, f"gradient of input {i}")


rng = np.random.default_rng(0)


def r(*shape):
    return rng.standard_normal(shape)


def pos(*shape):
    return rng.uniform(0.5, 2.0, shape)


def labels(n, classes):
    return rng.integers(0, classes, n).astype(np.int64)


# name -> (function of tensors, input arrays); every float input gets a gradient
CASES = {
    "add_broadcast": (lambda a, b: a + b, [r(2, 3), r(3)]),
    "sub_broadcast": (lambda a, b: a - b, [r(2, 1), r(1, 3)]),
    "mul": (lambda a, b: a * b, [r(2, 3), r(2, 3)]),
    "div": (lambda a, b: a / b, [r(2, 3), pos(3)]),
    "pow_scalar": (lambda a: a ** 3, [r(2, 3)]),
    "pow_tensor": (lambda a, b: a ** b, [pos(2, 3), r(2, 3)]),
    "scalar_operands": (lambda a: (2.0 - a) * 3 / (a * a + 1.0), [r(2, 3)]),
    "neg": (lambda a: -a, [r(4)]),
    "exp": (lambda a: a.exp(), [r(2, 3)]),
    "log": (lambda a: a.log(), [pos(2, 3)]),
    "sqrt": (lambda a: a.sqrt(), [pos(2, 3)]),
    "abs": (lambda a: a.abs(), [r(2, 3)]),
    "relu": (lambda a: a.relu(), [r(2, 3)]),
    "sigmoid": (lambda a: F.sigmoid(a), [r(2, 3) * 5]),
    "tanh": (lambda a: F.tanh(a), [r(2, 3)]),
    "clamp": (lambda a: a.clamp(-0.5, 0.5), [r(2, 4)]),
    "sum_dim": (lambda a: a.sum(dim=1, keepdim=True), [r(2, 3, 2)]),
    "sum_all": (lambda a: a.sum(), [r(2, 3)]),
    "mean_dims": (lambda a: a.mean(dim=(0, 2)), [r(2, 3, 2)]),
    "max_all": (lambda a: a.max(), [r(2, 3)]),
    "max_dim": (lambda a: a.max(dim=1)[0], [r(3, 4)]),
    "amax": (lambda a: a.amax(dim=(0, 1), keepdim=True), [r(2, 3, 2)]),
    "reshape": (lambda a: a.reshape(3, -1), [r(2, 3, 2)]),
    "transpose": (lambda a: a.transpose(0, 2), [r(2, 3, 2)]),
    "permute_T": (lambda a: a.permute(1, 2, 0) * a.T.permute(1, 0, 2), [r(2, 3, 4)]),
    "flatten": (lambda a: a.flatten(1), [r(2, 3, 2)]),
    "unsqueeze_squeeze": (lambda a: a.unsqueeze(1).squeeze(), [r(2, 3)]),
    "getitem": (lambda a: a[1:, None, ..., ::2], [r(3, 2, 4)]),
    "getitem_int": (lambda a: a[1, -1], [r(3, 4)]),
    "cat": (lambda a, b: mg.cat([a, b], 1), [r(2, 1), r(2, 3)]),
    "stack": (lambda a, b: mg.stack([a, b], 0), [r(2, 3), r(2, 3)]),
    "matmul": (lambda a, b: a @ b, [r(2, 3), r(3, 4)]),
    "matmul_batched": (lambda a, b: a @ b, [r(2, 2, 3), r(3, 2)]),
    "matmul_vector": (lambda a, b: a @ b, [r(3), r(2, 3, 2)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [r(2, 3), r(4, 3), r(4)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), [r(2, 2, 5, 5), r(3, 2, 3, 3), r(3)]),
    "conv2d_same_even": (lambda x, w: F.conv2d(x, w, padding="same"), [r(1, 2, 4, 3), r(2, 2, 2, 2)]),
    "conv2d_valid_rect": (lambda x, w: F.conv2d(x, w, stride=(1, 2), padding="valid"), [r(1, 1, 4, 5), r(2, 1, 2, 3)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [r(1, 2, 4, 4)]),
    "max_pool2d_padded": (lambda x: F.max_pool2d(x, 3, stride=2, padding=1), [r(1, 1, 5, 4)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, (2, 3), stride=1, padding=1), [r(1, 2, 3, 4)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 1)), [r(1, 2, 4, 3)]),
    "softmax": (lambda x: F.softmax(x, 1), [r(2, 3, 2)]),
    "log_softmax": (lambda x: F.log_softmax(x, 1), [r(2, 4)]),
    "cross_entropy": (lambda x, t: F.cross_entropy(x, t), [r(3, 4), labels(3, 4)]),
    "cross_entropy_probs": (lambda x, p: F.cross_entropy(x, F.softmax(p, 1)), [r(2, 3), r(2, 3)]),
    "nll_loss": (lambda x, t: F.nll_loss(F.log_softmax(x, 1), t), [r(3, 4), labels(3, 4)]),
    "binary_cross_entropy": (lambda x, t: F.binary_cross_entropy(x.sigmoid(), t), [r(2, 3), rng.uniform(0, 1, (2, 3))]),
    "mse_loss": (lambda a, b: F.mse_loss(a, b), [r(2, 3), r(2, 3)]),
    "triplet_loss": (lambda a, p, n: F.triplet_loss(a, p, n, margin=0.5), [r(3, 2), r(3, 2), r(3, 2)]),
    "batch_norm_train": (
        lambda x, w, b: F.batch_norm(x, mg.zeros(2, device=x.device, dtype=x.dtype),
                                     mg.ones(2, device=x.device, dtype=x.dtype), w, b, training=True),
        [r(2, 2, 2, 2), r(2), r(2)]),
    "batch_norm_eval": (
        lambda x, m, v: F.batch_norm(x, m.detach(), v.detach(), training=False), [r(2, 2, 3), r(2), pos(2)]),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(CASES))
def test_op_matches_cpu(name, dtype):
    fn, arrays = CASES[name]
    check(fn, arrays, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_comparisons_argmax_and_int_results_match(dtype):
    a, b = r(2, 3), r(2, 3)
    a[0, 0] = b[0, 0]

    def fn(x, y):
        m = x.max(dim=1)
        return (x > y, x < y, x >= y, x <= y, x.eq(y), x.argmax(dim=1), x.argmax(), m[1])
    check(fn, [a, b], dtype, grad=False)


def test_creation_and_transfer_on_cuda():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], device="cuda")
    assert x.device == "cuda" and x.dtype == np.float32 and x.shape == (2, 2)
    assert get_backend("cuda").is_device_array(x.data)
    assert np.array_equal(x.numpy(), [[1, 2], [3, 4]]) and x.sum().item() == 10.0
    assert mg.zeros(2, 3, device="cuda").numpy().sum() == 0 and mg.ones(3, device="cuda").device == "cuda"
    assert mg.tensor([1, 2], device="cuda:0").dtype == np.int64
    y = x.to("cuda")
    assert y.device == "cuda" and x.to("cpu").device == "cpu"
    u = mg.rand(50, device="cuda").numpy()
    assert u.dtype == np.float32 and 0 <= u.min() and u.max() < 1
    n = mg.randn(3, 4, device="cuda", dtype=mg.float64)
    assert n.device == "cuda" and n.dtype == np.float64


def test_to_device_is_differentiable():
    # a cpu leaf, moved to cuda and back: the gradient arrives on the cpu leaf
    a = mg.tensor(r(2, 3), requires_grad=True)
    y = (a.to("cuda") * 2.0).sum()
    assert y.device == "cuda"
    y.backward()
    assert a.grad.device == "cpu"
    np.testing.assert_allclose(a.grad.numpy(), np.full((2, 3), 2.0))


def test_mixing_devices_is_a_clear_error():
    a = mg.tensor(r(2, 2))
    b = mg.tensor(r(2, 2), device="cuda")
    with pytest.raises(RuntimeError, match=r"cpu.*cuda"):
        a + b
    with pytest.raises(RuntimeError, match=r"cpu.*cuda"):
        b @ a
    with pytest.raises(RuntimeError, match=r"cpu.*cuda"):
        F.conv2d(mg.tensor(r(1, 1, 3, 3), device="cuda"), mg.tensor(r(1, 1, 2, 2)))


def test_out_of_range_class_is_never_a_silent_answer():
    logits, target = r(2, 3), np.array([0, 3])
    with pytest.raises(IndexError):
        F.cross_entropy(mg.tensor(logits), mg.tensor(target))  # the cpu checks on the host
    loss = F.cross_entropy(mg.tensor(logits, device="cuda"), mg.tensor(target, device="cuda"))
    assert np.isnan(loss.item())  # the device cannot raise without a host copy: NaN instead


def test_dropout_on_cuda_zeroes_and_rescales():
    mg.manual_seed(0)
    x = mg.ones(64, device="cuda", requires_grad=True)
    y = F.dropout(x, 0.5, training=True)
    values = y.numpy()
    assert set(np.unique(values)) <= {0.0, 2.0} and 10 < (values == 0).sum() < 54
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)  # the same mask scales the gradient
    assert F.dropout(x, 0.5, training=False) is x


class _TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        # no conv bias: BatchNorm cancels it, so its gradient would be rounding noise that Adam amplifies
        self.conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2 * 2 * 2, 3)

    def forward(self, x):
        x = F.max_pool2d(self.bn(self.conv(x)).relu(), 2)
        return self.fc(x.flatten(1))


def _train(device, dtype, opt_class, steps, **opt_args):
    mg.manual_seed(0)
    model = _TinyNet()
    model.to(device, dtype)
    opt = opt_class(model.parameters(), **opt_args)
    x = mg.tensor(np.random.default_rng(1).standard_normal((2, 1, 4, 4)).astype(dtype), device=device)
    y = mg.tensor(np.array([0, 2]), device=device)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, {k: v.numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("opt_class, args", [(optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-3)),
                                             (optim.Adam, dict(lr=0.01))], ids=["sgd", "adam"])
def test_training_steps_match_cpu(opt_class, args):
    dtype = np.float64
    cpu_losses, cpu_state = _train("cpu", dtype, opt_class, 2, **args)
    cuda_losses, cuda_state = _train("cuda", dtype, opt_class, 2, **args)
    np.testing.assert_allclose(cuda_losses, cpu_losses, **_tol(dtype))
    assert cuda_state.keys() == cpu_state.keys()
    for key in cpu_state:
        _assert_same(cpu_state[key], cuda_state[key], dtype, key)  # weights and BatchNorm running stats


def test_training_step_makes_no_host_transfers():
    """After the input batch is on the device, a step's only host copy is loss.item()."""
    cuda = get_backend("cuda")
    mg.manual_seed(0)
    model = _TinyNet().to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = mg.tensor(np.random.default_rng(1).standard_normal((2, 1, 4, 4)).astype(np.float32), device="cuda")
    y = mg.tensor(np.array([0, 2]), device="cuda")
    for step in range(2):  # the second step also covers the momentum buffers made in the first
        cuda.reset_transfer_count()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        assert cuda.transfer_count() == 0, f"step {step}: {cuda.transfer_count()} host transfers before .item()"
        loss.item()
        assert cuda.transfer_count() == 1


def test_lbfgs_matches_cpu():
    a, b = r(4, 3), r(4)

    def solve(device):
        holder = nn.Module()
        holder.x = nn.Parameter(np.zeros(3))
        x = holder.to(device).x
        A, B = mg.tensor(a, device=device), mg.tensor(b, device=device)
        opt = optim.LBFGS([x], lr=1.0, max_iter=3)

        def closure():
            opt.zero_grad()
            loss = ((A @ x - B) ** 2).sum()
            loss.backward()
            return loss
        opt.step(closure)
        return x.numpy()
    _assert_same(solve("cpu"), solve("cuda"), np.float64, "LBFGS solution")


def test_checkpoint_from_cuda_loads_on_cpu(tmp_path):
    mg.manual_seed(0)
    model = _TinyNet().to("cuda")
    mg.save(model.state_dict(), tmp_path / "w.npz")
    restored = _TinyNet()
    restored.load_state_dict(mg.load(tmp_path / "w.npz"))
    for (key, a), (_, b) in zip(model.state_dict().items(), restored.state_dict().items()):
        assert b.device == "cpu"
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=key)

