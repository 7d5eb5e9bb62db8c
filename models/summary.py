"""summary(model, input_shape): per-layer output shapes, parameters and multiplies, like the course's tables.

It runs one forward pass on zeros of shape (1, *input_shape) under ``mg.no_grad()``
and in eval mode (so batch-norm running statistics are not touched; each module's
train/eval flag is restored afterwards), recording every leaf module (one without
submodules) each time it is called, in call order. Recording works by wrapping the
leaf's ``forward`` on the instance for the duration of the pass and removing the
wrapper afterwards, so it needs no hook support from ``nn.Module``.

Multiplies are the course's count for one image (M2.10, M2.11):

- Conv2d: n_H' * n_W' * n_c' * f * f * n_c (output height, width and channels times
  the f*f*n_c multiplies of each output value), e.g. a 5x5 conv from 28x28x192 to
  28x28x32: 28*28*32*5*5*192 = 120,422,400.
- Linear: in_features * out_features (per output position when the input has more
  than two dimensions).
- Every other layer (activations, pools, batch norm, dropout, flatten) counts 0: its
  work is additions, comparisons or element-wise scaling, not the products the course
  counts. Additions, bias terms and the residual additions are not counted either.

Parameters of a row are the ones the leaf owns; the total is counted over
``model.parameters()``, so it is the number the model really has.
"""

from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad import nn


@dataclass(frozen=True)
class SummaryRow:
    """One call of a leaf module: its dotted name, class, output shape (no batch dim), counts."""

    name: str
    kind: str
    output_shape: tuple
    params: int
    multiplies: int


class Summary:
    """The result of :func:`summary`: ``rows``, ``total_params``, ``total_multiplies``.

    ``str(s)`` (and ``print(s)``) gives an aligned table; ``s["features.0"]`` the first
    row with that name; iterating gives the rows.
    """

    def __init__(self, rows, input_shape, output_shape, total_params, trainable_params):
        self.rows = list(rows)
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(output_shape)
        self.total_params = int(total_params)
        self.trainable_params = int(trainable_params)
        self.total_multiplies = sum(r.multiplies for r in self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, name):
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"summary has no layer named {name!r}")

    def __repr__(self):
        return (f"Summary({len(self.rows)} layers, input {self.input_shape}, output {self.output_shape}, "
                f"params {self.total_params:,}, multiplies {self.total_multiplies:,})")

    def __str__(self):
        head = ("Layer (type)", "Output shape", "Params", "Multiplies")
        body = [(f"{r.name} ({r.kind})", _shape(r.output_shape), f"{r.params:,}", f"{r.multiplies:,}")
                for r in self.rows]
        widths = [max(len(line[i]) for line in [head] + body) for i in range(4)]

        def fmt(line):
            return "  ".join([line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:])])

        rule = "-" * len(fmt(head))
        lines = [rule, fmt(head), rule] + [fmt(b) for b in body] + [rule]
        lines += [f"Input shape: {_shape(self.input_shape)}   Output shape: {_shape(self.output_shape)}",
                  f"Total params: {self.total_params:,}",
                  f"Trainable params: {self.trainable_params:,}",
                  f"Total multiplies: {self.total_multiplies:,}", rule]
        return "\n".join(lines)


def _shape(shape):
    return " x ".join(str(d) for d in shape) if shape else "scalar"


def _children(module):
    """(name, submodule) pairs in registration order, whatever nn.Module exposes."""
    if hasattr(module, "named_children"):
        return list(module.named_children())
    registry = getattr(module, "_modules", None)
    if isinstance(registry, dict):
        return [(k, m) for k, m in registry.items() if m is not None]
    return [(k, v) for k, v in vars(module).items() if isinstance(v, nn.Module)]


def _walk(module, prefix=""):
    """All (dotted name, module) pairs below and including ``module``, depth first."""
    found = [(prefix, module)]
    for name, child in _children(module):
        found += _walk(child, f"{prefix}.{name}" if prefix else name)
    return found


def _device(model):
    """The device of the model's first parameter (the input must live there too), else cpu."""
    first = next(iter(model.parameters()), None)
    return "cpu" if first is None else first.device


def _count(params):
    return sum(int(np.prod(p.shape)) for p in params)


def multiplies(module, output_shape):
    """The course's multiply count for one call of ``module`` giving ``output_shape`` (batch 1)."""
    if len(output_shape) < 2:
        return 0
    if isinstance(module, nn.Conv2d):
        n_h, n_w = output_shape[-2:]
        return int(n_h * n_w * np.prod(module.weight.shape))   # n_c' * n_c * f * f per position
    if isinstance(module, nn.Linear):
        positions = int(np.prod(output_shape[1:-1])) if len(output_shape) > 2 else 1
        return positions * int(np.prod(module.weight.shape))   # in * out per position
    return 0


def summary(model, input_shape):
    """Run ``model`` on zeros of shape (1, *input_shape), on the model's device, and tabulate its leaf layers.

    Args:
        model: an nn.Module.
        input_shape: one example's shape without the batch dimension, e.g. (3, 224, 224).

    Returns:
        A :class:`Summary` (``print`` it for the table). A wrong input size raises the
        model's own ValueError before any work.
    """
    modules = _walk(model)
    leaves, seen = [], set()
    for name, m in modules:
        if not _children(m) and id(m) not in seen:       # a shared leaf is wrapped once
            seen.add(id(m))
            leaves.append((name, m))
    rows = []

    def wrap(name, module, forward):
        def recording_forward(*args, **kwargs):
            out = forward(*args, **kwargs)
            shape = tuple(getattr(out, "shape", ()))      # a leaf returning a non-tensor: no shape
            rows.append(SummaryRow(name, type(module).__name__, shape[1:],
                                   _count(module.parameters()), multiplies(module, shape)))
            return out
        return recording_forward

    flags = [(m, getattr(m, "training", None)) for _, m in modules]
    model.eval()
    try:
        for name, module in leaves:
            module.__dict__["forward"] = wrap(name, module, module.forward)
        with mg.no_grad():
            out = model(mg.zeros(1, *input_shape, device=_device(model)))
    finally:
        for _, module in leaves:
            module.__dict__.pop("forward", None)
        for module, flag in flags:
            if flag is not None:
                module.__dict__["training"] = flag
    params = list(model.parameters())
    trainable = [p for p in params if getattr(p, "requires_grad", True)]
    return Summary(rows, input_shape, tuple(out.shape)[1:], _count(params), _count(trainable))
