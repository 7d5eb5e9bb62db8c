"""Tensor: an array on a device, its gradient, and the Function that made it."""

import math
import numbers

import numpy as np

from . import autograd
from .backend import get_backend, normalize_device

float32 = np.dtype("float32")
float64 = np.dtype("float64")
float16 = np.dtype("float16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")

_DEFAULT_FLOAT = float32


def _is_float(dtype):
    return np.dtype(dtype).kind == "f"


def _preview(data, limit=60):
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + "..."


def _infer_host_array(data, dtype):
    """A host numpy array from user data, inferring the dtype as PyTorch does."""
    if isinstance(data, np.ndarray):
        return np.array(data, dtype=dtype, copy=True)
    if isinstance(data, np.generic):
        return np.array(data, dtype=dtype or data.dtype)
    try:
        array = np.array(data)
    except ValueError as error:
        # numpy's "inhomogeneous shape after 1 dimensions" names neither the rule nor the culprit.
        raise ValueError(f"tensor: the nested lists must be rectangular (every row the same length), "
                         f"got ragged data {_preview(data)} ({error})") from None
    if array.dtype == object:
        raise ValueError(f"tensor: the nested lists must be rectangular (every row the same length), "
                         f"got ragged data {_preview(data)}")
    if dtype is not None:
        return array.astype(dtype)
    if array.dtype == np.bool_:
        return array
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int64)
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(_DEFAULT_FLOAT)
    raise TypeError(f"tensor: cannot make a tensor from data of type {type(data).__name__} (numpy dtype {array.dtype})")


class Tensor:
    """An n-dimensional array that can record the operations made on it.

    ``data`` is the backend's array (numpy on "cpu", a numba.cuda device array on
    "cuda"); ``grad`` is a Tensor, or None before ``backward``; ``requires_grad``
    says whether operations on it are recorded.
    """

    __array_priority__ = 1000  # numpy scalars on the left defer to our operators
    _post_accumulate_grad_hooks = ()  # a class default: only tensors that register one pay for a list
    # An op's result starts from these class defaults; ops set only what differs
    # (the per-op overhead: four attribute sets were a twentieth of a 4x4 add).
    grad = None
    _ctx = None
    _retains_grad = False
    requires_grad = False

    def __init__(self, data, requires_grad=False, dtype=None, device="cpu"):
        device = normalize_device(device)
        if isinstance(data, Tensor):
            data = data.numpy()
        host = _infer_host_array(data, np.dtype(dtype) if dtype is not None else None)
        self._setup(get_backend(device).asarray(host), device, requires_grad)

    @classmethod
    def _from_array(cls, array, device, requires_grad=False):
        out = cls.__new__(cls)
        out.data, out.device, out.grad, out._ctx = array, device, None, None
        out._retains_grad = out.requires_grad = False
        if requires_grad:
            out.requires_grad_(True)
        return out

    def _setup(self, array, device, requires_grad):
        self.data = array
        self.device = device
        self.grad = None
        self._ctx = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ----- properties -------------------------------------------------------
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return len(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def dim(self):
        return self.ndim

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return math.prod(self.shape)  # Python ints: np.prod took 10 us a call

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def backend(self):
        return get_backend(self.device)

    # ----- gradients ------------------------------------------------------------
    def requires_grad_(self, requires_grad=True):
        if requires_grad and not _is_float(self.dtype):
            raise RuntimeError(
                f"requires_grad: only floating-point tensors can require gradients, got dtype {self.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` each time a backward has finished accumulating this leaf's ``.grad``
        (PyTorch's name): data-parallel training starts a gradient's reduction from here."""
        if self._ctx is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors (parameters) take one")
        if not self._post_accumulate_grad_hooks:
            self._post_accumulate_grad_hooks = []
        self._post_accumulate_grad_hooks.append(hook)
        return hook

    def retain_grad(self):
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        self._retains_grad = True
        return self

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate this tensor's gradient into every leaf that requires one."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no graph; "
                "create its inputs with requires_grad=True"
            )
        xp = self.backend
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(
                    f"backward: gradient can be created implicitly only for a scalar output, "
                    f"but this tensor has shape {self.shape}; call y.backward(gradient) with a "
                    f"gradient of shape {self.shape}"
                )
            grad = xp.ones(self.shape, self.dtype)
        else:
            gradient = gradient if isinstance(gradient, Tensor) else Tensor(gradient, dtype=self.dtype)
            if gradient.shape != self.shape:
                raise RuntimeError(
                    f"backward: gradient has shape {gradient.shape} but the tensor has shape {self.shape}"
                )
            if gradient.device != self.device:
                raise RuntimeError(
                    f"backward: gradient is on {gradient.device} but the tensor is on {self.device}"
                )
            grad = gradient.data if gradient.dtype == self.dtype else xp.astype(gradient.data, self.dtype)
        autograd.backward(self, grad, retain_graph=retain_graph)

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor._from_array(self.data, self.device)

    def zero_(self):
        self.data = self.backend.zeros(self.shape, self.dtype)
        return self

    # ----- conversion -------------------------------------------------------------
    def numpy(self):
        """The values as a host numpy array (a copy when the tensor is on the GPU)."""
        return self.backend.to_numpy(self.data)

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"item: only a one-element tensor converts to a Python number, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def to(self, *args, **kwargs):
        """``to(device)``, ``to(dtype)`` or ``to(device, dtype)``; differentiable, a no-op if nothing changes."""
        from .ops.elementwise import cast, to_device

        device, dtype = _parse_to_args(args, kwargs)
        out = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = cast(out, np.dtype(dtype))
        if device is not None and normalize_device(device) != self.device:
            out = to_device(out, normalize_device(device))
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def long(self):
        return self.to(int64)

    def __repr__(self):
        values = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (float32, int64, bool_):
            extras.append(f"dtype={self.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.op_name()}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({values}{''.join(', ' + e for e in extras)})"

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"the truth value of a tensor with shape {self.shape} is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if np.issubdtype(self.dtype, np.integer) and self.numel() == 1:
            return int(self.item())
        raise TypeError("only integer tensors of a single element can be used as an index")

    __hash__ = object.__hash__


def _parse_to_args(args, kwargs):
    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    for arg in args:
        if isinstance(arg, str):
            device = arg
        else:
            dtype = arg
    return device, dtype


def as_tensor_like(value, like):
    """A Python or numpy scalar as a tensor of ``like``'s dtype and device, as PyTorch treats scalars."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (numbers.Number, np.generic)):
        dtype = like.dtype
        if not _is_float(dtype) and isinstance(value, (float, np.floating)):
            dtype = _DEFAULT_FLOAT
        elif dtype == bool_ and not isinstance(value, (bool, np.bool_)):
            dtype = int64 if isinstance(value, (int, np.integer)) else _DEFAULT_FLOAT
        return Tensor._from_array(like.backend.full((), value, dtype), like.device)
    return Tensor(value, device=like.device)


def promote_pair(a, b):
    """Make a binary op's operands tensors, mixing ints into floats the PyTorch way (float wins, keeps its width)."""
    if not isinstance(a, Tensor):
        a = as_tensor_like(a, b)
    if not isinstance(b, Tensor):
        b = as_tensor_like(b, a)
    if a.dtype != b.dtype:
        common = _promoted_dtype(a, b)
        a, b = a.to(common), b.to(common)
    return a, b


def _category(dtype):
    return 2 if _is_float(dtype) else 0 if dtype == bool_ else 1


def _promoted_dtype(a, b):
    """PyTorch's rule: the higher category (bool < int < float) wins and keeps its width; a 0-d
    tensor beside a dimensioned one of the same or a higher category gives way to it
    (0-d float64 * float32 -> float32, 0-d int64 * uint8 -> uint8)."""
    if (a.ndim == 0) != (b.ndim == 0):
        dimensioned, zero_d = (b, a) if a.ndim == 0 else (a, b)
        if _category(zero_d.dtype) <= _category(dimensioned.dtype):
            return dimensioned.dtype
        return zero_d.dtype
    if _category(a.dtype) != _category(b.dtype):
        return a.dtype if _category(a.dtype) > _category(b.dtype) else b.dtype
    return np.promote_types(a.dtype, b.dtype)
