"""How well the encoder recognises faces it never trained on: ROC, AUC, TAR at a given FAR, rank-1, and tau.

The protocol (the issue's bars): each of the 50 unseen identities (faces 50-99) is
enrolled with one view and queried with 5 other views. Verification compares every
query with every enrolled face: 250 genuine pairs and 12,250 impostor pairs.
Identification gives each query the enrolled face nearest to it (rank-1).

Everything here is in terms of a distance d (smaller = more alike): a pair is
accepted when d <= t. TAR(t) = genuine pairs accepted, FAR(t) = impostor pairs accepted.
A score where higher means "same" (the binary head's probability p) enters as d = 1 - p.
"""

import os
import tempfile

import numpy as np

from apps.faces.data import UNSEEN_IDS, load_lfw_faces, views_of
from apps.faces.formulas import distance

EVAL_SEED = 12345          # fixes the evaluation views whatever the training seed
ENROLLED_VIEWS, QUERY_VIEWS = 1, 5


def roc_curve(genuine, impostor):
    """(far, tar, thresholds): one point per distinct distance t (accept d <= t), from (0, 0) to (1, 1)."""
    genuine, impostor = np.sort(np.ravel(genuine)), np.sort(np.ravel(impostor))
    if genuine.size == 0 or impostor.size == 0:
        raise ValueError(f"roc_curve: need genuine and impostor distances, got {genuine.size} and {impostor.size}")
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    tar = np.searchsorted(genuine, thresholds, side="right") / genuine.size
    far = np.searchsorted(impostor, thresholds, side="right") / impostor.size
    return (np.concatenate([[0.0], far]), np.concatenate([[0.0], tar]),
            np.concatenate([[-np.inf], thresholds]))


def auc(genuine, impostor):
    """Area under the ROC curve = P(a genuine pair is closer than an impostor pair), ties counting one half."""
    genuine, impostor = np.ravel(genuine), np.sort(np.ravel(impostor))
    if genuine.size == 0 or impostor.size == 0:
        raise ValueError(f"auc: need genuine and impostor distances, got {genuine.size} and {impostor.size}")
    farther = impostor.size - np.searchsorted(impostor, genuine, side="right")
    ties = np.searchsorted(impostor, genuine, side="right") - np.searchsorted(impostor, genuine, side="left")
    return float((farther + 0.5 * ties).sum() / (genuine.size * impostor.size))


def threshold_at_far(impostor, far):
    """The largest t that accepts at most floor(far * n) of the n impostor pairs (accept d <= t)."""
    impostor = np.sort(np.ravel(impostor))
    allowed = int(np.floor(far * impostor.size + 1e-9))
    if allowed >= impostor.size:
        return float(impostor[-1])
    # Anything strictly below the (allowed+1)-th smallest impostor distance lets at most `allowed` in.
    return float(np.nextafter(impostor[allowed], -np.inf))


def tar_at_far(genuine, impostor, far):
    """(TAR, t): the share of genuine pairs accepted at the threshold t = threshold_at_far(impostor, far)."""
    t = threshold_at_far(impostor, far)
    return float(np.mean(np.ravel(genuine) <= t)), t


def rank1(query, query_labels, gallery, gallery_labels):
    """Share of queries whose nearest gallery encoding (squared distance) has the query's label."""
    d = distance(np.asarray(query)[:, None, :], np.asarray(gallery)[None, :, :])
    nearest = np.asarray(gallery_labels)[np.argmin(d, axis=1)]
    return float(np.mean(nearest == np.asarray(query_labels)))


def protocol_views(ids=UNSEEN_IDS, seed=EVAL_SEED):
    """(enrolled (K, 1, S, S), queries (K * 5, 1, S, S), query labels) for identities ``ids``."""
    faces = load_lfw_faces()[ids]
    views = views_of(faces, ENROLLED_VIEWS + QUERY_VIEWS, seed)
    enrolled = views[:, 0]
    queries = views[:, 1:].reshape(-1, *views.shape[2:])
    return enrolled, queries, np.repeat(np.arange(len(ids)), QUERY_VIEWS)


def pair_distances(query_enc, query_labels, gallery_enc, pair_distance=None):
    """(genuine, impostor) distances of every query against every enrolled identity (gallery row k = label k)."""
    if pair_distance is None:
        d = distance(query_enc[:, None, :], gallery_enc[None, :, :])
    else:
        d = pair_distance(query_enc, gallery_enc)
    same = np.asarray(query_labels)[:, None] == np.arange(len(gallery_enc))[None, :]
    return d[same], d[~same], d


def evaluate(encode_batch, pair_distance=None, ids=UNSEEN_IDS, seed=EVAL_SEED):
    """The protocol's numbers for an encoder: dict of auc, tar@1e-2, tar@1e-3, rank1, tau and the ROC arrays.

    encode_batch: (N, 1, S, S) views -> (N, d) encodings.
    pair_distance(queries (Q, d), gallery (G, d)) -> (Q, G) distances; default the squared
        distance (the binary head passes 1 - p).
    tau is the threshold at FAR = 1e-2 on these impostor pairs.
    """
    enrolled, queries, labels = protocol_views(ids, seed)
    gallery_enc, query_enc = encode_batch(enrolled), encode_batch(queries)
    genuine, impostor, d = pair_distances(query_enc, labels, gallery_enc, pair_distance)
    tar2, tau = tar_at_far(genuine, impostor, 1e-2)
    tar3, _ = tar_at_far(genuine, impostor, 1e-3)
    far, tar, _ = roc_curve(genuine, impostor)
    return {"auc": auc(genuine, impostor), "tar_far_1e-2": tar2, "tar_far_1e-3": tar3,
            "rank1": float(np.mean(np.argmin(d, axis=1) == labels)), "tau": tau,
            "genuine_pairs": int(genuine.size), "impostor_pairs": int(impostor.size),
            "roc": (far, tar)}


def plot_roc(curves, path, title="Face verification on 50 unseen identities"):
    """Write a ROC PNG (log FAR axis) of ``curves``: {label: (far, tar)}; atomic (temp file, os.replace)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 3.4), dpi=100)
    for label, (far, tar) in curves.items():
        ax.step(np.maximum(far, 1e-5), tar, where="post", label=label)
    for level in (1e-3, 1e-2):
        ax.axvline(level, color="0.8", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate (impostor pairs)")
    ax.set_ylabel("true accept rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=directory)
    os.close(fd)
    try:
        fig.savefig(tmp)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
