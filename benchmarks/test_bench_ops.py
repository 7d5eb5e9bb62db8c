"""pytest-benchmark: conv2d on the nine engine shapes, max/avg pooling, matmul and a tiny op, per peer.

Run with ``pytest benchmarks/test_bench_ops.py --benchmark-only`` (add ``-k conv`` to
narrow it, ``--benchmark-autosave`` / ``--benchmark-compare`` for history). Peers:
minigrad, torch (skipped when not installed), numpy (the plain im2col engine) and
gemm (numpy's BLAS on a square GEMM of the same FLOP count). See apps/bench.
"""

import pytest

from apps.bench import pytest_bench
from apps.bench.workloads import conv_workloads, op_workloads, pool_workloads

CASES, IDS = pytest_bench.cases(conv_workloads() + pool_workloads() + op_workloads())


@pytest.mark.parametrize(("workload", "peer"), CASES, ids=IDS)
def test_op(benchmark, workload, peer):
    pytest_bench.run(benchmark, workload, peer)
