"""Landmark detection (module 3): a network outputs point coordinates; their loss, and how mirroring moves them.

A landmark network ends in 2L numbers, (l_1x, l_1y, ..., l_Lx, l_Ly), normalised to the
image (0..1, x to the right, y down). It is trained with the mean squared error
against the labelled points. Mirroring an image (a data augmentation the course
recommends) maps x to 1 - x and, since the left eye becomes the right eye, also
swaps the labels of left/right pairs.
"""

import numpy as np

import minigrad as mg

__all__ = ["landmark_loss", "mirror_landmarks"]


def landmark_loss(predicted, target):
    """Mean squared error between predicted and labelled landmarks: mean over all (l_x, l_y) of (l_hat - l)^2.

    ``predicted`` a Tensor (N, 2L) or (N, L, 2); ``target`` the same shape (Tensor or array).
    Differentiable with respect to ``predicted``.
    """
    if not isinstance(target, mg.Tensor):
        target = mg.tensor(np.asarray(target, dtype=predicted.dtype))
    if tuple(predicted.shape) != tuple(target.shape):
        raise ValueError(f"predicted and target landmarks must have the same shape: {tuple(predicted.shape)} "
                         f"and {tuple(target.shape)}")
    return ((predicted - target) ** 2).mean()


def mirror_landmarks(points, pairs=()):
    """Landmarks of the horizontally mirrored image: x -> 1 - x, y unchanged, left/right pairs swapped.

    ``points`` (..., L, 2) normalised (x, y); ``pairs`` index pairs (i, j) of landmarks that
    trade places under mirroring, e.g. ((0, 1),) for (left eye, right eye). Returns numpy.
    """
    p = np.array(points.numpy() if isinstance(points, mg.Tensor) else points, dtype=np.float64)
    if p.ndim < 2 or p.shape[-1] != 2:
        raise ValueError(f"points must be (..., L, 2) (x, y) pairs, got shape {p.shape}")
    p[..., 0] = 1.0 - p[..., 0]
    for i, j in pairs:
        p[..., [i, j], :] = p[..., [j, i], :]
    return p
