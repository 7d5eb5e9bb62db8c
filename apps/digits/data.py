"""What every digits command shares: the fixed splits, the augmentation, the model, the schedule, the step and evaluation.

The test split is fixed by ``SPLIT_SEED`` whatever the training seed, so it is never
seen in training: with the 5k digits that install with minigrad it is 100 digits per
class (1,000 images), then 25 per class validate each epoch and the remaining 3,750 train.
Accuracy is counted on the tensors' device (``argmax == label`` summed there); only the
totals come back to the host.
"""

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad.data import Compose, RandomCrop, RandomRotation, RandomShear, load_digits, load_mnist, stratified_split
from models import lenet5

from apps.cli_args import CLIError

SPLIT_SEED = 0            # fixes the held-out test split for every run
TEST_PER_CLASS = 100
VAL_PER_CLASS = 25


def digit_splits(data=None, limit=None, pad=2):
    """(train, val, test) ArrayDatasets of 1x(28+2*pad)^2 images; test is never trained on."""
    if limit is not None and limit < 1:
        raise CLIError(f"--limit must be >= 1, got {limit}")
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


def select(dataset, classes, per_class=None, seed=0):
    """The images of ``classes`` (relabelled 0..k-1), optionally ``per_class`` of each (seeded)."""
    keep = np.flatnonzero(np.isin(dataset.labels, classes))
    subset = dataset.subset(keep)
    if per_class is not None:
        chosen, = stratified_split(subset.labels, [per_class], seed=seed)
        subset = subset.subset(chosen)
    subset.labels = np.searchsorted(np.asarray(classes), subset.labels).astype(np.int64)
    return subset


def augmentation():
    """The course's augmentations that keep a digit a digit: small rotations, shears and shifts."""
    return Compose([RandomRotation(12), RandomShear(0.2), RandomCrop(32, padding=2)])


def make_model(num_classes=10):
    """LeNet-5 with ReLU and max pooling (the modern variant: it trains faster than tanh/avg)."""
    return lenet5(num_classes=num_classes, activation="relu", pooling="max")


def one_cycle(step, total, peak):
    """Learning rate at ``step`` of ``total``: linear warm-up to ``peak`` over 25%, then cosine to ~0."""
    warm = max(1, int(0.25 * total))
    if step < warm:
        return peak * (0.1 + 0.9 * step / warm)
    t = (step - warm) / max(1, total - warm)
    return float(peak * (0.5 * (1 + np.cos(np.pi * t)) + 1e-3))


def classify_step(model, batch):
    """apps.fit's step for classification: cross-entropy, and the count of correct answers kept on the device."""
    images, labels = batch
    logits = model(images)
    correct = (logits.argmax(1) == labels).sum()
    return F.cross_entropy(logits, labels), {"acc": correct}, labels.shape[0]


def evaluate(model, dataset, batch_size=500, device="cpu"):
    """(mean cross-entropy, accuracy, predicted labels as numpy) of ``model`` on an ArrayDataset.

    Loss and correct answers are summed on ``device``; the host gets the totals and the
    predictions (for a confusion matrix) once.
    """
    was_training = model.training
    model.eval()
    loss_sum = correct = None
    predicted = []
    with mg.no_grad():
        for start in range(0, len(dataset), batch_size):
            images = mg.tensor(dataset.images[start:start + batch_size], device=device)
            labels = mg.tensor(dataset.labels[start:start + batch_size], device=device)
            logits = model(images)
            batch_loss = F.cross_entropy(logits, labels) * labels.shape[0]
            guess = logits.argmax(1)
            batch_correct = (guess == labels).sum()
            loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
            correct = batch_correct if correct is None else correct + batch_correct
            predicted.append(guess)
    model.train(was_training)
    if loss_sum is None:
        raise CLIError("nothing to evaluate: the dataset is empty")
    n = len(dataset)
    return float(loss_sum.item()) / n, float(correct.item()) / n, np.concatenate([p.numpy() for p in predicted])


def confusion_matrix(labels, predicted, num_classes=10):
    """cm[i, j] = how many images of class i were predicted as j."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels), np.asarray(predicted)), 1)
    return cm
