"""The weights cache: one .npz per architecture under $MINIGRAD_HOME, written atomically, with its provenance inside.

``$MINIGRAD_HOME`` (default ``~/.cache/minigrad``) holds ``vgg16-features.npz`` and
``vgg19-features.npz``: torchvision's ``features.*`` keys as float32 arrays, plus one
``_meta`` entry, a JSON string with where the weights came from (``source``, the source
file's ``source_sha256``), ``features_sha256`` (of the arrays: the same for every install
from one source, unlike the .npz's own bytes, which include the time), the ``preprocessing`` they expect and when they were written.
The metadata lives in the same file so that one ``os.replace`` swaps both: a reader never
sees new weights with old provenance.
"""

import datetime
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from minigrad.io import write_atomic

from .layout import check_arch

META_KEY = "_meta"
INSTALL_HINT = {
    "vgg16": "minigrad weights install vgg16",
    "vgg19": "minigrad weights import FILE --arch vgg19  (a Keras .h5, an ONNX file or a torchvision .pth)",
}


class WeightsNotInstalled(FileNotFoundError):
    """Pretrained weights were asked for before they were installed; the message gives the command."""

    def __init__(self, arch):
        self.arch = arch
        super().__init__(f"{arch} pretrained features are not installed in {home()}; run: {INSTALL_HINT[arch]}")

    def __str__(self):
        return self.args[0]

    def __reduce__(self):   # rebuilt from the arch (e.g. across processes), not from the message
        return type(self), (self.arch,)


def home():
    """$MINIGRAD_HOME, or ~/.cache/minigrad."""
    return Path(os.environ.get("MINIGRAD_HOME") or Path.home() / ".cache" / "minigrad").expanduser()


def features_path(arch):
    check_arch(arch)
    return home() / f"{arch}-features.npz"


def sha256_of(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def features_sha256(arrays):
    """A checksum of the weights themselves (names, shapes, float32 bytes), the same for every install of one source."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        value = np.ascontiguousarray(arrays[key], dtype=np.float32)
        digest.update(f"{key}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def write_features(arch, state_dict, meta):
    """Write ``state_dict`` and ``meta`` (a JSON-able dict) to the cache atomically; returns the path."""
    path = features_path(arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {key: np.ascontiguousarray(value, dtype=np.float32) for key, value in sorted(state_dict.items())}
    meta = {"arch": arch, "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "features_sha256": features_sha256(arrays), **meta}
    arrays[META_KEY] = np.array(json.dumps(meta, sort_keys=True))
    write_atomic(path, lambda f: np.savez(f, **arrays))
    return path


def read_meta(arch):
    """The metadata of the installed weights, or None when they are not installed."""
    path = features_path(arch)
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as archive:   # npz reads only the entry asked for
        return json.loads(str(archive[META_KEY]))


def read_features(arch):
    """The installed ``features.*`` arrays; :class:`WeightsNotInstalled` if there are none."""
    path = features_path(arch)
    if not path.exists():
        raise WeightsNotInstalled(arch)
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files if key != META_KEY}


def installed():
    """[{arch, path, bytes, sha256, and the stored metadata}] for each installed architecture."""
    rows = []
    for arch in INSTALL_HINT:
        meta = read_meta(arch)
        if meta is not None:
            path = features_path(arch)
            rows.append({**meta, "arch": arch, "path": str(path), "bytes": path.stat().st_size, "sha256": sha256_of(path)})
    return rows
