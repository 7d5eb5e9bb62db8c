"""`minigrad faces`: enroll, verify and identify end to end, and every bad input as one line, exit 2, the database untouched."""

import json

import numpy as np
import pytest
from PIL import Image

from apps.cli import main
from apps.faces.data import load_lfw_faces, views_of
from apps.faces.database import FaceDatabase
from apps.faces.encoder import FaceEncoder, FaceNet


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A random-weights encoder file, people/ with two views of 3 faces (sizes and modes vary), query pictures."""
    root = tmp_path_factory.mktemp("faces")
    weights = str(root / "enc.npz")
    import minigrad as mg

    mg.manual_seed(0)
    FaceEncoder(FaceNet(), tau=0.3).save(weights)
    views = views_of(load_lfw_faces()[50:53], 3, seed=1)
    for i, name in enumerate(["alice", "bob", "carol"]):
        (root / "people" / name).mkdir(parents=True)
        for j in range(2):
            img = Image.fromarray((views[i, j, 0] * 255).astype(np.uint8)).resize((60 + 20 * j, 80))
            (img.convert("RGB") if j else img).save(root / "people" / name / f"{j}.jpg")
        Image.fromarray((views[i, 2, 0] * 255).astype(np.uint8)).convert("RGBA").save(root / f"q_{name}.png")
    (root / "empty").mkdir()
    (root / "bad.jpg").write_text("not a picture")
    db = str(root / "db.npz")
    assert main(["faces", "enroll", str(root / "people"), "--db", db, "--weights", weights]) == 0
    return root, weights, db


def test_enroll_verify_identify(setup, capsys):
    root, weights, db = setup
    assert FaceDatabase.load(db).people == ["alice", "bob", "carol"]
    assert main(["faces", "verify", str(root / "q_bob.png"), "--as", "bob", "--db", db, "--weights", weights]) == 0
    assert "tau 0.3000" in capsys.readouterr().out
    out = root / "out.json"
    assert main(["faces", "identify", str(root / "q_bob.png"), "--db", db, "--weights", weights,
                 "--top", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) == {"matches", "threshold", "identity"} and result["threshold"] == 0.3
    assert len(result["matches"]) == 2 and set(result["matches"][0]) == {"name", "distance"}
    assert result["matches"][0]["distance"] <= result["matches"][1]["distance"]
    assert result["identity"] in (None, result["matches"][0]["name"])


def _bad(argv, capsys, words):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "error:" in err and words in err, err


def test_every_bad_input_is_one_line_and_leaves_the_database_untouched(setup, capsys, tmp_path):
    root, weights, db = setup
    before = open(db, "rb").read()
    w = ["--weights", weights]
    _bad(["faces", "verify", str(root / "bad.jpg"), "--as", "bob", "--db", db] + w, capsys, "cannot read image")
    _bad(["faces", "enroll", str(root / "empty"), "--db", db] + w, capsys, "is empty")
    _bad(["faces", "verify", str(root / "q_bob.png"), "--as", "zed", "--db", db] + w, capsys, "--as 'zed'")
    # a database made by another encoder (d = 8)
    other = FaceDatabase(8)
    other.add("x", np.eye(8, dtype=np.float32)[:1])
    other_path = str(other.save(tmp_path / "d8.npz"))
    _bad(["faces", "identify", str(root / "q_bob.png"), "--db", other_path] + w, capsys, "d = 8")
    _bad(["faces", "enroll", str(root / "people"), "--db", other_path] + w, capsys, "d = 8")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(before[:100])
    _bad(["faces", "identify", str(root / "q_bob.png"), "--db", str(corrupt)] + w, capsys, "not a readable face database")
    _bad(["faces", "enroll", str(root / "people"), "--db", str(corrupt)] + w, capsys, "not a readable face database")
    # an unreadable picture inside people/: nothing is enrolled
    (root / "people" / "bob" / "broken.jpg").write_text("oops")
    try:
        _bad(["faces", "enroll", str(root / "people"), "--db", db] + w, capsys, "cannot read image")
    finally:
        (root / "people" / "bob" / "broken.jpg").unlink()
    assert open(db, "rb").read() == before
    assert corrupt.read_bytes() == before[:100]


def test_enrolling_again_adds_pictures(setup, tmp_path):
    root, weights, _ = setup
    db = str(tmp_path / "db.npz")
    for _ in range(2):
        assert main(["faces", "enroll", str(root / "people"), "--db", db, "--weights", weights]) == 0
    assert len(FaceDatabase.load(db)) == 12 and len(FaceDatabase.load(db).people) == 3


@pytest.mark.parametrize("argv, words", [
    (["faces", "train", "--views", "1"], "--views must be >= 2"),
    (["faces", "train", "--seed", "-1"], "--seed must be between 0"),
    (["faces", "train", "--margin", "0"], "--margin must be > 0"),
    (["faces", "identify", "nowhere.jpg", "--db", "nowhere.npz"], "does not exist"),
])
def test_bad_options_are_refused_before_any_work(argv, words, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and words in err, err
