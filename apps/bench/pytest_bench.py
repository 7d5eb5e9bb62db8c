"""The suite under pytest-benchmark: one test per (workload, peer), grouped by workload.

``benchmarks/test_bench_*.py`` parametrize over ``cases()``; each test sets the
workload up for one peer and hands its callable to pytest-benchmark, so
``pytest benchmarks/ --benchmark-only`` gets pytest-benchmark's calibration,
``--benchmark-compare`` and ``--benchmark-autosave`` history for free. Groups are
the workload names, so each table compares the peers on one workload. Unlike
``minigrad bench``, peers are not interleaved here (pytest runs tests one by one).
"""

import os
import re

from . import environment

# Threads and the OpenMP wait policy as in `minigrad bench`; MINIGRAD_BENCH_THREADS overrides.
environment.quiet_openmp()


def configure():
    threads = int(os.environ.get("MINIGRAD_BENCH_THREADS") or environment.default_threads())
    environment.set_threads(threads)
    return threads


def slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def cases(workloads):
    """(workload, peer) pairs with readable ids, for ``pytest.mark.parametrize``."""
    pairs = [(w, peer) for w in workloads for peer in w.setups]
    return pairs, [f"{slug(w.name)}-{peer}" for w, peer in pairs]


def run(benchmark, workload, peer, heavy_rounds=5):
    """Benchmark one peer on one workload; heavy workloads (models, sweeps) get a fixed number of rounds."""
    import pytest

    if peer == "torch" and environment.torch_version() is None:
        pytest.skip("PyTorch is not installed (pip install -e '.[bench]')")
    threads = configure()
    fn = workload.setups[peer]()
    fn()  # the first call compiles (JIT) and allocates: not part of the timing
    benchmark.group = workload.name
    flops = workload.resolve_flops()
    benchmark.extra_info.update({"peer": peer, "threads": threads, "flops": flops, "workload_group": workload.group})
    if workload.group in ("model", "scale-batch", "scale-size"):
        benchmark.pedantic(fn, rounds=heavy_rounds, iterations=1, warmup_rounds=1)
    else:
        benchmark(fn)
    if flops and benchmark.stats is not None:
        benchmark.extra_info["gflops_median"] = flops / benchmark.stats.stats.median / 1e9
