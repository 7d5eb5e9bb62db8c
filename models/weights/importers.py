"""`minigrad weights import FILE`: a Keras .h5, an ONNX file or a torchvision .pth, told apart by their first bytes.

Each reader returns torchvision's ``features.*`` arrays; this module checks them against
the architecture and writes them to the cache with their provenance and the preprocessing
their source expects (Keras: BGR, 0-255, Caffe means; torchvision and ONNX: RGB, 0-1,
ImageNet mean and std; see ``models.weights.preprocess``).
"""

import os
import re

from .cache import read_meta, sha256_of, write_features
from .layout import CONVS_PER_BLOCK, feature_indices
from .preprocess import CONVENTIONS

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTOCOL_2_PLUS = 0x80
ONNX_FIRST_BYTE = 0x08          # a ModelProto starts with field 1 (ir_version) as a varint
DEFAULT_PREPROCESSING = {"keras": "keras", "onnx": "torchvision", "pth": "torchvision"}
FEATURE_KEY = re.compile(r"features\.(\d+)\.(weight|bias)")


class AlreadyInstalled(FileExistsError):
    """Importing would replace weights from another source; pass force=True (--force) to do it."""


def detect_format(path):
    """"keras", "pth" or "onnx" from the file's first bytes."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(HDF5_MAGIC):
        return "keras"
    if head.startswith(ZIP_MAGIC) or head[:1] == bytes([PICKLE_PROTOCOL_2_PLUS]):
        return "pth"
    if head[:1] == bytes([ONNX_FIRST_BYTE]) or str(path).endswith(".onnx"):
        return "onnx"
    raise ValueError(f"{path} is not an HDF5 (.h5), torch.save (.pth) or ONNX file (first bytes {head!r})")


def _state_dict_of(obj, path):
    """The state dict inside a .pth: the object itself, or its "state_dict"/"model" entry; DataParallel's "module." dropped."""
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return {key[len("module."):] if key.startswith("module.") else key: value for key, value in obj.items()}


def pth_features(path, arch=None):
    """Torchvision ``features.*`` arrays from a .pth state dict (restricted unpickler); returns (state, arch)."""
    from .layout import features_state_dict
    from .torch_pth import load_pth

    state = _state_dict_of(load_pth(path), path)
    weights = {int(m.group(1)): m.group(2) for key in state if (m := FEATURE_KEY.fullmatch(key)) and m.group(2) == "weight"}
    if arch is None:
        by_count = {sum(convs): name for name, convs in CONVS_PER_BLOCK.items()}
        arch = by_count.get(len(weights))
        if arch is None:
            raise ValueError(f"{path} has {len(weights)} features.*.weight keys; VGG-16 has 13 and VGG-19 16")
    indices = feature_indices(arch)
    wanted = [f"features.{i}.{part}" for i in indices for part in ("weight", "bias")]
    missing = [key for key in wanted if key not in state]
    extra = sorted(i for i in weights if i not in indices)
    if missing or extra:
        raise ValueError(f"{path} is not a torchvision {arch} state dict: "
                         + (f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}" if missing else "")
                         + (f" unexpected features.{extra[0]}.weight" if extra else ""))
    pairs = [(state[f"features.{i}.weight"], state[f"features.{i}.bias"]) for i in indices]
    return features_state_dict(pairs, arch, source=str(path)), arch


def read_features_from(path, arch=None):
    """(state_dict, arch, format) from any supported file."""
    kind = detect_format(path)
    if kind == "keras":
        from .keras_h5 import keras_state_dict

        state, arch = keras_state_dict(path, arch, source=str(path))
    elif kind == "onnx":
        from .onnx_file import onnx_state_dict

        state, arch = onnx_state_dict(path, arch)
    else:
        state, arch = pth_features(path, arch)
    return state, arch, kind


def import_file(path, arch=None, preprocessing=None, force=False):
    """Convert ``path`` and install it as the ``arch`` features (guessed when None); returns (cache path, arch, format).

    ``preprocessing`` (a key of ``CONVENTIONS``) overrides the source format's usual convention.
    Installed weights from a different source are replaced only with ``force``.
    """
    if preprocessing is not None and preprocessing not in CONVENTIONS:
        raise ValueError(f"preprocessing must be one of {', '.join(CONVENTIONS)}, got {preprocessing!r}")
    digest = sha256_of(path)
    state, arch, kind = read_features_from(path, arch)
    current = read_meta(arch)
    if current and current.get("source_sha256") != digest and not force:
        raise AlreadyInstalled(f"{arch} weights from {current.get('source')} are installed; "
                               "add --force to replace them")
    meta = {"source": f"{kind} file {os.path.abspath(path)}", "source_sha256": digest, "format": kind,
            "preprocessing": preprocessing or DEFAULT_PREPROCESSING[kind]}
    return write_features(arch, state, meta), arch, kind
