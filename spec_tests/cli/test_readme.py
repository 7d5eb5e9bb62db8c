"""The README's Python blocks run, as written, in a scratch folder: the examples a reader copies are true."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def _names():
    """What a block may take as given (the README says where each comes from)."""
    from models import resnet18

    # "a torchvision state dict" in the torchvision-weights example: its keys and shapes, as numpy arrays.
    return {"torch_state_dict": {k: v.numpy() for k, v in resnet18().state_dict().items()}}


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # the tour writes net.npz: not into the checkout
    source = BLOCKS[index]
    namespace = {"__name__": "readme"}
    if "torch_state_dict" in source:
        namespace.update(_names())
    try:
        exec(compile(source, f"README.md python block {index + 1}", "exec"), namespace)
    except Exception as error:
        # An example of weights that `minigrad weights install` fetches: it can only be run where they are.
        if type(error).__name__ == "WeightsNotInstalled":
            pytest.skip(f"block {index + 1} needs installed weights: {error}")
        raise
