"""Shared helpers of the course spec tests: hypothesis settings, tensor shortcuts, module walking."""

import numpy as np
from hypothesis import HealthCheck, settings

import minigrad as mg
from minigrad import nn

#: hypothesis settings for the course suite: no deadline (first calls compile Numba kernels),
#: a modest number of examples, no example database written into the checkout.
PROPERTY = settings(deadline=None, max_examples=25, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(PROPERTY, max_examples=10)


def t(array, requires_grad=False):
    """A float64 tensor (exact arithmetic for the course's worked examples)."""
    return mg.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def n_params(module):
    """The number of parameters a module really owns."""
    return sum(int(np.prod(p.shape)) for p in module.parameters())


def children(module):
    if hasattr(module, "named_children"):
        return [m for _, m in module.named_children()]
    registry = getattr(module, "_modules", None)
    if isinstance(registry, dict):
        return [m for m in registry.values() if m is not None]
    return [v for v in vars(module).values() if isinstance(v, nn.Module)]


def walk(module):
    """The module and every submodule, depth first."""
    found = [module]
    for child in children(module):
        found += walk(child)
    return found


def set_values(param, value):
    """Overwrite a parameter's values in place (no graph recorded)."""
    param.data[...] = np.asarray(value, dtype=param.data.dtype)
