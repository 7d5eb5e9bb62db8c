"""The differentiable operations, grouped by kind; each is a Function calling the backend."""

from . import conv, elementwise, linalg, losses, normalization, pool, reduce, shape, softmax  # noqa: F401
