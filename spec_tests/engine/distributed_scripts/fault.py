"""Run under `mpiexec -n 2`: rank 1 fails at step 3 in the way argv[1] names; rank 0 keeps training.

kill: rank 1 is killed outright (SIGKILL), so no Python code of its own runs;
raise: rank 1 raises an exception;
hang: rank 1 stops answering (sleeps), so only rank 0's watchdog can end the job.
"""

import os
import signal
import sys
import time

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
import minigrad.functional as F
from minigrad import nn, optim


def main(mode):
    mg.manual_seed(0)
    model = dist.DistributedDataParallel(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)))
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = mg.tensor(np.random.default_rng(dist.rank()).random((4, 8), dtype=np.float32)), mg.tensor([0, 1, 0, 1])
    for step in range(1000):
        if dist.rank() == 1 and step == 3:
            if mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            elif mode == "raise":
                raise RuntimeError("a deliberate failure on rank 1")
            elif mode == "hang":
                time.sleep(120)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print("rank", dist.rank(), "finished: the failure was not noticed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
