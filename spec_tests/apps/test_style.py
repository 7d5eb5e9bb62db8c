"""Style transfer: the loop lowers J on a small problem, the costs live once, the command writes what it promises and refuses bad input in one line."""

import inspect
import json
import os

import numpy as np
import pytest

from apps.cli import main
from apps.style import content_cost, gram_matrix, layer_style_cost, style_cost, total_cost
from apps.style import costs, transfer as transfer_module
from apps.style.features import random_features
from apps.style.transfer import Settings, transfer


def _pictures(size=32):
    rng = np.random.default_rng(0)
    content = rng.uniform(0, 1, (size, size, 3)).astype(np.float32)
    stripes = (np.sin(np.arange(size) * 1.3)[None, :, None] * 0.5 + 0.5) * np.array([1.0, 0.3, 0.1])
    style = np.broadcast_to(stripes, (size, size, 3)).astype(np.float32)
    return content, style


def test_public_costs_are_the_course_module():
    assert (content_cost, gram_matrix, layer_style_cost, style_cost, total_cost) == (
        costs.content_cost, costs.gram_matrix, costs.layer_style_cost, costs.style_cost, costs.total_cost)


def test_transfer_uses_the_costs_and_does_not_copy_them():
    source = inspect.getsource(transfer_module)
    assert "from .costs import content_cost, gram_matrix, style_cost, total_cost" in source
    for formula in ("def content_cost", "def gram_matrix", "def layer_style_cost", "def style_cost", "@ "):
        assert formula not in source


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loop_lowers_the_loss_on_32x32_with_random_features(optimizer):
    from apps.style.pictures import example, fit_to

    content = fit_to(example("astronaut"), size=32)
    style = fit_to(example("brick"), shape=content.shape[:2])
    image, history = transfer(content, style, random_features(0), Settings(steps=12, optimizer=optimizer))
    assert image.shape == (32, 32, 3) and 0.0 <= image.min() and image.max() <= 1.0
    assert len(history["J"]) == 12
    assert history["final"]["J"] < 0.2 * history["J"][0]
    assert history["final"]["J_style"] < 0.2 * history["J_style"][0]
    assert np.abs(image - content).mean() > 0.01          # G moved away from its start


def test_frames_are_reported_every_n_steps():
    content, style = _pictures(16)
    seen = []
    transfer(content, style, random_features(0), Settings(steps=6, frames=2, optimizer="adam", tv=1.0),
             on_frame=lambda step, image: seen.append((step, image.shape)))
    assert seen == [(2, (16, 16, 3)), (4, (16, 16, 3)), (6, (16, 16, 3))]


def test_vgg_layer_names_point_at_relus():
    from models.vgg import VGG16_CONFIG, feature_names

    names = feature_names(VGG16_CONFIG)
    assert len(names) == 13
    assert names["conv1_1"] == 1 and names["conv2_1"] == 6 and names["conv3_1"] == 11
    assert names["conv4_2"] == 20 and names["conv5_1"] == 25


def test_bad_settings_are_named():
    content, style = _pictures(16)
    with pytest.raises(ValueError, match="optimizer"):
        transfer(content, style, random_features(0), Settings(optimizer="sgd"))
    with pytest.raises(ValueError, match="unknown layer"):
        transfer(content, style, random_features(0), Settings(content_layer="conv9_9"))
    with pytest.raises(ValueError, match="same size"):
        transfer(content, style[:8], random_features(0))


def _png(path, array):
    from PIL import Image

    Image.fromarray(array).save(path)
    return str(path)


def test_command_writes_every_output(tmp_path):
    rng = np.random.default_rng(1)
    content = _png(tmp_path / "c.png", rng.integers(0, 255, (24, 40, 3), dtype=np.uint8))
    style = _png(tmp_path / "s.png", rng.integers(0, 255, (30, 30, 3), dtype=np.uint8))
    out = tmp_path / "out" / "r.png"
    code = main(["style", content, style, "-o", str(out), "--size", "32", "--steps", "4", "--random-features",
                 "--frames", "2", "--no-progress"])
    assert code == 0
    for name in ("r.png", "r-side.png", "r-losses.png", "r.json", "r-frames/step-0002.png", "r-frames/step-0004.png"):
        assert (tmp_path / "out" / name).is_file(), name
    from PIL import Image

    assert Image.open(out).size == (32, 19)          # longer side 32, aspect kept
    summary = json.loads((tmp_path / "out" / "r.json").read_text())
    assert summary["settings"]["content_layer"] == "conv4_2" and summary["evaluations"] == 4
    assert summary["J_style"] == summary["history"]["final"]["J_style"] and summary["J_style_fall"] > 0
    assert not [f for f in os.listdir(tmp_path / "out") if f.startswith(".tmp-")]


def _one_line_error(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        code = main(argv)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "error:" in err[-1] and "Traceback" not in "\n".join(err)
    return err[-1]


def test_bad_input_is_one_line(tmp_path, capsys):
    good = _png(tmp_path / "g.png", np.zeros((20, 20, 3), np.uint8))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    assert "does not exist" in _one_line_error(capsys, ["style", str(tmp_path / "missing.png"), good, "--random-features"])
    assert "could not read" in _one_line_error(capsys, ["style", str(broken), good, "--random-features"])
    assert "--size" in _one_line_error(capsys, ["style", good, good, "--size", "0"])
    assert "--example" in _one_line_error(capsys, ["style", "--example", "brick", "astronaut"])
    assert "unknown layer" in _one_line_error(capsys, ["style", good, good, "--random-features",
                                                       "--content-layer", "conv9_9"])


def test_missing_weights_give_the_install_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MINIGRAD_HOME", str(tmp_path / "empty"))
    good = _png(tmp_path / "g.png", np.zeros((20, 20, 3), np.uint8))
    line = _one_line_error(capsys, ["style", good, good])
    assert "minigrad weights install vgg16" in line and "--random-features" in line


def test_a_precomputed_style_gram_gives_the_same_cost():
    import minigrad as mg

    rng = np.random.default_rng(3)
    a_S, a_G = (mg.tensor(rng.normal(size=(1, 4, 3, 5))) for _ in range(2))
    assert layer_style_cost(a_S, a_G, gram_matrix(a_S)).item() == pytest.approx(layer_style_cost(a_S, a_G).item())
    assert style_cost([a_S], [a_G], style_grams=[gram_matrix(a_S)]).item() == pytest.approx(
        style_cost([a_S], [a_G]).item())
    with pytest.raises(ValueError, match="gram_S"):
        layer_style_cost(a_S, a_G, mg.tensor(np.zeros((3, 3))))
