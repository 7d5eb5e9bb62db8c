"""apps.faces: semi-hard mining, the triplet loss's gradient, ROC/AUC/TAR@FAR by hand, views, the encoder's inputs, the database."""

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from apps.cli_args import CLIError
from apps.faces.data import augment, load_lfw_faces, read_image, read_people, to_gray_square, views_of
from apps.faces.database import DatabaseError, FaceDatabase
from apps.faces.encoder import FaceEncoder, FaceNet, as_batch
from apps.faces.eval import auc, rank1, roc_curve, tar_at_far, threshold_at_far
from apps.faces.train import semihard_triplets


# ----- semi-hard mining ----------------------------------------------------------------------------------

def test_semihard_picks_the_closest_negative_farther_than_the_positive_within_the_margin():
    # 1-D encodings (padded to 2-D): anchor 0 and positive 1 are 0.1 apart, so d(a, p) = 0.01.
    # Negatives: 2 is closer than the positive (hard), 3 and 4 are semi-hard (0.01 < d < 0.01 + 0.2),
    # 5 is beyond the margin (easy). The closest semi-hard one is 3.
    x = np.array([0.0, 0.1, 0.05, 0.2, 0.4, 2.0])
    enc = np.stack([x, np.zeros_like(x)], axis=1)
    labels = np.array([0, 0, 1, 2, 3, 4])
    a, p, n = semihard_triplets(enc, labels, margin=0.2)
    chosen = dict(((int(i), int(j)), int(k)) for i, j, k in zip(a, p, n))
    assert chosen[(0, 1)] == 3
    # Anchor 1, positive 0: d(a, p) = 0.01; negative 2 at 0.0025 is hard, 3 at 0.01 ties (not farther),
    # 4 at 0.09 is semi-hard: it is picked.
    assert chosen[(1, 0)] == 4
    assert len(a) == 2                     # only the one identity with two views gives pairs


def test_semihard_skips_pairs_without_a_semihard_negative():
    enc = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0]])   # the only negative is far beyond the margin
    a, p, n = semihard_triplets(enc, np.array([0, 0, 1]), margin=0.2)
    assert len(a) == len(p) == len(n) == 0


# ----- the triplet loss ---------------------------------------------------------------------------------

@pytest.mark.parametrize("margin", [0.2, 0.0, -0.3])
def test_triplet_loss_gradient_matches_finite_differences(margin):
    rng = np.random.default_rng(1)
    a, p, n = (mg.tensor(rng.normal(size=(3, 4)), requires_grad=True) for _ in range(3))
    assert a.dtype == np.float64
    assert mg.gradcheck(lambda a, p, n: F.triplet_loss(a, p, n, margin=margin), (a, p, n))


def test_triplet_loss_takes_a_negative_margin_as_the_course_formula_says():
    a, p, n = mg.tensor([[0.0, 0.0]]), mg.tensor([[1.0, 0.0]]), mg.tensor([[0.0, 2.0]])
    # d(a, p) - d(a, n) + alpha = 1 - 4 + alpha: zero for alpha = -1, 2 for alpha = 5
    assert F.triplet_loss(a, p, n, margin=-1.0).item() == 0
    assert F.triplet_loss(a, p, n, margin=5.0).item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="margin"):
        F.triplet_loss(a, p, n, margin=float("nan"))


# ----- ROC, AUC, TAR at FAR, rank-1 (worked by hand) -----------------------------------------------------

def test_roc_and_auc_on_a_hand_worked_case():
    genuine = np.array([0.1, 0.4])
    impostor = np.array([0.2, 0.3, 0.5, 0.6])
    # genuine 0.1 beats all 4 impostors, 0.4 beats 2 of them: AUC = (4 + 2) / 8
    assert auc(genuine, impostor) == pytest.approx(0.75)
    far, tar, t = roc_curve(genuine, impostor)
    assert list(far) == [0, 0, 0.25, 0.5, 0.5, 0.75, 1.0]
    assert list(tar) == [0, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0]
    assert np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2) == pytest.approx(0.75)      # the curve's area is the same number


def test_auc_counts_ties_as_one_half_and_is_one_for_perfect_separation():
    assert auc([0.5], [0.5]) == pytest.approx(0.5)
    assert auc([0.1, 0.2], [0.3, 0.9]) == 1.0
    assert auc([0.9], [0.1]) == 0.0


def test_tar_at_far_on_a_hand_worked_case():
    impostor = np.arange(1, 101) / 100.0        # 0.01 ... 1.00
    genuine = np.array([0.005, 0.015, 0.025, 0.5])
    # FAR 1e-2 allows 1 of 100 impostors: the threshold lies just below 0.02, accepting 0.005 and 0.015
    tar, t = tar_at_far(genuine, impostor, 1e-2)
    assert 0.01 <= t < 0.02 and tar == 0.5
    # FAR 1e-3 allows none: just below 0.01, accepting only 0.005
    assert tar_at_far(genuine, impostor, 1e-3)[0] == 0.25
    assert threshold_at_far(impostor, 1.0) == 1.0


def test_rank1_on_a_hand_worked_case():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0]])
    query = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    assert rank1(query, [0, 1, 1], gallery, [0, 1]) == pytest.approx(2 / 3)


# ----- data and encoder ----------------------------------------------------------------------------------

def test_views_are_seeded_in_range_and_differ_from_each_other():
    faces = load_lfw_faces()
    assert faces.shape == (100, 25, 25)
    a, b = views_of(faces[:4], 3, seed=5), views_of(faces[:4], 3, seed=5)
    assert a.shape == (4, 3, 1, 25, 25) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert 0 <= a.min() and a.max() <= 1
    assert np.abs(a[:, 0] - a[:, 1]).mean() > 0.01
    plain = augment(faces[:2], np.random.default_rng(0), strength=0.0)
    np.testing.assert_allclose(plain[:, 0], faces[:2], atol=1e-5)   # no augmentation: the face itself


def test_to_gray_square_takes_any_size_and_mode():
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, size=(40, 30, 3), dtype=np.uint8)
    for picture in (rgb, rgb.transpose(2, 0, 1), rgb[..., 0], Image.fromarray(rgb).convert("RGBA"),
                    rgb.astype(np.float32) / 255):
        out = to_gray_square(picture)
        assert out.shape == (25, 25) and out.dtype == np.float32 and 0 <= out.min() <= out.max() <= 1
    with pytest.raises(ValueError, match="shape"):
        to_gray_square(np.zeros((5, 6, 7)))


def test_encoder_gives_unit_encodings_for_pictures_of_any_size():
    from PIL import Image

    encoder = FaceEncoder(FaceNet())
    pictures = [np.zeros((30, 40)), Image.new("RGB", (64, 80), (10, 200, 30)), np.ones((25, 25, 3))]
    enc = encoder.encode(pictures)
    assert enc.shape == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(enc, axis=1), 1, atol=1e-5)
    assert as_batch(np.zeros((5, 1, 25, 25))).shape == (5, 1, 25, 25)


# ----- database ------------------------------------------------------------------------------------------

def _unit(rng, n, d=8):
    x = rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_database_round_trip_and_re_enrolling_adds(tmp_path):
    rng = np.random.default_rng(0)
    db = FaceDatabase(8)
    alice, bob = _unit(rng, 2), _unit(rng, 1)
    db.add("alice", alice, ["a1.jpg", "a2.jpg"])
    db.add("bob", bob, ["b.jpg"])
    db.add("alice", _unit(rng, 1), ["a3.jpg"])            # enrolling again adds a picture
    path = db.save(tmp_path / "db.npz")
    back = FaceDatabase.load(path)
    assert back.names == ["alice", "alice", "bob", "alice"] and back.people == ["alice", "bob"]
    assert back.sources == ["a1.jpg", "a2.jpg", "b.jpg", "a3.jpg"]
    np.testing.assert_array_equal(back.encodings, db.encodings)
    same, d, tau = back.verify(alice[1], "alice", 0.5)
    assert same and d == pytest.approx(0.0, abs=1e-6)
    identity, ranked = back.identify(bob[0], tau=0.5, top=3)
    assert identity == "bob" and [n for n, _ in ranked][0] == "bob" and len(ranked) == 2
    assert back.identify(-bob[0], tau=1e-3)[0] is None     # beyond tau: unknown
    with np.load(path, allow_pickle=False) as archive:     # plain arrays: loads without pickle
        assert set(archive.files) == {"format", "encoding_size", "names", "encodings", "sources"}


# ----- bad input: one clear error, the database untouched -----------------------------------------------

def test_bad_database_files_are_refused(tmp_path):
    good = FaceDatabase(8)
    good.add("alice", _unit(np.random.default_rng(0), 1))
    path = good.save(tmp_path / "db.npz")
    with pytest.raises(DatabaseError, match="d = 8.*d = 128"):
        FaceDatabase.open_or_new(path, 128)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(path.read_bytes()[:60] if hasattr(path, "read_bytes") else open(path, "rb").read()[:60])
    with pytest.raises(DatabaseError, match="not a readable face database"):
        FaceDatabase.load(corrupt)
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(DatabaseError):
        FaceDatabase.load(tmp_path / "array.npy")
    with pytest.raises(CLIError, match="--as 'zed'"):
        FaceDatabase.load(path).verify(np.zeros(8), "zed", 0.5)


def test_unreadable_image_and_empty_people_folder(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a picture")
    with pytest.raises(CLIError, match="cannot read image"):
        read_image(bad)
    (tmp_path / "people").mkdir()
    with pytest.raises(CLIError, match="is empty"):
        read_people(tmp_path / "people")
    (tmp_path / "people" / "alice").mkdir()
    with pytest.raises(CLIError, match="holds no pictures"):
        read_people(tmp_path / "people")
