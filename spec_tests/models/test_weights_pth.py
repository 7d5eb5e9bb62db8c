"""models.weights.torch_pth: torchvision .pth files read without torch, and files that smuggle code refused."""

import os
import pickle

import numpy as np
import pytest

from apps.cli import main
from models import weights
from models.weights.torch_pth import UnsafePickle, load_pth
from weights_helpers import state_pickle, vgg_state, write_legacy_pth, write_zip_pth


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_HOME", str(tmp_path / "home"))


def test_hand_made_zip_pth_reads_back_without_torch(tmp_path):
    rng = np.random.default_rng(0)
    state = {"a.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
             "a.bias": np.arange(4, dtype=np.float64), "steps": np.array(7, dtype=np.int64)}
    path = tmp_path / "small.pth"
    write_zip_pth(path, state)
    got = load_pth(path)
    assert list(got) == list(state)
    for key in state:
        assert got[key].dtype == state[key].dtype
        np.testing.assert_array_equal(got[key], state[key])


def test_hand_made_vgg16_pth_imports_through_the_cli(tmp_path):
    want = vgg_state("vgg16", seed=3)
    path = tmp_path / "vgg16.pth"
    write_zip_pth(path, {**want, "classifier.6.bias": np.zeros(10, np.float32)}, stem="vgg16")
    assert main(["weights", "import", str(path)]) == 0
    meta = weights.read_meta("vgg16")
    assert meta["format"] == "pth" and meta["preprocessing"] == "torchvision"
    got = weights.load_features("vgg16")
    assert sorted(got) == sorted(want)
    np.testing.assert_array_equal(got["features.28.weight"], want["features.28.weight"])


class RunsACommand:
    """What a malicious checkpoint holds: unpickling it calls os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_pth_with_os_system_is_refused_and_never_run(tmp_path, container, capsys):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"features.0.weight": RunsACommand(marker)}, protocol=2)
    path = tmp_path / "evil.pth"
    (write_zip_pth(path, pickle_bytes=payload) if container == "zip" else write_legacy_pth(path, payload))
    with pytest.raises(UnsafePickle, match=rf"{os.system.__module__}\.system"):
        load_pth(path)
    assert main(["weights", "import", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "system" in err and "refused" in err
    assert not marker.exists()
    assert not weights.features_path("vgg16").exists()


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path):
    # The tensor claims 10 elements of a 4-element storage: as_strided would read foreign memory.
    state = {"x": np.zeros(4, np.float32)}
    payload = state_pickle(state).replace(b"(J\x04\x00\x00\x00t", b"(J\x0a\x00\x00\x00t", 1)
    path = tmp_path / "overrun.pth"
    write_zip_pth(path, state, pickle_bytes=payload)
    with pytest.raises(ValueError, match="reaches past its storage of 4 elements"):
        load_pth(path)


def test_a_zero_stride_tensor_cannot_expand_without_bound(tmp_path):
    state = {"x": np.zeros(1, np.float32)}
    payload = state_pickle(state).replace(b"(J\x01\x00\x00\x00t(J\x01\x00\x00\x00t",
                                          b"(J\x00\x00\x00\x40J\x00\x00\x00\x40t(J\x00\x00\x00\x00J\x00\x00\x00\x00t", 1)
    path = tmp_path / "expand.pth"
    write_zip_pth(path, state, pickle_bytes=payload)
    with pytest.raises(ValueError, match=r"would expand 1 stored elements to 1152921504606846976"):
        load_pth(path)


def test_build_on_a_rebuilt_tensor_is_refused(tmp_path):
    # BUILD (opcode "b") after the rebuild would overwrite the checked tensor's size.
    state = {"x": np.zeros(4, np.float32)}
    tampered = state_pickle(state).replace(b"tR", b"tR}X\x04\x00\x00\x00sizeJ\x00\x00\x01\x00\x85sb", 1)
    path = tmp_path / "build.pth"
    write_zip_pth(path, state, pickle_bytes=tampered)
    with pytest.raises(UnsafePickle, match="set the state of a LazyTensor"):
        load_pth(path)


@pytest.mark.parametrize("payload", [
    b"\x80\x02" + b"garbage",                                     # a truncated pickle
    b"\x80\x02ctorch\nFloatStorage\n)R.",                        # calls a storage marker
    b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x01K\x00)K\x00tR.",   # a tensor from an int
])
def test_malformed_pth_is_one_line(tmp_path, payload, capsys):
    path = tmp_path / "bad.pth"
    write_zip_pth(path, pickle_bytes=payload)
    assert main(["weights", "import", str(path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# ----- files written by torch itself (only where torch is installed; it is not a test dependency) -----

@pytest.mark.parametrize("zip_format", [True, False])
def test_pth_written_by_torch_reads_back(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    state = {
        "features.0.weight": torch.randn(4, 3, 3, 3),
        "transposed": torch.randn(5, 6).t(),                 # non-contiguous strides
        "offset_view": torch.arange(10, dtype=torch.float64)[3:7],
        "half": torch.randn(3).half(), "bfloat": torch.randn(3, dtype=torch.bfloat16),
        "count": torch.tensor(5), "mask": torch.tensor([True, False]),
    }
    path = tmp_path / "torch.pth"
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    got = load_pth(path)
    assert list(got) == list(state)
    for key, tensor in state.items():
        want = (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
        np.testing.assert_array_equal(got[key], want, err_msg=key)


def test_torch_vgg19_state_dict_with_classifier_imports(tmp_path):
    torch = pytest.importorskip("torch")
    want = vgg_state("vgg19", seed=4)
    state = {key: torch.from_numpy(value) for key, value in want.items()}
    state["classifier.6.weight"] = torch.zeros(10, 4096)
    path = tmp_path / "vgg19-legacy.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)   # torchvision's hosted files are legacy
    assert main(["weights", "import", str(path), "--arch", "vgg19"]) == 0
    got = weights.load_features("vgg19")
    np.testing.assert_array_equal(got["features.34.weight"], want["features.34.weight"])
