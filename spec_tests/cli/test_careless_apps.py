"""Careless-user cases on the applications (yolo, faces, style, visualize, edges, weights) found by trying them:
each is refused in one line `minigrad <command> <action>: error: ...` with exit code 2, before any real work,
and the shipped weights stay byte for byte what they were."""

import hashlib
from pathlib import Path

import pytest

from apps.cli import main

APPS = Path(__file__).resolve().parents[2] / "apps"
SHIPPED = [APPS / "faces" / "weights" / "faces.npz", APPS / "yolo" / "weights" / "yolo.npz"]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.fixture
def shipped_untouched():
    before = {path: _digest(path) for path in SHIPPED}
    yield
    assert {path: _digest(path) for path in SHIPPED} == before, "a refused run changed shipped weights"


def _refused(capsys, argv, prefix, *words):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"{argv} exited {code}: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"{argv}: expected one line, got {lines}"
    assert lines[0].startswith(f"{prefix}: error: "), lines[0]
    for word in words:
        assert word in lines[0], f"{argv}: {word!r} not in {lines[0]!r}"
    return lines[0]


def test_faces_train_with_one_identity_is_refused_before_it_replaces_the_shipped_encoder(capsys, tmp_path,
                                                                                          shipped_untouched):
    # Before: a "finished" run with nothing to push apart, exit 0, and the shipped faces.npz replaced.
    _refused(capsys, ["faces", "train", "--identities", "1", "--out", str(tmp_path)], "minigrad faces train",
             "--identities", ">= 2", "got 1")


def test_yolo_anchors_with_more_anchors_than_boxes_names_the_options(capsys, tmp_path):
    # Before: a ValueError traceback from k-means ("boxes_hw must hold at least k=...").
    _refused(capsys, ["yolo", "anchors", "-k", "1000", "--scenes", "1", "--plot", str(tmp_path / "a.png")],
             "minigrad yolo anchors", "-k 1000", "--scenes 1")


def test_an_expected_failure_inside_an_action_names_the_action(capsys, tmp_path, shipped_untouched):
    # Before: "minigrad yolo: error: ..." for a failure inside `minigrad yolo detect`.
    bad = tmp_path / "w.npz"
    bad.write_text("not a checkpoint")
    picture = tmp_path / "p.png"
    from PIL import Image
    Image.new("RGB", (8, 8)).save(picture)
    _refused(capsys, ["yolo", "detect", str(picture), "--weights", str(bad)], "minigrad yolo detect", "w.npz")


@pytest.mark.parametrize("size", ["100000", "0", "15"])
def test_style_size_outside_what_vgg_can_hold_is_refused_up_front(capsys, size):
    # Before: --size 100000 ran past a minute with no output before running out of time or memory.
    _refused(capsys, ["style", "--example", "--random-features", "--size", size], "minigrad style", "--size", size)


def test_style_weights_of_the_wrong_count_name_the_option(capsys):
    _refused(capsys, ["style", "--example", "--random-features", "--style-weights", "1,2"], "minigrad style",
             "--style-weights", "got 2")


def test_visualize_with_another_models_weights_is_one_line(capsys, tmp_path, shipped_untouched):
    # Before: load_state_dict's RuntimeError ("unexpected keys: anchors, backbone...") as a 25-line traceback.
    _refused(capsys, ["visualize", "lenet5", "--layer", "1", "--weights", str(SHIPPED[1]), "-o", str(tmp_path / "v.png")],
             "minigrad visualize", "does not hold LeNet-5 weights", "unexpected keys")


@pytest.mark.parametrize("line", ["7 1 2 nan 5", "7 1 2 inf 5", "7 nan nan 5 5"])
def test_yolo_eval_refuses_a_label_file_with_a_non_finite_coordinate(capsys, tmp_path, line, shipped_untouched):
    # Before: 'nan' passed the x1 < x2 check (NaN compares False) and IoU raised a ValueError traceback.
    from PIL import Image
    Image.new("RGB", (64, 64)).save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text(line + "\n")
    _refused(capsys, ["yolo", "eval", "--data", str(tmp_path), "--out", str(tmp_path / "out")], "minigrad yolo eval",
             "a.txt:1", "finite")


def test_a_diverging_faces_run_is_one_line_and_keeps_the_weights(tmp_path, shipped_untouched):
    # Before: a dozen numpy "overflow encountered" warning lines came before the NaN guard's one line. A subprocess,
    # because pytest captures warnings in-process and would hide them.
    import os
    import subprocess
    import sys
    weights = tmp_path / "faces.npz"
    weights.write_bytes(SHIPPED[0].read_bytes())
    env = {**os.environ, "PYTHONPATH": str(APPS.parent)}
    done = subprocess.run([sys.executable, "-m", "apps", "faces", "train", "--epochs", "1", "--steps", "2", "--lr", "1e30",
                           "--out", str(tmp_path / "run"), "--weights", str(weights)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("minigrad faces train: error: the loss became nan"), lines[0]
    assert weights.read_bytes() == SHIPPED[0].read_bytes()


@pytest.mark.parametrize("command", ["faces", "yolo"])
def test_an_application_without_its_action_is_a_usage_error(capsys, command):
    # Before: `minigrad faces` printed its help and exited 0, as if it had done something.
    _refused(capsys, [command], f"minigrad {command}", "ACTION", f"minigrad {command} --help")


def test_yolo_train_at_a_huge_learning_rate_is_refused_with_the_rate(capsys, tmp_path, shipped_untouched):
    # Before: with one step per epoch the blown-up weights were saved (or, since, validation failed with
    # "box1 holds a NaN or infinite coordinate", which blames the boxes, not the learning rate).
    line = _refused(capsys, ["yolo", "train", "--lr", "1e30", "--epochs", "1", "--scenes", "8", "--batch-size", "8",
                             "--test-scenes", "4", "--out", str(tmp_path), "--no-progress"],
                    "minigrad yolo train", "the loss became nan", "learning rate")
    assert "box" not in line
    assert not any(tmp_path.iterdir()), "a refused run wrote files"
