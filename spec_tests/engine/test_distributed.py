"""Data-parallel training (minigrad.distributed): the sampler, the gradient hooks, DDP in one
process, and, through `mpiexec -n 2`, the equivalence proof and the fault behaviour.

The MPI tests are skipped only when mpi4py (or its mpiexec) is absent; the `test` extra installs
both, so CI runs them. Each launches a small job with a hard timeout: a hang fails, never blocks.
"""

import json
import os
import re

import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist
import minigrad.functional as F
from minigrad import autograd, nn
from minigrad.data import ArrayDataset, DataLoader, DistributedSampler

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed_scripts")


def toy(n):
    return ArrayDataset(np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1), np.arange(n) % 3)


# ----------------------------------------------------------------------------- the sampler

@pytest.mark.parametrize("n, ranks, drop_last", [(10, 3, False), (10, 3, True), (12, 4, False), (5, 2, False)])
def test_sampler_shards_are_disjoint_equal_and_cover_the_data(n, ranks, drop_last):
    shards = [DistributedSampler(toy(n), ranks, r, seed=7, drop_last=drop_last).indices() for r in range(ranks)]
    assert len({len(s) for s in shards}) == 1
    together = np.concatenate(shards)
    if drop_last:
        assert len(set(together.tolist())) == len(together) == (n // ranks) * ranks
    else:
        assert set(together.tolist()) == set(range(n))                 # every example is seen
        assert len(together) - len(set(together.tolist())) == (-n) % ranks   # padding repeats only what it must


def test_sampler_reshuffles_each_epoch_from_its_seed():
    a, b = DistributedSampler(toy(50), 2, 0, seed=1), DistributedSampler(toy(50), 2, 0, seed=1)
    first = a.indices()
    a.set_epoch(1)
    assert not np.array_equal(first, a.indices())
    b.set_epoch(1)
    assert np.array_equal(a.indices(), b.indices())
    assert not np.array_equal(first, DistributedSampler(toy(50), 2, 0, seed=2).indices())


def test_ranks_together_hold_the_single_process_batches():
    # The equivalence proof's premise: step k of 2 ranks x batch 4 is batch k of 1 process x batch 8.
    data = toy(40)
    single = [[int(x.item()) for x in xs.reshape(-1)] for xs, _ in DataLoader(data, 8, shuffle=True, seed=5)]
    per_rank = [[[int(x.item()) for x in xs.reshape(-1)] for xs, _ in
                 DataLoader(data, 4, sampler=DistributedSampler(data, 2, r, seed=5))] for r in range(2)]
    assert len(per_rank[0]) == len(single) == 5
    for k, batch in enumerate(single):
        assert sorted(per_rank[0][k] + per_rank[1][k]) == sorted(batch)


def test_loader_with_a_sampler_counts_its_batches_and_names_bad_ranks():
    data = toy(10)
    assert len(DataLoader(data, 2, sampler=DistributedSampler(data, 3, 1))) == 2   # 4 indices each
    with pytest.raises(ValueError, match="rank must be in"):
        DistributedSampler(data, 2, 2)


# ----------------------------------------------------------------------------- the engine hooks

def test_post_accumulate_hook_sees_the_final_gradient_once_per_backward():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy().copy()))
    (w * 3 + w * w).sum().backward()     # two paths into w: the hook fires after both are added
    assert len(seen) == 1 and np.allclose(seen[0], [5.0, 7.0])
    with pytest.raises(RuntimeError, match="leaf"):
        (w * 2).register_post_accumulate_grad_hook(print)


def test_queued_callback_runs_when_backward_ends_and_only_inside_one():
    w = mg.tensor([1.0], requires_grad=True)
    order = []

    def hook(t):
        order.append("hook")
        autograd.queue_callback(lambda: order.append(("callback", float(w.grad.item()))))

    w.register_post_accumulate_grad_hook(hook)
    (w * 4).sum().backward()
    assert order == ["hook", ("callback", 4.0)]
    with pytest.raises(RuntimeError, match="no backward is running"):
        autograd.queue_callback(print)


# ----------------------------------------------------------------------------- DDP in one process

def small_net(seed=0):
    mg.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def test_without_mpi_it_is_rank_0_of_1():
    assert "OMPI_COMM_WORLD_SIZE" not in os.environ
    assert (dist.rank(), dist.world_size(), dist.is_distributed(), dist.is_writer()) == (0, 1, False, True)
    assert dist.allreduce_(np.array([3.0]), op="mean")[0] == 3.0
    assert dist.broadcast_object({"a": 1}) == {"a": 1}


@pytest.mark.parametrize("cap_mb", [4.0, 1e-5])   # one bucket; one bucket per tensor
def test_ddp_alone_gives_the_plain_gradients(cap_mb):
    plain, wrapped = small_net(), dist.DistributedDataParallel(small_net(), bucket_cap_mb=cap_mb)
    x, y = mg.randn(6, 5), mg.tensor([0, 1, 2, 0, 1, 2])
    for model in (plain, wrapped):
        F.cross_entropy(model(x), y).backward()
    assert len(wrapped._buckets) == (1 if cap_mb > 1 else 4)
    for p, q in zip(plain.parameters(), wrapped.parameters()):
        assert np.allclose(p.grad.numpy(), q.grad.numpy(), atol=1e-7)
    assert list(wrapped.state_dict()) == list(plain.state_dict())   # checkpoints load into a plain model


def test_ddp_keeps_unused_parameters_without_gradient_and_accumulates_under_no_sync():
    class WithSpare(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.spare = small_net(), nn.Linear(2, 2)   # spare: registered, never used

        def forward(self, x):
            return self.body(x)

    net = WithSpare()
    ddp = dist.DistributedDataParallel(net)
    x, y = mg.randn(4, 5), mg.tensor([0, 1, 2, 0])
    with ddp.no_sync():
        F.cross_entropy(ddp(x), y).backward()
    F.cross_entropy(ddp(x), y).backward()
    once = small_net()
    F.cross_entropy(once(x), y).backward()
    assert net.spare.weight.grad is None
    assert np.allclose(net.body[0].weight.grad.numpy(), 2 * once[0].weight.grad.numpy(), atol=1e-6)


def test_ddp_rejects_a_bad_bucket_size_and_what_is_not_a_module():
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        dist.DistributedDataParallel(small_net(), bucket_cap_mb=0)
    with pytest.raises(TypeError, match="nn.Module, got list"):
        dist.DistributedDataParallel([1, 2])


# ----------------------------------------------------------------------------- through mpiexec

def test_two_ranks_of_batch_32_equal_one_process_of_batch_64(tmp_path, mpiexec):
    out = tmp_path / "report.json"
    code, log, _ = mpiexec(2, os.path.join(SCRIPTS, "equivalence.py"), out)
    assert code == 0, log[-3000:]
    report = json.loads(out.read_text())
    assert report["world_size"] == 2 and report["float64_buckets"] > 1
    assert report["float64_ranks_equal"] and report["float32_ranks_equal"]
    if "NUMBA_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ:
        expected = min(len(os.sched_getaffinity(0)), max(1, os.cpu_count() // 2))   # 2 ranks share the cores
        assert report["threads_per_rank"] == report["numba_threads"] == expected
    assert report["float64_max_abs_diff"] < 1e-6
    assert report["float32_max_abs_diff"] < 1e-4


@pytest.mark.parametrize("mode, message", [
    ("kill", "exited on\\s+signal 9"),                                  # the launcher reports it
    ("raise", "rank 1 of 2: stopped by RuntimeError: a deliberate failure"),
    ("hang", "rank 0 of 2: the gradient allreduce did not complete within 3 s"),   # the watchdog
])
def test_a_failing_rank_ends_the_job_with_a_clear_message(mode, message, mpiexec):
    code, log, seconds = mpiexec(2, os.path.join(SCRIPTS, "fault.py"), mode, timeout=90, env={"MINIGRAD_DIST_TIMEOUT": "3"})
    assert code != 0, log[-3000:]
    assert "the failure was not noticed" not in log
    assert re.search(message, log), log[-3000:]
    assert seconds < 60
