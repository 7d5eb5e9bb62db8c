"""`minigrad bench` machinery on tiny workloads: the table, the JSON and the charts have the promised structure.

No timing is asserted (the machine is shared); these tests check that the command
works, that every figure lands in the JSON, and that the numpy reference engine
computes the same convolution and pooling as minigrad (so its timings compare
like with like). Seconds, and no PyTorch needed.
"""

import json

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from apps.bench import reference_numpy as ref
from apps.bench import report, suite, timing
from apps.bench.workloads import Workload, conv_flops, gemm_setup
from apps.cli import main


@pytest.fixture(autouse=True)
def _restore_process_settings(monkeypatch):
    # The bench sets OMP_WAIT_POLICY and the thread counts for its own process; the rest of
    # the test session must not inherit them (--threads 1 would slow every later test).
    import numba

    from apps.bench import environment

    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    threads = numba.get_num_threads()
    yield
    numba.set_num_threads(threads)
    limits = getattr(environment.set_threads, "limits", None)
    if limits is not None:
        limits.restore_original_limits()
        environment.set_threads.limits = None


def test_measure_gives_median_within_spread():
    calls = []
    stats = timing.measure({"a": lambda: calls.append(1), "b": lambda: sum(range(100))}, rounds=3, min_time=0.001)
    for s in stats.values():
        assert s.rounds == 3 and len(s.samples) == 3
        assert s.min <= s.median <= s.max
        assert s.number >= 1 and s.first_call >= 0
    assert calls  # the callable really ran


def test_load_monitor_and_probe_report_their_fields():
    load = timing.machine_load(seconds=0.25)
    assert set(load) >= {"other_cores", "loadavg", "busy", "spin_probe"}
    assert isinstance(load["busy"], bool)
    assert 0.0 <= load["spin_probe"] <= 1.0


@pytest.mark.parametrize("s, p, f", [(1, 0, 3), (2, 1, 3), (1, 2, 5), (1, 0, 1)])
def test_numpy_reference_conv_matches_minigrad(s, p, f):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 9))
    w = rng.standard_normal((4, 3, f, f))
    b = rng.standard_normal(4)
    z, cache = ref.conv_forward(x, w, b, s, p)
    dz = rng.standard_normal(z.shape)
    dx, dw, db = ref.conv_backward(dz, cache)
    xt, wt, bt = (mg.tensor(a, requires_grad=True) for a in (x, w, b))
    zt = F.conv2d(xt, wt, bt, stride=s, padding=p)
    zt.backward(mg.tensor(dz))
    np.testing.assert_allclose(z, zt.numpy(), atol=1e-10)
    for mine, theirs in ((dx, xt), (dw, wt), (db, bt)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_numpy_reference_pool_matches_minigrad(kind):
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8))
    fwd, bwd, pool = ((ref.max_pool_forward, ref.max_pool_backward, F.max_pool2d) if kind == "max"
                      else (ref.avg_pool_forward, ref.avg_pool_backward, F.avg_pool2d))
    y, cache = fwd(x, 2, 2)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    xt = mg.tensor(x, requires_grad=True)
    yt = pool(xt, 2, 2)
    yt.backward(mg.tensor(dy))
    np.testing.assert_allclose(y, yt.numpy(), atol=1e-12)
    np.testing.assert_allclose(bwd(dy, cache), xt.grad.numpy(), atol=1e-12)


def _tiny_conv_workload():
    shape, c_out, f, s, p = (2, 3, 8, 8), 4, 3, 1, 1
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((c_out, 3, f, f)).astype(np.float32)

    def minigrad_setup():
        xt, wt = mg.tensor(x), mg.tensor(w)
        return lambda: F.conv2d(xt, wt, padding=p)

    def broken_setup():
        def fail():
            raise RuntimeError("boom")
        return fail

    flops = conv_flops(shape, c_out, f, s, p)
    return Workload(name="tiny conv", group="conv", flops=flops, min_time=0.001,
                    setups={"minigrad": minigrad_setup, "numpy": lambda: (lambda: ref.conv_forward(x, w, None, s, p)),
                            "gemm": gemm_setup(flops), "torch": broken_setup})


def test_run_workload_records_every_figure_and_survives_a_failing_peer():
    peers = {"minigrad": "x", "numpy": "x", "gemm": "x", "torch": "x"}
    result = suite.run_workload(_tiny_conv_workload(), peers, rounds=2)
    assert set(result["peers"]) == {"minigrad", "numpy", "gemm"}
    assert "torch" in result["errors"] and "boom" in result["errors"]["torch"]
    assert set(result["ratios"]) == {"minigrad/numpy"}
    assert result["pct_gemm_peak"] > 0 and result["gemm_peak_gflops"] > 0
    for entry in result["peers"].values():
        assert {"median", "min", "max", "number", "rounds", "first_call", "gflops"} <= set(entry)
    assert set(result["load"]) >= {"other_cores", "busy"}


def test_bench_command_writes_table_json_and_charts(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["bench", "--quick", "--only", "add fwd 4x4", "--rounds", "2", "--no-jit", "--no-torch",
                 "--threads", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    for column in report.columns():
        assert column in printed
    assert "add fwd 4x4" in printed and "machine load:" in printed and "peers used:" in printed
    data = json.loads((out / "bench.json").read_text())
    assert {"command", "settings", "peers", "machine", "load", "results", "jit"} <= set(data)
    assert data["settings"]["threads"] == 1 and data["peers"]["torch"] is None
    assert {"cpu", "cores", "blas", "numba_threading_layer", "numpy", "numba", "minigrad"} <= set(data["machine"])
    names = [r["name"] for r in data["results"]]
    assert names and all("add fwd 4x4" in n for n in names)
    assert all("minigrad/numpy" in r["ratios"] for r in data["results"])
    assert (out / "bench.md").read_text().count("|") > 10
    assert (out / "ratios.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_list_and_bad_pattern(capsys):
    assert main(["bench", "--list", "--only", "conv2d fwd "]) == 0
    listed = capsys.readouterr().out.strip().splitlines()
    assert len(listed) == 9 and all("conv2d fwd " in line for line in listed)
    assert main(["bench", "--only", "no-such-workload"]) == 2
