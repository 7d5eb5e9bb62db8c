"""pytest-benchmark: whole models (LeNet-5 step, ResNet-18/50, VGG-16, a style step) and one ResNet block's scaling.

Run with ``pytest benchmarks/test_bench_models.py --benchmark-only``; minigrad and
torch (skipped when not installed) run the same step, five rounds each after a
warm-up. ``minigrad bench`` runs the same workloads interleaved and draws the charts.
"""

import pytest

from apps.bench import pytest_bench
from apps.bench.model_workloads import model_workloads, scaling_workloads

CASES, IDS = pytest_bench.cases(model_workloads() + scaling_workloads())


@pytest.mark.parametrize(("workload", "peer"), CASES, ids=IDS)
def test_model(benchmark, workload, peer):
    pytest_bench.run(benchmark, workload, peer)
