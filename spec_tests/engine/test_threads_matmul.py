"""threads.matmul: a large GEMM inside conv calls, on BLAS's own threads at the user's
count, and the split it falls back on (BLAS held at one thread), on both block schemes."""

import numpy as np
import pytest

from minigrad.backend import threads
from minigrad.backend.threads import kernel_call, matmul


@pytest.fixture
def row_block_calls(spy, monkeypatch):
    monkeypatch.setattr(threads, "_workers", lambda: 2)  # as on the 2-core CI machine
    monkeypatch.setattr(threads, "BLAS_THREADS", False)  # the split path, as with BLAS at one thread
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


def _blas_counts():
    return [get() for get, _ in threads._thread_knobs()]


def test_large_gemms_run_on_blas_threads_at_the_users_count(monkeypatch):
    """Inside a kernel call BLAS is held at one thread, except for a large GEMM, which gets
    the user's count back for that call (nested calls too), and one thread again after."""
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(threads, "_workers", lambda: 2)
    seen, real = [], np.matmul

    def recording(a, b, out=None):
        seen.append(_blas_counts())
        return real(a, b, out=out)

    monkeypatch.setattr(threads.np, "matmul", recording)
    rng = np.random.default_rng(2)
    a = rng.standard_normal((256, 512)).astype(np.float32)
    b = rng.standard_normal((512, 300)).astype(np.float32)   # 39 M multiply-adds: large
    out = np.empty((256, 300), np.float32)
    with threadpool_limits(3, user_api="blas"):
        with kernel_call():
            with kernel_call():
                matmul(a, b, out)
                assert set(_blas_counts()) == {1}
            matmul(a[:8, :8], b[:8, :8], np.empty((8, 8), np.float32))   # small: held at 1
        assert set(_blas_counts()) == {3}
    assert set(seen[0]) == {3} and set(seen[1]) == {1}
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    with threadpool_limits(1, user_api="blas"), kernel_call():
        matmul(a, b, out)   # the user asked for one BLAS thread: it is split over Numba's instead
    assert len(seen) == 2 or set(seen[2]) == {1}
