"""Every careless-user case of issue 9 through apps.cli.main: refused in one line with exit code 2, before any work,
and an existing weights file stays byte for byte what it was."""

import os

import numpy as np
import pytest

import minigrad as mg
from apps.cli import main

WEIGHTS = b"trained weights: must survive every refused or failed run"


@pytest.fixture
def run_dir(tmp_path):
    """A training folder as `minigrad train lenet5` leaves it, with weights worth keeping."""
    out = tmp_path / "lenet5"
    out.mkdir()
    (out / "lenet5.npz").write_bytes(WEIGHTS)
    return out


def _refused(capsys, argv, *words):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"{argv} exited {code}: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"{argv}: expected one line, got {lines}"
    assert lines[0].startswith("minigrad"), lines[0]
    for word in words:
        assert word in lines[0], f"{argv}: {word!r} not in {lines[0]!r}"
    assert "Traceback" not in err
    return lines[0]


_argparse_exit = _refused   # argparse's refusals come back from main() as exit code 2 too


@pytest.mark.parametrize("option, value", [
    ("--epochs", "0"), ("--epochs", "-1"), ("--limit", "0"), ("--limit", "-5"), ("--lr", "nan"), ("--lr", "inf"),
    ("--lr", "0"), ("--batch-size", "0"), ("--epochs", "x"), ("--seed", "-1"),
])
def test_train_refuses_values_that_would_train_nothing_and_keeps_the_weights(capsys, run_dir, option, value):
    line = _argparse_exit(capsys, ["train", "lenet5", "--out", str(run_dir), option, value], "minigrad train: error:",
                          option)
    assert value in line
    assert (run_dir / "lenet5.npz").read_bytes() == WEIGHTS


def test_train_epochs_message_is_the_issues_wording(capsys, run_dir):
    line = _argparse_exit(capsys, ["train", "lenet5", "--out", str(run_dir), "--epochs", "0"])
    assert line == "minigrad train: error: --epochs must be >= 1, got 0"


def test_out_on_an_existing_file_is_refused_up_front(capsys, tmp_path):
    afile = tmp_path / "afile"
    afile.write_bytes(WEIGHTS)
    for argv in (["train", "lenet5"], ["finetune"], ["experiment", "depth"], ["bench"]):
        _argparse_exit(capsys, argv + ["--out", str(afile)], "--out", "is a file")
    assert afile.read_bytes() == WEIGHTS


def test_data_must_be_an_existing_folder(capsys, tmp_path):
    _argparse_exit(capsys, ["train", "lenet5", "--data", str(tmp_path / "nope")], "--data", "does not exist")


@pytest.mark.parametrize("argv, option", [
    (["finetune", "--epochs", "-1"], "--epochs"), (["finetune", "--epochs", "0"], "--epochs"),
    (["finetune", "--pretrain-epochs", "0"], "--pretrain-epochs"), (["finetune", "--per-class", "0"], "--per-class"),
    (["finetune", "--per-class", "-3"], "--per-class"), (["experiment", "depth", "--epochs", "0"], "--epochs"),
    (["experiment", "depth", "--images", "0"], "--images"), (["experiment", "depth", "--depths", "a,b"], "--depths"),
    (["experiment", "depth", "--depths", "4,5"], "--depths"), (["experiment", "depth", "--width", "0"], "--width"),
    (["experiment", "depth", "--images", "9999"], "--images"), (["bench", "--only", "["], "--only"),
    (["bench", "--threads", "0"], "--threads"), (["bench", "--rounds", "0"], "--rounds"),
    (["checklist", "--module", "7"], "--module"),
])
def test_bad_values_name_their_option(capsys, argv, option):
    _argparse_exit(capsys, argv, f"minigrad {' '.join(a for a in argv[:2] if not a.startswith('-'))}", option)


def test_finetune_per_class_above_what_exists_is_refused_before_training(capsys, tmp_path, monkeypatch):
    import apps.digits.finetune as finetune

    monkeypatch.setattr(finetune, "_train", lambda *a, **k: pytest.fail("trained despite a bad --per-class"))
    _refused(capsys, ["finetune", "--per-class", "400", "--out", str(tmp_path / "f")], "--per-class", "400")
    assert not (tmp_path / "f").exists()


def test_a_diverging_run_stops_naming_epoch_and_lr_and_keeps_the_weights(capsys, run_dir, monkeypatch):
    import apps.digits.train as train

    def nan_step(model, batch):
        images, labels = batch
        loss = (model(images) * float("nan")).sum()
        return loss, {}, labels.shape[0]

    monkeypatch.setattr(train, "classify_step", nan_step)
    line = _refused(capsys, ["train", "lenet5", "--out", str(run_dir), "--limit", "8", "--batch-size", "8",
                             "--no-progress", "--no-plots", "--lr", "0.5"], "epoch 1/", "0.05")
    assert "nan" in line
    assert (run_dir / "lenet5.npz").read_bytes() == WEIGHTS


def test_an_interrupted_run_keeps_the_weights(capsys, run_dir, monkeypatch):
    import apps.digits.train as train

    def interrupt(model, batch):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "classify_step", interrupt)
    code = main(["train", "lenet5", "--out", str(run_dir), "--limit", "8", "--no-progress", "--no-plots"])
    assert code == 130
    assert (run_dir / "lenet5.npz").read_bytes() == WEIGHTS


def _save_model(path, num_classes):
    from apps.digits.data import make_model

    mg.manual_seed(0)
    mg.save(make_model(num_classes).state_dict(), str(path))
    return str(path)


def _picture(path, rgba):
    from PIL import Image

    Image.fromarray(rgba, mode="RGBA").save(path)
    return str(path)


def test_predict_names_what_a_mismatching_checkpoint_is(capsys, tmp_path):
    picture = np.zeros((28, 28, 4), np.uint8)
    picture[8:20, 12:16] = (0, 0, 0, 255)
    image = _picture(tmp_path / "seven.png", picture)
    transfer = _save_model(tmp_path / "lenet5_transfer5-9.npz", 5)
    _refused(capsys, ["predict", "lenet5", image, "--weights", transfer], "--weights", "5 outputs", "transfer")
    other = tmp_path / "other.npz"
    mg.save({"w": np.zeros(3, np.float32)}, str(other))
    _refused(capsys, ["predict", "lenet5", image, "--weights", str(other)], "--weights", "missing keys")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    _refused(capsys, ["predict", "lenet5", image, "--weights", str(junk)], "--weights")
    _refused(capsys, ["predict", "lenet5", image, "--weights", str(tmp_path / "none.npz")], "train first")
    _argparse_exit(capsys, ["predict", "lenet5", str(tmp_path / "none.png")], "image", "does not exist")
    _refused(capsys, ["predict", "lenet5", transfer, "--weights", transfer], "could not read")


def test_predict_composites_transparency_on_white_and_warns_on_a_blank_picture(capsys, tmp_path):
    from apps.digits.predict import load_image

    picture = np.zeros((28, 28, 4), np.uint8)          # transparent black everywhere: what drawing apps save
    picture[6:22, 13:16] = (0, 0, 0, 255)               # an opaque black stroke
    stroke, has_digit = load_image(_picture(tmp_path / "one.png", picture))
    assert has_digit and stroke[0, 0, 2, 2] == 0.0      # background white -> inverted to black
    assert stroke[0, 0, 2 + 14, 2 + 14] == pytest.approx(1.0)   # the stroke is the bright digit

    weights = _save_model(tmp_path / "w.npz", 10)
    blank = _picture(tmp_path / "blank.png", np.full((28, 28, 4), 255, np.uint8))
    assert main(["predict", "lenet5", blank, "--weights", weights]) == 0
    captured = capsys.readouterr()
    assert "no digit found" in captured.err and "digit:" in captured.out


def test_bench_list_and_bad_only(capsys):
    assert main(["bench", "--list", "--only", "conv2d fwd"]) == 0
    assert "conv2d fwd" in capsys.readouterr().out
    _refused(capsys, ["bench", "--list", "--only", "no such workload"], "--only")


def test_info_survives_a_missing_threading_layer(capsys, monkeypatch):
    import numba

    def no_layer():
        raise ValueError("No threading layer could be loaded.\nHINT: ...")

    monkeypatch.setattr(numba, "get_num_threads", no_layer)
    assert main(["info"]) == 0
    assert "none could be loaded" in capsys.readouterr().out


def test_weights_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "w.npz"
        mg.save({"w": np.zeros(2, np.float32)}, str(path))
        assert os.stat(path).st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_bench_memory_figures():
    import numpy as np

    from apps.bench import memory

    assert memory.peak_numpy_bytes(lambda: np.ones(1_000_000)) >= 8_000_000


def test_seeds_are_bounded_and_out_of_memory_is_one_line(capsys, monkeypatch):
    _refused(capsys, ["train", "lenet5", "--seed", "5000000000"], "--seed", "4294967295")
    import apps.digits.depth as depth

    def too_big(*args, **kwargs):
        raise MemoryError("Unable to allocate 360 GiB")

    monkeypatch.setattr(depth, "run_depth", too_big)
    _refused(capsys, ["experiment", "depth", "--width", "100000"], "out of memory")


def test_debug_shows_the_traceback_of_an_expected_error(tmp_path):
    from apps.cli_args import CLIError

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture")
    with pytest.raises(CLIError, match="could not read"):
        main(["--debug", "predict", "lenet5", str(junk)])
