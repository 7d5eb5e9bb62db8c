"""The operator workloads: conv2d on the engine issue's nine shapes, pooling, a matmul, a tiny elementwise op.

A ``Workload`` names what is timed and, per peer, a setup function that builds the
inputs (seeded, float32, identical for every peer) and returns the zero-argument
callable the timer calls. Setups run lazily, so listing the suite imports nothing
heavy and a peer that is not installed is simply never set up. Whole models and
the scaling sweeps are in ``model_workloads``; ``all_workloads()`` gathers both.

Peers: ``minigrad``; ``torch`` (PyTorch on the CPU); ``numpy`` (the plain numpy im2col
engine of ``reference_numpy``); ``gemm`` (numpy's BLAS on a square float32 GEMM with
the same FLOP count as the workload: the machine's limit for that much arithmetic).
"""

from dataclasses import dataclass, field

import numpy as np

from minigrad.sizes import output_size

from . import reference_numpy as ref

# The engine issue's conv shapes: (N, C_in, H, W), C_out, f, s, p.
CONV_SHAPES = [
    ((64, 1, 32, 32), 6, 5, 1, 0),
    ((64, 6, 14, 14), 16, 5, 1, 0),
    ((8, 64, 56, 56), 64, 3, 1, 1),
    ((1, 3, 224, 224), 64, 3, 1, 1),
    ((16, 128, 28, 28), 128, 3, 1, 1),
    ((16, 64, 56, 56), 128, 3, 2, 1),
    ((16, 192, 28, 28), 32, 1, 1, 0),
    ((16, 16, 28, 28), 32, 5, 1, 2),
    ((16, 192, 28, 28), 32, 5, 1, 2),
]
# The subset `--quick` runs: the small ones, covering 5x5, 5x5 padded and 1x1.
QUICK_CONV = {0, 6, 7}
POOL_SHAPE, POOL_K = (16, 64, 56, 56), 2


@dataclass
class Workload:
    """One row of the table: what is timed, its FLOP count per call, and how each peer runs it."""

    name: str
    group: str  # conv | pool | op | model | scale-batch | scale-size
    setups: dict  # peer -> setup() -> zero-argument callable
    flops: object = None  # per call: a number, a zero-argument callable giving one, or None
    quick: bool = False  # part of `minigrad bench --quick`
    min_time: float = 0.05  # seconds per timed sample (calls are repeated up to this)
    x: int = None  # the swept value of a scaling workload (batch size or image size)
    note: str = ""
    meta: dict = field(default_factory=dict)

    def resolve_flops(self):
        if callable(self.flops):
            self.flops = self.flops()
        return self.flops


def rng_array(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def gemm_setup(flops):
    """A square float32 GEMM with 2 n^3 = flops, run through numpy's BLAS (the limit for that work)."""
    def setup():
        n = max(8, round((flops / 2) ** (1 / 3)))
        a, b = rng_array((n, n), 11), rng_array((n, n), 12)
        out = np.empty((n, n), np.float32)
        return lambda: np.matmul(a, b, out=out)
    return setup


def conv_out(n, f, s, p):
    return output_size(n, f, p, s)


def conv_flops(shape, c_out, f, s, p):
    """2 * multiplies of one forward: N * n_c' * n_H' * n_W' output values, f*f*n_c products each."""
    n, c, h, w = shape
    return 2.0 * n * c_out * conv_out(h, f, s, p) * conv_out(w, f, s, p) * c * f * f


def _conv_data(shape, c_out, f, s, p):
    x, w = rng_array(shape, 1), rng_array((c_out, shape[1], f, f), 2) * 0.1
    b = rng_array((c_out,), 3)
    dy = rng_array((shape[0], c_out, conv_out(shape[2], f, s, p), conv_out(shape[3], f, s, p)), 4)
    return x, w, b, dy


def _conv_minigrad(args, backward):
    def setup():
        import minigrad as mg
        import minigrad.functional as F

        x, w, b, dy = _conv_data(*args)
        s, p = args[3], args[4]
        xt, wt, bt = (mg.tensor(a, requires_grad=backward) for a in (x, w, b))
        if not backward:
            def forward():
                with mg.no_grad():
                    F.conv2d(xt, wt, bt, stride=s, padding=p)
            return forward
        gy = mg.tensor(dy)

        def step():
            xt.grad = wt.grad = bt.grad = None  # no accumulation: each call does the same work
            F.conv2d(xt, wt, bt, stride=s, padding=p).backward(gy)
        return step
    return setup


def _conv_torch(args, backward):
    def setup():
        import torch
        import torch.nn.functional as TF

        x, w, b, dy = _conv_data(*args)
        s, p = args[3], args[4]
        xt, wt, bt = (torch.from_numpy(a).requires_grad_(backward) for a in (x, w, b))
        if not backward:
            def forward():
                with torch.no_grad():
                    TF.conv2d(xt, wt, bt, stride=s, padding=p)
            return forward
        gy = torch.from_numpy(dy)

        def step():
            xt.grad = wt.grad = bt.grad = None
            TF.conv2d(xt, wt, bt, stride=s, padding=p).backward(gy)
        return step
    return setup


def _conv_numpy(args, backward):
    def setup():
        x, w, b, dy = _conv_data(*args)
        s, p = args[3], args[4]
        if not backward:
            return lambda: ref.conv_forward(x, w, b, s, p)
        return lambda: ref.conv_backward(dy, ref.conv_forward(x, w, b, s, p)[1])
    return setup


def conv_workloads():
    out = []
    for i, (shape, c_out, f, s, p) in enumerate(CONV_SHAPES):
        args = (shape, c_out, f, s, p)
        label = f"{'x'.join(map(str, shape))}>{c_out} f{f}s{s}p{p}"
        for backward in (False, True):
            flops = conv_flops(*args) * (3 if backward else 1)  # backward: dX and dW, a forward's worth each
            kind = "fwd+bwd" if backward else "fwd"
            out.append(Workload(
                name=f"conv2d {kind} {label}", group="conv", flops=flops, quick=i in QUICK_CONV,
                setups={"minigrad": _conv_minigrad(args, backward), "torch": _conv_torch(args, backward),
                        "numpy": _conv_numpy(args, backward), "gemm": gemm_setup(flops)},
            ))
    return out


def _pool(peer, kind, backward):
    """Max or average pooling, k=2, s=2, on POOL_SHAPE, for one peer."""
    def setup():
        x = rng_array(POOL_SHAPE, 5)
        k = POOL_K
        dy = rng_array(POOL_SHAPE[:2] + (POOL_SHAPE[2] // k, POOL_SHAPE[3] // k), 6)
        if peer == "numpy":
            fwd, bwd = ((ref.max_pool_forward, ref.max_pool_backward) if kind == "max"
                        else (ref.avg_pool_forward, ref.avg_pool_backward))
            if not backward:
                return lambda: fwd(x, k, k)
            return lambda: bwd(dy, fwd(x, k, k)[1])
        if peer == "minigrad":
            import minigrad as engine
            import minigrad.functional as F
            xt, gy, no_grad = engine.tensor(x, requires_grad=backward), engine.tensor(dy), engine.no_grad
        else:
            import torch as engine
            import torch.nn.functional as F
            xt, gy, no_grad = torch_leaf(x, backward), engine.from_numpy(dy), engine.no_grad
        pool = F.max_pool2d if kind == "max" else F.avg_pool2d
        if not backward:
            def forward():
                with no_grad():
                    pool(xt, k, k)
            return forward

        def step():
            xt.grad = None
            pool(xt, k, k).backward(gy)
        return step
    return setup


def torch_leaf(array, requires_grad=False):
    import torch

    return torch.from_numpy(array).requires_grad_(requires_grad)


def pool_workloads():
    label = "x".join(map(str, POOL_SHAPE))
    return [
        Workload(name=f"{kind}_pool2d {'fwd+bwd' if backward else 'fwd'} {label} k{POOL_K}s{POOL_K}",
                 group="pool", quick=True,
                 setups={peer: _pool(peer, kind, backward) for peer in ("minigrad", "torch", "numpy")})
        for kind in ("max", "avg") for backward in (False, True)
    ]


MATMUL_N = 512


def _matmul(peer):
    def setup():
        a, b = rng_array((MATMUL_N, MATMUL_N), 7), rng_array((MATMUL_N, MATMUL_N), 8)
        if peer == "numpy":
            return lambda: a @ b
        if peer == "minigrad":
            import minigrad as engine
            at, bt = engine.tensor(a), engine.tensor(b)
        else:
            import torch as engine
            at, bt = engine.from_numpy(a), engine.from_numpy(b)

        def forward():
            with engine.no_grad():
                at @ bt
        return forward
    return setup


def _tiny_add(peer, backward):
    """a + b on 4x4 tensors that require gradients: nearly all of the time is the engine's per-op overhead."""
    def setup():
        a, b = rng_array((4, 4), 9), rng_array((4, 4), 10)
        if peer == "numpy":
            return lambda: a + b
        if peer == "minigrad":
            import minigrad as engine
            at, bt = engine.tensor(a, requires_grad=True), engine.tensor(b, requires_grad=True)
            ones = engine.ones(4, 4)
        else:
            import torch as engine
            at, bt, ones = torch_leaf(a, True), torch_leaf(b, True), engine.ones(4, 4)
        if not backward:
            return lambda: at + bt

        def step():
            at.grad = bt.grad = None
            (at + bt).backward(ones)
        return step
    return setup


def op_workloads():
    n = MATMUL_N
    out = [Workload(name=f"matmul fwd {n}x{n}@{n}x{n}", group="op", flops=2.0 * n ** 3, quick=True,
                    setups={peer: _matmul(peer) for peer in ("minigrad", "torch", "numpy")})]
    for backward in (False, True):
        peers = ("minigrad", "torch") + (() if backward else ("numpy",))
        out.append(Workload(
            name=f"add {'fwd+bwd' if backward else 'fwd'} 4x4 (per-op overhead)", group="op", quick=True,
            min_time=0.02, setups={peer: _tiny_add(peer, backward) for peer in peers},
            note="4x4 inputs that require grad: the time is the engine's overhead per op",
        ))
    return out


def all_workloads():
    """Every workload in table order: operators, then models, then the scaling sweeps."""
    from .model_workloads import model_workloads, scaling_workloads

    return conv_workloads() + pool_workloads() + op_workloads() + model_workloads() + scaling_workloads()
