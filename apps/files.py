"""Atomic writes for the pictures and JSON files commands produce: a temp file in the same folder, then os.replace.

A run interrupted half-way leaves the previous file (or none), never a truncated one.
"""

import os
import tempfile

__all__ = ["write_atomic", "save_figure"]


def _umask():
    mask = os.umask(0o022)     # reading the umask means setting it: set it straight back
    os.umask(mask)
    return mask


def write_atomic(path, write):
    """Call ``write(tmp_path)`` on a temp file beside ``path``, then move it into place (folders made as needed)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())     # mkstemp makes 0600; an output is an ordinary file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_figure(fig, path, dpi=100):
    """A matplotlib figure as a PNG, atomically."""
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
