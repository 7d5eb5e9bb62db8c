"""Read a torchvision state dict (.pth) without torch and without running any code from the file.

A .pth is a pickle, and unpickling can call any function the file names (``os.system``
in a ``__reduce__`` is the classic attack). Here a restricted ``pickle.Unpickler`` resolves
only the names a saved state dict needs, each to a numpy stand-in written here:

- ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_tensor`` / ``_rebuild_parameter``: a tensor
  from (storage, offset, size, stride), rebuilt with numpy after checking the bounds;
- ``torch.FloatStorage``, ``torch.DoubleStorage``, ... : markers carrying the numpy dtype;
- ``collections.OrderedDict``: the state dict itself (and torch's empty backward-hook dict).

Any other name (``posix.system``, ``builtins.eval``, ``torch.nn.Module`` ...) raises
:class:`UnsafePickle`, which says what the file asked for; nothing from the file is called.

Two containers: the zip format (torch >= 1.6: ``<stem>/data.pkl`` with storage ``<key>`` in
``<stem>/data/<key>``, byte order in ``<stem>/byteorder``), and the legacy format that
torchvision's own download files use (pickles in sequence: a magic number, the protocol
version, system info, the object, the sorted storage keys, then each storage as an int64
element count followed by its raw bytes).
"""

import collections
import io
import pickle
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
MAX_EXPANDED = 2**28      # elements a zero-stride (expanded) tensor may reach: 1 GiB of float32
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class UnsafePickle(pickle.UnpicklingError):
    """The file asked the unpickler for something other than tensors and dicts; it was refused."""


class _Sealed:
    """Pickle's BUILD opcode would set attributes on an object after its checks; here it is refused."""

    def __setstate__(self, state):
        raise UnsafePickle(f"the file tries to set the state of a {type(self).__name__}: refused")


class StorageType(_Sealed):
    """Stands in for torch.FloatStorage & co.: only its numpy dtype matters."""

    def __init__(self, name):
        self.name, self.dtype = name, STORAGE_DTYPES[name]

    def itemsize(self):
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize


class Storage(_Sealed):
    """One storage of the file: filled with a flat numpy array once its bytes are read."""

    def __init__(self, storage_type, key, numel):
        self.type, self.key, self.numel, self.array = storage_type, str(key), int(numel), None

    def fill(self, raw, big_endian=False):
        if self.type.dtype == "bfloat16":   # numpy has no bfloat16: it is float32's upper half
            halves = np.frombuffer(raw, dtype=">u2" if big_endian else "<u2").astype(np.uint32)
            array = (halves << 16).view(np.float32)
        else:
            dtype = np.dtype(self.type.dtype).newbyteorder(">" if big_endian else "<")
            array = np.frombuffer(raw, dtype=dtype).astype(np.dtype(self.type.dtype).newbyteorder("="))
        if array.size < self.numel:
            raise ValueError(f"storage {self.key} holds {array.size} elements, the pickle says {self.numel}")
        self.array = array[: self.numel]


class LazyTensor(_Sealed):
    """A tensor whose storage may not be read yet (legacy files keep the bytes after the pickle)."""

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, Storage):
            raise UnsafePickle(f"a tensor was rebuilt from {type(storage).__name__}, not a storage")
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(n) for n in size), tuple(int(n) for n in stride)
        if len(self.size) != len(self.stride) or min(self.size + self.stride + (self.offset,), default=0) < 0:
            raise ValueError(f"tensor of size {self.size}, stride {self.stride}, offset {self.offset} is malformed")
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) if all(self.size) else -1
        if last >= self.storage.numel:   # as_strided must never read past the storage
            raise ValueError(f"tensor of size {self.size}, stride {self.stride}, offset {self.offset} "
                             f"reaches past its storage of {self.storage.numel} elements")
        elements = int(np.prod(self.size, dtype=object))
        if elements > max(self.storage.numel, MAX_EXPANDED):   # zero strides could ask for terabytes
            raise ValueError(f"tensor of size {self.size} would expand {self.storage.numel} stored elements "
                             f"to {elements}")

    def numpy(self):
        base = self.storage.array
        if base is None:
            raise ValueError(f"storage {self.storage.key} has no data in the file")
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.size, strides=[s * item for s in self.stride], writeable=False)
        return np.array(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *ignored):
    # v2 adds requires_grad, backward_hooks and (newer) metadata: none changes the values.
    return LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *ignored):
    return data


ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("torch", name): StorageType(name) for name in STORAGE_DTYPES},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the names in ALLOWED; storages come back as :class:`Storage` placeholders."""

    def __init__(self, file, storages):
        super().__init__(file)
        self.storages = storages          # key -> Storage, shared by every pickle of one file

    def find_class(self, module, name):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickle(f"the file asks to call or build {module}.{name}, which is not a tensor-rebuild "
                               "function: refused (only tensors in (Ordered)dicts are read)") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], StorageType)):
            raise UnsafePickle(f"unexpected persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise ValueError("storage views (torch < 0.4 files) are not supported")
        storage = self.storages.get(str(key))
        if storage is None:
            storage = self.storages[str(key)] = Storage(storage_type, key, numel)
        return storage


def _resolve(obj):
    """Replace every LazyTensor by its numpy array, through dicts, lists and tuples."""
    if isinstance(obj, LazyTensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {key: _resolve(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(value) for value in obj)
    return obj


def _load_zip(path):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if not pickles:
            raise ValueError(f"{path} is a zip file without a <name>/data.pkl: not a torch.save file")
        prefix = pickles[0][: -len("data.pkl")]
        big_endian = prefix + "byteorder" in names and archive.read(prefix + "byteorder").strip() == b"big"
        storages = {}
        obj = RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), storages).load()
        for key, storage in storages.items():
            entry = f"{prefix}data/{key}"
            if entry not in names:
                raise ValueError(f"{path} has no {entry} for storage {key}")
            storage.fill(archive.read(entry), big_endian)
    return _resolve(obj)


def _load_legacy(path):
    with open(path, "rb") as f:
        storages = {}

        def next_pickle():
            return RestrictedUnpickler(f, storages).load()

        if next_pickle() != LEGACY_MAGIC:
            raise ValueError(f"{path} is neither a zip nor a legacy torch.save file (wrong magic number)")
        next_pickle()                                   # protocol version
        info = next_pickle()
        big_endian = isinstance(info, dict) and info.get("little_endian") is False
        obj = next_pickle()
        for key in next_pickle():
            storage = storages[str(key)]
            count = np.frombuffer(f.read(8), dtype=">i8" if big_endian else "<i8")
            if count.size != 1 or count[0] != storage.numel:
                raise ValueError(f"storage {key}: the file is truncated or its element count is wrong")
            storage.fill(f.read(storage.numel * storage.type.itemsize()), big_endian)
    return _resolve(obj)


def load_pth(path):
    """The object saved in a .pth, with tensors as numpy arrays; refuses anything but tensors and dicts."""
    try:
        return _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
    except UnsafePickle:
        raise
    except (pickle.UnpicklingError, EOFError, TypeError, KeyError, IndexError, AttributeError,
            zipfile.BadZipFile, UnicodeDecodeError, RecursionError) as error:
        # A malformed pickle fails inside the unpickler (e.g. REDUCE on a storage marker); say so in one line.
        raise ValueError(f"{path} is not a valid torch.save file: {type(error).__name__}: {error}") from None
