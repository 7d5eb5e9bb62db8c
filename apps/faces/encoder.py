"""The Siamese network's encoder f(x): a small ResNet that maps a face to a 128-number L2-normalised encoding.

Both images of a pair (or all three of a triplet) go through this one network, so
their weights are shared by construction. Layout, for a 25 x 25 grayscale face:

    conv 3x3, 16 + BN + ReLU                 25 x 25 x 16
    BasicBlock(16 -> 32, s = 2)              13 x 13 x 32
    BasicBlock(32 -> 64, s = 2)               7 x  7 x 64
    adaptive average pool to 3 x 3            3 x  3 x 64   (keeps a coarse layout: eyes above mouth)
    flatten, linear 576 -> d = 128, then f(x) / ||f(x)||_2

Each picture is standardised first (its mean subtracted, divided by its standard
deviation), so a uniformly brighter or more contrasted photo gives the same input.
With the encoding on the unit sphere the course's squared distance lies in [0, 4].

``FaceEncoder.load(path=None)`` reads the weights that ship with the package.
"""

from pathlib import Path

import numpy as np

import minigrad as mg
from apps.cli_args import CLIError
from apps.faces.data import SIZE, to_gray_square
from minigrad import nn
from models import BasicBlock

ENCODING_SIZE = 128
WEIGHTS = Path(__file__).resolve().parent / "weights" / "faces.npz"
WEIGHTS_FORMAT = "minigrad-faces-encoder-1"
DEFAULT_TAU = 0.7              # the course's threshold, used only when a weights file records none


class FaceNet(nn.Module):
    """The encoder network: (N, 1, 25, 25) standardised faces -> (N, d) encodings with ||f(x)|| = 1.

    Shape: (N, 1, H, W) -> (N, encoding_size); any H, W >= 5 (the 3 x 3 pool adapts).
    """

    def __init__(self, encoding_size=ENCODING_SIZE, width=16):
        super().__init__()
        self.encoding_size = encoding_size
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        # No block at full resolution: it would cost a third of the multiplies for little gain on 25 x 25 faces.
        self.blocks = nn.Sequential(BasicBlock(width, 2 * width, stride=2), BasicBlock(2 * width, 4 * width, stride=2))
        self.pool = nn.AdaptiveAvgPool2d(3)
        self.fc = nn.Linear(4 * width * 9, encoding_size)

    def forward(self, x):
        features = self.pool(self.blocks(self.stem(x)))
        z = self.fc(features.reshape(features.shape[0], -1))
        # f(x) / ||f(x)||: the small epsilon keeps the gradient finite at z = 0.
        return z / ((z * z).sum(dim=1, keepdim=True) + 1e-12).sqrt()


def standardise(batch):
    """(N, 1, H, W) pictures in [0, 1] -> each with mean 0 and standard deviation 1 (a flat picture stays 0)."""
    batch = np.asarray(batch, dtype=np.float32)
    mean = batch.mean(axis=(1, 2, 3), keepdims=True)
    std = batch.std(axis=(1, 2, 3), keepdims=True)
    return ((batch - mean) / np.maximum(std, 1e-3)).astype(np.float32)


def as_batch(images, size=SIZE):
    """Pictures in any of the accepted forms -> (N, 1, size, size) float32 in [0, 1].

    Accepted: one PIL image or a list of them; a list of numpy pictures of any sizes and
    modes; a numpy batch (N, 1, H, W) or (N, H, W) of grayscale pictures, or (N, C, H, W) /
    (N, H, W, C) of colour ones; one picture (H, W) or (H, W, C). Integer pictures are
    read as 0-255, float ones as 0-1.
    """
    from PIL import Image

    if isinstance(images, Image.Image):
        images = [images]
    elif isinstance(images, mg.Tensor):
        images = images.numpy()
    if isinstance(images, np.ndarray):
        if images.ndim == 4 and images.shape[1] == 1:
            images = list(images[:, 0])
        elif images.ndim == 4 and (images.shape[1] in (3, 4) or images.shape[-1] in (1, 3, 4)):
            images = list(images)          # (N, C, H, W) or (N, H, W, C) colour batch: one picture each
        elif images.ndim == 3 and images.shape[-1] not in (3, 4):
            images = list(images)          # (N, H, W) grayscale batch
        elif images.ndim in (2, 3):
            images = [images]
        else:
            raise ValueError(f"encode: images must be (N, 1, H, W), (N, H, W), (H, W) or (H, W, C), got shape {images.shape}")
    images = list(images)
    if not images:
        raise ValueError("encode: no images given")
    return np.stack([to_gray_square(image, size) for image in images])[:, None]


class FaceEncoder:
    """f(x) ready to use: the trained network, its input size and the threshold tau chosen when it was evaluated."""

    def __init__(self, net, tau=DEFAULT_TAU, meta=None):
        self.net = net
        self.tau = float(tau)
        self.meta = dict(meta or {})
        self.net.eval()

    @property
    def encoding_size(self):
        return self.net.encoding_size

    @classmethod
    def load(cls, path=None):
        """The encoder in ``path`` (default: the weights that ship in apps/faces/weights/)."""
        path = Path(path) if path is not None else WEIGHTS
        if not path.exists():
            raise CLIError(f"no face encoder weights at {path}: train them with `minigrad faces train`")
        try:
            saved = mg.load(path)
        except ValueError as error:
            raise CLIError(str(error)) from None
        if not isinstance(saved, dict) or saved.get("format") != WEIGHTS_FORMAT:
            raise CLIError(f"{path} is not a face encoder written by `minigrad faces train`")
        meta = saved.get("meta", {})
        net = FaceNet(int(meta.get("encoding_size", ENCODING_SIZE)), int(meta.get("width", 16)))
        try:
            net.load_state_dict(saved["model"])
        except (KeyError, ValueError) as error:
            raise CLIError(f"{path}: the weights do not fit the encoder ({error})") from None
        return cls(net, meta.get("tau", DEFAULT_TAU), meta)

    def save(self, path):
        """Write network, tau and meta atomically (mg.save)."""
        from apps.fit import replace_weights

        meta = dict(self.meta, tau=self.tau, encoding_size=self.net.encoding_size)
        return replace_weights({"format": WEIGHTS_FORMAT, "model": self.net.state_dict(), "meta": meta}, path)

    def encode_batch(self, batch, batch_size=512):
        """Encodings (N, d) float32 of a ready batch (N, 1, S, S) in [0, 1], in eval mode without a graph."""
        was_training = self.net.training
        self.net.eval()
        out = []
        with mg.no_grad():
            for start in range(0, len(batch), batch_size):
                out.append(self.net(mg.tensor(standardise(batch[start:start + batch_size]))).numpy())
        self.net.train(was_training)
        return np.concatenate(out).astype(np.float32)

    def encode(self, images, batch_size=512):
        """f(x) for pictures of any size or mode (numpy arrays or PIL images) -> (N, d) float32, each of norm 1."""
        return self.encode_batch(as_batch(images), batch_size)
