"""The backend contract is code: cpu and cuda each define every name; comparisons agree with numpy on NaN and inf."""

import numpy as np
import pytest

import minigrad as mg
from minigrad.backend import CONTRACT, get_backend

SPECIAL = np.array([np.nan, np.inf, -np.inf, 1.0, -1.0, 0.0], dtype=np.float32)
COMPARISONS = {
    ">": np.greater, "<": np.less, ">=": np.greater_equal, "<=": np.less_equal, "==": np.equal, "!=": np.not_equal,
}


def _devices():
    return ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.mark.parametrize("device", _devices())
def test_every_backend_defines_every_name_of_the_contract(device):
    backend = get_backend(device)
    missing = [name for name in CONTRACT if not callable(getattr(backend, name, None))]
    assert not missing, f"backend {device} lacks {missing}"


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("symbol", list(COMPARISONS))
def test_comparisons_with_nan_and_inf_match_numpy(device, symbol):
    a = np.repeat(SPECIAL, len(SPECIAL))
    b = np.tile(SPECIAL, len(SPECIAL))           # every ordered pair of special values
    x, y = mg.tensor(a, device=device), mg.tensor(b, device=device)
    ops = {">": x.__gt__, "<": x.__lt__, ">=": x.__ge__, "<=": x.__le__, "==": x.__eq__, "!=": x.__ne__}
    got = ops[symbol](y).numpy()
    expected = COMPARISONS[symbol](a, b)
    wrong = [(float(p), float(q)) for p, q, g, e in zip(a, b, got, expected) if g != e]
    assert not wrong, f"x {symbol} y differs from numpy for (x, y) in {wrong}"
    with np.errstate(invalid="ignore"):
        scalar = ops[symbol](1.0).numpy()
    np.testing.assert_array_equal(scalar, COMPARISONS[symbol](a, np.float32(1.0)))


def test_nan_is_neither_ge_nor_le_one():
    x = mg.tensor([np.nan, 1.0, 2.0])
    assert (x >= 1).numpy().tolist() == [False, True, True]
    assert (x <= 1).numpy().tolist() == [False, True, False]
