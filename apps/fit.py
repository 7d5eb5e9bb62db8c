"""The one training loop every application uses: epochs of steps, progress, metrics, checkpoints, resume, NaN guard.

An application says what one step computes (``step``: a batch -> the loss tensor and
its metrics) and ``fit`` does the rest the same way for all of them:

- a tqdm bar per epoch that refreshes at most twice a second and turns itself off
  when stderr is not a terminal (a log file gets one summary line per epoch instead);
- metrics summed **on the tensor's device**: a step returns tensors (a count of
  correct answers, say), added up where they live and copied to the host once per
  epoch, so on CUDA the only per-step host copy is ``loss.item()``;
- a checkpoint after every epoch (model, optimizer, history, step counter and the
  application's ``meta``), written atomically by ``mg.save`` (temp file +
  ``os.replace``): Ctrl-C loses at most the current epoch, and ``resume=True``
  continues from the last whole one exactly as if never stopped (the loader must
  take ``set_epoch``, as ``minigrad.data.DataLoader`` does);
- a guard: a NaN or infinite loss stops the run with a message naming the epoch, the
  step and the learning rate, before the optimizer steps on it, so no weights are
  ever written from a diverged run;
- ``is_writer``: only that process writes files; with several ranks only rank 0 writes
  (checkpoints, logs, the progress bar) whatever the caller says;
- data-parallel training: given a ``minigrad.distributed.DistributedDataParallel`` model,
  each epoch's metrics are summed over the ranks (images/s is the whole job's), and
  ``resume`` reads the checkpoint on rank 0 and broadcasts it (the other machines need no
  copy of the file). A run may resume on another number of ranks: the step counter
  restarts at epochs done x this run's steps per epoch, as if it had always run so.

The caller writes its final weights after ``fit`` returns: a run that did not finish
never replaces them.
"""

import dataclasses
import math
import os
import sys
import time

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
from minigrad.data import DistributedSampler
from apps.cli_args import CLIError

CHECKPOINT_FORMAT = "minigrad-train-checkpoint-1"


class CheckpointError(CLIError):
    """A checkpoint that cannot be used: unreadable, not a training checkpoint, or from another setup."""


class TrainingDiverged(CLIError):
    """The loss became NaN or infinite: the run stops and writes nothing from it."""


@dataclasses.dataclass
class FitResult:
    epoch: int                 # epochs completed
    step: int                  # optimizer steps taken, over all epochs
    history: dict              # name -> list of per-epoch values (train_loss, train_<metric>, val_*, images_per_s)
    seconds: float


def progress_bar(iterable, desc, enabled=True, total=None):
    """tqdm as every command uses it: at most two refreshes a second, silent when stderr is not a terminal."""
    from tqdm import tqdm

    disable = (not enabled) or not sys.stderr.isatty()
    return tqdm(iterable, desc=desc, total=total, leave=False, disable=disable, unit="batch",
                dynamic_ncols=True, mininterval=0.5)


def _host(value):
    return float(value.item()) if isinstance(value, mg.Tensor) else float(value)


def _numpy_tree(obj):
    """Tensors in a nested dict (what mg.load returns) back to numpy arrays."""
    if isinstance(obj, dict):
        return {k: _numpy_tree(v) for k, v in obj.items()}
    return obj.numpy() if isinstance(obj, mg.Tensor) else obj


def save_checkpoint(path, model, optimizer, epoch, step, history, meta):
    """Write the whole training state atomically (mg.save: temp file, then os.replace)."""
    mg.save({
        "format": CHECKPOINT_FORMAT,
        "epoch": int(epoch),
        "step": int(step),
        "model": model.state_dict(),
        "optimizer": {"state": optimizer.state_dict()["state"]},
        "history": {k: np.asarray(v, dtype=np.float64) for k, v in history.items()},
        "meta": meta,
    }, path)


def load_checkpoint(path, model, optimizer, meta):
    """Restore model, optimizer and history from ``path``; returns (epoch, step, history).

    ``meta`` must equal what the checkpoint recorded (the options that shape the run),
    else CheckpointError says which differ.
    """
    hint = "delete it (or use another --out) to start afresh"
    try:
        ckpt = mg.load(path)
    except FileNotFoundError:
        raise CheckpointError(f"--resume: no checkpoint at {path}; run without --resume to start training") from None
    except (ValueError, OSError) as error:
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({error}); {hint}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a minigrad training checkpoint; {hint}")
    saved = ckpt.get("meta", {})
    differing = {k: (saved.get(k), v) for k, v in meta.items() if saved.get(k) != v}
    if differing:
        details = ", ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in differing.items())
        raise CheckpointError(f"checkpoint {path} comes from a different setup ({details}); "
                              f"resume with the same options, or {hint}")
    try:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict({"defaults": {}, "state": _numpy_tree(ckpt["optimizer"].get("state", {}))})
        history = {k: list(np.asarray(_numpy_tree(v), dtype=np.float64).ravel()) for k, v in ckpt["history"].items()}
        return int(ckpt["epoch"]), int(ckpt["step"]), history
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as error:
        raise CheckpointError(f"checkpoint {path} is damaged ({type(error).__name__}: {error}); {hint}") from None


def join_job(enabled=True):
    """Join the MPI job for ``--distributed``: (ranks, this rank), or (1, 0) when disabled.

    Launched by ``mpiexec`` without mpi4py is one CLIError line; a plain process is rank 0 of 1.
    """
    if not enabled:
        return 1, 0
    try:
        dist.init(required=True)
    except RuntimeError as error:
        raise CLIError(f"--distributed: {error}") from None
    return dist.world_size(), dist.rank()


def data_parallel(model, dataset, seed, enabled=True):
    """What ``--distributed`` changes, in one call: (model, sampler, is_writer).

    Enabled, it joins the MPI job, wraps ``model`` in ``DistributedDataParallel`` (rank 0's
    weights everywhere, gradients averaged in backward) and gives a ``DistributedSampler``
    of ``dataset`` for the DataLoader's ``sampler``, seeded like its shuffle; only rank 0
    writes. Disabled: (model, None, True), so the caller needs no branch.
    (A loader that shards by itself, as apps.yolo's and apps.faces' do, uses ``join_job``
    and wraps the model itself.)
    """
    if not enabled:
        return model, None, True
    join_job()
    sampler = DistributedSampler(dataset, seed=seed)
    return dist.DistributedDataParallel(model), sampler, dist.is_writer()


def no_log(*args, **kwargs):
    """The log of a --distributed run's ranks other than 0: rank 0 alone prints."""


def data_parallel_line(batch_size, note=""):
    """The one line every ``--distributed`` trainer logs: ranks, batch per rank, global batch, threads."""
    ranks = dist.world_size()
    return (f"distributed: {ranks} ranks x batch {batch_size} = global batch {ranks * batch_size}{note}; "
            f"threads per rank: {dist.threads_per_rank() or 'default'}")


def fit(model, optimizer, loader, step, *, epochs, checkpoint=None, resume=False, meta=None, lr_at=None,
        validate=None, progress=True, log=print, is_writer=True, desc="epoch"):
    """Train ``model`` for ``epochs`` passes over ``loader``; returns a FitResult.

    step(model, batch) -> (loss, metrics, n): the scalar loss tensor to minimise, a dict
        of per-batch *sums* (tensors or numbers; "correct" -> accuracy is sum / n), and
        the number of examples in the batch.
    checkpoint: path of the per-epoch checkpoint (None: none is written).
    resume: continue from ``checkpoint``; ``meta`` must match what it recorded.
    lr_at(step) -> the learning rate for that optimizer step (None: keep optimizer.lr).
    validate(model) -> dict of validation metrics, run after each epoch (e.g. {"loss", "acc"}).
    """
    if epochs < 1:
        raise CLIError(f"epochs must be >= 1, got {epochs}")
    if len(loader) == 0:
        raise CLIError("nothing to train on: the training set gives no batch")
    meta = dict(meta or {})
    distributed = isinstance(model, dist.DistributedDataParallel)
    is_writer = is_writer and dist.is_writer()
    progress = progress and is_writer
    t0 = time.perf_counter()
    history, epoch, global_step = {}, 0, 0
    if resume:
        if checkpoint is None:
            raise CLIError("--resume needs a checkpoint path")
        epoch, global_step, history = _resume(checkpoint, model, optimizer, meta, distributed)
        if global_step != epoch * len(loader):   # written by another number of ranks
            global_step = epoch * len(loader)
        if is_writer:
            log(f"resumed from {checkpoint} after epoch {epoch} of {epochs}")
    current = epoch
    try:
        for current in range(epoch, epochs):
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(current)
            row, global_step, last_batch = _one_epoch(model, optimizer, loader, step, lr_at, global_step, current,
                                                      epochs, f"{desc} {current + 1}/{epochs}", progress, distributed)
            _check_last_step(model, step, last_batch, optimizer, distributed)
            if validate is not None:
                row.update({f"val_{k}": float(v) for k, v in validate(model).items()})
            for key, value in row.items():
                history.setdefault(key, []).append(value)
            if checkpoint is not None and is_writer:
                save_checkpoint(checkpoint, model, optimizer, current + 1, global_step, history, meta)
            if is_writer:
                log(f"{desc} {current + 1:2d}/{epochs}: " + _format_row(row))
    except KeyboardInterrupt:
        if checkpoint is not None and is_writer:
            log(f"\ninterrupted during epoch {current + 1}; {checkpoint} holds epoch {current}: continue with --resume")
        raise
    return FitResult(epoch=epochs, step=global_step, history=history, seconds=time.perf_counter() - t0)


def _resume(path, model, optimizer, meta, distributed):
    """load_checkpoint; on several ranks rank 0 reads it and every rank gets its outcome (or error)."""
    if not distributed:
        return load_checkpoint(path, model, optimizer, meta)
    outcome = None
    if dist.rank() == 0:
        try:
            outcome = ("ok", load_checkpoint(path, model, optimizer, meta))
        except CheckpointError as error:
            outcome = ("error", str(error))
    outcome = dist.broadcast_object(outcome, what="broadcast of the checkpoint")
    if outcome[0] == "error":
        dist.fail_together()                       # every rank stops here: no need to abort the job
        raise CheckpointError(outcome[1])
    dist.broadcast_parameters(model)
    dist.broadcast_optimizer_state(optimizer)
    return outcome[1]


def _job_totals(loss_sum, seen, sums, seconds, distributed):
    """This rank's epoch sums, or the whole job's on several ranks (images/s over the slowest rank's time)."""
    values = {k: _host(v) for k, v in sums.items()}
    if not distributed:
        return loss_sum, seen, values, seconds
    totals = dist.allreduce_(np.array([loss_sum, seen] + list(values.values()), dtype=np.float64),
                             what="sum of the epoch's metrics")
    seconds = float(dist.allreduce_(np.array([seconds]), op="max", what="epoch time")[0])
    return float(totals[0]), int(totals[1]), dict(zip(values, totals[2:].tolist())), seconds


def _one_epoch(model, optimizer, loader, step, lr_at, global_step, epoch, epochs, desc, progress, distributed=False):
    model.train()
    sums, loss_sum, seen = {}, 0.0, 0
    start = time.perf_counter()
    bar = progress_bar(loader, desc, progress)
    for batch in bar:
        if lr_at is not None:
            optimizer.lr = lr_at(global_step)
        loss, metrics, n = step(model, batch)
        loss_value = loss.item()            # the one host copy per step
        if not math.isfinite(loss_value):
            bar.close()
            raise TrainingDiverged(
                f"the loss became {loss_value} at epoch {epoch + 1}/{epochs}, step {global_step + 1} "
                f"(learning rate {optimizer.lr:g}); nothing was saved from this run: try a lower learning rate")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        global_step += 1
        loss_sum += loss_value * n
        seen += n
        for key, value in metrics.items():
            sums[key] = sums[key] + value if key in sums else value   # stays on the device
        if not bar.disable:
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", img_s=f"{seen / max(time.perf_counter() - start, 1e-9):.0f}",
                            refresh=False)
    bar.close()
    loss_sum, seen, sums, seconds = _job_totals(loss_sum, seen, sums, time.perf_counter() - start, distributed)
    row = {"train_loss": loss_sum / max(seen, 1)}
    row.update({f"train_{k}": v / max(seen, 1) for k, v in sums.items()})
    row["images_per_s"] = seen / max(seconds, 1e-9)
    return row, global_step, batch


def _check_last_step(model, step, batch, optimizer, distributed):
    """The guard in _one_epoch sees each loss before its step; an epoch's last step is
    checked here, on its own batch, before validation and before any weights are saved:
    one step at a huge learning rate leaves weights that are finite but overflow the
    next forward pass. In eval mode and without gradients, so nothing (BatchNorm's
    statistics included) changes."""
    model.eval()
    try:
        with mg.no_grad():
            value = step(model, batch)[0].item()
    finally:
        model.train()
    bad = 0.0 if math.isfinite(value) else 1.0
    if distributed:   # every rank stops together, or none does
        bad = float(dist.allreduce_(np.array([bad]), op="max", what="the last step's check")[0])
    if bad:
        raise TrainingDiverged(
            f"the loss became {value} after the last step of an epoch (learning rate {optimizer.lr:g}); "
            "nothing was saved from this run: try a lower learning rate")


def _format_row(row):
    parts = []
    for key, value in row.items():
        parts.append(f"{key} {value:.0f}" if key == "images_per_s" else f"{key} {value:.4f}")
    return " | ".join(parts)


def replace_weights(state_dict, path):
    """Write final weights at the end of a completed run (atomic: an old file stays whole until replaced)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    mg.save(state_dict, path)
    return path
