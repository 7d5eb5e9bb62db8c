"""Optimizers: SGD (momentum, weight decay), Adam and L-BFGS, with PyTorch's update rules.

They work on tensors under no_grad, so a float32 model keeps float32 state, and a
model on the GPU is updated on the GPU: no kernel is called from here.
"""

import numpy as np

from .autograd import no_grad
from .creation import zeros_like
from .ops.shape import cat
from .tensor import Tensor


class Optimizer:
    def __init__(self, params, defaults):
        name = type(self).__name__
        if hasattr(params, "parameters") and callable(params.parameters):
            raise TypeError(f"{name}: params must be an iterable of tensors, got a {type(params).__name__} module; "
                            f"pass model.parameters()")
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of tensors, got a single Tensor; pass [tensor]")
        try:
            self.params = list(params)
        except TypeError:
            raise TypeError(f"{name}: params must be an iterable of tensors (e.g. model.parameters()), "
                            f"got {type(params).__name__}") from None
        bad = [type(p).__name__ for p in self.params if not isinstance(p, Tensor)]
        if bad:
            raise TypeError(f"{name}: params must be tensors, got a {bad[0]}")
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        self.defaults = defaults
        self.state = {}

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None if set_to_none or p.grad is None else p.grad.detach().zero_()

    def _params_with_grad(self):
        return [(i, p) for i, p in enumerate(self.params) if p.grad is not None and p.requires_grad]

    def state_dict(self):
        """Hyper-parameters and per-parameter state (numpy arrays), keyed by parameter index."""
        state = {str(i): {k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in s.items()} for i, s in self.state.items()}
        return {"defaults": dict(self.defaults), "state": state}

    def load_state_dict(self, state_dict):
        from .tensor import Tensor

        self.defaults.update(
            {k: tuple(v) if isinstance(v, list) else v for k, v in state_dict["defaults"].items()}
        )
        self.state = {}
        for key, entries in state_dict["state"].items():
            p = self.params[int(key)]
            self.state[int(key)] = {
                k: Tensor(np.asarray(v), dtype=p.dtype, device=p.device) if np.ndim(v) else v for k, v in entries.items()
            }
        for name, value in self.defaults.items():
            setattr(self, name, value)


class SGD(Optimizer):
    """p -= lr * v, with v = momentum * v + (g + weight_decay * p) (v = g at the first step)."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False):
        if lr <= 0:
            raise ValueError(f"SGD: lr must be positive, got {lr}")
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: momentum and weight_decay must be >= 0, got {momentum}, {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: nesterov needs momentum > 0 and dampening 0, got momentum {momentum}, dampening {dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      dampening=dampening, nesterov=nesterov))
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.dampening, self.nesterov = dampening, nesterov

    @no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for i, p in self._params_with_grad():
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                state = self.state.setdefault(i, {})
                if "momentum_buffer" not in state:
                    buf = g.detach()
                else:
                    buf = state["momentum_buffer"] * self.momentum + g * (1 - self.dampening)
                state["momentum_buffer"] = buf
                g = g + self.momentum * buf if self.nesterov else buf
            p.data = (p - self.lr * g).data
        return loss


class Adam(Optimizer):
    """m, v: running means of g and g^2; p -= lr * m_hat / (sqrt(v_hat) + eps), bias-corrected."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if lr <= 0:
            raise ValueError(f"Adam: lr must be positive, got {lr}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))
        self.lr, self.betas, self.eps, self.weight_decay = lr, tuple(betas), eps, weight_decay

    @no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        beta1, beta2 = self.betas
        for i, p in self._params_with_grad():
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p
            state = self.state.setdefault(i, {})
            if "step" not in state:
                state.update(step=0, exp_avg=zeros_like(p), exp_avg_sq=zeros_like(p))
            state["step"] += 1
            t = state["step"]
            state["exp_avg"] = state["exp_avg"] * beta1 + g * (1 - beta1)
            state["exp_avg_sq"] = state["exp_avg_sq"] * beta2 + g * g * (1 - beta2)
            m_hat = state["exp_avg"] / (1 - beta1**t)
            v_hat = state["exp_avg_sq"] / (1 - beta2**t)
            p.data = (p - self.lr * m_hat / (v_hat.sqrt() + self.eps)).data
        return loss


class LBFGS(Optimizer):
    """Limited-memory BFGS: quasi-Newton steps from the last ``history_size`` gradient differences.

    ``step(closure)`` re-evaluates the loss through ``closure`` (which must zero the
    gradients, compute the loss, call backward and return it) up to ``max_iter``
    times, as PyTorch's LBFGS without a line search. ``line_search_fn="backtracking"``
    halves a step until its loss falls by at least 1e-4 * t * g.d (Armijo's rule), so one
    bad curvature estimate cannot throw the parameters far away.
    """

    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        super().__init__(params, dict(lr=lr, max_iter=max_iter))
        if line_search_fn not in (None, "backtracking"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'backtracking', got {line_search_fn!r}")
        self.line_search_fn = line_search_fn
        self.lr, self.max_iter = lr, max_iter
        self.max_eval = max_eval if max_eval is not None else max_iter * 5 // 4
        self.tolerance_grad, self.tolerance_change, self.history_size = tolerance_grad, tolerance_change, history_size
        self.lbfgs = {"old_dirs": [], "old_steps": [], "ro": [], "d": None, "t": None,
                      "prev_flat_grad": None, "H_diag": 1.0, "n_iter": 0}

    def _flat_grad(self):
        return cat([(p.grad if p.grad is not None else zeros_like(p)).reshape(-1) for p in self.params])

    def _add_to_params(self, step_size, direction):
        offset = 0
        for p in self.params:
            n = p.numel()
            p.data = (p + step_size * direction[offset:offset + n].reshape(p.shape)).data
            offset += n

    @staticmethod
    def _dot(a, b):
        return float((a * b).sum().item())

    def step(self, closure):
        if closure is None:
            raise ValueError("LBFGS.step needs a closure that recomputes the loss and its gradients")
        from .autograd import enable_grad

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss.item())
        with no_grad():
            s = self.lbfgs
            flat_grad = self._flat_grad()
            if float(flat_grad.abs().max().item()) <= self.tolerance_grad:
                return orig_loss
            evals = 1
            for _ in range(self.max_iter):
                s["n_iter"] += 1
                if s["n_iter"] == 1:
                    d, s["H_diag"] = -flat_grad, 1.0
                else:
                    y = flat_grad - s["prev_flat_grad"]
                    step = s["d"] * s["t"]
                    ys = self._dot(y, step)
                    if ys > 1e-10:
                        if len(s["old_dirs"]) == self.history_size:
                            for key in ("old_dirs", "old_steps", "ro"):
                                s[key].pop(0)
                        s["old_dirs"].append(y)
                        s["old_steps"].append(step)
                        s["ro"].append(1.0 / ys)
                        s["H_diag"] = ys / self._dot(y, y)
                    # Two-loop recursion: d = -H g with H built from the stored pairs.
                    q = -flat_grad
                    alphas = []
                    for y_i, s_i, ro_i in zip(reversed(s["old_dirs"]), reversed(s["old_steps"]), reversed(s["ro"])):
                        alpha = self._dot(s_i, q) * ro_i
                        alphas.append(alpha)
                        q = q - alpha * y_i
                    d = q * s["H_diag"]
                    for (y_i, s_i, ro_i), alpha in zip(zip(s["old_dirs"], s["old_steps"], s["ro"]), reversed(alphas)):
                        beta = self._dot(y_i, d) * ro_i
                        d = d + s_i * (alpha - beta)
                s["prev_flat_grad"] = flat_grad
                prev_loss = loss
                if s["n_iter"] == 1:
                    t = min(1.0, 1.0 / float(flat_grad.abs().sum().item())) * self.lr
                else:
                    t = self.lr
                gtd = self._dot(flat_grad, d)
                if gtd > -self.tolerance_change:
                    break
                self._add_to_params(t, d)
                with enable_grad():
                    loss = float(closure().item())
                evals += 1
                while (self.line_search_fn and not loss <= prev_loss + 1e-4 * t * gtd
                       and evals < self.max_eval):
                    # Back to half the step; to a tenth when the loss blew up (overflow, or 10x worse).
                    shrink = 0.5 if abs(loss) < 10.0 * abs(prev_loss) + 1e-12 else 0.1
                    self._add_to_params((shrink - 1.0) * t, d)
                    t *= shrink
                    with enable_grad():
                        loss = float(closure().item())
                    evals += 1
                if self.line_search_fn and not loss <= prev_loss + 1e-4 * t * gtd:
                    self._add_to_params(-t, d)          # out of evaluations: back to the last accepted point
                    break
                s["d"], s["t"] = d, t
                flat_grad = self._flat_grad()
                if evals >= self.max_eval:
                    break
                if float(flat_grad.abs().max().item()) <= self.tolerance_grad:
                    break
                if float((d * t).abs().max().item()) <= self.tolerance_change:
                    break
                if abs(loss - prev_loss) < self.tolerance_change:
                    break
        return orig_loss
