"""The digits commands' PNGs: training history, confusion matrix, depth curve; each written atomically."""

import os
import tempfile

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path):
    """Save ``fig`` to a temp file beside ``path``, then os.replace it: a reader never sees half a PNG."""
    plt = _pyplot()
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=folder)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)      # mkstemp makes 0600; a PNG follows the umask like any file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        plt.close(fig)
    return path


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
    return save_figure(fig, path)


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
    return save_figure(fig, path)


def plot_depth(depths, plain, residual, path, title):
    """Final training error against depth, plain and residual, as a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=90)
    ax.plot(depths, plain, "o-", label="plain")
    ax.plot(depths, residual, "s-", label="residual (skip connections)")
    ax.set(xlabel="depth (weighted layers)", ylabel="final training error", title=title, xticks=list(depths))
    ax.title.set_fontsize(9)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)
