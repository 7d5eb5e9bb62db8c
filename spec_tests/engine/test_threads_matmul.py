"""threads.matmul: the split GEMM inside conv calls, on both of its block schemes."""

import numpy as np
import pytest

from minigrad.backend import threads
from minigrad.backend.threads import kernel_call, matmul


@pytest.fixture
def row_block_calls(spy, monkeypatch):
    monkeypatch.setattr(threads, "_workers", lambda: 2)  # as on the 2-core CI machine
    return spy(threads, "_gemm_row_blocks", 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("b_order", ["C", "F"])
def test_tall_outputs_split_in_row_blocks(dtype, b_order, row_block_calls):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((201, 300)).astype(dtype)  # odd rows: uneven blocks
    b = np.asarray(rng.standard_normal((300, 601)).astype(dtype), order=b_order)
    out = np.empty((201, 601), dtype)
    with kernel_call():
        matmul(a, b, out)
    assert row_block_calls == [(201, 601)]
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=tol, atol=tol)


def test_wide_outputs_and_transposed_operands_use_the_pool(row_block_calls):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 40)).astype(np.float32).T  # F-ordered: not for np.dot's row blocks
    b = rng.standard_normal((300, 3001)).astype(np.float32)
    out = np.empty((40, 3001), np.float32)
    with kernel_call():
        matmul(a, b, out)
    assert row_block_calls == []
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
