"""pytest-benchmark setup for benchmarks/: collect bench_*.py too, and fix the thread count.

Run ``pytest benchmarks/ --benchmark-only``. MINIGRAD_BENCH_THREADS (default 2) sets
the threads of Numba, the GEMM split, BLAS and PyTorch alike.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
for path in (HERE, os.path.dirname(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)


def pytest_configure(config):
    config.addinivalue_line("python_files", "bench_*.py")


def pytest_sessionstart(session):
    import report_kernels

    report_kernels.set_threads(int(os.environ.get("MINIGRAD_BENCH_THREADS", "2")))
