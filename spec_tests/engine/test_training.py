"""End-to-end tests of the digits apps: a short training run, atomic checkpoints, --resume, errors, transfer learning."""

import os

import numpy as np
import pytest

import minigrad as mg
import apps.fit
from apps.cli import main as cli_main
from apps.digits.data import digit_splits, make_model
from apps.digits.predict import load_image
from apps.digits.train import TrainConfig, train
from apps.fit import CheckpointError, load_checkpoint
from apps.digits.finetune import freeze_for_transfer, frozen_unchanged, run_finetune
from minigrad import optim


def quick(out, **changes):
    settings = dict(out=str(out), epochs=1, batch_size=50, limit=300, progress=False, plots=False)
    settings.update(changes)
    return TrainConfig(**settings)


def weights(path):
    return {k: v.numpy() for k, v in mg.load(path).items()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("lenet5")
    result = train(quick(out, plots=True), log=lambda *a: None)
    return out, result


def test_a_short_run_trains_checkpoints_and_reports(trained):
    out, result = trained
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "confusion.png", "history.png", "lenet5.npz"]  # no temp files
    assert 0.0 <= result["test_acc"] <= 1.0 and len(result["history"]["val_acc"]) == 1
    ckpt = mg.load(out / "checkpoint.npz")
    assert ckpt["epoch"] == 1 and ckpt["format"] == "minigrad-train-checkpoint-1"
    assert result["history"]["train_loss"][0] < 2.4       # it learned something in one epoch
    assert open(out / "history.png", "rb").read(4) == b"\x89PNG"


def test_checkpoint_is_written_atomically_with_os_replace(tmp_path, monkeypatch):
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((os.path.basename(src), os.path.basename(dst)))
        assert os.path.dirname(os.path.abspath(src)) == os.path.dirname(os.path.abspath(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    train(quick(tmp_path, limit=100), log=lambda *a: None)
    assert any(dst == "checkpoint.npz" and src != dst for src, dst in replaced)


def test_resume_continues_where_it_stopped_and_matches_an_unbroken_run(tmp_path, monkeypatch):
    straight = train(quick(tmp_path / "a", epochs=2, limit=150), log=lambda *a: None)

    calls = {"n": 0}
    real_epoch = apps.fit._one_epoch

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(apps.fit, "_one_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(quick(tmp_path / "b", epochs=2, limit=150), log=lambda *a: None)
    assert mg.load(tmp_path / "b" / "checkpoint.npz")["epoch"] == 1   # only the current epoch is lost

    monkeypatch.setattr(apps.fit, "_one_epoch", real_epoch)
    lines = []
    resumed = train(quick(tmp_path / "b", epochs=2, limit=150, resume=True), log=lines.append)
    assert any("resumed" in line and "epoch 1" in line for line in lines)
    assert len(resumed["history"]["train_loss"]) == 2
    a, b = weights(tmp_path / "a" / "lenet5.npz"), weights(tmp_path / "b" / "lenet5.npz")
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path, capsys):
    (tmp_path / "checkpoint.npz").write_bytes(b"this is not a zip file")
    model = make_model()
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(str(tmp_path / "checkpoint.npz"), model, optim.Adam(model.parameters()), {})
    code = cli_main(["train", "lenet5", "--out", str(tmp_path), "--resume", "--no-progress", "--limit", "50"])
    assert code == 2 and "corrupt" in capsys.readouterr().err


def test_resume_without_checkpoint_or_with_other_options_is_refused(tmp_path, trained):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(quick(tmp_path, resume=True), log=lambda *a: None)
    out, _ = trained
    with pytest.raises(CheckpointError, match="different setup"):
        load_checkpoint(str(out / "checkpoint.npz"), make_model(), optim.Adam(make_model().parameters()),
                        {"seed": 12345})


def test_predict_reads_a_picture(trained, tmp_path, capsys):
    from PIL import Image

    out, _ = trained
    digit = (digit_splits()[2].images[0, 0, 2:30, 2:30] * 255).astype(np.uint8)
    Image.fromarray(255 - digit).resize((56, 56)).save(tmp_path / "digit.png")   # dark on light, larger
    assert cli_main(["predict", "lenet5", str(tmp_path / "digit.png"), "--weights", str(out / "lenet5.npz")]) == 0
    printed = capsys.readouterr().out
    assert "digit:" in printed and "probabilities:" in printed
    image, has_digit = load_image(str(tmp_path / "digit.png"))
    assert has_digit and image.shape == (1, 1, 32, 32) and image[0, 0, 0, 0] == 0.0          # inverted to a dark background
    assert cli_main(["predict", "lenet5", str(tmp_path / "missing.png"), "--weights", str(out / "lenet5.npz")]) == 2


@pytest.mark.spec("M2.12")
def test_transfer_learning_keeps_frozen_weights_bit_identical(tmp_path):
    result = run_finetune(out=str(tmp_path), per_class=10, pretrain_epochs=1, epochs=2, limit=300,
                          progress=False, log=lambda *a: None)
    assert result["frozen_identical"] and result["frozen_tensors"] == 4   # two conv layers: weight and bias
    assert 0.0 <= result["transfer_acc"] <= 1.0 and 0.0 <= result["scratch_acc"] <= 1.0


@pytest.mark.spec("M2.12")
def test_freezing_replaces_the_head_and_only_the_head_and_fc_train(tmp_path):
    model = make_model(num_classes=5)
    old_head = model.classifier[4]
    snapshot = freeze_for_transfer(model, 3, freeze="all")
    assert model.classifier[4] is not old_head and model.classifier[4].out_features == 3
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["classifier.4.weight", "classifier.4.bias"]
    x = mg.tensor(np.random.default_rng(0).random((4, 1, 32, 32), dtype=np.float32))
    opt = optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = model(x).sum()
    loss.backward()
    opt.step()
    assert frozen_unchanged(model, snapshot)


@pytest.mark.spec("M2.06")
def test_depth_experiment_networks_and_verdict(tmp_path):
    from apps.digits.depth import DepthConfig, depth_network, run_depth, verdict

    x = mg.tensor(np.zeros((2, 1, 14, 14), dtype=np.float32))
    for residual in (False, True):
        model = depth_network(6, residual, width=4)
        assert model(x).shape == (2, 10)
        convs = [n for n, p in model.named_parameters() if p.ndim == 4]
        assert len(convs) == 5          # stem + 2 blocks x 2 convs; with the linear head: 6 layers
    with pytest.raises(ValueError, match="even"):
        depth_network(5, False)
    assert verdict([4, 10, 20], [0.05, 0.04, 0.3], [0.05, 0.03, 0.04])[0]
    holds, message = verdict([4, 10, 20], [0.05, 0.04, 0.03], [0.05, 0.03, 0.04])
    assert not holds and "did not rise" in message
    result = run_depth(DepthConfig(depths=(4, 6), images=60, epochs=1, width=4, out=str(tmp_path), progress=False),
                       log=lambda *a: None)
    assert len(result["plain"]) == 2 and os.path.exists(tmp_path / "depth.png")
