"""DistributedDataParallel: gradients averaged across ranks in flat buckets while backward still runs.

How a step goes (PyTorch's DDP and Horovod's design, on MPI):

1. ``ddp(x)`` arms the wrapper and runs the module's forward; in training mode it first
   broadcasts rank 0's buffers (batch-norm running statistics), as PyTorch's
   ``broadcast_buffers=True`` does, so every rank normalises and evaluates with the same
   statistics: the running statistics are rank 0's, computed from rank 0's shard.
2. During ``loss.backward()``, each parameter's post-accumulate hook copies its gradient
   into its bucket. Buckets hold parameters in reverse registration order (the order
   backward produces them), up to ``bucket_cap_mb`` each and of one dtype. A full bucket
   starts a non-blocking ``Iallreduce`` at once, while backward computes earlier layers;
   buckets start in index order, the same on every rank, as MPI's collectives require,
   and every hook tests the reductions in flight (MPI progresses them only inside calls).
3. A callback queued on the backward starts what is left (a parameter this rank did not
   use contributes zeros), waits for every bucket under the watchdog, and hands each
   parameter the average as its ``.grad``. A parameter no rank used keeps ``grad None``
   (each bucket carries one "used" count per parameter for that).

Each step's buckets are fresh arrays: a gradient is a view of its bucket, and an optimizer
may keep a gradient (SGD's first momentum buffer) after the next step has begun.
"""

import contextlib
import time
import weakref

import numpy as np

from . import autograd
from . import distributed as dist
from .backend import get_backend
from .tensor import Tensor


class _Bucket:
    def __init__(self, params, dtype):
        self.params, self.dtype = params, dtype
        self.sizes = [int(np.prod(p.shape, dtype=np.int64)) for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.numel = int(self.offsets[-1])

    def new_step(self):
        # values, then one "used" count per parameter
        self.flat = np.zeros(self.numel + len(self.params), dtype=self.dtype)
        self.pending = len(self.params)
        self.request = None
        self.done = False


class DistributedDataParallel:
    """Wrap a module so that ``loss.backward()`` leaves every ``.grad`` averaged across ranks.

    bucket_cap_mb: the most megabytes of gradients one message carries (PyTorch's 25 suits
        big models; small ones overlap better with smaller buckets).
    broadcast_buffers: broadcast rank 0's buffers (batch-norm statistics) before each
        training-mode forward.

    Everything else (``train``, ``eval``, ``state_dict``, ``load_state_dict``, ``parameters``)
    goes to the wrapped ``module``, so a checkpoint of a DDP model loads into a plain one.
    """

    def __init__(self, module, bucket_cap_mb=4.0, broadcast_buffers=True):
        if not (hasattr(module, "parameters") and hasattr(module, "state_dict")):
            raise TypeError(f"DistributedDataParallel: module must be a minigrad nn.Module, got {type(module).__name__}")
        if bucket_cap_mb <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb}")
        dist.init()
        object.__setattr__(self, "module", module)
        self.broadcast_buffers = broadcast_buffers
        self._armed = False
        self._sync = True
        self._callback_queued = False
        self.wait_seconds = 0.0   # time backward spent waiting for reductions that had not finished
        dist.broadcast_parameters(module)
        params = [p for p in module.parameters() if p.requires_grad]
        self._buckets = _make_buckets(list(reversed(params)), int(bucket_cap_mb * 2 ** 20))
        self._where = {}
        for b, bucket in enumerate(self._buckets):
            for slot, p in enumerate(bucket.params):
                self._where[id(p)] = (b, slot)
        hook = _weak_hook(self)
        for p in params:
            p.register_post_accumulate_grad_hook(hook)

    # ----- the forward --------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        if self.module.training and self.broadcast_buffers:
            dist.broadcast_tensors(list(self.module.buffers()), 0, "broadcast of the buffers")
        self._armed = autograd.is_grad_enabled() and self._sync
        if self._armed:
            for bucket in self._buckets:
                bucket.new_step()
            self._next_to_start = 0
            self._callback_queued = False
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward passes inside accumulate local gradients without communicating (gradient
        accumulation); the first backward after the block averages the accumulated sums."""
        previous, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = previous

    # ----- the backward ---------------------------------------------------------------
    def _grad_ready(self, param):
        if not self._armed:
            return
        if not self._callback_queued:
            autograd.queue_callback(self._finish)
            self._callback_queued = True
        b, slot = self._where[id(param)]
        bucket = self._buckets[b]
        start, stop = bucket.offsets[slot], bucket.offsets[slot + 1]
        bucket.flat[start:stop] = param.grad.numpy().reshape(-1)
        bucket.flat[bucket.numel + slot] = 1
        bucket.pending -= 1
        self._start_ready_buckets()
        self._progress()

    def _progress(self):
        """Test the reductions in flight: MPI moves a non-blocking collective on only inside MPI
        calls, so each gradient hook gives it a turn while backward computes the next layers."""
        for bucket in self._buckets[:self._next_to_start]:
            if not bucket.done:
                bucket.done = bucket.request.Test()

    def _start_ready_buckets(self, everything=False):
        while self._next_to_start < len(self._buckets):
            bucket = self._buckets[self._next_to_start]
            if bucket.pending and not everything:
                return  # a later bucket may be full, but MPI needs the same order on every rank
            bucket.request = dist.start_allreduce_(bucket.flat, "gradient allreduce")
            self._next_to_start += 1

    def _finish(self):
        self._armed = False
        self._start_ready_buckets(everything=True)
        world = dist.world_size()
        for bucket in self._buckets:
            if not bucket.done:
                started = time.perf_counter()
                dist.wait(bucket.request, "the gradient allreduce")
                self.wait_seconds += time.perf_counter() - started
            values, used = bucket.flat[:bucket.numel], bucket.flat[bucket.numel:]
            values /= world
            for slot, p in enumerate(bucket.params):
                if used[slot] == 0:
                    continue  # no rank used this parameter: it keeps grad None, as without DDP
                grad = values[bucket.offsets[slot]:bucket.offsets[slot + 1]].reshape(p.shape)
                p.grad = Tensor._from_array(get_backend(p.device).asarray(grad), p.device)

    # ----- everything else goes to the module -------------------------------------------
    def __getattr__(self, name):
        if name == "module":   # not set yet (copying, unpickling): no endless lookup
            raise AttributeError(name)
        return getattr(self.module, name)

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)

    def train(self, mode=True):
        self.module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def __repr__(self):
        sizes = ", ".join(f"{b.numel * np.dtype(b.dtype).itemsize / 2 ** 20:.2f}" for b in self._buckets)
        return f"DistributedDataParallel(world_size={dist.world_size()}, buckets MB=[{sizes}],\n  {self.module!r})"


def _make_buckets(params, cap_bytes):
    """Consecutive parameters of one dtype, up to cap_bytes each (a larger tensor gets its own)."""
    buckets, current, size = [], [], 0
    for p in params:
        nbytes = int(np.prod(p.shape, dtype=np.int64)) * np.dtype(p.dtype).itemsize
        if current and (size + nbytes > cap_bytes or np.dtype(p.dtype) != np.dtype(current[0].dtype)):
            buckets.append(_Bucket(current, np.dtype(current[0].dtype)))
            current, size = [], 0
        current.append(p)
        size += nbytes
    if current:
        buckets.append(_Bucket(current, np.dtype(current[0].dtype)))
    return buckets


def _weak_hook(ddp):
    """The parameters' hook holds the wrapper weakly: a discarded wrapper stops communicating."""
    ref = weakref.ref(ddp)

    def hook(param):
        wrapper = ref()
        if wrapper is not None:
            wrapper._grad_ready(param)

    return hook
