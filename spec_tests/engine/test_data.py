"""Tests of minigrad.data: batching, seeded shuffling, the augmentations (M2.13, M2.14) and the digit loaders."""

import gzip
import struct

import numpy as np
import pytest

from minigrad.data import (
    ArrayDataset,
    ColorShift,
    Compose,
    DataLoader,
    Dataset,
    RandomCrop,
    RandomMirror,
    RandomRotation,
    RandomShear,
    load_digits,
    load_mnist,
    read_idx,
    stratified_split,
)


def toy(n=10, c=1, h=6, w=6):
    images = np.arange(n * c * h * w, dtype=np.float32).reshape(n, c, h, w) / (n * c * h * w)
    return ArrayDataset(images, np.arange(n) % 3)


# ----------------------------------------------------------------------------- DataLoader

def test_batches_cover_the_dataset_once_with_a_short_last_batch():
    loader = DataLoader(toy(10), batch_size=4, as_tensor=False)
    batches = list(loader)
    assert len(loader) == 3 and [len(y) for _, y in batches] == [4, 4, 2]
    images = np.concatenate([x for x, _ in batches])
    np.testing.assert_array_equal(images, toy(10).images)


def test_drop_last():
    loader = DataLoader(toy(10), batch_size=4, drop_last=True, as_tensor=False)
    assert len(loader) == 2 and [len(y) for _, y in loader] == [4, 4]


def test_shuffling_is_a_permutation_seeded_and_new_each_epoch():
    ds = toy(50)

    def orders(seed):
        loader = DataLoader(ds, batch_size=7, shuffle=True, seed=seed, as_tensor=False)
        return [np.concatenate([x[:, 0, 0, 0] for x, _ in loader]) for _ in range(2)]

    a, b, c = orders(3), orders(3), orders(4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])          # a new order each epoch
    assert not np.array_equal(a[0], c[0])          # another seed, another order
    np.testing.assert_array_equal(np.sort(a[0]), np.sort(ds.images[:, 0, 0, 0]))


def test_set_epoch_replays_an_epoch_exactly():
    ds = toy(20)
    aug = RandomRotation(20)
    loader = DataLoader(ds, batch_size=5, shuffle=True, seed=9, transform=aug, as_tensor=False)
    first, second = list(loader), list(loader)
    loader.set_epoch(1)
    again = list(loader)
    for (x1, y1), (x2, y2) in zip(second, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][0], second[0][0])


def test_a_plain_dataset_without_get_batch_is_stacked():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((1, 2, 2), i, dtype=np.float32), i * i

    (x, y), = list(DataLoader(Squares(), batch_size=5, as_tensor=False))
    assert x.shape == (5, 1, 2, 2) and list(y) == [0, 1, 4, 9, 16]


def test_bad_batch_size_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(toy(), batch_size=0)


# ----------------------------------------------------------------------------- transforms

TRANSFORMS = [
    lambda seed: RandomMirror(0.5, seed=seed),
    lambda seed: RandomCrop(8, padding=2, seed=seed),
    lambda seed: RandomRotation(30, seed=seed),
    lambda seed: RandomShear(0.3, seed=seed),
    lambda seed: ColorShift(0.2, seed=seed),
]


def batch(n=16, c=3, h=8, w=8, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w), dtype=np.float32)


@pytest.mark.spec("M2.14")
@pytest.mark.parametrize("make", TRANSFORMS)
def test_each_transform_keeps_shape_dtype_and_range_and_is_seeded(make):
    x = batch()
    y1, y2, y3 = make(1)(x), make(1)(x), make(2)(x)
    assert y1.shape == x.shape and y1.dtype == x.dtype
    assert y1.min() >= 0.0 and y1.max() <= 1.0 + 1e-6          # images in [0, 1] stay there
    np.testing.assert_array_equal(y1, y2)                        # same seed, same output
    assert not np.array_equal(y1, y3)                            # another seed, another output
    np.testing.assert_array_equal(x, batch())                    # the input is not modified
    # the rng argument overrides the transform's own generator
    np.testing.assert_array_equal(make(5)(x, rng=np.random.default_rng(7)),
                                  make(6)(x, rng=np.random.default_rng(7)))


@pytest.mark.spec("M2.14")
@pytest.mark.parametrize("make", TRANSFORMS)
def test_labels_pass_through_a_loader_with_augmentation_unchanged(make):
    ds = ArrayDataset(batch(12), np.arange(12))
    plain = DataLoader(ds, batch_size=5, shuffle=True, seed=0, as_tensor=False)
    augmented = DataLoader(ds, batch_size=5, shuffle=True, seed=0, transform=make(0), as_tensor=False)
    for (_, y1), (_, y2) in zip(plain, augmented):
        np.testing.assert_array_equal(y1, y2)


@pytest.mark.spec("M2.13")
def test_mirroring_flips_left_right_and_p_controls_it():
    x = batch()
    np.testing.assert_array_equal(RandomMirror(1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(RandomMirror(0.0)(x), x)
    y = RandomMirror(0.5, seed=0)(x)
    flipped = [np.array_equal(y[i], x[i, ..., ::-1]) for i in range(len(x))]
    kept = [np.array_equal(y[i], x[i]) for i in range(len(x))]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


@pytest.mark.spec("M2.14")
def test_random_crop_cuts_windows_of_the_padded_image():
    x = batch(h=6, w=6)
    y = RandomCrop(4, seed=0)(x)
    assert y.shape == (16, 3, 4, 4)
    for i in range(len(x)):  # every crop is some 4x4 window of its own image
        assert any(np.array_equal(y[i], x[i, :, t:t + 4, l:l + 4]) for t in range(3) for l in range(3))
    shifted = RandomCrop(6, padding=2, seed=0)(x)
    assert shifted.shape == x.shape
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(9)(x)


@pytest.mark.spec("M2.14")
def test_rotation_and_shear_by_zero_are_the_identity_and_rotation_turns_the_image():
    x = batch()
    np.testing.assert_allclose(RandomRotation(0)(x), x, atol=1e-6)
    np.testing.assert_allclose(RandomShear(0)(x), x, atol=1e-6)
    # a 90 degree turn of a square image moves pixels exactly
    turned = RandomRotation(90)(x, rng=_ConstantRng(90.0))
    assert np.allclose(turned, np.rot90(x, 1, axes=(2, 3)), atol=1e-5) or \
        np.allclose(turned, np.rot90(x, -1, axes=(2, 3)), atol=1e-5)


class _ConstantRng:
    """A stand-in generator whose uniform() always returns the top of the range."""

    def __init__(self, value):
        self.value = value

    def uniform(self, low, high, size):
        return np.full(size, self.value)


@pytest.mark.spec("M2.14")
def test_shear_keeps_the_middle_row_and_slants_the_others():
    x = np.zeros((1, 1, 9, 9), dtype=np.float32)
    x[0, 0, :, 4] = 1.0                                # a vertical line
    y = RandomShear(0.5)(x, rng=_ConstantRng(0.5))
    assert y[0, 0, 4, 4] == pytest.approx(1.0)         # the centre row does not move
    assert y[0, 0, 0, 4] < 0.5 and y[0, 0, 8, 4] < 0.5  # the ends of the line do
    assert y.sum() == pytest.approx(x.sum(), abs=1.5)


@pytest.mark.spec("M2.14")
def test_color_shift_moves_each_channel_by_one_offset_within_the_range():
    x = np.full((20, 3, 4, 4), 0.5, dtype=np.float32)
    y = ColorShift(0.1, seed=0)(x)
    offsets = y - x
    assert np.all(np.abs(offsets) <= 0.1 + 1e-6)
    assert np.allclose(offsets, offsets[:, :, :1, :1])   # one offset per image and channel
    assert offsets[:, :, 0, 0].std() > 0.01
    assert ColorShift(0.6, seed=0)(x).max() <= 1.0       # clipped to [0, 1]


def test_compose_applies_in_order():
    x = batch()
    both = Compose([RandomMirror(1.0), ColorShift(0.0)])(x)
    np.testing.assert_array_equal(both, x[..., ::-1])


# ----------------------------------------------------------------------------- the digits

def test_digits_ship_with_the_install_500_per_class():
    ds = load_digits()
    assert ds.images.shape == (5000, 1, 28, 28) and ds.images.dtype == np.float32
    assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(ds.labels), [500] * 10)
    assert load_digits(pad=2).images.shape == (5000, 1, 32, 32)


def test_missing_digits_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="digits file not found"):
        load_digits(path=str(tmp_path / "nope.csv.gz"))


def test_stratified_split_is_disjoint_per_class_and_seeded():
    labels = np.repeat(np.arange(10), 50)
    test, train = stratified_split(labels, [10, None], seed=0)
    assert len(test) == 100 and len(train) == 400 and not set(test) & set(train)
    np.testing.assert_array_equal(np.bincount(labels[test]), [10] * 10)
    np.testing.assert_array_equal(test, stratified_split(labels, [10, None], seed=0)[0])


def write_idx(path, array, code):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    dtype = {0x08: ">u1", 0x0C: ">i4"}[code]
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(dtype).tobytes())


def test_idx_reader_and_mnist_folder(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, size=7).astype(np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images, 0x08)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, 0x08)
    np.testing.assert_array_equal(read_idx(tmp_path / "t10k-images-idx3-ubyte.gz"), images)
    wide = np.array([[1, -2], [70000, 3]], dtype=np.int32)
    write_idx(tmp_path / "ints.idx", wide, 0x0C)
    np.testing.assert_array_equal(read_idx(tmp_path / "ints.idx"), wide)

    ds = load_mnist(str(tmp_path), split="test")
    assert ds.images.shape == (7, 1, 28, 28)
    np.testing.assert_allclose(ds.images[:, 0] * 255, images, atol=1e-3)
    np.testing.assert_array_equal(ds.labels, labels)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(str(tmp_path), split="train")


def test_corrupt_idx_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x12\x34\x56\x78rest")
    with pytest.raises(ValueError, match="not an idx file"):
        read_idx(bad)
    short = tmp_path / "short-idx"
    short.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">i", 10) + b"abc")
    with pytest.raises(ValueError, match="10"):
        read_idx(short)
