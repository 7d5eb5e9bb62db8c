"""`minigrad yolo train --distributed` and `minigrad faces train --distributed`: what each rank trains on,
what the ranks end with, and that one rank writes and logs.

YOLO: W ranks x batch b see exactly the scenes of one process x batch W*b at every step. Its network
has batch norm, normalised per rank (as PyTorch's DDP without SyncBatchNorm), so the exact
single-process equivalent normalises each rank's share of the batch apart; that is what the weights
are compared with. Faces: each rank mines its own P x K batch; there is no single-process equivalent,
so the checks are that the ranks trained on different batches and still end with the same weights,
and that one rank is exactly the run without --distributed.

The MPI tests are skipped only when mpi4py (or its mpiexec) is absent.
"""

import os

import numpy as np
import pytest

import minigrad as mg
from apps.cli import main
from apps.yolo.train import FreshScenes

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed_scripts", "trainers_run.py")


# ----------------------------------------------------------------------------- YOLO's shares, no MPI

class _Indices:
    """A scene set whose batch is its own indices (images and targets), so a loader's choices can be read back."""

    def get_batch(self, indices):
        indices = np.asarray(indices)
        return indices.astype(np.float32)[:, None], indices


def _batches(loader, epoch):
    loader.set_epoch(epoch)
    return [targets for _, targets in loader]


@pytest.mark.parametrize("ranks", [2, 3])
def test_yolo_ranks_share_each_single_process_batch_disjointly_and_equally(ranks):
    per_epoch, batch, seed = 30, 4, 9
    single = FreshScenes(_Indices(), per_epoch, batch * ranks, seed)
    shares = [FreshScenes(_Indices(), per_epoch, batch, seed, ranks, r) for r in range(ranks)]
    assert [len(s) for s in shares] == [per_epoch // (batch * ranks)] * ranks == [len(single)] * ranks
    for epoch in (0, 1):
        whole = _batches(single, epoch)
        per_rank = [_batches(s, epoch) for s in shares]
        assert len(whole) == len(single) >= 2
        for k, global_batch in enumerate(whole):
            step = [per_rank[r][k] for r in range(ranks)]
            assert all(len(share) == batch for share in step)
            together = np.concatenate(step)
            assert len(set(together.tolist())) == batch * ranks                 # disjoint
            assert sorted(together.tolist()) == sorted(global_batch.tolist())   # the single process's batch
            for r in range(ranks):                                              # positions r, r + W, ...
                np.testing.assert_array_equal(step[r], global_batch[r::ranks])
            assert global_batch.min() >= epoch * per_epoch and global_batch.max() < (epoch + 1) * per_epoch


def test_yolo_single_process_order_is_the_one_before_distributed_training():
    # What `train --seed 0` made the shipped weights from: the permutation of (seed, epoch), cut in order.
    loader = FreshScenes(_Indices(), 20, 6, 0)
    order = np.random.default_rng([0, 1]).permutation(20) + 20
    assert [b.tolist() for b in _batches(loader, 1)] == [order[:6].tolist(), order[6:12].tolist(),
                                                         order[12:18].tolist()]


def test_train_commands_pass_distributed_to_the_trainers(monkeypatch, tmp_path):
    import apps.faces.train
    import apps.yolo.train

    seen = {}

    def yolo_train(config):
        seen["yolo"] = config

    def faces_train(config):
        seen["faces"] = config
        return None, None, None             # what a rank other than 0 returns: nothing to print

    monkeypatch.setattr(apps.yolo.train, "train", yolo_train)
    monkeypatch.setattr(apps.faces.train, "train", faces_train)
    assert main(["yolo", "train", "--distributed", "--out", str(tmp_path)]) == 0
    assert main(["faces", "train", "--distributed", "--out", str(tmp_path), "--weights", str(tmp_path / "f.npz")]) == 0
    assert seen["yolo"].distributed and seen["faces"].distributed
    seen.clear()
    main(["yolo", "train", "--out", str(tmp_path)])
    assert not seen["yolo"].distributed


def _one_error_line(capsys, argv, *phrases):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(phrase in err[0] for phrase in phrases), err


def test_distributed_under_a_launcher_without_mpi4py_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    import sys

    import minigrad.distributed as dist

    monkeypatch.setitem(dist._state, "comm", None)           # not joined yet: the next init looks again
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")          # as if mpiexec had started this process
    monkeypatch.setitem(sys.modules, "mpi4py", None)         # and mpi4py were not installed
    needs = "--distributed: distributed training needs mpi4py"
    _one_error_line(capsys, ["yolo", "train", "--distributed", "--out", str(tmp_path)], "minigrad yolo train", needs)
    _one_error_line(capsys, ["faces", "train", "--distributed", "--out", str(tmp_path), "--weights",
                             str(tmp_path / "f.npz")], "minigrad faces train", needs)
    assert os.listdir(tmp_path) == []


def test_yolo_refuses_fewer_scenes_than_one_global_batch_before_any_work(capsys, tmp_path):
    argv = ["yolo", "train", "--distributed", "--scenes", "4", "--batch-size", "8", "--out", str(tmp_path / "run")]
    _one_error_line(capsys, argv, "--scenes 4 is fewer than one global batch: 1 ranks x --batch-size 8")
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- YOLO on MPI ranks

def _yolo_with_batch_norm_per_share(ranks):
    """YoloNet that normalises as ``ranks`` DDP ranks do, in one process: in training each rank's share of
    the batch (rows r, r + W, ...) goes through the network apart, and only rank 0's share moves the
    running statistics (DDP broadcasts rank 0's buffers before every forward)."""
    from apps.yolo.model import YoloNet

    class PerRankBatchNorm(YoloNet):
        def forward(self, x):
            if not self.training:
                return super().forward(x)
            images = x.numpy()
            outputs = []
            for r in range(ranks):
                before = {k: v.numpy().copy() for k, v in self.named_buffers()}
                outputs.append(super().forward(mg.tensor(images[r::ranks])))
                if r:
                    self.load_state_dict(before, strict=False)
            out = mg.stack(outputs, dim=1)                    # (n / W, W, ...): row r + W i is share r's row i
            return out.reshape(images.shape[0], *out.shape[2:])

    return PerRankBatchNorm


def _train_yolo_alone(out, batch_size, monkeypatch, batch_norm_ranks=None):
    """The script's YOLO run in this process, without --distributed; batch norm as on ``batch_norm_ranks`` ranks."""
    import apps.yolo.train as yolo_train
    from trainers_run import YOLO

    with monkeypatch.context() as patch:
        if batch_norm_ranks:
            patch.setattr(yolo_train, "YoloNet", _yolo_with_batch_norm_per_share(batch_norm_ranks))
        yolo_train.train(yolo_train.TrainConfig(out=str(out), **dict(YOLO, batch_size=batch_size)), log=lambda *a: None)
    return mg.load(str(out / "yolo.npz"))


def _max_difference(a, b):
    assert sorted(a) == sorted(b)
    return max(float(np.abs(a[k].numpy().astype(np.float64) - b[k].numpy()).max()) for k in a)


@pytest.fixture
def scripts_on_path(monkeypatch):
    monkeypatch.syspath_prepend(os.path.dirname(SCRIPT))


def test_yolo_two_ranks_equal_one_process_with_the_doubled_batch_and_write_once(tmp_path, mpiexec, monkeypatch,
                                                                                   scripts_on_path):
    code, log, _ = mpiexec(2, SCRIPT, "yolo", tmp_path, 1)
    assert code == 0, log[-3000:]
    assert log.count("distributed: 2 ranks x batch 4 = global batch 8") == 1
    assert log.count("anchors (h, w)") == 1 and log.count("yolo epoch  1/1:") == 1 and log.count("test (4 scenes") == 1
    assert sorted(os.listdir(tmp_path / "run")) == ["checkpoint.npz", "yolo.npz"]
    ranks = mg.load(str(tmp_path / "run" / "yolo.npz"))
    assert int(mg.load(str(tmp_path / "run" / "checkpoint.npz"))["step"]) == 32 // 8

    same = _train_yolo_alone(tmp_path / "alone", 8, monkeypatch, batch_norm_ranks=2)
    assert _max_difference(ranks, same) < 1e-4
    # The comparison can tell runs apart: one process whose batch norm sees all 8 scenes at once ends elsewhere.
    assert _max_difference(ranks, _train_yolo_alone(tmp_path / "plain", 8, monkeypatch)) > 1e-2


def test_yolo_resumes_a_one_process_checkpoint_on_two_ranks(tmp_path, mpiexec, monkeypatch, scripts_on_path):
    import apps.yolo.train as yolo_train
    from trainers_run import YOLO

    def stop_after_first_epoch(line):      # fit logs an epoch after its checkpoint is written: stop there
        if line.startswith("yolo epoch  1/2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        yolo_train.train(yolo_train.TrainConfig(out=str(tmp_path / "run"), **dict(YOLO, epochs=2)),
                         log=stop_after_first_epoch)
    assert int(mg.load(str(tmp_path / "run" / "checkpoint.npz"))["step"]) == 32 // 4      # 8 steps on one rank
    code, log, _ = mpiexec(2, SCRIPT, "yolo", tmp_path, 2, "resume")
    assert code == 0, log[-3000:]
    assert log.count("resumed from") == 1 and "after epoch 1 of 2" in log and log.count("yolo epoch  2/2:") == 1
    ckpt = mg.load(str(tmp_path / "run" / "checkpoint.npz"))
    assert int(ckpt["epoch"]) == 2 and int(ckpt["step"]) == 2 * (32 // 8)    # as if every epoch had run on 2 ranks
    assert len(ckpt["history"]["train_loss"].numpy()) == 2
    assert sorted(os.listdir(tmp_path / "run")) == ["checkpoint.npz", "yolo.npz"]


# ----------------------------------------------------------------------------- faces on MPI ranks

def test_faces_two_ranks_resume_a_one_process_run_draw_their_own_batches_and_end_in_sync(tmp_path, mpiexec,
                                                                                            scripts_on_path):
    import apps.faces.train as faces_train
    from apps.faces.data import load_lfw_faces
    from trainers_run import FACES

    def stop_after_first_epoch(line):      # fit logs an epoch after its checkpoint is written: stop there
        if line.startswith("faces triplet  1/2"):
            raise KeyboardInterrupt

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        faces_train.train(faces_train.TrainConfig(out=str(run), weights=str(run / "faces.npz"), epochs=2, **FACES),
                          log=stop_after_first_epoch)
    code, log, _ = mpiexec(2, SCRIPT, "faces", tmp_path, "triplet", 2, "resume")
    assert code == 0, log[-3000:]
    assert log.count("distributed: 2 ranks x batch 8 = global batch 16 (each rank draws its own 4 identities") == 1
    assert log.count("resumed from") == 1 and log.count("faces triplet  2/2:") == 1
    assert sorted(os.listdir(run)) == ["checkpoint-triplet.npz", "faces.npz"]
    assert int(mg.load(str(run / "checkpoint-triplet.npz"))["step"]) == 2 * 2

    first, second = (mg.load(str(tmp_path / f"rank-{r}.npz")) for r in (0, 1))
    alone = faces_train.PKBatches(load_lfw_faces(), FACES["train_ids"], 4, 2, 2, FACES["seed"])
    alone.set_epoch(1)
    np.testing.assert_array_equal(first["labels"].numpy(), [labels for _, labels, _ in alone])  # rank 0: one process's
    assert second["labels"].shape == (2, 8)
    assert not np.array_equal(first["labels"].numpy(), second["labels"].numpy())              # rank 1: its own
    # Gradients are averaged, so the parameters agree; batch-norm statistics are rank 0's, sent at the end.
    written = mg.load(str(run / "faces.npz"))["model"]
    for name, value in first["model"].items():
        np.testing.assert_array_equal(value.numpy(), second["model"][name].numpy(), err_msg=name)
        np.testing.assert_array_equal(value.numpy(), written[name].numpy(), err_msg=name)


@pytest.mark.parametrize("loss", ["triplet", "binary"])
def test_faces_one_rank_with_distributed_is_the_run_without_it(tmp_path, mpiexec, loss):
    options = ["--loss", loss, "--epochs", "1", "--steps", "2", "--identities", "4", "--views", "2", "--seed", "3"]
    code, log, _ = mpiexec(1, "-m", "apps", "faces", "train", "--distributed", *options,
                           "--out", tmp_path / "ranks", "--weights", tmp_path / "ranks.npz")
    assert code == 0, log[-3000:]
    assert log.count("distributed: 1 ranks x batch 8 = global batch 8") == 1 and log.count("wrote ") == 1
    assert main(["faces", "train", *options, "--out", str(tmp_path / "alone"),
                 "--weights", str(tmp_path / "alone.npz")]) == 0
    ranks, alone = (mg.load(str(tmp_path / name))["model"] for name in ("ranks.npz", "alone.npz"))
    assert sorted(ranks) == sorted(alone)
    for name in alone:
        np.testing.assert_array_equal(ranks[name].numpy(), alone[name].numpy(), err_msg=name)
    # and the checkpoint (with the binary head, when there is one) too
    a, b = (mg.load(str(tmp_path / d / f"checkpoint-{loss}.npz"))["model"] for d in ("ranks", "alone"))
    for name in a:
        np.testing.assert_array_equal(a[name].numpy(), b[name].numpy(), err_msg=name)
