"""Module: the base of every layer and model; it finds parameters, buffers and submodules by assignment."""

import os
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from ..backend import normalize_device
from ..tensor import Tensor
from .parameter import Parameter


class Module:
    """Subclass, assign Parameters and Modules as attributes in __init__, write forward()."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ----- registration ---------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before assigning {name}")
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif isinstance(value, Tensor) and name in self.__dict__.get("_buffer_names", ()):
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor):
        """A tensor saved in the state dict and moved by to(), but not trained (e.g. running_mean)."""
        self.__dict__.setdefault("_buffer_names", set()).add(name)
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor

    def register_parameter(self, name, param):
        if param is None:
            self._parameters[name] = None
        else:
            setattr(self, name, param)

    def add_module(self, name, module):
        self._modules[name] = module

    # ----- running ----------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ----- traversal --------------------------------------------------------------
    def named_modules(self, prefix=""):
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def _named_tensors(self, table, recurse=True):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for module_name, module in modules:
            for name, t in getattr(module, table).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{module_name}.{name}" if module_name else name), t

    def named_parameters(self, recurse=True):
        return self._named_tensors("_parameters", recurse)

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse))

    def named_buffers(self, recurse=True):
        return self._named_tensors("_buffers", recurse)

    def buffers(self, recurse=True):
        return (b for _, b in self.named_buffers(recurse))

    # ----- modes, devices, gradients --------------------------------------------
    def train(self, mode=True):
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = p.grad.detach().zero_()

    def to(self, *args, **kwargs):
        """Move (or cast) every parameter and buffer in place, keeping their identity."""
        from ..tensor import _parse_to_args

        device, dtype = _parse_to_args(args, kwargs)
        device = normalize_device(device) if device is not None else None
        for t in list(self.parameters()) + list(self.buffers()):
            target_dtype = dtype if dtype is not None and np.issubdtype(t.dtype, np.floating) else None
            moved = t.detach().to(device=device, dtype=target_dtype)
            t.data, t.device = moved.data, moved.device
            if t.grad is not None:
                t.grad = t.grad.to(device=device, dtype=target_dtype)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def apply(self, fn):
        for module in self.modules():
            fn(module)
        return self

    # ----- state ----------------------------------------------------------------
    def state_dict(self):
        """Every parameter and buffer by dotted name, detached (PyTorch's layout and key names)."""
        state = OrderedDict()
        for module_name, module in self.named_modules():
            for table in ("_parameters", "_buffers"):
                for name, t in getattr(module, table).items():
                    if t is not None:
                        state[f"{module_name}.{name}" if module_name else name] = t.detach()
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy values in; keys and shapes must match (all mismatches are listed in one error)."""
        if isinstance(state_dict, (str, bytes, os.PathLike)):
            raise TypeError(f"load_state_dict: expected a state dict, got the path {os.fsdecode(state_dict)!r}; "
                            f"read the file first: model.load_state_dict(mg.load({os.fsdecode(state_dict)!r}))")
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a state dict (name -> tensor), got {type(state_dict).__name__}; "
                            f"e.g. model.load_state_dict(mg.load('w.npz'))")
        own = self.state_dict()
        targets = {}
        for module_name, module in self.named_modules():
            for table in ("_parameters", "_buffers"):
                for name, t in getattr(module, table).items():
                    if t is not None:
                        targets[f"{module_name}.{name}" if module_name else name] = t
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = [
            f"{k}: checkpoint {tuple(np.shape(_host(state_dict[k])))} vs model {own[k].shape}"
            for k in own
            if k in state_dict and tuple(np.shape(_host(state_dict[k]))) != own[k].shape
        ]
        if mismatched or (strict and (missing or unexpected)):
            lines = []
            if missing:
                lines.append("missing keys: " + ", ".join(missing))
            if unexpected:
                lines.append("unexpected keys: " + ", ".join(unexpected))
            if mismatched:
                lines.append("shape mismatches: " + "; ".join(mismatched))
            raise RuntimeError(f"load_state_dict: the state dict does not fit {type(self).__name__}:\n  " + "\n  ".join(lines))
        for key, target in targets.items():
            if key in state_dict:
                value = Tensor(np.asarray(_host(state_dict[key]), dtype=target.dtype), device=target.device)
                target.data = value.data
        return _IncompatibleKeys(missing, unexpected)

    # ----- printing ---------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        children = [f"({n}): " + repr(m).replace("\n", "\n  ") for n, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        return head + "\n  " + "\n  ".join(children) + "\n)"


def _host(value):
    return value.numpy() if isinstance(value, Tensor) else value


class _IncompatibleKeys:
    def __init__(self, missing_keys, unexpected_keys):
        self.missing_keys, self.unexpected_keys = missing_keys, unexpected_keys

    def __repr__(self):
        return f"<IncompatibleKeys missing_keys={self.missing_keys} unexpected_keys={self.unexpected_keys}>"
