"""The conv workspace: buffers kept between calls, never shared by nested calls, capped."""

import threading

import numpy as np

from minigrad.backend import cpu_conv_workspace as cws


def test_a_buffer_is_reused_by_the_next_call():
    with cws.Workspace(np.float32) as ws:
        first = ws.get("cols", (3, 4))
    with cws.Workspace(np.float32) as ws:
        again = ws.get("cols", (2, 5))
    assert np.shares_memory(first, again)


def test_nested_calls_never_share_a_buffer():
    with cws.Workspace(np.float32) as outer:
        a = outer.get("v", (8,))
        with cws.Workspace(np.float32) as inner:
            b = inner.get("v", (8,))
        assert not np.shares_memory(a, b)


def test_dtypes_and_threads_keep_their_own_buffers():
    with cws.Workspace(np.float32) as ws:
        f32 = ws.get("m", (4,))
    with cws.Workspace(np.float64) as ws:
        f64 = ws.get("m", (4,))
    assert f64.dtype == np.float64 and not np.shares_memory(f32, f64)
    seen = []

    def other_thread():
        with cws.Workspace(np.float32) as ws:
            seen.append(ws.get("m", (4,)))
    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert not np.shares_memory(f32, seen[0])


def test_buffers_beyond_the_cap_are_freed(monkeypatch):
    monkeypatch.setattr(cws, "KEEP_BYTES", 1000)
    with cws.Workspace(np.float32) as ws:
        big = ws.get("huge", (1000,))  # 4000 bytes > the cap
    with cws.Workspace(np.float32) as ws:
        assert not np.shares_memory(big, ws.get("huge", (1000,)))


def test_buffers_start_on_a_cache_line():
    for dtype in (np.float32, np.float64):
        for size in (1, 7, 1000, 1 << 20):
            a = cws.aligned_empty(size, dtype)
            assert a.shape == (size,) and a.dtype == dtype and a.ctypes.data % cws.ALIGN == 0
    with cws.Workspace(np.float32) as ws:
        view = ws.get("aligned", (5, 3))
    assert view.ctypes.data % cws.ALIGN == 0 and view.flags["C_CONTIGUOUS"]
