"""Atomic writes for the pictures and JSON files commands produce (through minigrad.io.write_atomic).

A run interrupted half-way leaves the previous file (or none), never a truncated one.
"""

import json

from minigrad.io import write_atomic

__all__ = ["write_atomic", "save_figure", "save_json"]


def save_figure(fig, path, dpi=100):
    """A matplotlib figure as a PNG, atomically."""
    return write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=dpi))


def save_json(data, path):
    """``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2) + "\n"
    return write_atomic(path, lambda f: f.write(text.encode()))
