"""apps.fit on MPI ranks: `fit_run.py OUT MODE`, MODE one of
run     train 3 epochs, checkpointing to OUT/checkpoint.npz, and write OUT/final-<ranks>.npz;
kill    the same, but rank 0 is killed outright (SIGKILL) two steps into epoch 2;
resume  continue from OUT/checkpoint.npz, then write OUT/final-<ranks>.npz.
The model is a small MLP on random data, so a run takes about a second.
"""

import os
import signal
import sys

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.data import ArrayDataset, DataLoader, DistributedSampler

from apps.fit import fit

PER_RANK, EPOCHS, SEED = 8, 3, 0


def main(out, mode):
    data = ArrayDataset(np.random.default_rng(0).random((96, 6), dtype=np.float32),
                        np.random.default_rng(1).integers(0, 3, 96))
    mg.manual_seed(SEED)
    model = dist.DistributedDataParallel(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(data, PER_RANK, sampler=DistributedSampler(data, seed=SEED))
    steps = {"n": 0}

    def step(m, batch):
        steps["n"] += 1
        if mode == "kill" and dist.rank() == 0 and steps["n"] == len(loader) + 2:
            os.kill(os.getpid(), signal.SIGKILL)
        x, y = batch
        logits = m(x)
        correct = (logits.numpy().argmax(1) == y.numpy()).sum()
        return F.cross_entropy(logits, y), {"correct": correct}, len(y)

    run = fit(model, opt, loader, step, epochs=EPOCHS, checkpoint=os.path.join(out, "checkpoint.npz"),
              resume=(mode == "resume"), meta={"seed": SEED}, progress=False)
    if dist.is_writer():
        mg.save({"model": model.state_dict(), "history": {k: np.asarray(v) for k, v in run.history.items()},
                 "step": run.step}, os.path.join(out, f"final-{dist.world_size()}.npz"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
