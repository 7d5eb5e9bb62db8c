"""Transfer learning (course M2.12): LeNet-5 trained on digits 0-4 learns digits 5-9 from 50 images per class.

1. Pretrain LeNet-5 (5 outputs) on the digits 0-4 of the training split.
2. Transfer: keep its weights, freeze the conv layers (``requires_grad=False``; with
   ``freeze="all"`` every layer but the head), replace the head (the last Linear, 84 -> 5)
   with a fresh one, and train on ``per_class`` images of each digit 5-9.
3. Scratch: the same network, freshly initialised, trained the same way on the same images.

Both are scored on the held-out test digits 5-9 (never trained on, 100 per class). The
frozen weights are compared bit for bit with their values before fine-tuning.
"""

import os

import numpy as np

import minigrad as mg
from minigrad import nn, optim
from minigrad.data import DataLoader

from apps.cli_args import CLIError
from apps.digits.data import augmentation, classify_step, digit_splits, evaluate, make_model, one_cycle, select
from apps.fit import fit, replace_weights


def _train(model, dataset, epochs, lr, seed, batch_size, progress, desc, log):
    """Adam with the one-cycle schedule on the trainable parameters, through apps.fit (no checkpoint: minutes)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = optim.Adam(params, lr=lr)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, seed=seed, transform=augmentation())
    total = epochs * len(loader)
    return fit(model, opt, loader, classify_step, epochs=epochs, lr_at=lambda s: one_cycle(s, total, lr),
               progress=progress, log=log, desc=desc)


def check_settings(per_class, pretrain_epochs, epochs, lr):
    """Refuse, before any work, settings that would train on nothing (the CLI's types say the same)."""
    for name, value in (("--per-class", per_class), ("--pretrain-epochs", pretrain_epochs), ("--epochs", epochs)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise CLIError(f"{name} must be >= 1, got {value}")
    if not (np.isfinite(lr) and lr > 0):
        raise CLIError(f"lr must be a finite number > 0, got {lr}")


def freeze_for_transfer(model, num_classes, freeze="conv"):
    """Freeze the conv layers (or all layers), then replace the head with a fresh Linear.

    Returns {name: copy of the array} of every frozen parameter, for the bit-identity check.
    """
    frozen_modules = [model.features] if freeze == "conv" else [model.features, model.classifier]
    for module in frozen_modules:
        for p in module.parameters():
            p.requires_grad_(False)
    head_index = len(model.classifier) - 1
    old_head = model.classifier[head_index]
    model.classifier[head_index] = nn.Linear(old_head.in_features, num_classes)
    return {name: p.numpy().copy() for name, p in model.named_parameters() if not p.requires_grad}


def frozen_unchanged(model, snapshot):
    """True when every frozen parameter still holds exactly (bit for bit) its snapshot."""
    current = dict(model.named_parameters())
    return all(current[name].numpy().tobytes() == array.tobytes() for name, array in snapshot.items())


def run_finetune(out="runs/finetune", per_class=50, pretrain_epochs=4, epochs=10, freeze="conv", seed=0,
                 progress=True, lr=3e-3, limit=None, log=print):
    """Pretrain on 0-4, transfer to 5-9 with ``per_class`` images each, compare with scratch; returns the results."""
    if freeze not in ("conv", "all"):
        raise CLIError(f"--freeze must be 'conv' or 'all', got {freeze!r}")
    check_settings(per_class, pretrain_epochs, epochs, lr)
    if os.path.exists(out) and not os.path.isdir(out):
        raise CLIError(f"--out must be a folder, but {out} is a file")
    train_set, _, test_set = digit_splits(limit=limit)
    first, second = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
    available = min(int(np.sum(train_set.labels == c)) for c in second)
    if per_class > available:
        raise CLIError(f"--per-class must be <= {available} (the training images of the rarest digit 5-9), "
                       f"got {per_class}")
    os.makedirs(out, exist_ok=True)
    pre_set = select(train_set, first)
    small_set = select(train_set, second, per_class, seed=seed)
    test_new = select(test_set, second)
    log(f"pretraining on {len(pre_set)} images of digits 0-4; transfer set: {len(small_set)} images of 5-9 "
        f"({per_class} per class); test: {len(test_new)} held-out images of 5-9")

    mg.manual_seed(seed)
    base = make_model(num_classes=5)
    quiet = lambda *a: None  # noqa: E731  (the per-epoch lines of three runs would drown the comparison)
    _train(base, pre_set, pretrain_epochs, lr, seed, 32, progress, "pretrain 0-4", quiet)
    _, base_acc, _ = evaluate(base, select(test_set, first))
    log(f"pretrained on 0-4: test accuracy on held-out 0-4 {base_acc:.4f}")

    transfer = make_model(num_classes=5)
    transfer.load_state_dict(base.state_dict())
    snapshot = freeze_for_transfer(transfer, 5, freeze)
    trainable = sum(p.numpy().size for p in transfer.parameters() if p.requires_grad)
    frozen = sum(a.size for a in snapshot.values())
    _train(transfer, small_set, epochs, lr, seed + 1, 25, progress, "transfer 5-9", quiet)
    identical = frozen_unchanged(transfer, snapshot)

    mg.manual_seed(seed + 1)
    scratch = make_model(num_classes=5)
    _train(scratch, small_set, epochs, lr, seed + 1, 25, progress, "scratch 5-9", quiet)

    _, transfer_acc, _ = evaluate(transfer, test_new)
    _, scratch_acc, _ = evaluate(scratch, test_new)
    # Written only now, at the end of the completed run (atomically): a failed run keeps earlier files whole.
    replace_weights(base.state_dict(), os.path.join(out, "lenet5_digits0-4.npz"))
    replace_weights(transfer.state_dict(), os.path.join(out, "lenet5_transfer5-9.npz"))
    log("")
    log(f"digits 5-9 from {per_class} images per class, {epochs} epochs, test on {len(test_new)} held-out images:")
    what = "conv layers" if freeze == "conv" else "all but the head"
    log(f"  {'transfer (frozen ' + what + ', new head)':<44} accuracy {transfer_acc:.4f}  "
        f"({trainable:,} trainable, {frozen:,} frozen parameters)")
    log(f"  {'from scratch (same network, same data)':<44} accuracy {scratch_acc:.4f}  "
        f"({sum(p.numpy().size for p in scratch.parameters()):,} trainable parameters)")
    log(f"frozen weights bit-identical after fine-tuning: {'yes' if identical else 'NO'} "
        f"({len(snapshot)} tensors checked)")
    return {"transfer_acc": transfer_acc, "scratch_acc": scratch_acc, "pretrain_acc": base_acc,
            "frozen_identical": identical, "frozen_tensors": len(snapshot), "trainable": trainable}
