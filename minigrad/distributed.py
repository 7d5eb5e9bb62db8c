"""Data-parallel training over MPI: every rank holds the whole model, trains on its own shard of
each batch, and the gradients are averaged across ranks before the optimizer steps.

The design is Horovod's and PyTorch DDP's, on mpi4py:

* ``init()`` joins the MPI job when the process was started by an MPI launcher (``mpiexec``,
  ``srun --mpi=pmix``); a plain process, or one without mpi4py, is rank 0 of 1 and never
  touches MPI (initialising MPI alone costs over a second). ``rank()``, ``world_size()``
  and ``is_distributed()`` call it lazily.
* ``DistributedDataParallel(module)`` broadcasts rank 0's parameters when it is made, runs
  the forward pass as ``ddp(x)``, and averages the gradients *during* the backward pass:
  each parameter's gradient hook copies it into a flat bucket (a few MB), a full bucket
  starts a non-blocking ``Iallreduce`` at once (buckets start in the same order on every
  rank, as MPI requires), and a callback queued on the backward waits for them all, so
  when ``loss.backward()`` returns every ``.grad`` holds the average. (See ddp.py.)
* Faults: a rank that raises prints its error and calls ``MPI_Abort``, which ends every rank;
  a rank killed outright is seen by the launcher, which ends the job; and every wait has a
  watchdog (``MINIGRAD_DIST_TIMEOUT`` seconds, default 300) that aborts with a message
  naming the operation, so a rank that hangs never leaves the others hanging.
* Threads: with several ranks on one machine each rank gets cores // ranks-on-this-machine
  threads (Numba and BLAS), unless ``NUMBA_NUM_THREADS`` or ``OMP_NUM_THREADS`` says otherwise.

The collectives here work on host numpy arrays: a CUDA tensor is copied to the host first.
"""

import os
import pickle
import sys
import time

import numpy as np


class _Done:
    """A request that has already completed (what a one-rank job's collectives return)."""

    def Test(self):
        return True


class SelfComm:
    """The communicator of a job of one: rank 0 of 1, every collective already done."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

# Variables a launcher sets in each process it starts: Open MPI, PMIx (srun --mpi=pmix),
# MPICH/Intel MPI (Hydra, srun --mpi=pmi2), MVAPICH.
_LAUNCHER_VARS = ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")
_LOCAL_SIZE_VARS = ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "MV2_COMM_WORLD_LOCAL_SIZE")

_state = {"comm": None, "mpi": None, "threads": None}


def launched_by_mpi():
    """True when an MPI launcher started this process (whatever the number of ranks)."""
    return any(name in os.environ for name in _LAUNCHER_VARS)


def init(required=False):
    """Join the MPI job if a launcher started this process; otherwise stay rank 0 of 1. Idempotent.

    required: raise when this process cannot take part (launched by ``mpiexec`` without
        mpi4py installed), instead of training alone as rank 0 of 1.
    """
    if _state["comm"] is not None:
        return
    if not launched_by_mpi():
        _state["comm"] = SelfComm()
        return
    try:
        from mpi4py import MPI
    except ImportError:
        if required:
            raise RuntimeError("distributed training needs mpi4py: pip install 'minigrad[distributed]' "
                               "(mpi4py and Open MPI), or build mpi4py against your cluster's MPI") from None
        _state["comm"] = SelfComm()
        return
    comm = MPI.COMM_WORLD
    comm.Set_errhandler(MPI.ERRORS_RETURN)  # an MPI error becomes a Python exception, then the hook below
    _state["mpi"], _state["comm"] = MPI, comm
    if comm.Get_size() > 1:
        _install_abort_on_error()
        _pin_threads(_local_size(comm))


def rank():
    init()
    return _state["comm"].Get_rank()


def world_size():
    init()
    return _state["comm"].Get_size()


def is_distributed():
    """True when more than one rank trains together."""
    return world_size() > 1


def is_writer():
    """Whether this process writes files (checkpoints, plots, logs): rank 0 only."""
    return rank() == 0


def threads_per_rank():
    """The thread count ``init`` set for this rank (None: it set none; the single-process policy stands)."""
    init()
    return _state["threads"]


def timeout():
    """Seconds any collective may wait before the watchdog aborts the job (MINIGRAD_DIST_TIMEOUT)."""
    return float(os.environ.get("MINIGRAD_DIST_TIMEOUT", "300"))


# ----------------------------------------------------------------------------- faults

def abort(message, code=1):
    """Print ``message`` (naming this rank) and end every rank of the job; returns only when alone."""
    init()
    print(f"minigrad.distributed: rank {rank()} of {world_size()}: {message}", file=sys.stderr, flush=True)
    if _state["mpi"] is not None and world_size() > 1:
        _state["comm"].Abort(code)
    raise SystemExit(code)


def fail_together():
    """Say that every rank has reached the same failure (an error broadcast from rank 0): they all exit
    on their own, so ``end_job_on_failure`` need not abort the job."""
    _state["failing_together"] = True


def end_job_on_failure(code):
    """After a rank's failure was reported (exit status ``code``), end every rank of the job: a rank
    that just exits would leave the others waiting in a collective. Nothing when MPI is not running."""
    if _state.get("failing_together"):
        return
    if code and _state["mpi"] is not None and _state["comm"].Get_size() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        _state["comm"].Abort(int(code))


def _install_abort_on_error():
    """An uncaught exception on one rank ends the job (mpi4py's ``-m mpi4py`` behaviour), so the
    other ranks never wait forever in a collective this rank will not join."""
    previous = sys.excepthook

    def excepthook(kind, value, traceback):
        previous(kind, value, traceback)
        if not issubclass(kind, SystemExit):
            abort(f"stopped by {kind.__name__}: {value}; aborting the other ranks", code=1)

    sys.excepthook = excepthook


def wait(request, what):
    """Wait for a non-blocking MPI request, polling with short sleeps (a blocking MPI wait spins
    a core that another rank on the same machine needs), under the watchdog."""
    deadline = time.monotonic() + timeout()
    pause = 0.0
    while not request.Test():
        if time.monotonic() > deadline:
            abort(f"{what} did not complete within {timeout():g} s (MINIGRAD_DIST_TIMEOUT): another rank "
                  "has stopped or hangs; aborting the job")
        time.sleep(pause)
        pause = min(1e-3, pause * 2 or 2e-5)


# ----------------------------------------------------------------------------- threads

def _local_size(comm):
    for name in _LOCAL_SIZE_VARS:
        if name in os.environ:
            return max(1, int(os.environ[name]))
    MPI = _state["mpi"]
    return comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()


def _pin_threads(local_ranks):
    """ranks-on-this-machine x threads <= cores: Numba's workers (and the GEMM blocks that follow
    them) and BLAS get cores // local ranks each. A user's NUMBA_NUM_THREADS/OMP_NUM_THREADS wins."""
    if "NUMBA_NUM_THREADS" in os.environ or "OMP_NUM_THREADS" in os.environ:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, min(cores, (os.cpu_count() or 1) // local_ranks))
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    threadpool_limits(limits=threads, user_api="blas")
    _state["threads"] = threads


# ----------------------------------------------------------------------------- collectives

def communicator():
    """The MPI communicator (mpi4py's COMM_WORLD), or a one-rank stand-in when not launched by MPI."""
    init()
    return _state["comm"]


def start_allreduce_(array, what="allreduce"):
    """Start summing a contiguous host array across ranks in place; returns the request for ``wait``."""
    comm = communicator()
    if comm.Get_size() == 1:
        return _Done()
    return comm.Iallreduce(_state["mpi"].IN_PLACE, array, op=_state["mpi"].SUM)


def allreduce_(array, op="sum", what="allreduce"):
    """Sum (or average, op="mean"; or max) a host numpy array across ranks, in place; returns it."""
    comm = communicator()
    if comm.Get_size() > 1:
        MPI = _state["mpi"]
        mpi_op = MPI.MAX if op == "max" else MPI.SUM
        wait(comm.Iallreduce(MPI.IN_PLACE, array, op=mpi_op), what)
    if op == "mean":
        array /= comm.Get_size()
    return array


def broadcast_(array, root=0, what="broadcast"):
    """Overwrite a contiguous host numpy array with root's, in place; returns it."""
    comm = communicator()
    if comm.Get_size() > 1:
        wait(comm.Ibcast(array, root=root), what)
    return array


def broadcast_object(obj, root=0, what="broadcast"):
    """Any picklable object from root to every rank (size first, then the bytes, both watched)."""
    if world_size() == 1:
        return obj
    payload = pickle.dumps(obj) if rank() == root else b""
    size = broadcast_(np.array([len(payload)], dtype=np.int64), root, what)
    buffer = np.frombuffer(payload, dtype=np.uint8).copy() if rank() == root else np.empty(int(size[0]), np.uint8)
    broadcast_(buffer, root, what)
    return obj if rank() == root else pickle.loads(buffer.tobytes())


def barrier(what="barrier"):
    comm = communicator()
    if comm.Get_size() > 1:
        wait(comm.Ibarrier(), what)


def broadcast_tensors(tensors, root=0, what="broadcast"):
    """Overwrite each tensor's values with root's: one flat message per dtype, not one per tensor."""
    if world_size() == 1:
        return
    by_dtype = {}
    for t in tensors:
        by_dtype.setdefault(np.dtype(t.dtype).str, []).append(t)
    for group in by_dtype.values():
        flat = np.concatenate([t.numpy().reshape(-1) for t in group])
        broadcast_(flat, root, what)
        offset = 0
        for t in group:
            n = int(np.prod(t.shape, dtype=np.int64))
            t.data = t.backend.asarray(flat[offset:offset + n].reshape(t.shape).copy())
            offset += n


def broadcast_parameters(module, root=0):
    """Make every rank's parameters and buffers equal to root's (as when a DDP model is made)."""
    broadcast_tensors(list(module.parameters()) + list(module.buffers()), root, "broadcast of the parameters")


def broadcast_optimizer_state(optimizer, root=0):
    """Make every rank's optimizer state (momentum buffers, Adam moments, step counts, lr) root's."""
    if world_size() == 1:
        return
    state = broadcast_object(optimizer.state_dict(), root, "broadcast of the optimizer state")
    if rank() != root:
        optimizer.load_state_dict(state)


from .ddp import DistributedDataParallel  # noqa: E402  (ddp.py uses the functions above)

__all__ = [
    "init", "rank", "world_size", "is_distributed", "is_writer", "threads_per_rank", "launched_by_mpi",
    "abort", "fail_together", "end_job_on_failure", "wait", "allreduce_", "broadcast_", "broadcast_object", "barrier", "broadcast_tensors",
    "broadcast_parameters", "broadcast_optimizer_state", "DistributedDataParallel", "communicator", "timeout",
]
