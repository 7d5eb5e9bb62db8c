"""Run under `mpiexec -n 2`: 2 ranks x batch 32 with DDP against 1 process x batch 64, 20 SGD steps.

Rank 0 also trains the single-process reference (same seed, same data order) and writes
the largest weight difference per dtype, and whether the ranks ended with equal weights,
to the JSON file named by argv[1].
"""

import json
import sys

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
import minigrad.functional as F
from minigrad import optim
from minigrad.data import ArrayDataset, DataLoader, DistributedSampler
from models import lenet5

STEPS, PER_RANK, SEED = 20, 32, 3


def dataset(n, dtype):
    rng = np.random.default_rng(0)
    return ArrayDataset(rng.random((n, 1, 32, 32)).astype(dtype), rng.integers(0, 10, n))


def train(model, loader, steps):
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    done = 0
    while done < steps:
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done == steps:
                break
    return opt


def fresh_model(dtype):
    mg.manual_seed(SEED + dist.rank())  # different on each rank: DDP must broadcast rank 0's
    return lenet5(activation="relu", pooling="max").to(dtype)


def main(out):
    world = dist.world_size()
    import numba

    report = {"world_size": world, "threads_per_rank": dist.threads_per_rank(), "numba_threads": numba.get_num_threads()}
    for dtype in (np.float64, np.float32):
        data = dataset(STEPS * PER_RANK * 2 // 2, dtype)  # 10 steps an epoch: the order changes once
        name = np.dtype(dtype).name
        ddp = dist.DistributedDataParallel(fresh_model(dtype), bucket_cap_mb=0.05)  # several buckets
        sampler = DistributedSampler(data, seed=SEED)
        train(ddp, DataLoader(data, PER_RANK, sampler=sampler, transform=None), STEPS)
        mine = np.concatenate([p.numpy().ravel() for p in ddp.parameters()]).astype(np.float64)
        spread = mine.copy()
        dist.allreduce_(spread, op="max")
        report[f"{name}_ranks_equal"] = bool(np.array_equal(spread, mine))
        report[f"{name}_buckets"] = len(ddp._buckets)
        if dist.rank() == 0:
            mg.manual_seed(SEED)
            single = lenet5(activation="relu", pooling="max").to(dtype)
            train(single, DataLoader(data, PER_RANK * world, shuffle=True, seed=SEED), STEPS)
            ref = np.concatenate([p.numpy().ravel() for p in single.parameters()]).astype(np.float64)
            report[f"{name}_max_abs_diff"] = float(np.abs(ref - mine).max())
            report[f"{name}_moved"] = float(np.abs(ref).sum())
    if dist.rank() == 0:
        with open(out, "w") as f:
            json.dump(report, f)


if __name__ == "__main__":
    main(sys.argv[1])
