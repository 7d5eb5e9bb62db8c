"""pytest-benchmark setup for benchmarks/: fix the thread count the same way `minigrad bench` does.

Run ``pytest benchmarks/ --benchmark-only``. MINIGRAD_BENCH_THREADS (default 2) sets
the threads of Numba, the GEMM split, BLAS and PyTorch alike. The workloads themselves
live in apps/bench (one harness); these files only hand them to pytest-benchmark.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)   # a checkout that is not installed: apps/ is importable all the same


def pytest_sessionstart(session):
    from apps.bench import environment

    environment.quiet_openmp()
    environment.set_threads(int(os.environ.get("MINIGRAD_BENCH_THREADS", "2")),
                            with_torch=environment.torch_version() is not None)
