"""apps.fit on several MPI ranks: rank 0's checkpoint of a run that is killed is whole, and --resume
continues it on another number of ranks. (That a resume on the same setup continues exactly as if
never stopped is test_fit.py's.)"""

import os

import numpy as np

import minigrad as mg
from apps.fit import CHECKPOINT_FORMAT

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed_scripts", "fit_run.py")


def test_a_killed_run_leaves_a_whole_checkpoint_that_resumes_on_another_number_of_ranks(tmp_path, mpiexec):
    code, log, seconds = mpiexec(2, SCRIPT, tmp_path, "kill", timeout=120)
    assert code != 0 and "signal 9" in log, log[-3000:]
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz"]           # no temp file, no other writer
    ckpt = mg.load(str(tmp_path / "checkpoint.npz"))
    assert ckpt["format"] == CHECKPOINT_FORMAT and int(ckpt["epoch"]) == 1
    first_epoch_loss = float(ckpt["history"]["train_loss"].numpy()[0])

    code, log, _ = mpiexec(1, SCRIPT, tmp_path, "resume")              # one rank: 12 steps an epoch, not 6
    assert code == 0 and "resumed from" in log, log[-3000:]
    alone = mg.load(str(tmp_path / "final-1.npz"))
    assert len(alone["history"]["train_loss"].numpy()) == 3 and int(alone["step"]) == 3 * 12
    assert np.isclose(alone["history"]["train_loss"].numpy()[0], first_epoch_loss)
    assert int(mg.load(str(tmp_path / "checkpoint.npz"))["epoch"]) == 3


def test_minigrad_train_distributed_on_two_ranks_logs_and_writes_once(tmp_path, mpiexec):
    code, log, _ = mpiexec(2, "-m", "apps", "train", "lenet5", "--distributed", "--batch-size", "16", "--epochs", "1",
                           "--limit", "64", "--no-augment", "--no-plots", "--no-progress", "--out", tmp_path)
    assert code == 0, log[-3000:]
    assert log.count("distributed: 2 ranks x batch 16 = global batch 32") == 1
    assert log.count("epoch  1/1:") == 1 and log.count("test: accuracy") == 1
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "lenet5.npz"]
