"""nn, optim and io: module registration and state dicts, layer defaults, optimizer update rules, atomic save/load."""

import math
import os
from collections import OrderedDict

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2))
        self.scale = nn.Parameter(mg.ones(1))
        self.head = nn.Linear(8, 3)
        self.not_a_parameter = mg.ones(2)  # a plain tensor attribute is not registered
        self.register_buffer("steps", mg.tensor(0))

    def forward(self, x):
        return self.head(self.features(x).flatten(1)) * self.scale


# ----- Module -------------------------------------------------------------------------
def test_parameters_and_submodules_register_on_assignment_in_order():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["scale", "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                     "head.weight", "head.bias"]
    assert [p.shape for p in net.parameters()] == [(1,), (2, 1, 3, 3), (2,), (2,), (2,), (3, 8), (3,)]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert "not_a_parameter" not in dict(net.named_parameters())


def test_state_dict_keys_are_pytorchs():
    net = Net()
    assert list(net.state_dict()) == [
        "scale", "steps",
        "features.0.weight", "features.0.bias",
        "features.1.weight", "features.1.bias", "features.1.running_mean", "features.1.running_var",
        "features.1.num_batches_tracked",
        "head.weight", "head.bias",
    ]
    assert list(nn.Linear(2, 3, bias=False).state_dict()) == ["weight"]
    assert list(nn.Conv2d(1, 1, 1, bias=False).state_dict()) == ["weight"]


def test_a_reassigned_attribute_replaces_the_registration():
    net = Net()
    net.head = nn.Linear(8, 5)
    assert dict(net.named_parameters())["head.weight"].shape == (5, 8)
    net.scale = nn.Parameter(mg.ones(2))
    assert dict(net.named_parameters())["scale"].shape == (2,)


def test_a_shared_parameter_is_listed_once():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert len(list(model.parameters())) == 2


def test_train_and_eval_reach_every_submodule():
    net = Net()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net
    assert all(m.training for m in net.modules())


def test_zero_grad_clears_every_gradient():
    net = Net()
    net(mg.randn(2, 1, 4, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None or not np.any(p.grad.numpy()) for p in net.parameters())


def test_to_casts_float_tensors_in_place_and_keeps_identity():
    net = Net()
    weight = net.head.weight
    net.to(mg.float64)
    assert net.head.weight is weight and isinstance(weight, nn.Parameter)
    assert all(p.dtype == mg.float64 for p in net.parameters())
    assert net.features[1].num_batches_tracked.dtype == mg.int64
    assert net(mg.randn(1, 1, 4, 4, dtype=mg.float64)).dtype == mg.float64
    net.to("cpu")
    assert all(p.device == "cpu" for p in net.parameters())


def test_load_state_dict_copies_values_into_the_same_tensors():
    source, target = Net(), Net()
    source(mg.randn(3, 1, 4, 4))  # moves the running statistics
    weight = target.head.weight
    target.load_state_dict(source.state_dict())
    assert target.head.weight is weight
    for (k, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


# ----- layer defaults ------------------------------------------------------------------
@pytest.mark.parametrize("make, fan_in", [(lambda: nn.Conv2d(4, 8, 3), 36), (lambda: nn.Linear(10, 50), 10)])
def test_default_init_is_uniform_within_one_over_sqrt_fan_in(make, fan_in):
    mg.manual_seed(0)
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.dtype == b.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.8 * bound  # it fills the range, it is not tiny
    assert abs(w.std() - bound / math.sqrt(3)) < 0.2 * bound  # the std of U(-bound, bound)


def test_layer_parameter_shapes():
    assert nn.Conv2d(3, 16, (5, 3)).weight.shape == (16, 3, 5, 3)
    assert nn.Conv2d(3, 16, 5).bias.shape == (16,)
    assert nn.Linear(7, 2).weight.shape == (2, 7)
    bn = nn.BatchNorm2d(4)
    assert [t.numpy().tolist() for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var)] == [
        [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]


def test_batch_norm_running_statistics_use_the_unbiased_variance_and_momentum():
    bn = nn.BatchNorm2d(1, momentum=0.1)
    x = mg.tensor(np.array([1.0, 2.0, 3.0, 6.0], np.float32).reshape(2, 1, 1, 2))
    out = bn(x)
    # batch mean 3, biased variance 14 / 4 normalises; unbiased 14 / 3 goes into running_var
    np.testing.assert_allclose(out.numpy().ravel(), (np.array([1, 2, 3, 6]) - 3) / np.sqrt(3.5 + 1e-5), rtol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), [0.9 * 0 + 0.1 * 3], rtol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), [0.9 * 1 + 0.1 * 14 / 3], rtol=1e-6)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    np.testing.assert_allclose(bn(x).numpy().ravel(), (np.array([1, 2, 3, 6]) - 0.3) / np.sqrt(0.9 + 1.4 / 3 + 1e-5), rtol=1e-5)


def test_dropout_scales_in_training_and_is_the_identity_in_evaluation():
    mg.manual_seed(0)
    layer = nn.Dropout(0.25)
    x = mg.ones(200, 100)
    kept = layer(x).numpy()
    assert set(np.unique(kept).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert abs((kept == 0).mean() - 0.25) < 0.02
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())


# ----- float32 stays float32 -------------------------------------------------------------
@pytest.mark.parametrize("make_optimizer", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4),
    lambda ps: optim.Adam(ps, lr=1e-3),
])
def test_float32_stays_float32_through_outputs_gradients_and_optimizer_state(make_optimizer):
    net = Net()
    opt = make_optimizer(list(net.parameters()))
    for _ in range(2):
        opt.zero_grad()
        out = net(mg.randn(4, 1, 4, 4))
        loss = F.cross_entropy(out, mg.tensor([0, 1, 2, 0]))
        assert out.dtype == loss.dtype == mg.float32
        loss.backward()
        opt.step()
    assert all(p.dtype == mg.float32 and p.grad.dtype == mg.float32 for p in net.parameters())
    arrays = [v for state in opt.state.values() for v in state.values() if isinstance(v, mg.Tensor)]
    assert arrays and all(v.dtype == mg.float32 for v in arrays)
    assert all(t.dtype == mg.float32 for k, t in net.state_dict().items() if "num_batches" not in k and k != "steps")


# ----- optimizers: update rules by hand ------------------------------------------------
P0, G1, G2 = [1.0, -2.0], [0.5, 1.0], [-1.0, 2.0]


def _two_steps(opt_factory):
    p = mg.tensor(P0, dtype=mg.float64, requires_grad=True)
    opt = opt_factory([p])
    trajectory = []
    for g in (G1, G2):
        p.grad = mg.tensor(g, dtype=mg.float64)
        opt.step()
        trajectory.append(p.numpy().tolist())
    return trajectory


def test_sgd_plain():
    # p -= lr * g
    assert np.allclose(_two_steps(lambda ps: optim.SGD(ps, lr=0.1)), [[0.95, -2.1], [1.05, -2.3]])


def test_sgd_momentum_and_weight_decay():
    # g' = g + wd p; v = g' at step 1, then v = m v + g'; p -= lr v
    # step 1: g' = (0.51, 0.98) -> p = (0.949, -2.098)
    # step 2: g' = (-1 + 0.00949, 2 - 0.02098); v = 0.9 (0.51, 0.98) + g' = (-0.53151, 2.86102)
    steps = _two_steps(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01))
    np.testing.assert_allclose(steps, [[0.949, -2.098], [1.002151, -2.384102]], rtol=1e-12)


def test_sgd_nesterov():
    # as above, but the step uses g' + m v: step 1 (0.51 + 0.459, 0.98 + 0.882) -> p = (0.9031, -2.1862)
    steps = _two_steps(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True))
    np.testing.assert_allclose(steps, [[0.9031, -2.1862], [1.05007411, -2.64142622]], rtol=1e-12)


def test_sgd_dampening():
    # v = g at step 1, then v = m v + (1 - dampening) g: step 2 v = 0.9 (0.5, 1) + 0.5 (-1, 2) = (-0.05, 1.9)
    steps = _two_steps(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5))
    np.testing.assert_allclose(steps, [[0.95, -2.1], [0.955, -2.29]], rtol=1e-12)


def test_adam():
    # step 1: m_hat = g, v_hat = g^2, so p -= lr * g / (|g| + eps) = lr * sign(g)
    # step 2: m = 0.9 * 0.1 g1 + 0.1 g2, v = 0.999 * 0.001 g1^2 + 0.001 g2^2, bias-corrected by 1 - beta^2
    g1, g2 = np.array(G1), np.array(G2)
    m = 0.9 * 0.1 * g1 + 0.1 * g2
    v = 0.999 * 0.001 * g1**2 + 0.001 * g2**2
    p1 = np.array(P0) - 0.1 * g1 / (np.abs(g1) + 1e-8)
    p2 = p1 - 0.1 * (m / (1 - 0.9**2)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    steps = _two_steps(lambda ps: optim.Adam(ps, lr=0.1))
    np.testing.assert_allclose(steps, [p1, p2], rtol=1e-12)
    np.testing.assert_allclose(p2, [0.93661035, -2.19651820], rtol=1e-7)


def test_optimizers_skip_parameters_without_a_gradient():
    a = mg.tensor([1.0], requires_grad=True)
    b = mg.tensor([1.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = mg.tensor([1.0])
    opt.step()
    assert b.numpy().tolist() == [1.0] and a.numpy()[0] == pytest.approx(0.9)


def test_lbfgs_minimises_a_quadratic():
    a = np.array([[3.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 1.0]])
    b = np.array([1.0, -2.0, 0.5])
    x = mg.tensor(np.zeros(3), requires_grad=True)
    opt = optim.LBFGS([x], lr=1.0, max_iter=50)
    a_t, b_t = mg.tensor(a), mg.tensor(b)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x @ (a_t @ x)) - (b_t * x).sum()
        loss.backward()
        return loss

    first = opt.step(closure).item()
    for _ in range(2):
        opt.step(closure)
    best = np.linalg.solve(a, b)
    # LBFGS stops once the loss changes by less than tolerance_change (1e-9), as PyTorch's does
    np.testing.assert_allclose(x.numpy(), best, atol=1e-4)
    assert first == 0.0 and closure().item() == pytest.approx(-0.5 * b @ best, abs=1e-8)


# ----- save / load ------------------------------------------------------------------------
def _assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b) or set(a) == set(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, mg.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    else:
        assert a == b


def test_save_load_round_trip_is_exact(tmp_path):
    net = Net()
    net(mg.randn(2, 1, 4, 4))
    state = net.state_dict()
    state["features.0.weight"] = state["features.0.weight"] + 1e-7  # values that do not print exactly
    mg.save(state, tmp_path / "w.npz")
    loaded = mg.load(tmp_path / "w.npz")
    _assert_same(dict(state), loaded)
    assert loaded["features.1.num_batches_tracked"].shape == ()
    fresh = Net()
    fresh.load_state_dict(loaded)
    _assert_same(dict(state), dict(fresh.state_dict()))


def test_save_load_nested_dicts_numbers_and_float64(tmp_path):
    obj = {"model": {"w": mg.tensor(np.arange(6.0).reshape(2, 3))}, "epoch": 7, "lr": 0.25, "name": "lenet",
           "ids": mg.tensor([3, 1], dtype=mg.int64)}
    mg.save(obj, tmp_path / "ckpt.npz")
    _assert_same(obj, mg.load(tmp_path / "ckpt.npz"))


def test_save_leaves_no_temporary_file(tmp_path):
    mg.save(Net().state_dict(), tmp_path / "w.npz")
    mg.save(Net().state_dict(), tmp_path / "w.npz")  # overwrite
    assert os.listdir(tmp_path) == ["w.npz"]


def test_a_failing_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    old = OrderedDict(w=mg.tensor([1.0, 2.0]))
    mg.save(old, path)

    def broken_savez(file, **arrays):
        file.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        mg.save({"w": mg.tensor([9.0, 9.0, 9.0])}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["w.npz"]
    _assert_same(dict(old), mg.load(path))


def test_batch_norm_momentum_none_keeps_a_cumulative_average():
    bn = nn.BatchNorm2d(1, momentum=None)
    batches = [np.array([1.0, 3.0]), np.array([4.0, 8.0]), np.array([0.0, 0.0])]
    for values in batches:
        bn(mg.tensor(values.astype(np.float32).reshape(2, 1, 1, 1)))
    # the running mean is the plain average of the batch means 2, 6, 0; running_var of the unbiased 2, 8, 0
    np.testing.assert_allclose(bn.running_mean.numpy(), [8 / 3], rtol=1e-6)
    # (the first batch gets weight 1, so the initial running_var of 1 drops out)
    np.testing.assert_allclose(bn.running_var.numpy(), [(2 + 8 + 0) / 3], rtol=1e-6)
