"""The global random generator behind randn, dropout and weight initialisation (mg.manual_seed)."""

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed everything random in minigrad, for reproducible runs."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def generator():
    return _generator


def next_seed():
    """A fresh seed for a backend's own generator (dropout masks on the device)."""
    return int(_generator.integers(0, 2**63 - 1))
