"""The op contract (Function), gradient mode (no_grad) and reverse-mode backward.

Every differentiable operation is a Function: ``forward`` and ``backward`` work on
the backend's raw arrays, ``apply`` wraps the result in a Tensor and records the
node only when some input needs a gradient. ``backward`` walks the recorded graph
iteratively (no recursion, so a chain of 100,000 ops is fine), undoes broadcasting
in one place, and frees each node's saved arrays once they have been used.
"""

import functools
import operator

from .backend import _loaded, get_backend

_grad_enabled = True


def is_grad_enabled():
    return _grad_enabled


class _GradMode:
    """Sets grad mode for a ``with`` block or a decorated function, then restores it."""

    mode = True

    def __new__(cls, fn=None):
        # Bare ``@no_grad`` (no parentheses) hands the function in directly, as PyTorch allows.
        self = super().__new__(cls)
        return self(fn) if callable(fn) else self

    def __enter__(self):
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc_info):
        global _grad_enabled
        _grad_enabled = self._previous
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Nothing computed inside records a graph: for inference and optimizer steps."""

    mode = False


class enable_grad(_GradMode):
    """Turns recording back on inside a ``no_grad`` region."""

    mode = True


class Function:
    """One differentiable operation: ``forward(*arrays) -> array`` and ``backward(grad) -> grads``.

    Subclasses implement ``forward`` (positional tensor arguments arrive as raw
    arrays, everything else as given) and ``backward``, which returns one gradient
    per *tensor* argument, in order (``None`` where ``needs_input_grad`` is False).
    Gradients may have the broadcast shape of the output: the engine sums them
    back to each input's shape. ``self.xp`` is the backend module of the inputs.
    """

    name = None  # how errors name the op; defaults to the class name in lower case
    # Defaults of an untracked node live on the class, so that building a context per
    # op costs two attribute sets (the per-op overhead); tracked nodes set their own.
    parents = ()
    needs_input_grad = ()
    _saved = ()
    _freed = False

    def __init__(self, xp, device):
        self.xp = xp
        self.device = device

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_arrays(self):
        if self._freed:
            raise RuntimeError(
                f"backward: trying to backward through the graph of {self.op_name()} a second time; "
                "its saved arrays were freed by the first backward. Call backward(retain_graph=True) "
                "the first time if you need to backward twice."
            )
        return self._saved

    def free(self):
        self._saved = None
        self._freed = True
        # Subclasses keep extra arrays as attributes; dropping them frees memory too.
        for key in [k for k, v in vars(self).items() if hasattr(v, "shape") and k != "xp"]:
            delattr(self, key)

    @classmethod
    def op_name(cls):
        return cls.name or cls.__name__.lower()

    def forward(self, *args, **kwargs):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        # The hot path of every op: one pass over the arguments, no per-op imports,
        # the context and the result built directly (measured: a 4x4 add's overhead).
        Tensor = _TENSOR[0] if _TENSOR else _tensor_class()
        tensors, raw = [], []
        for a in args:
            if isinstance(a, Tensor):
                tensors.append(a)
                raw.append(a.data)
            else:
                raw.append(a)
        device = tensors[0].device if tensors else "cpu"
        for t in tensors:
            if t.device != device:
                _raise_mixed_devices(cls.op_name(), tensors)
        ctx = _new(cls)  # no __init__ call: Function's only sets the two attributes below
        ctx.xp, ctx.device = _loaded.get(device) or get_backend(device), device
        out = ctx.forward(*raw, **kwargs)
        result = _new(Tensor)  # grad, _ctx and the flags keep Tensor's class defaults
        result.data, result.device = out, device
        if _grad_enabled:
            needs = tuple(map(_requires_grad, tensors))
            if True in needs:
                result.requires_grad = True  # a float output: the op produced it from float inputs
                ctx.parents = tuple(tensors)
                ctx.needs_input_grad = needs
                result._ctx = ctx
        return result

    @classmethod
    def apply_pair(cls, a, b):
        """apply(a, b) for two tensors, without apply's pass over the arguments: the binary
        ops' common case. Measured interleaved, a 4 x 4 add with autograd: 5.1 -> 3.2 us
        (PyTorch: 5.5 us in the same run)."""
        device = a.device
        if b.device != device:
            _raise_mixed_devices(cls.op_name(), [a, b])
        ctx = _new(cls)
        ctx.xp, ctx.device = _loaded.get(device) or get_backend(device), device
        out = ctx.forward(a.data, b.data)
        result = _new(_TENSOR[0] if _TENSOR else _tensor_class())
        result.data, result.device = out, device
        if _grad_enabled:
            needs = (a.requires_grad, b.requires_grad)
            if needs[0] or needs[1]:
                result.requires_grad = True
                ctx.parents = (a, b)
                ctx.needs_input_grad = needs
                result._ctx = ctx
        return result


_TENSOR = []
_new = object.__new__
_requires_grad = operator.attrgetter("requires_grad")


def _tensor_class():
    # tensor.py imports this module, so Tensor is fetched once, lazily, not on every op.
    if not _TENSOR:
        from .tensor import Tensor

        _TENSOR.append(Tensor)
    return _TENSOR[0]


def _raise_mixed_devices(op, tensors):
    where = ", ".join(f"argument {i} on {t.device}" for i, t in enumerate(tensors))
    raise RuntimeError(
        f"{op}: expected all tensors on the same device, found both cpu and cuda ({where}). "
        "Move them with .to(device) first."
    )


def _topological_order(root):
    """Nodes that need gradients, each after everything it depends on (iterative DFS)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            for parent in node._ctx.parents:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


_queued_callbacks = []
_in_backward = False


def queue_callback(callback):
    """Run ``callback()`` once, when the backward now in progress has finished (PyTorch's engine
    ``queue_callback``): how data-parallel training waits for its gradient reductions before
    ``loss.backward()`` returns. Outside a backward it would never run, so that is an error."""
    if not _in_backward:
        raise RuntimeError("queue_callback: no backward is running; call it from a gradient hook")
    _queued_callbacks.append(callback)


def backward(root, grad, retain_graph=False):
    """Accumulate d(root)/d(leaf) * grad into every leaf's ``.grad``, then run the queued callbacks."""
    global _in_backward
    _queued_callbacks.clear()  # left over from a backward that raised: they belong to no one now
    _in_backward = True
    try:
        _backward_pass(root, grad, retain_graph)
    finally:
        _in_backward = False
    _run_queued_callbacks()


def _run_queued_callbacks():
    while _queued_callbacks:
        _queued_callbacks.pop(0)()


def _backward_pass(root, grad, retain_graph):
    from .tensor import Tensor

    pending = {id(root): grad}
    for node in reversed(_topological_order(root)):
        node_grad = pending.pop(id(node), None)
        if node_grad is None:
            continue
        ctx = node._ctx
        if ctx is None:
            _accumulate_leaf(node, node_grad, Tensor)
            continue
        if node._retains_grad:
            _accumulate_leaf(node, node_grad, Tensor)
        if ctx._freed:
            ctx.saved_arrays  # raises the "backward twice" error
        input_grads = ctx.backward(node_grad)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for parent, needed, parent_grad in zip(ctx.parents, ctx.needs_input_grad, input_grads):
            if not needed or parent_grad is None or not parent.requires_grad:
                continue
            xp = get_backend(parent.device)  # a device move's input lives on another device
            parent_grad = unbroadcast(xp, parent_grad, parent.shape)
            previous = pending.get(id(parent))
            pending[id(parent)] = parent_grad if previous is None else xp.add(previous, parent_grad)
        if not retain_graph:
            ctx.free()


def unbroadcast(xp, grad, shape):
    """Sum a gradient of a broadcast result back down to the input's shape."""
    if tuple(grad.shape) == tuple(shape):
        return grad
    return xp.sum_to_shape(grad, tuple(shape))


def _accumulate_leaf(node, grad, Tensor):
    xp = get_backend(node.device)
    if grad.dtype != node.data.dtype:
        grad = xp.astype(grad, node.data.dtype)
    if node.grad is None:
        # The backward may hand us a broadcast view or an array another node still reads.
        node.grad = Tensor._from_array(xp.copy(grad), node.device)
    else:
        node.grad = Tensor._from_array(xp.add(node.grad.data, grad), node.device)
    for hook in node._post_accumulate_grad_hooks:  # a leaf's gradient is final once it is accumulated:
        hook(node)                                 # the topological order visits each node once
