"""Training the encoder: triplet loss with online semi-hard mining, or the binary verification head with BCE.

Each step draws P identities from the 50 training faces and K fresh views of each
(a "P x K" batch), encodes all P*K views with the one shared network, and then:

- ``triplet``: for every anchor-positive pair (a, p) of one identity, picks in the same
  batch a *semi-hard* negative n (FaceNet's choice): farther than the positive but
  within the margin, d(a, p) < d(a, n) < d(a, p) + alpha; the closest such one. Pairs
  without one are skipped (their loss would be 0 or would come from a hard negative,
  which early in training collapses the encodings). The loss is ``F.triplet_loss``
  averaged over the chosen triplets.
- ``binary``: every anchor-positive pair (target 1) and as many anchor-negative pairs
  with a random negative (target 0) go through ``VerificationHead`` on
  |f(x_i) - f(x_j)|, trained with ``F.binary_cross_entropy``.

The loop itself is ``apps.fit.fit`` (progress bar, per-epoch checkpoint, --resume, NaN
guard). The final weights, with the threshold tau measured on the unseen identities,
are written only when the run completes.

``distributed`` (``--distributed`` under ``mpiexec``): data-parallel, as FaceNet-style
training does it with PyTorch's DDP. Each rank draws its own P x K batch from a stream
seeded by (seed, epoch, rank), so the ranks see different identities and views, and mines
its triplets (or draws its binary negatives) inside that batch; DDP averages the ranks'
gradients. There is no single-process run this equals: W ranks mine W separate batches of
P x K, not one of W x P x K (a negative is only ever sought among the rank's own P
identities). Rank 0's stream is the single process's (seed, epoch), so one rank gives
exactly the run without ``--distributed``. Rank 0 alone evaluates the encoder (tau) and
writes every file.
"""

import dataclasses
import math

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
import minigrad.functional as F
from apps.faces.data import TRAIN_IDS, UNSEEN_IDS, augment, load_lfw_faces
from apps.faces.encoder import WEIGHTS, FaceEncoder, FaceNet, standardise
from apps.faces.eval import evaluate
from apps.faces.formulas import VerificationHead
from apps.fit import data_parallel_line, fit, join_job, no_log
from minigrad import nn, optim

LOSSES = ("triplet", "binary")


@dataclasses.dataclass
class TrainConfig:
    loss: str = "triplet"
    epochs: int = 20
    steps: int = 50             # steps per epoch
    identities: int = 25        # P: identities per batch
    views: int = 4              # K: views of each identity per batch
    lr: float = 3e-3
    margin: float = 0.2         # alpha of the triplet loss
    seed: int = 0
    out: str = "runs/faces"     # checkpoint.npz goes here
    weights: str = str(WEIGHTS)  # the final encoder
    resume: bool = False
    progress: bool = True
    train_ids: tuple = tuple(int(i) for i in TRAIN_IDS)
    eval_ids: tuple = tuple(int(i) for i in UNSEEN_IDS)   # the identities the final numbers (and tau) come from
    distributed: bool = False   # data-parallel over the ranks mpiexec/srun started: each rank its own P x K batch


def semihard_triplets(encodings, labels, margin):
    """(anchors, positives, negatives) indices of the semi-hard triplets of one batch.

    For each ordered pair (a, p), a != p with labels[a] == labels[p], the negative is the
    n with labels[n] != labels[a] and d(a, p) < d(a, n) < d(a, p) + margin that has the
    smallest d(a, n); a pair with no such n is left out. d is the squared distance.
    """
    e = np.asarray(encodings, dtype=np.float64)
    labels = np.asarray(labels)
    sq = (e * e).sum(axis=1)
    d = np.maximum(sq[:, None] + sq[None, :] - 2 * e @ e.T, 0)
    same = labels[:, None] == labels[None, :]
    a_idx, p_idx = np.nonzero(same & ~np.eye(len(e), dtype=bool))
    d_ap = d[a_idx, p_idx][:, None]
    d_an = d[a_idx]                                              # (pairs, B)
    ok = ~same[a_idx] & (d_an > d_ap) & (d_an < d_ap + margin)
    candidates = np.where(ok, d_an, np.inf)
    n_idx = np.argmin(candidates, axis=1)
    keep = np.isfinite(candidates[np.arange(len(a_idx)), n_idx])
    return a_idx[keep], p_idx[keep], n_idx[keep]


def _rows(encodings, indices):
    """encodings[indices] as a differentiable product with a one-hot selection matrix (M, B) @ (B, d)."""
    pick = np.zeros((len(indices), encodings.shape[0]), dtype=encodings.dtype)
    pick[np.arange(len(indices)), indices] = 1
    return mg.tensor(pick) @ encodings


class Siamese(nn.Module):
    """The encoder and, for the binary loss, the verification head: one module so one checkpoint holds both."""

    def __init__(self, with_head=False):
        super().__init__()
        self.encoder = FaceNet()
        self.head = VerificationHead(self.encoder.encoding_size) if with_head else None

    def forward(self, x):
        return self.encoder(x)


class PKBatches:
    """Batches of P identities x K fresh views; epoch e is a pure function of (seed, e), as --resume needs.

    ``rank`` r > 0 (a data-parallel run's other ranks) draws from (seed, e, r) instead: its own
    identities and views, the same on any number of ranks; rank 0's stream is the single process's.
    """

    def __init__(self, faces, ids, identities, views, steps, seed, rank=0):
        self.faces, self.ids = faces, np.asarray(ids)
        self.p, self.k, self.steps, self.seed = min(identities, len(self.ids)), views, steps, seed
        self.rank = int(rank)
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return self.steps

    def __iter__(self):
        epoch = self.epoch
        by_rank = [self.rank] if self.rank else []      # rank 0 keeps the single process's seeds
        rng = np.random.default_rng([self.seed, epoch] + by_rank)
        self.epoch += 1
        for index in range(self.steps):
            chosen = rng.choice(self.ids, size=self.p, replace=False)
            labels = np.repeat(chosen, self.k)
            # The last item seeds whatever the step draws (the binary loss's negatives), so --resume replays it.
            yield standardise(augment(self.faces[labels], rng)), labels, [self.seed, epoch, index, 7] + by_rank


def triplet_step(margin):
    def step(model, batch):
        images, labels, _ = batch
        enc = model(mg.tensor(images))
        a, p, n = semihard_triplets(enc.detach().numpy(), labels, margin)
        if len(a) == 0:                    # nothing semi-hard: a zero loss that still has a graph
            return (enc * 0).sum(), {"triplets": 0}, len(labels)
        loss = F.triplet_loss(_rows(enc, a), _rows(enc, p), _rows(enc, n), margin=margin, reduction="mean")
        return loss, {"triplets": len(a)}, len(labels)

    return step


def binary_step():
    def step(model, batch):
        images, labels, batch_seed = batch
        rng = np.random.default_rng(batch_seed)
        enc = model(mg.tensor(images))
        same = labels[:, None] == labels[None, :]
        a_pos, p_pos = np.nonzero(same & ~np.eye(len(labels), dtype=bool))
        others = [np.flatnonzero(labels != labels[i]) for i in a_pos]
        n_neg = np.array([rng.choice(o) for o in others])
        left = np.concatenate([a_pos, a_pos])
        right = np.concatenate([p_pos, n_neg])
        target = np.concatenate([np.ones(len(a_pos)), np.zeros(len(a_pos))]).astype(np.float32)
        prob = model.head(_rows(enc, left), _rows(enc, right))
        loss = F.binary_cross_entropy(prob, mg.tensor(target))
        correct = float(((prob.detach().numpy() > 0.5) == (target > 0.5)).sum())
        return loss, {"pair_acc": correct * len(labels) / len(target)}, len(labels)

    return step


def pair_distance_of(head):
    """The binary head as a distance for evaluation: d(q, g) = 1 - p(same | q, g) for every query-gallery pair."""
    def pair_distance(query, gallery):
        q, g = len(query), len(gallery)
        left = np.repeat(query, g, axis=0)
        right = np.tile(gallery, (q, 1))
        with mg.no_grad():
            p = head(mg.tensor(left), mg.tensor(right)).numpy()
        return (1 - p).reshape(q, g).astype(np.float64)

    return pair_distance


def build(config, rank=0):
    """(model, optimizer, loader, step, meta) for a config: what fit needs (the loader of rank ``rank``)."""
    if config.loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {config.loss!r}")
    mg.manual_seed(config.seed)
    np.random.seed(config.seed)
    model = Siamese(with_head=config.loss == "binary")
    opt = optim.Adam(model.parameters(), lr=config.lr)
    loader = PKBatches(load_lfw_faces(), config.train_ids, config.identities, config.views, config.steps, config.seed,
                       rank)
    step = triplet_step(config.margin) if config.loss == "triplet" else binary_step()
    meta = {k: getattr(config, k) for k in ("loss", "epochs", "steps", "identities", "views", "lr", "margin", "seed")}
    return model, opt, loader, step, meta


def cosine_lr(total, peak):
    """Learning rate at each step: a short linear warm-up (5%), then a cosine down to 1% of the peak."""
    warm = max(1, total // 20)

    def lr_at(step):
        if step < warm:
            return peak * (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))

    return lr_at


def train(config, log=print, write=True):
    """Train, evaluate on the unseen identities, write the weights (with tau); returns (encoder, metrics, fit result).

    With ``config.distributed`` on several ranks, only rank 0 evaluates and writes: the others return
    (encoder, None, fit result), their encoder holding the same weights (and batch-norm statistics) as rank 0's.
    """
    import os

    _, rank = join_job(config.distributed)
    if rank:
        log = no_log        # one log, one set of files: rank 0's
    model, opt, loader, step, meta = build(config, rank)
    if config.distributed:
        log(data_parallel_line(loader.p * loader.k, f" (each rank draws its own {loader.p} identities x "
                                                     f"{loader.k} views)"))
        model = dist.DistributedDataParallel(model)
    net = model.module if config.distributed else model
    checkpoint = os.path.join(config.out, f"checkpoint-{config.loss}.npz") if config.out else None
    result = fit(model, opt, loader, step, epochs=config.epochs, checkpoint=checkpoint, resume=config.resume,
                 meta=meta, lr_at=cosine_lr(config.epochs * config.steps, config.lr), progress=config.progress,
                 log=log, desc=f"faces {config.loss}")
    if config.distributed:   # each rank's last forward moved its own batch-norm statistics: end with rank 0's
        dist.broadcast_tensors(list(net.buffers()), what="broadcast of the final buffers")
    net.eval()
    encoder = FaceEncoder(net.encoder, meta=dict(meta, train_seconds=round(result.seconds, 1)))
    if rank:                # the ranks hold the same weights: rank 0's figures are everyone's
        return encoder, None, result
    pair_distance = pair_distance_of(net.head) if net.head is not None else None
    ids = list(config.eval_ids)
    metrics = evaluate(encoder.encode_batch, pair_distance, ids=ids)
    # tau is for the encoder's squared distance; with the binary head it is measured on that distance too.
    encoder.tau = metrics["tau"] if pair_distance is None else evaluate(encoder.encode_batch, ids=ids)["tau"]
    if write and config.weights:
        encoder.meta.update({k: metrics[k] for k in ("auc", "tar_far_1e-2", "tar_far_1e-3", "rank1")})
        encoder.save(config.weights)
    return encoder, metrics, result
