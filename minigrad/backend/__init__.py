"""Backends: one module per device, each exposing the same array functions.

An op never asks which device it runs on; it asks the tensor for its backend
(``get_backend(tensor.device)``) and calls these names on raw arrays. Adding a
device means adding one module that provides every name below.

The contract (``a``, ``b`` are the backend's arrays; shapes follow numpy):

Creation and transfer
    asarray(host_ndarray, dtype=None) -> array        a host array on this device (may share
                                                      memory: callers pass arrays they own)
    to_numpy(a) -> numpy.ndarray                      copy out to the host
    zeros(shape, dtype), ones(shape, dtype), full(shape, value, dtype)
    uniform(shape, dtype, seed) -> array              U[0, 1), seeded from the host RNG
    normal(shape, dtype, seed) -> array               N(0, 1)
    astype(a, dtype), copy(a)

Elementwise, with numpy broadcasting
    add subtract multiply divide power maximum minimum   (a, b)
    negative exp log sqrt abs sign tanh sigmoid relu     (a)
    greater greater_equal less less_equal equal not_equal (a, b) -> bool arrays, IEEE
        semantics: every comparison with NaN is False except not_equal (True)
    where(cond, a, b)

Reductions
    sum(a, axis=None, keepdims=False)     axis: None, int or tuple
    max(a, axis=None, keepdims=False)
    argmax(a, axis)                       first index of the maximum
    sum_to_shape(a, shape)                undo broadcasting: sum a down to shape

Shape and indexing
    reshape(a, shape) transpose(a, axes) broadcast_to(a, shape)
    getitem(a, index)                     basic index: ints, slices, None, Ellipsis
    index_put_zeros(shape, index, values, dtype) -> array  zeros with values at index
    concatenate(arrays, axis) stack(arrays, axis)

Linear algebra and neural-network kernels
    matmul(a, b)
    log_softmax(a, axis)
    one_hot(target, num_classes, dtype)
    conv2d_forward(x, w, b, stride, padding) -> y
    conv2d_backward(grad_y, x, w, stride, padding, needs) -> (gx, gw, gb)
    max_pool2d_forward(x, kernel, stride, padding) -> (y, argmax)
    max_pool2d_backward(grad_y, argmax, x_shape, kernel, stride, padding) -> gx
    avg_pool2d_forward(x, kernel, stride, padding) -> y
    avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding) -> gx

The conv and pool arguments are already normalised by the op: ``stride`` is
``(s_h, s_w)``; conv ``padding`` is ``(top, bottom, left, right)`` so that "same"
with an even kernel can put its extra zero at the bottom/right; pool ``padding``
is ``(p_h, p_w)``; ``kernel`` is ``(f_h, f_w)``; ``needs`` is a triple of bools
saying which of input, weight and bias gradients to compute (``None`` for the rest).
``argmax`` holds, per output element, the flat index ``h * W + w`` of the chosen
input element in its (n, c) plane; ties pick the first maximum in row-major order.
"""

import importlib

# The contract as code: every backend module defines each of these names
# (spec_tests/engine/test_backend_contract.py checks cpu and cuda).
CONTRACT = (
    "asarray", "to_numpy", "zeros", "ones", "full", "uniform", "normal", "astype", "copy",
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum",
    "negative", "exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "relu",
    "relu_backward", "tanh_backward", "sigmoid_backward",
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "where",
    "sum", "max", "argmax", "sum_to_shape",
    "reshape", "transpose", "broadcast_to", "getitem", "index_put_zeros", "concatenate", "stack",
    "matmul", "log_softmax", "one_hot", "batch_norm_forward", "batch_norm_grads", "conv2d_forward", "conv2d_backward",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
)
_loaded = {}


def normalize_device(device):
    """'cpu', 'cuda' and 'cuda:0' are accepted; anything else is an error."""
    name = str(device)
    if name.startswith("cuda"):
        if name not in ("cuda", "cuda:0"):
            raise ValueError(f"device: only 'cpu' and 'cuda' (one GPU, 'cuda:0') are supported, got {device!r}")
        return "cuda"
    if name != "cpu":
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    return "cpu"


def get_backend(device):
    """The backend module for a device, imported on first use."""
    module = _loaded.get(device)
    if module is not None:
        return module  # the hot path: every op asks
    device = normalize_device(device)
    if device not in _loaded:
        if device == "cuda" and not cuda_available():
            raise RuntimeError(
                "device 'cuda': no usable GPU (numba.cuda.is_available() is False); "
                "set NUMBA_ENABLE_CUDASIM=1 before importing minigrad to run on the CUDA simulator"
            )
        _loaded[device] = importlib.import_module(f"minigrad.backend.{device}")
    return _loaded[device]


def cuda_available():
    """True when numba.cuda finds a GPU (or the CUDA simulator is enabled)."""
    try:
        from numba import cuda
    except Exception:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:
        return False
