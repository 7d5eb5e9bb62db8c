"""save and load state dicts as .npz files, written atomically so a crash never leaves half a file."""

import os
import tempfile
import zipfile

import numpy as np

from .tensor import Tensor

_SEPARATOR = "/"  # nests dicts inside the flat .npz namespace; parameter names use "."
_SCALARS = "__python_values__"  # the keys that hold Python numbers and strings (not 0-d tensors)


def _flatten(obj, prefix, out, scalars):
    if isinstance(obj, dict):
        if not obj and prefix:
            out[prefix + _SEPARATOR] = np.zeros(0)
        for key, value in obj.items():
            key = str(key)
            if _SEPARATOR in key:
                raise ValueError(f"save: key {key!r} contains {_SEPARATOR!r}, which nests dicts in the file")
            _flatten(value, f"{prefix}{_SEPARATOR}{key}" if prefix else key, out, scalars)
    elif isinstance(obj, Tensor):
        out[prefix] = obj.numpy()
    elif isinstance(obj, np.ndarray):
        out[prefix] = obj
    elif isinstance(obj, (np.generic, int, float, bool, str)) or _is_number_sequence(obj):
        out[prefix] = np.asarray(obj)  # a tuple such as Adam's betas comes back as a list
        scalars.append(prefix)
    else:
        raise TypeError(
            f"save: cannot store {prefix!r} of type {type(obj).__name__}; use tensors, arrays, numbers, "
            "strings, lists of numbers or dicts"
        )


def _is_number_sequence(obj):
    return isinstance(obj, (list, tuple)) and all(isinstance(v, (int, float, bool, np.generic)) for v in obj)


def save(obj, path):
    """Write a state dict (or a dict of them, numbers and strings) to ``path`` as .npz.

    The file is written beside its destination and renamed into place, so a
    reader sees either the old file or the whole new one.
    """
    if not isinstance(obj, dict):
        raise TypeError(f"save: expected a dict (e.g. module.state_dict()), got {type(obj).__name__}")
    flat, scalars = {}, []
    _flatten(obj, "", flat, scalars)
    if _SCALARS in flat:
        raise ValueError(f"save: the key {_SCALARS!r} is reserved")
    flat[_SCALARS] = np.array(scalars, dtype=str)
    write_atomic(path, lambda f: np.savez(f, **flat))


def write_atomic(path, write):
    """Call ``write(file)`` on a temp file beside ``path``, then rename it into place.

    A reader sees either the old file or the whole new one, never a truncated one; folders
    are made as needed. The file follows the umask like any other (mkstemp alone makes 0600).
    Every atomic file of minigrad and its applications is written through here.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _current_umask():
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load(path, device="cpu"):
    """Read a file written by save: arrays come back as tensors, scalars and strings as Python values."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            flat = {key: archive[key] for key in archive.files}
        # Files without the marker (older ones) read every 0-d entry as a Python value.
        scalars = set(flat.pop(_SCALARS).tolist()) if _SCALARS in flat else None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        # numpy's own wording (about pickles) would mislead: the file is just not an archive we wrote.
        raise ValueError(
            f"load: {path} is not a readable minigrad checkpoint (.npz): it is truncated, corrupt or not "
            f"written by mg.save ({type(error).__name__})"
        ) from None
    result = {}
    for key, value in flat.items():
        parts = key.split(_SEPARATOR)
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if parts[-1] == "":
            continue  # marker of an empty dict
        is_scalar = key in scalars if scalars is not None else value.ndim == 0 and value.dtype.kind in "biufU"
        if is_scalar:
            node[parts[-1]] = value.item() if value.ndim == 0 else value.tolist()
        else:
            node[parts[-1]] = Tensor(value, device=device)
    return result
