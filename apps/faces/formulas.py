"""Face verification and recognition from encodings: the course's distance, verify (1:1), identify (1:K) and the binary verification head.

A Siamese network maps an image x to an encoding f(x) (128 numbers in the course)
with one network whose weights are shared by both images. Two images are compared by

    d(x1, x2) = ||f(x1) - f(x2)||^2          (squared Euclidean distance)

and declared the same person when d <= tau (one-shot learning: one stored image per
person is enough). Verification is one-to-one (is this the claimed person?);
recognition is one-to-K (who among the K people of the database is this?).
Training uses the triplet loss, ``minigrad.functional.triplet_loss``, or the binary
verification head below. Encodings may be numpy arrays or minigrad tensors.
"""

import numpy as np

import minigrad as mg
from minigrad import nn

__all__ = ["encode", "distance", "verify", "identify", "VerificationHead"]


def _np(x):
    if isinstance(x, mg.Tensor):
        x = x.detach().numpy()
    return np.asarray(x, dtype=np.float64)


def encode(model, images):
    """f(x): run the (shared) encoding network on a batch of images (N, C, H, W) and return (N, d) encodings as a Tensor."""
    x = images if isinstance(images, mg.Tensor) else mg.tensor(np.asarray(images, dtype=np.float32))
    out = model(x)
    return out.reshape(out.shape[0], -1)


def distance(f1, f2):
    """d = ||f1 - f2||^2 over the last axis (broadcasting), as numpy: one number per pair."""
    a, b = _np(f1), _np(f2)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"encodings must have the same length: {a.shape} and {b.shape}")
    return np.sum((a - b) ** 2, axis=-1)


def verify(encoding, identity_encoding, threshold=0.7):
    """Face verification (1:1): is ``encoding`` the person whose stored encoding is ``identity_encoding``?

    Returns ``(same, d)``: ``same`` is ``d <= threshold`` (tau), ``d = ||f(x) - f(identity)||^2``.
    """
    d = float(distance(encoding, identity_encoding))
    return d <= threshold, d


def identify(encoding, database, threshold=0.7):
    """Face recognition (1:K): the person of ``database`` (name -> encoding) closest to ``encoding``.

    Compares against all K entries; returns ``(name, d)`` for the smallest d, or
    ``(None, d)`` when even the closest is farther than ``threshold`` (not in the database).
    """
    if not database:
        raise ValueError("database is empty: identify needs at least one (name, encoding) entry")
    names = list(database)
    d = distance(_np(encoding)[None, :], np.stack([_np(database[n]).reshape(-1) for n in names]))
    best = int(np.argmin(d))
    return (names[best] if d[best] <= threshold else None), float(d[best])


class VerificationHead(nn.Module):
    """Verification as binary classification on a pair of encodings.

    ``y_hat = sigmoid(sum_k w_k |f(x_i)_k - f(x_j)_k| + b)``: a logistic regression on
    the element-wise absolute difference of the two encodings (K = ``encoding_size``).
    Target 1 for the same person, 0 for different people; train it with
    ``F.binary_cross_entropy``.

    Shape: f_i, f_j (N, K) -> (N,) probabilities.
    """

    def __init__(self, encoding_size=128):
        super().__init__()
        self.encoding_size = encoding_size
        self.weight = nn.Parameter(mg.tensor(np.full(encoding_size, -1.0 / encoding_size, dtype=np.float32)))
        self.bias = nn.Parameter(mg.tensor(np.ones(1, dtype=np.float32)))

    def forward(self, f_i, f_j):
        if f_i.shape != f_j.shape or f_i.shape[-1] != self.encoding_size:
            raise ValueError(f"VerificationHead({self.encoding_size}) expects two (N, {self.encoding_size}) "
                             f"encodings, got {tuple(f_i.shape)} and {tuple(f_j.shape)}")
        z = ((f_i - f_j).abs() * self.weight).sum(dim=-1) + self.bias
        return z.sigmoid()
