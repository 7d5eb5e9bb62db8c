"""LBFGS(line_search_fn="backtracking"): a step that overshoots is shortened, so the loss never ends above where it started."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim


def _run(line_search_fn, lr):
    x = mg.tensor(np.array([3.0, -2.0, 1.5]), requires_grad=True)
    opt = optim.LBFGS([x], lr=lr, max_iter=15, line_search_fn=line_search_fn)
    losses = []

    def closure():
        opt.zero_grad()
        loss = (x ** 4).sum() + (x ** 2).sum() * 3.0       # steep, curved: a long step overshoots
        loss.backward()
        losses.append(float(loss.item()))
        return loss

    opt.step(closure)
    return losses, x.numpy()


def _loss(x):
    return float((x ** 4).sum() + 3.0 * (x ** 2).sum())


def test_backtracking_converges():
    losses, x = _run("backtracking", lr=1.0)
    assert losses[-1] < 1e-3 * losses[0] and np.abs(x).max() < 0.1


def test_backtracking_never_ends_above_the_start_even_with_a_huge_step():
    losses, x = _run("backtracking", lr=50.0)
    assert _loss(x) < losses[0]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # the overshoot overflows float64, as it should
def test_without_a_line_search_the_same_step_overshoots():
    losses, _ = _run(None, lr=50.0)
    assert max(losses) > losses[0]          # what the line search prevents


def test_unknown_line_search_is_refused():
    with pytest.raises(ValueError, match="line_search_fn"):
        optim.LBFGS([mg.tensor(np.zeros(2), requires_grad=True)], line_search_fn="wolfe")
