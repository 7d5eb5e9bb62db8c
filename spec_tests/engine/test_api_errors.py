"""Issue 9's API cases: each misuse names what went wrong and how to do it right."""

import warnings

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim


def test_load_state_dict_given_a_path_says_to_use_mg_load():
    with pytest.raises(TypeError, match=r"path 'w.npz'.*mg.load"):
        nn.Linear(2, 2).load_state_dict("w.npz")


def test_load_state_dict_none_names_the_type():
    with pytest.raises(TypeError, match="expected a state dict.*NoneType"):
        nn.Linear(2, 2).load_state_dict(None)


def test_optimizer_given_a_module_says_parameters():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"model.parameters\(\)"):
        optim.SGD(model, lr=0.1)
    with pytest.raises(TypeError, match="Linear"):
        optim.Adam(model)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(3, lr=0.1)


def test_ragged_lists_are_refused_with_the_rule():
    with pytest.raises(ValueError, match="rectangular"):
        mg.tensor([[1.0, 2.0], [3.0]])


def test_cross_entropy_refuses_float64_probabilities_for_float32_logits():
    logits = mg.tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="float32.*float64"):
        F.cross_entropy(logits, mg.tensor(np.full((2, 3), 1 / 3, np.float64)))
    loss = F.cross_entropy(logits, mg.tensor(np.full((2, 3), 1 / 3, np.float32)))
    assert loss.dtype == np.float32


def test_conv2d_on_inf_gives_nan_without_a_numpy_warning():
    x = mg.tensor(np.full((1, 1, 4, 4), np.inf, np.float32), requires_grad=True)
    w = mg.tensor(np.array([[[[1.0, -1.0], [0.0, 0.0]]]], np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.conv2d(x, w)
        y.sum().backward()
    assert np.isnan(y.numpy()).all()
