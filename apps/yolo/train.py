"""Training the detector: anchors by k-means, fresh digit scenes every epoch, the YOLO loss, through ``apps.fit`` (progress, checkpoint per epoch, --resume).

With ``data`` (``--data DIR``) it trains on a user's labelled folder instead
(``apps.yolo.scenes.load_folder``; each image letterboxed to 96 x 96), every image once an epoch.

``train(config)`` runs the whole job: k-means anchors from the boxes of 2,000 training
scenes, then ``epochs`` passes of ``scenes`` new training scenes each (scene ``i`` of
epoch ``e`` is a pure function of (seed, e, i), so ``--resume`` replays exactly), Adam
with a short warm-up and a cosine decay, mAP@0.5 on 100 validation scenes after each
epoch, and at the end the weights (only when the run completed) and the test mAPs.

``distributed`` (``--distributed`` under ``mpiexec``): data-parallel, as PyTorch's DDP.
``batch_size`` is per rank; each global batch of ranks x batch_size scenes (or images of
the ``data`` folder) is the one a single process with that batch size draws, and rank r
takes its positions r, r + W, r + 2W ... (W ranks), as ``minigrad.data.DistributedSampler``
does. So every step sees the same scenes, and the loss (a mean over the batch on each
rank, whose gradients DDP averages) is the mean over the global batch. One difference
remains: batch norm normalises with each rank's own batch statistics (no SyncBatchNorm),
so W ranks x b are exactly one process x W*b whose batch norm sees each rank's share
apart, not one process with batch W*b (spec_tests/apps/test_trainers_distributed.py
checks both). Rank 0 computes the anchors and sends them, validates, tests and writes
every file.
"""

import dataclasses
import math
import os
import time

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
from apps.cli_args import CLIError
from apps.fit import data_parallel_line, fit, join_job, no_log, replace_weights
from apps.yolo.anchors import kmeans_anchors
from apps.yolo.formulas import corners_to_center, encode_targets
from apps.yolo.loss import yolo_loss
from apps.yolo.model import INPUT_SIZE, N_CLASSES, STRIDE, YoloNet
from apps.yolo.scenes import FolderSet, SceneSet, digit_pools
from minigrad import optim

GRID = INPUT_SIZE // STRIDE


@dataclasses.dataclass
class TrainConfig:
    out: str = "runs/yolo"
    weights: str = None       # where the final weights go (default: OUT/yolo.npz)
    epochs: int = 15
    scenes: int = 2000        # new training scenes per epoch
    batch_size: int = 32
    lr: float = 2e-3
    anchors: int = 3
    data: str = None          # a labelled folder (apps.yolo.scenes.load_folder) instead of digit scenes
    rescore: bool = True      # objectness target IoU(box, truth) instead of 1 (apps.yolo.loss)
    seed: int = 0
    resume: bool = False
    val_scenes: int = 100
    test_scenes: int = 500
    anchor_scenes: int = 2000  # training scenes whose boxes k-means clusters into the anchors
    progress: bool = True
    distributed: bool = False  # data-parallel over the ranks mpiexec/srun started; batch_size is per rank


def scene_targets(anchors_hw):
    """The function a SceneSet uses to turn (boxes in px, classes) into the (S, S, B, 5 + C) target (encode_targets)."""
    def target(boxes, classes):
        centres = corners_to_center(np.asarray(boxes, np.float64) / INPUT_SIZE)
        return encode_targets(centres, classes, GRID, anchors_hw, N_CLASSES).astype(np.float32)
    return target


def box_shapes(scene_set, n):
    """(h, w) of every box in the first ``n`` scenes, as fractions of the image."""
    boxes = np.concatenate([scene_set.scene(i)[1] for i in range(min(n, len(scene_set)))]) / INPUT_SIZE
    return np.stack([boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]], axis=1)


def training_anchors(k, seed=0, pools=None, n=2000):
    """k-means anchors from the boxes of ``n`` training scenes (what `minigrad yolo anchors` shows)."""
    shapes = box_shapes(SceneSet("train", n, seed=seed, pools=pools), n)
    anchors, mean_iou = kmeans_anchors(shapes, k, seed=seed)
    return anchors, mean_iou, shapes


class FreshScenes:
    """A loader of ``per_epoch`` new scenes each epoch: epoch e uses scenes e * per_epoch ... (e + 1) * per_epoch - 1,
    in an order fixed by (seed, e); batches are (images tensor, targets numpy).

    With ``num_replicas`` W > 1 it is rank ``rank``'s loader: the epoch's order is cut into global
    batches of W x batch_size, and this rank takes positions rank, rank + W, ... of each, so the
    ranks' shares of a step are disjoint, equal and together the batch one process with
    batch_size W x batch_size draws. Steps per epoch: per_epoch // (batch_size x W).
    """

    def __init__(self, scene_set, per_epoch, batch_size, seed, num_replicas=1, rank=0):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"FreshScenes: rank must be in [0, num_replicas), got rank {rank}, "
                             f"num_replicas {num_replicas}")
        self.scene_set, self.per_epoch, self.batch_size, self.seed, self.epoch = scene_set, per_epoch, batch_size, seed, 0
        self.num_replicas, self.rank = num_replicas, rank

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return self.per_epoch // (self.batch_size * self.num_replicas)

    def indices(self, epoch):
        """This rank's scene indices of ``epoch``, in the order its batches take them."""
        order = np.random.default_rng([self.seed, epoch]).permutation(self.per_epoch) + epoch * self.per_epoch
        used = order[:len(self) * self.batch_size * self.num_replicas]     # whole global batches only
        return used[self.rank::self.num_replicas]

    def __iter__(self):
        mine = self.indices(self.epoch)
        self.epoch += 1
        for start in range(0, len(mine), self.batch_size):
            images, targets = self.scene_set.get_batch(mine[start:start + self.batch_size])
            yield mg.tensor(images), targets


def warmup_cosine(total, peak, warmup=50, floor=0.02):
    """Learning rate at a step: linear warm-up, then a cosine from ``peak`` down to ``floor * peak``."""
    def lr_at(step):
        if step < warmup:
            return peak * (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
    return lr_at


def evaluate_scenes(detector, scene_set, score_threshold=0.01):
    """mAP figures of ``detector`` (an apps.yolo.detect.Detector) on every scene of ``scene_set``."""
    from apps.yolo.metrics import evaluate_detections

    detections, truths = detect_scenes(detector, scene_set, score_threshold)
    return evaluate_detections(detections, truths, N_CLASSES), detections, truths


def detect_scenes(detector, scene_set, score_threshold=0.01, progress=False):
    """(detections in px, truths in px) over a SceneSet, in batches, without letterboxing (scenes are 96 x 96)."""
    from apps.fit import progress_bar

    detections, truths = [], []
    for start in progress_bar(range(0, len(scene_set), 64), "detect", progress):
        indices = range(start, min(start + 64, len(scene_set)))
        scenes = [scene_set.scene(i) for i in indices]
        batch = np.stack([s[0] for s in scenes])[:, None]
        for boxes, scores, classes in detector.predict_batch(batch, score_threshold):
            detections.append((boxes * INPUT_SIZE, scores, classes))
        truths += [(s[1], s[2]) for s in scenes]
    return detections, truths


def train(config, log=print):
    """Train, checkpoint each epoch, then write the weights and report test mAP; returns a dict of results."""
    from apps.yolo.detect import Detector

    ranks, rank = join_job(config.distributed)
    writer = rank == 0
    if not writer:
        log = no_log        # one log, one set of files: rank 0's
    mg.manual_seed(config.seed)
    global_batch = config.batch_size * ranks
    if config.data:                                   # a user's labelled folder: its images every epoch
        train_set, val_set, pools = FolderSet(config.data), None, None
        per_epoch = max(len(train_set), global_batch)
    else:
        pools = digit_pools()
        train_set = SceneSet("train", config.scenes * config.epochs, seed=config.seed, pools=pools)
        per_epoch, val_set = config.scenes, SceneSet("val", config.val_scenes, seed=0, pools=pools)
    if config.distributed and per_epoch < global_batch:
        raise CLIError(f"--scenes {per_epoch} is fewer than one global batch: {ranks} ranks x --batch-size "
                       f"{config.batch_size}")
    if writer:
        os.makedirs(config.out, exist_ok=True)
    # Rank 0 clusters and sends: every rank must encode its targets with the same anchors.
    anchors, mean_iou = _anchors(config, train_set, pools) if writer else (None, None)
    if ranks > 1:
        anchors, mean_iou = dist.broadcast_object((anchors, mean_iou), what="broadcast of the anchors")
    log(f"anchors (h, w) x {INPUT_SIZE} px: {np.round(anchors * INPUT_SIZE, 1).tolist()} (mean IoU {mean_iou:.3f})")
    net = YoloNet(anchors)
    train_set.target_fn = scene_targets(anchors)
    loader = FreshScenes(train_set, per_epoch, config.batch_size, config.seed, ranks, rank)
    opt = optim.Adam(net.parameters(), lr=config.lr)
    model = net
    if config.distributed:
        log(data_parallel_line(config.batch_size))
        model = dist.DistributedDataParallel(net)
    total = len(loader) * config.epochs

    def step(model, batch):
        images, targets = batch
        loss, parts = yolo_loss(model(images), targets, net.anchors, rescore=config.rescore)
        n = images.shape[0]
        return loss, {name: value * n for name, value in parts.items()}, n

    def validate(model):
        if not writer:        # the ranks hold the same weights: rank 0's figures are everyone's
            return {}
        result = evaluate_scenes(Detector(net), val_set)[0]
        net.train()
        return {"map50": result["map50"], "map": result["map"]}

    meta = {"seed": config.seed, "epochs": config.epochs, "scenes": config.scenes, "batch_size": config.batch_size,
            "lr": config.lr, "anchors": config.anchors, "rescore": config.rescore}
    if config.data:
        meta["data"] = os.path.abspath(config.data)
    start = time.perf_counter()
    result = fit(model, opt, loader, step, epochs=config.epochs, checkpoint=os.path.join(config.out, "checkpoint.npz"),
                 resume=config.resume, meta=meta, lr_at=warmup_cosine(total, config.lr),
                 validate=validate if val_set is not None else None,
                 progress=config.progress, log=log, desc="yolo epoch")
    seconds = time.perf_counter() - start
    if not writer:
        return {"seconds": seconds, "weights": None, "test": None, "history": result.history}
    weights = config.weights or os.path.join(config.out, "yolo.npz")
    replace_weights(net.state_dict(), weights)
    log(f"trained {result.epoch} epochs ({result.step} steps) in {seconds:.0f} s; weights -> {weights}")
    if config.data:
        return {"seconds": seconds, "weights": weights, "test": None, "history": result.history}
    test = evaluate_scenes(Detector(net.eval()), SceneSet("test", config.test_scenes, seed=0, pools=pools))[0]
    log(f"test ({config.test_scenes} scenes of held-out digits): mAP@0.5 {test['map50']:.3f}, "
        f"mAP@0.5:0.95 {test['map']:.3f}")
    return {"seconds": seconds, "weights": weights, "test": test, "history": result.history}


def _anchors(config, train_set, pools):
    """(anchors, mean IoU): k-means on the folder's boxes, or on those of ``config.anchor_scenes`` training scenes."""
    if config.data:
        return kmeans_anchors(box_shapes(train_set, len(train_set)), config.anchors, seed=config.seed)
    anchors, mean_iou, _ = training_anchors(config.anchors, config.seed, pools, n=config.anchor_scenes)
    return anchors, mean_iou
