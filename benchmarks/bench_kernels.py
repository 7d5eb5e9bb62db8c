"""pytest-benchmark: the engine's conv2d and pool kernels (forward + all gradients), minigrad vs PyTorch.

One benchmark per (workload, engine), grouped by workload so each table compares the
two; PyTorch cases are skipped when torch is not installed. The workloads and the
callables come from report_kernels.py, which also writes the interleaved RESULTS.md table.
"""

import pytest

import report_kernels as rk

ENGINES = ["minigrad", "torch"]
CONV_IDS = [f"{s[0]}-{s[1]}-f{s[2]}s{s[3]}p{s[4]}".replace(" ", "") for s in rk.CONV_SHAPES]
POOL_IDS = [f"{k}-{s}".replace(" ", "") for k, s, *_ in rk.POOL_SHAPES]


def _need(engine):
    if engine == "torch" and not rk.have_torch():
        pytest.skip("PyTorch is not installed (pip install -e '.[bench]')")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", rk.CONV_SHAPES, ids=CONV_IDS)
def test_conv2d_forward_backward(benchmark, case, engine):
    _need(engine)
    fn = (rk.minigrad_conv if engine == "minigrad" else rk.torch_conv)(*case)
    fn()  # compile and allocate outside the timing
    benchmark.group = rk.conv_label(*case)
    benchmark.extra_info["gflop"] = rk.conv_flops(*case) / 1e9
    benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", rk.POOL_SHAPES, ids=POOL_IDS)
def test_pool_forward_backward(benchmark, case, engine):
    _need(engine)
    fn = (rk.minigrad_pool if engine == "minigrad" else rk.torch_pool)(*case)
    fn()
    benchmark.group = f"{case[0]}_pool {case[1]}"
    benchmark.pedantic(fn, rounds=10, iterations=1, warmup_rounds=1)
