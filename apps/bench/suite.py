"""Run a selection of workloads on every available peer and gather every figure into one dict.

For each workload the peers' setups run first (inputs, models, warm-up), then the
peers are timed interleaved (``timing.measure``) while a ``LoadMonitor`` watches
what other processes did meanwhile. A peer that fails is recorded with its error
and the run goes on: one broken kernel must not hide every other number.
"""

import datetime
import re
import sys
import time
import traceback

from . import environment, memory, timing
from .model_workloads import clear_models
from .workloads import all_workloads

PEER_ORDER = ("minigrad", "torch", "numpy", "gemm")
# minigrad and PyTorch are interleaved with each other; the numpy peers are timed after
# them, apart. numpy's OpenBLAS keeps its threads spinning for up to about 0.1 s after
# a multi-threaded call (its THREAD_TIMEOUT), and whichever peer ran next lost the cores
# meanwhile: measured +50 ms on a 100 ms conv, for minigrad and PyTorch alike.
INTERLEAVED = (("minigrad", "torch"), ("numpy", "gemm"))


def select(workloads, quick=False, only=None):
    """The workloads of a run: the ``quick`` subset or all, filtered by the regex ``only`` on the name or group."""
    chosen = [w for w in workloads if w.quick or not quick]
    if only:
        pattern = re.compile(only, re.IGNORECASE)
        chosen = [w for w in chosen if pattern.search(w.name) or pattern.search(w.group)]
    return chosen


def available_peers(use_torch=True):
    """{peer: version or None}: which peers this run can use (None: not installed, or left out)."""
    import numpy as np

    import minigrad

    return {"minigrad": minigrad.__version__, "torch": environment.torch_version() if use_torch else None,
            "numpy": np.__version__, "gemm": np.__version__}


def run_workload(workload, peers, rounds, warmup=1, min_time_scale=1.0, budget=None, measure_memory=False):
    """Time one workload on the peers it defines that are available; returns its result dict."""
    callables, errors = {}, {}
    for peer in PEER_ORDER:
        if peer in workload.setups and peers.get(peer):
            try:
                callables[peer] = workload.setups[peer]()
            except Exception as error:  # record and go on (see the module docstring)
                errors[peer] = _describe(error)
    try:
        flops = workload.resolve_flops()
    except Exception as error:
        flops, errors["flops"] = None, _describe(error)
    stats = {}
    monitor = timing.LoadMonitor().start()
    for group in INTERLEAVED:
        timed = {peer: fn for peer, fn in callables.items() if peer in group}
        # Time what works; a peer raising while timed is dropped and timing is retried without it.
        while timed:
            try:
                stats.update(timing.measure(timed, rounds=rounds, warmup=warmup, budget=budget,
                                            min_time=workload.min_time * min_time_scale))
                break
            except Exception as error:
                failing = _failing_peer(timed)
                errors[failing] = _describe(error)
                timed.pop(failing)
                callables.pop(failing)
    load = monitor.stop()
    result = _result(workload, flops, stats, errors, load)
    if measure_memory and "minigrad" in callables:
        result["peak_numpy_mb"] = memory.peak_numpy_bytes(callables["minigrad"]) / 2**20
    return result


def _failing_peer(callables):
    for peer, fn in callables.items():
        try:
            fn()
        except Exception:
            return peer
    return next(iter(callables))


def _describe(error):
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" ({frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    return f"{type(error).__name__}: {error}{where}"


def _result(workload, flops, stats, errors, load):
    peers = {}
    for peer, s in stats.items():
        entry = s.to_dict()
        entry["gflops"] = flops / s.median / 1e9 if flops else None
        peers[peer] = entry
    mg = peers.get("minigrad")
    ratios = {}
    if mg:
        for other in ("torch", "numpy"):
            if other in peers:
                ratios[f"minigrad/{other}"] = mg["median"] / peers[other]["median"]
    # The peak is a limit, so it comes from the GEMM's best round, not its median: on a busy
    # machine a 2-thread BLAS call that lost a core would otherwise pass for the machine's limit.
    peak = flops / peers["gemm"]["min"] / 1e9 if flops and "gemm" in peers else None
    pct_peak = 100.0 * mg["gflops"] / peak if mg and mg["gflops"] and peak else None
    return {
        "name": workload.name, "group": workload.group, "x": workload.x, "flops": flops,
        "note": workload.note, "peers": peers, "ratios": ratios,
        "gemm_peak_gflops": peak,
        "pct_gemm_peak": pct_peak, "errors": errors, "load": load,
    }


def run_suite(quick=False, only=None, threads=None, rounds=None, use_torch=True, jit=True,
              command=None, progress=None, measure_memory=False):
    """Run the benchmark suite; return the report dict (every figure, the machine, the settings)."""
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    omp_policy = environment.quiet_openmp()
    threads = threads or environment.default_threads()
    peers = available_peers(use_torch)
    environment.set_threads(threads, with_torch=bool(peers["torch"]))
    # An explicit --rounds is honoured; the default 7 drops to 3 for a workload whose rounds would
    # take longer than the budget (the slow peers on the big shapes, on a slow or busy machine).
    budget = None if rounds else (3.0 if quick else 12.0)
    rounds = rounds or (3 if quick else 7)
    started = datetime.datetime.now(datetime.timezone.utc)
    before = timing.machine_load()
    workloads = select(all_workloads(), quick=quick, only=only)
    results = []
    t0 = time.perf_counter()
    for i, workload in enumerate(workloads, 1):
        progress(f"[{i}/{len(workloads)}] {workload.name}")
        # --quick shortens the samples too: it checks that everything runs, in about a minute.
        # (the warm call that sizes the samples is warm-up enough for a smoke run)
        results.append(run_workload(workload, peers, rounds, warmup=0 if quick else 1,
                                    min_time_scale=0.3 if quick else 1.0, budget=budget,
                                    measure_memory=measure_memory))
    elapsed = time.perf_counter() - t0
    clear_models()  # free the shared minigrad models (VGG-16 alone is 553 MB)
    jit_times = None
    if jit:
        progress("JIT compile probe (fresh processes)" + ("" if quick else ", cold and cached"))
        jit_times = environment.jit_compile_times(threads, cold=not quick)
    vgg_rss = None
    if measure_memory:
        progress("VGG-16 peak memory probe (a fresh process, batch 8)")
        vgg_rss = memory.vgg16_peak_rss()
    after = timing.machine_load()
    busy_rows = [r["name"] for r in results if r["load"]["busy"]]
    return {
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "elapsed_s": elapsed,
        "settings": {"quick": quick, "only": only, "threads": threads, "rounds": rounds, "round_budget_s": budget,
                     "warmup": 0 if quick else 1,
                     "omp_wait_policy": omp_policy,
                     "dtype": "float32", "device": "cpu"},
        "peers": peers,
        "machine": environment.describe(threads, with_torch=bool(peers["torch"])),
        "load": {"before": before, "after": after, "busy_workloads": busy_rows,
                 "busy": bool(busy_rows) or before["busy"] or after["busy"],
                 "threshold_other_cores": timing.BUSY_CORES},
        "jit": jit_times,
        "memory": {"vgg16": vgg_rss} if measure_memory else None,
        "results": results,
    }
