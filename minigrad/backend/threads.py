"""Thread policy: one set of workers at a time, none of them spinning while another works.

Numba's parallel workers and the BLAS library's workers both want every core.
Measured on 2 cores, a conv (im2col in Numba, GEMM in OpenBLAS) stalled 2-8x when
they alternated: OpenBLAS workers busy-wait after a GEMM, and Numba's default
OpenMP layer spins after a parallel region, so each steals the cores the other
needs. The policy, applied whatever was imported first:

* Numba runs on its ``tbb`` layer where Intel's TBB loads (the ``tbb`` wheel, a
  dependency on Linux and Windows x86-64), else on ``workqueue``; both put idle workers
  to sleep instead of spinning, and both survive fork() (Numba's GNU OpenMP layer kills a
  forked child that runs a parallel loop). Set before Numba's first parallel launch.
  TBB launches a loop in 6 us where workqueue takes 46 (OpenMP, passive: 18) and lets
  idle workers steal iterations; measured interleaved with PyTorch, two processes per
  layer, medians (ms, workqueue -> tbb): LeNet-5's step 25.9 / 21.4 -> 16.4 / 16.9,
  16 x 128 x 28 x 28 -> 128 f+b 113 / 106 -> 95 / 93, YOLO's detection 128 / 113 -> 104 / 104,
  the faces encoder's batch 123 / 128 -> 108 / 107.
* Inside a minigrad kernel call BLAS is held at one thread (``kernel_call``), so its
  workers stay asleep while Numba's run, and small GEMMs (per-image, per-worker) do not
  oversubscribe the cores.
* A conv path's large GEMM (``matmul``) runs on BLAS's own threads: the user's count is
  restored for that one call (F.linear's stay split: ``cpu.matmul`` says why). Measured on 2 cores with OpenBLAS 0.3.30/0.3.31: 103-112 GFLOP/s,
  where the same GEMM split into one single-threaded BLAS call per thread (Numba's
  workers or a Python pool, the earlier policy) ran at 41-60, no faster than one thread.
  With the user's BLAS at one thread, or outside a kernel call, the split remains.
* Outside our kernels BLAS keeps the user's setting.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit, prange

# Below this many multiply-adds (about a millisecond on one core) a single one-thread
# GEMM beats handing blocks to the pool, whose threads may wait for a core under load.
_SPLIT_MIN_MACS = 1 << 25
_state = {"blas": None, "pools": {}, "layer": None}
# Per thread: how deep in kernel_call it is, and the BLAS thread counts the outermost
# call found (the user's), which matmul restores for one large GEMM.
_held = threading.local()


def configure_threads():
    """Pick Numba's tbb layer, or workqueue where TBB does not load, unless the user chose
    a layer or Numba already started."""
    import numba
    from numba.np.ufunc import parallel

    if "NUMBA_THREADING_LAYER" in os.environ:
        _state["layer"] = "user's NUMBA_THREADING_LAYER"
    elif getattr(parallel, "_is_initialized", False):
        _state["layer"] = "already started before minigrad was imported"
    else:
        # "default" walks the priority list and takes the first layer that loads: TBB's
        # library may be missing or too old (Numba checks its version), workqueue never is.
        numba.config.THREADING_LAYER_PRIORITY = ["tbb", "workqueue", "omp"]
        numba.config.THREADING_LAYER = "default"
        _state["layer"] = "tbb, or workqueue where TBB does not load (set by minigrad)"


def _workers():
    """Numba's current thread count (numba.set_num_threads applies to the GEMM split too)."""
    import numba
    return max(1, numba.get_num_threads())


worker_count = _workers


def _blas_controllers():
    if _state["blas"] is None:
        from threadpoolctl import ThreadpoolController
        try:
            # Numba's np.dot calls scipy's BLAS (often its own OpenBLAS copy): load it
            # now so that kernel_call holds it at one thread as well.
            import scipy.linalg.cython_blas  # noqa: F401
        except ImportError:
            pass
        _state["blas"] = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
    return _state["blas"]


def _thread_knobs():
    """(get, set) per BLAS library: OpenBLAS's own C functions where it runs its own
    pthreads pool (ctypes calls of about 0.3-0.5 us), threadpoolctl's controller
    otherwise. Measured with numpy's and scipy's OpenBLAS at 2 threads: a kernel call's
    hold and release took 14 us through threadpoolctl and 6.3 us here; LeNet-5's
    training step makes about 26 of them."""
    if _state.get("knobs") is None:
        knobs = []
        for c in _blas_controllers():
            raw_get = raw_set = None
            symbol = getattr(c, "_get_symbol", None)   # threadpoolctl's, private: may go away
            if c.internal_api == "openblas" and getattr(c, "threading_layer", None) != "openmp" and symbol:
                raw_get = symbol("openblas_get_num_threads")
                raw_set = symbol("openblas_set_num_threads")
            if raw_get is not None and raw_set is not None:
                knobs.append((raw_get, raw_set))
            else:
                knobs.append((lambda c=c: c.num_threads, c.set_num_threads))
        _state["knobs"] = knobs
    return _state["knobs"]


class kernel_call:
    """``with kernel_call():`` holds the BLAS libraries loaded at the first call (numpy's,
    scipy's) at one thread meanwhile. A class rather than a generator: this runs around
    every kernel, and contextlib's generator machinery measured 7.3 against 6.3 us."""

    __slots__ = ("_before",)

    def __enter__(self):
        knobs = _thread_knobs()
        self._before = before = [get() for get, _ in knobs]
        depth = getattr(_held, "depth", 0)
        if depth == 0:
            _held.user = before
        _held.depth = depth + 1
        for (_, put), n in zip(knobs, before):
            if n != 1:
                put(1)
        return self

    def __exit__(self, *exc):
        _held.depth -= 1
        for (_, put), n in zip(_state["knobs"], self._before):
            if n != 1:
                put(n)
        return False


# Tall enough outputs are split into row blocks inside a Numba parallel loop (np.dot
# there calls BLAS through scipy) rather than on the Python pool below: measured on
# 2 cores, right after a Numba kernel (im2col, a Winograd transform) the pool's GEMMs
# ran at 60-75 GFLOP/s against 100-120 alone, as if both pool threads had landed on
# one core, while Numba's own workers kept 100-120. Below this many rows per worker
# the row blocks are too thin for BLAS and the pool's column blocks win.
_NUMBA_ROWS_PER_PART = 64


@njit(parallel=True, cache=True)
def _gemm_row_blocks(a, b, out, parts):
    m = out.shape[0]
    # Each thread owns a block of out's rows.
    for p in prange(parts):
        lo, hi = m * p // parts, m * (p + 1) // parts
        np.dot(a[lo:hi], b, out[lo:hi])


# Off: large GEMMs inside a kernel call are split over the threads as before (for A/B).
BLAS_THREADS = True


def matmul(a, b, out, blas_threads=True):
    """out = a @ b (2-D): inside a kernel call, on BLAS's own threads at the user's count;
    otherwise (or with the user's BLAS at one thread, or ``blas_threads`` False: F.linear's)
    as one single-threaded BLAS call per worker on disjoint blocks. Small products stay
    one call on one thread."""
    m, n = out.shape
    parts = _workers()
    # The same bar for BLAS's threads: from 4 M multiply-adds (interleaved, medians) YOLO's
    # detection took 144 ms against 111, the faces encoder's batch 143 against 112, as
    # OpenBLAS's polling workers slowed the Numba kernels after each mid-sized GEMM.
    if parts == 1 or m * n * a.shape[1] < _SPLIT_MIN_MACS:
        return np.matmul(a, b, out=out)
    user = _held.user if getattr(_held, "depth", 0) else None
    if BLAS_THREADS and blas_threads and user is not None and max(user) > 1:
        knobs = _state["knobs"]
        for (_, put), k in zip(knobs, user):
            if k != 1:
                put(k)
        try:
            return np.matmul(a, b, out=out)
        finally:
            for (_, put), k in zip(knobs, user):
                if k != 1:
                    put(1)
    if (m >= parts * _NUMBA_ROWS_PER_PART and a.flags.c_contiguous and out.flags.c_contiguous
            and (b.flags.c_contiguous or b.flags.f_contiguous) and a.dtype == b.dtype == out.dtype):
        _gemm_row_blocks(a, b, out, parts)
        return out
    pool = _state["pools"].get(parts)
    if pool is None:
        pool = _state["pools"][parts] = ThreadPoolExecutor(parts - 1, thread_name_prefix="minigrad-gemm")
    # Each worker owns a block of out's columns (or rows when out is tall): no overlap.
    if n >= m:
        cuts = [n * i // parts for i in range(parts + 1)]
        jobs = [(a, b[:, lo:hi], out[:, lo:hi]) for lo, hi in zip(cuts, cuts[1:])]
    else:
        cuts = [m * i // parts for i in range(parts + 1)]
        jobs = [(a[lo:hi], b, out[lo:hi]) for lo, hi in zip(cuts, cuts[1:])]
    futures = [pool.submit(np.matmul, x, y, out=o) for x, y, o in jobs[1:]]
    np.matmul(jobs[0][0], jobs[0][1], out=jobs[0][2])
    for f in futures:
        f.result()
    return out


def run_parts(fn, parts):
    """fn(0), ..., fn(parts - 1) on the GEMM pool and the calling thread; each call must
    own its outputs. For kernels whose bodies release the GIL (numpy BLAS, nogil Numba)."""
    if parts == 1:
        fn(0)
        return
    pool = _state["pools"].get(parts)
    if pool is None:
        pool = _state["pools"][parts] = ThreadPoolExecutor(parts - 1, thread_name_prefix="minigrad-gemm")
    futures = [pool.submit(fn, p) for p in range(1, parts)]
    fn(0)
    for f in futures:
        f.result()


def _layer_to_come():
    """The layer Numba's first parallel loop will start: the configured one, or for
    "default" the first of the priority list whose library loads (loading starts no thread)."""
    import numba

    chosen = str(numba.config.THREADING_LAYER).lower()
    if chosen != "default":
        return chosen
    return next((name for name in numba.config.THREADING_LAYER_PRIORITY if _layer_loads(name)), chosen)


def _layer_loads(name):
    """Whether Numba's ``name`` layer loads, as Numba itself tries it (ImportError: skipped)."""
    import importlib

    try:
        if name == "tbb":
            from numba.np.ufunc import parallel
            parallel._check_tbb_version_compatible()   # raises ImportError when too old
        importlib.import_module({"tbb": "numba.np.ufunc.tbbpool", "omp": "numba.np.ufunc.omppool"}.get(
            name, "numba.np.ufunc.workqueue"))
    except ImportError:
        return False
    return True


def describe_threads():
    """What `minigrad info` shows: the Numba layer and threads, and every thread pool."""
    import numba
    from threadpoolctl import threadpool_info

    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = f"{_layer_to_come()} (not started yet)"
    pools = [
        {"api": p.get("internal_api"), "library": os.path.basename(p.get("filepath", "")),
         "version": p.get("version"), "threads": p.get("num_threads")}
        for p in threadpool_info()
    ]
    env = ("NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "OMP_NUM_THREADS",
           "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
    try:
        numba_threads = numba.get_num_threads()
    except ValueError as error:
        # The diagnostic must survive the very problem it diagnoses (NUMBA_THREADING_LAYER=tbb without tbb).
        layer = f"none could be loaded: {str(error).splitlines()[0]} (NUMBA_THREADING_LAYER=" \
                f"{os.environ.get('NUMBA_THREADING_LAYER', 'default')})"
        numba_threads = "unavailable"
    return {
        "cpu_count": os.cpu_count(),
        "numba_threading_layer": layer,
        "numba_layer_choice": _state["layer"],
        "numba_threads": numba_threads,
        "gemm_workers": _workers() if numba_threads != "unavailable" else "unavailable",
        "blas_threads_inside_kernels": 1,
        "thread_pools": pools,
        "env": {k: os.environ[k] for k in env if k in os.environ},
    }
