"""apps.fit: the shared training loop learns, checkpoints, resumes bit for bit, and refuses to step on a NaN."""

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.data import ArrayDataset, DataLoader
from apps.fit import CheckpointError, TrainingDiverged, fit, load_checkpoint


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return ArrayDataset(x, y)


def _step(model, batch):
    x, y = batch
    logits = model(x)
    correct = (logits.argmax(1) == y).sum()
    return F.cross_entropy(logits, y), {"acc": correct}, y.shape[0]


def _run(tmp_path, epochs, resume=False, lr=0.1):
    mg.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = optim.SGD(model.parameters(), lr=lr)
    loader = DataLoader(_problem(), batch_size=8, shuffle=True, seed=0)
    result = fit(model, opt, loader, _step, epochs=epochs, checkpoint=str(tmp_path / "ckpt.npz"), resume=resume,
                 meta={"lr": lr}, progress=False, log=lambda *a: None)
    return model, result


def test_fit_learns_and_reports_device_metrics(tmp_path):
    model, result = _run(tmp_path, epochs=15)
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]
    assert result.history["train_acc"][-1] >= 0.9
    assert result.step == 15 * 4


def test_resume_continues_exactly_as_an_uninterrupted_run(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    straight, _ = _run(tmp_path / "a", epochs=4)
    _run(tmp_path / "b", epochs=2)
    resumed, result = _run(tmp_path / "b", epochs=4, resume=True)
    assert result.step == 16 and len(result.history["train_loss"]) == 4
    np.testing.assert_array_equal(straight.weight.numpy(), resumed.weight.numpy())


def test_resume_with_other_options_is_refused(tmp_path):
    _run(tmp_path, epochs=1)
    with pytest.raises(CheckpointError, match="lr"):
        _run(tmp_path, epochs=2, resume=True, lr=0.5)


def test_nan_loss_stops_before_the_optimizer_steps(tmp_path):
    mg.manual_seed(0)
    model = nn.Linear(4, 2)
    before = model.weight.numpy().copy()
    opt = optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(_problem(), batch_size=8)
    nan_step = lambda m, b: (m(b[0]).sum() * float("nan"), {}, 8)  # noqa: E731
    with pytest.raises(TrainingDiverged, match=r"epoch 1/3.*learning rate 0.1"):
        fit(model, opt, loader, nan_step, epochs=3, checkpoint=str(tmp_path / "c.npz"), progress=False,
            log=lambda *a: None)
    np.testing.assert_array_equal(model.weight.numpy(), before)
    assert not (tmp_path / "c.npz").exists()


def test_a_last_step_that_blows_the_weights_up_is_caught_before_anything_is_saved(tmp_path):
    """One batch per epoch: the guard before each step never sees the blown-up weights, the
    check after the epoch's last step does. A healthy run passes that check unchanged."""
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 2))
    opt = optim.SGD(model.parameters(), lr=1e30)
    loader = DataLoader(_problem(), batch_size=32)
    assert len(loader) == 1
    with pytest.raises(TrainingDiverged, match=r"after the last step of an epoch.*learning rate 1e\+30"), \
            np.errstate(over="ignore", invalid="ignore"):
        fit(model, opt, loader, _step, epochs=1, checkpoint=str(tmp_path / "c.npz"), progress=False,
            log=lambda *a: None)
    assert not (tmp_path / "c.npz").exists()
    assert all(np.isfinite(p.numpy()).all() for p in model.parameters())  # finite, yet the next forward overflows
    assert model.training


def test_zero_epochs_or_no_batches_are_refused():
    model = nn.Linear(4, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(Exception, match="epochs must be >= 1"):
        fit(model, opt, DataLoader(_problem(), batch_size=8), _step, epochs=0)
    empty = ArrayDataset(np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    with pytest.raises(Exception, match="nothing to train"):
        fit(model, opt, DataLoader(empty, batch_size=8), _step, epochs=1)


def test_checkpoint_loads_back(tmp_path):
    model, _ = _run(tmp_path, epochs=2)
    fresh = nn.Linear(4, 2)
    epoch, step, history = load_checkpoint(str(tmp_path / "ckpt.npz"), fresh, optim.SGD(fresh.parameters(), lr=0.1),
                                           {"lr": 0.1})
    assert (epoch, step) == (2, 8) and len(history["train_acc"]) == 2
    np.testing.assert_array_equal(fresh.weight.numpy(), model.weight.numpy())
