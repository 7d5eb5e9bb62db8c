"""gradcheck: compare backward's gradients with central finite differences, in float64."""

import numpy as np

from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    pass


def _as_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True when fn's analytic Jacobians match numerical ones for every input that requires grad.

    Inputs are copied to float64 first (finite differences in float32 are too coarse
    to judge). Each output's Jacobian row comes from one backward with a one-hot
    gradient; each column of the numerical one from two forward calls.
    """
    inputs = tuple(
        Tensor(t.numpy().astype(np.float64), requires_grad=t.requires_grad, device=t.device)
        if isinstance(t, Tensor) and np.issubdtype(t.dtype, np.floating) else t
        for t in _as_tuple(inputs)
    )
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; create one with requires_grad=True")

    def outputs():
        return [o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor) and o.requires_grad]

    for out_index, out in enumerate(outputs()):
        analytic = {i: np.zeros((out.numel(), inputs[i].numel())) for i in checked}
        for row in range(out.numel()):
            for i in checked:
                inputs[i].grad = None
            seed = np.zeros(out.numel())
            seed[row] = 1.0
            out_again = outputs()[out_index]
            out_again.backward(Tensor(seed.reshape(out.shape), dtype=out.dtype, device=out.device))
            for i in checked:
                if inputs[i].grad is not None:
                    analytic[i][row] = inputs[i].grad.numpy().ravel()
        for i in checked:
            numeric = _numerical_jacobian(fn, inputs, i, out_index, eps)
            if not np.allclose(analytic[i], numeric, atol=atol, rtol=rtol):
                worst = np.unravel_index(np.argmax(np.abs(analytic[i] - numeric)), numeric.shape)
                message = (
                    f"gradcheck: the gradient of output {out_index} with respect to input {i} (shape "
                    f"{inputs[i].shape}) differs from finite differences: at (output element, input element) "
                    f"{worst} backward gives {analytic[i][worst]:.6g} but finite differences give {numeric[worst]:.6g}"
                )
                if raise_exception:
                    raise GradcheckError(message)
                return False
    for i in checked:
        inputs[i].grad = None
    return True


@no_grad()
def _numerical_jacobian(fn, inputs, i, out_index, eps):
    target = inputs[i]
    host = target.numpy().astype(np.float64).copy()
    flat = host.reshape(-1)
    columns = []
    for k in range(flat.size):
        original = flat[k]
        values = []
        for delta in (eps, -eps):
            flat[k] = original + delta
            target.data = Tensor(host, device=target.device).data
            values.append(_as_tuple(fn(*inputs))[out_index].numpy().astype(np.float64).ravel())
        flat[k] = original
        columns.append((values[0] - values[1]) / (2 * eps))
    target.data = Tensor(host, device=target.device).data
    return np.stack(columns, axis=1)
