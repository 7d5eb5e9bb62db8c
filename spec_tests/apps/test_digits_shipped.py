"""The LeNet-5 that ships with minigrad: small, loads, and reads held-out digits; predict uses it by default."""

import os

import numpy as np
from PIL import Image

import minigrad as mg
from apps.cli import main
from apps.digits.data import digit_splits, make_model
from apps.digits.predict import SHIPPED_WEIGHTS


def test_shipped_weights_are_small_and_accurate_on_held_out_digits():
    assert os.path.getsize(SHIPPED_WEIGHTS) < 2 * 1024 * 1024
    model = make_model()
    model.load_state_dict(mg.load(SHIPPED_WEIGHTS))
    model.eval()
    _, _, test = digit_splits()
    with mg.no_grad():
        predicted = model(mg.tensor(test.images[:300])).numpy().argmax(axis=1)
    assert (predicted == test.labels[:300]).mean() >= 0.95


def test_predict_without_weights_uses_the_shipped_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                       # no runs/lenet5 here
    _, _, test = digit_splits()
    index = int(np.flatnonzero(test.labels == 7)[0])
    Image.fromarray((test.images[index, 0, 2:30, 2:30] * 255).astype(np.uint8)).save("seven.png")
    assert main(["predict", "lenet5", "seven.png"]) == 0
    assert "digit: 7" in capsys.readouterr().out
