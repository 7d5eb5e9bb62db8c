"""What the numbers were measured on: CPU, cores, BLAS, threads, versions; and the JIT compile probe.

The compile probe runs in fresh Python processes so that what it times is really
a first call: once with an empty Numba cache directory (cold: every kernel is
compiled) and once with Numba's ordinary on-disk cache, filled by the benchmarks
that ran before (cached: the kernels are loaded from disk, as on a user's second run).
"""

import json
import os
import subprocess
import sys
import tempfile


def quiet_openmp():
    """Make OpenMP runtimes sleep rather than spin while waiting, unless the user chose otherwise.

    Must run before torch (or Numba's omp layer) starts its OpenMP runtime. On a
    shared machine an idle OpenMP thread that spins steals the core its partner
    needs: we measured PyTorch's 2-thread BasicBlock step at 0.7-1.3 s spinning
    against 0.06 s sleeping, with other processes using the cores. Recorded in the JSON.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return os.environ["OMP_WAIT_POLICY"]


def set_threads(n, with_torch=True):
    """Give minigrad (Numba), numpy's BLAS and PyTorch the same number of threads."""
    import numba
    from threadpoolctl import threadpool_limits

    from minigrad.backend import get_backend

    # minigrad picks Numba's threading layer when its CPU backend is imported; that
    # must happen before set_num_threads, which starts the layer.
    get_backend("cpu")
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    # Kept alive for the whole run: the limit lasts as long as this object.
    set_threads.limits = threadpool_limits(limits=n, user_api="blas")
    if not with_torch:
        return  # importing torch takes seconds: not for a run that leaves it out
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)


def default_threads():
    import numba

    return numba.config.NUMBA_NUM_THREADS


def torch_version():
    """PyTorch's version, or None when it is not installed (the PyTorch column is then left out)."""
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__


def describe(threads, with_torch=True):
    """Every fact about the machine and the software that the JSON report records."""
    import numba
    import numpy as np
    from threadpoolctl import threadpool_info

    from apps.info import collect

    info = collect()
    info["threads"] = threads
    info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    info["numba_threads"] = numba.get_num_threads()
    try:
        info["numba_threading_layer"] = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        info["numba_threading_layer"] = f"not initialised (configured: {numba.config.THREADING_LAYER})"
    info["blas"] = [
        {k: lib.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer", "architecture", "filepath")}
        for lib in threadpool_info() if lib.get("user_api") == "blas"
    ]
    info["numpy_blas"] = _numpy_blas_name(np)
    info["torch"] = torch_version() if with_torch else None
    if info["torch"] is not None:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
    return info


def _numpy_blas_name(np):
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy: not worth failing a benchmark over
        return "unknown"


_PROBE = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
import minigrad as mg
import minigrad.functional as F
imported = time.perf_counter() - t0
x = mg.tensor(np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32), requires_grad=True)
w = mg.tensor(np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)

def step():
    y = F.conv2d(x, w, padding=1)
    (F.max_pool2d(y, 2).sum() + F.avg_pool2d(y, 2).sum()).backward()
    x.grad = None
    w.grad = None

t0 = time.perf_counter(); step(); first = time.perf_counter() - t0
t0 = time.perf_counter(); step(); second = time.perf_counter() - t0
print(json.dumps({"import_s": imported, "first_call_s": first, "warm_call_s": second}))
"""


def _probe(threads, cache_dir=None):
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["compile_s"] = max(0.0, result["first_call_s"] - result["warm_call_s"])
    return result


def jit_compile_times(threads, cold=True):
    """{'cold': {...} or None, 'cached': {...}}: import time and first-call compile/load time of the kernels.

    Cached uses Numba's ordinary on-disk cache, timed in the second of two fresh
    processes (the first refills the cache if a kernel's source changed); cold points Numba at an empty cache directory, so every kernel is
    compiled (tens of seconds: ``cold=False`` skips it).
    """
    _probe(threads)  # refills the on-disk cache if the kernels changed since it was written
    cached = _probe(threads)
    if not cold:
        return {"cold": None, "cached": cached}
    with tempfile.TemporaryDirectory(prefix="minigrad-bench-numba-") as cache_dir:
        return {"cold": _probe(threads, cache_dir), "cached": cached}
