"""`minigrad visualize` and `minigrad edges` write the PNGs they promise and refuse bad input in one line."""

import numpy as np
import pytest

import minigrad as mg
from apps.cli import main


def _png(path, array):
    from PIL import Image

    Image.fromarray(array).save(path)
    return str(path)


def _exit_code(argv):
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


def test_edges_writes_the_picture_and_four_responses(tmp_path, capsys):
    x = np.zeros((40, 60), np.uint8)
    x[:, 30:] = 255
    out = tmp_path / "sub" / "edges.png"
    assert main(["edges", _png(tmp_path / "step.png", x), "-o", str(out)]) == 0
    from PIL import Image

    width, height = Image.open(out).size
    assert width > 4 * height                     # five panels side by side
    assert "vertical, horizontal, sobel, scharr" in capsys.readouterr().out


def test_edges_bad_input_is_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    for argv, words in ((["edges", str(tmp_path / "missing.png")], "does not exist"),
                        (["edges", str(broken)], "could not read")):
        assert _exit_code(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert words in err[-1] and "Traceback" not in "\n".join(err)


def test_visualize_lenet5_with_given_weights_writes_a_grid(tmp_path, capsys):
    from models import lenet5

    mg.manual_seed(0)
    weights = tmp_path / "lenet5.npz"
    mg.save(lenet5(activation="relu", pooling="max").state_dict(), str(weights))
    out = tmp_path / "grid.png"
    code = main(["visualize", "lenet5", "--layer", "2", "--weights", str(weights), "--units", "3", "--images", "50",
                 "-o", str(out)])
    assert code == 0 and out.is_file()
    assert "3 units of LeNet-5 conv2" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["visualize", "lenet5", "--layer", "3"], "must be 1 or 2"),
    (["visualize", "lenet5", "--layer", "1", "--weights", "/nonexistent/lenet5.npz"], "does not exist"),
    (["visualize", "vgg16", "--layer", "conv9_1"], "conv1_1"),
])
def test_visualize_bad_input_is_one_line(argv, words, capsys):
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert words in err[-1] and "Traceback" not in "\n".join(err)


def test_visualize_vgg16_without_weights_names_the_install_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINIGRAD_HOME", str(tmp_path))
    assert _exit_code(["visualize", "vgg16", "--layer", "conv1_1"]) == 2
    assert "minigrad weights install vgg16" in capsys.readouterr().err
