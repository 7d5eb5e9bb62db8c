"""The depth experiment (course M2.06): final training error against depth, plain versus residual networks.

The course's claim: in theory a deeper network can only fit the training set better, but
in practice a plain network's training error rises past some depth, while a residual
network's keeps falling (or stays low), because its blocks can learn the identity.

Both kinds share everything but the skip connection:

    stem:  conv 3x3 (1 -> w) + batch norm + ReLU
    body:  B blocks of two 3x3 convs with batch norm
           plain:    a[l+2] = relu(bn(conv(relu(bn(conv(a[l]))))))
           residual: a[l+2] = relu(bn(conv(relu(bn(conv(a[l]))))) + a[l])   (models.BasicBlock)
    head:  2x2 average pool + linear (w*7*7 -> 10)

Depth counts the weighted layers, 2B + 2. Every network trains on the same images (digits
averaged down to 14x14) with the same optimizer (Adam), seed and number of steps. The
training error is the fraction of training images misclassified during the last epoch
(as in He et al.'s curves: measured while training, batch-norm in training mode).
The budget is deliberately small, so the comparison is about how easily each kind
of network is optimised, not about what it could reach given unlimited time.
"""

import dataclasses
import json
import os
import tempfile

import numpy as np

import minigrad as mg
from minigrad import nn, optim
from minigrad.data import ArrayDataset, DataLoader, load_digits, stratified_split
from models import BasicBlock

from apps.cli_args import CLIError
from apps.digits.data import classify_step
from apps.digits.plots import plot_depth
from apps.fit import fit

DIGITS_PER_CLASS = 500     # the 5k digits that install with minigrad


@dataclasses.dataclass
class DepthConfig:
    depths: tuple = (4, 10, 20, 30)
    images: int = 500
    epochs: int = 4
    width: int = 8
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0
    out: str = "runs/depth"
    progress: bool = True


class PlainBlock(nn.Module):
    """BasicBlock without the skip: two 3x3 conv + batch norm layers, ReLU after each."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


def depth_network(depth, residual, width=8, num_classes=10):
    """A plain or residual network with ``depth`` weighted layers (an even number >= 4), for 1x14x14 input."""
    if depth < 4 or depth % 2:
        raise ValueError(f"depth must be an even number >= 4 (2 blocks' convs + stem + head), got {depth}")
    blocks = (depth - 2) // 2
    body = [BasicBlock(width, width) if residual else PlainBlock(width) for _ in range(blocks)]
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        *body,
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(width * 7 * 7, num_classes),
    )


def small_digits(images, seed=0):
    """``images`` digits (an equal number per class), averaged 2x2 down to 14x14."""
    if not 10 <= images <= 10 * DIGITS_PER_CLASS:
        raise CLIError(f"--images must be between 10 and {10 * DIGITS_PER_CLASS} (a tenth per digit), got {images}")
    full = load_digits()
    chosen, = stratified_split(full.labels, [images // 10], seed=seed)
    x = full.images[chosen]
    x = x.reshape(len(x), 1, 14, 2, 14, 2).mean(axis=(3, 5))
    return ArrayDataset(x.astype(np.float32), full.labels[chosen])


def train_one(model, dataset, config, desc):
    """Train with Adam for the fixed budget through apps.fit; returns (last epoch's training error, its mean loss, seconds).

    The training error is counted during the last epoch, on the device, as He et al. plot it.
    """
    opt = optim.Adam(model.parameters(), lr=config.lr)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, seed=config.seed)
    run = fit(model, opt, loader, classify_step, epochs=config.epochs, progress=config.progress,
              log=lambda *a: None, desc=desc)
    return 1.0 - run.history["train_acc"][-1], run.history["train_loss"][-1], run.seconds


def check_config(config):
    """Refuse, before any work, a setting that would train nothing (the CLI's types say the same)."""
    for name in ("epochs", "width", "batch_size"):
        value = getattr(config, name)
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if not config.depths:
        raise CLIError("--depths must name at least one depth")
    for d in config.depths:
        if d < 4 or d % 2:
            raise CLIError(f"--depths must be even numbers >= 4, got {d}")
    if not 10 <= config.images <= 10 * DIGITS_PER_CLASS:
        raise CLIError(f"--images must be between 10 and {10 * DIGITS_PER_CLASS}, got {config.images}")
    if os.path.exists(config.out) and not os.path.isdir(config.out):
        raise CLIError(f"--out must be a folder, but {config.out} is a file")


def verdict(depths, plain, residual, tolerance=0.02):
    """The course's claim, checked on the numbers: does plain error rise past some depth while residual's does not?"""
    best_plain = int(np.argmin(plain))
    plain_rises = plain[-1] > plain[best_plain] + tolerance and best_plain < len(depths) - 1
    residual_holds = residual[-1] <= min(residual) + tolerance
    residual_wins_deep = residual[-1] < plain[-1]
    if plain_rises and residual_holds and residual_wins_deep:
        return True, (f"holds: the plain network's training error is lowest at depth {depths[best_plain]} "
                      f"({plain[best_plain]:.3f}) and rises to {plain[-1]:.3f} at depth {depths[-1]}; "
                      f"the residual network's does not rise ({residual[-1]:.3f} at depth {depths[-1]})")
    reasons = []
    if not plain_rises:
        reasons.append("the plain network's training error did not rise with depth here")
    if not residual_holds:
        reasons.append(f"the residual network's training error rose too ({min(residual):.3f} -> {residual[-1]:.3f})")
    if not residual_wins_deep:
        reasons.append("at the largest depth the residual network is not better than the plain one")
    return False, "does not hold in this run: " + "; ".join(reasons) + " (try more depths, --epochs or --seed)"


def run_depth(config=None, log=print):
    """Train every (depth, kind) pair, print a table, write depth.png and depth.json; returns the results."""
    config = config or DepthConfig()
    check_config(config)
    depths = sorted(config.depths)
    os.makedirs(config.out, exist_ok=True)
    data = small_digits(config.images, seed=config.seed)
    log(f"{len(data)} digits at 14x14, width {config.width}, {config.epochs} epochs of batch {config.batch_size}, "
        f"Adam lr {config.lr}, seed {config.seed}")
    log(f"{'depth':>5} {'plain':>8} {'residual':>9} {'seconds':>8}")
    plain, residual, seconds = [], [], []
    for depth in depths:
        row = []
        for is_residual, errors in ((False, plain), (True, residual)):
            mg.manual_seed(config.seed)
            model = depth_network(depth, is_residual, config.width)
            error, _, secs = train_one(model, data, config, f"{'residual' if is_residual else 'plain'} depth {depth}")
            errors.append(error)
            row.append(secs)
        seconds.append(sum(row))
        log(f"{depth:5d} {plain[-1]:8.3f} {residual[-1]:9.3f} {seconds[-1]:8.1f}")
    holds, message = verdict(depths, plain, residual)
    log(f"course claim (M2.06) {message}")
    png = plot_depth(depths, plain, residual, os.path.join(config.out, "depth.png"),
                     f"training error in epoch {config.epochs} on {len(data)} digits (seed {config.seed})")
    result = {"depths": depths, "plain": plain, "residual": residual, "seconds": seconds, "holds": holds,
              "message": message, "config": dataclasses.asdict(config), "png": png}
    _write_json(result, os.path.join(config.out, "depth.json"))
    log(f"wrote {png}")
    return result


def _write_json(obj, path):
    """JSON through a temp file and os.replace, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
