"""Engine kernels (CPU) against PyTorch: conv2d and pooling forward+backward, interleaved.

Run ``python benchmarks/report_kernels.py`` (``--rounds 9``, ``--threads 2``,
``--out benchmarks/RESULTS.md``). Every workload is timed alternately for minigrad
and PyTorch (``F.conv2d`` / ``F.max_pool2d`` / ``F.avg_pool2d`` forward, then
``torch.autograd.grad`` for every input), and the median of the rounds is kept, so
load from other processes hits both sides alike. The functions return plain numbers
so a ``minigrad bench`` command can reuse them; ``main`` only formats.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

# PyTorch's OpenMP workers sleep instead of spinning while minigrad runs in between
# (must be set before torch starts OpenMP); recorded in the report.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# (N, C_in, H, W), C_out, f, s, p: the conv shapes.
CONV_SHAPES = [
    ((64, 1, 32, 32), 6, 5, 1, 0), ((64, 6, 14, 14), 16, 5, 1, 0), ((8, 64, 56, 56), 64, 3, 1, 1),
    ((1, 3, 224, 224), 64, 3, 1, 1), ((16, 128, 28, 28), 128, 3, 1, 1), ((16, 64, 56, 56), 128, 3, 2, 1),
    ((16, 192, 28, 28), 32, 1, 1, 0), ((16, 16, 28, 28), 32, 5, 1, 2), ((16, 192, 28, 28), 32, 5, 1, 2),
]
# kind, (N, C, H, W), f, s, p
POOL_SHAPES = [("max", (16, 64, 56, 56), 2, 2, 0), ("avg", (16, 64, 56, 56), 2, 2, 0)]


def conv_flops(shape, c_out, f, s, p):
    """Multiply-adds x 2 of forward + both gradients (3 GEMMs of the same size)."""
    n, c, h, w = shape
    h_o, w_o = (h + 2 * p - f) // s + 1, (w + 2 * p - f) // s + 1
    return 3 * 2 * n * c_out * h_o * w_o * c * f * f


def conv_label(shape, c_out, f, s, p):
    return f"conv {shape} -> {c_out}, f{f} s{s} p{p}"


def minigrad_conv(shape, c_out, f, s, p, seed=0):
    """A callable running minigrad's conv2d forward + dx, dW, db on fixed float32 data."""
    from minigrad.backend.threads import configure_threads
    configure_threads()
    from minigrad.backend.cpu_conv import conv2d_backward, conv2d_forward

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal((c_out, shape[1], f, f), dtype=np.float32)
    b = rng.standard_normal(c_out, dtype=np.float32)
    stride, pad = (s, s), (p, p, p, p)
    gy = np.ones(conv2d_forward(x, w, b, stride, pad).shape, np.float32)

    def run():
        conv2d_forward(x, w, b, stride, pad)
        return conv2d_backward(gy, x, w, stride, pad, (True, True, True))
    return run


def torch_conv(shape, c_out, f, s, p, seed=0):
    import torch

    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).requires_grad_()
    w = torch.from_numpy(rng.standard_normal((c_out, shape[1], f, f), dtype=np.float32)).requires_grad_()
    b = torch.from_numpy(rng.standard_normal(c_out, dtype=np.float32)).requires_grad_()

    def run():
        y = torch.nn.functional.conv2d(x, w, b, stride=s, padding=p)
        return torch.autograd.grad(y, (x, w, b), torch.ones_like(y))
    return run


def minigrad_pool(kind, shape, f, s, p, seed=0):
    from minigrad.backend.threads import configure_threads
    configure_threads()
    from minigrad.backend import cpu_pool

    x = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    k, st, pd = (f, f), (s, s), (p, p)
    if kind == "max":
        def run():
            y, arg = cpu_pool.max_pool2d_forward(x, k, st, pd)
            return cpu_pool.max_pool2d_backward(np.ones_like(y), arg, x.shape, k, st, pd)
    else:
        def run():
            y = cpu_pool.avg_pool2d_forward(x, k, st, pd)
            return cpu_pool.avg_pool2d_backward(np.ones_like(y), x.shape, k, st, pd)
    return run


def torch_pool(kind, shape, f, s, p, seed=0):
    import torch

    x = torch.from_numpy(np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)).requires_grad_()
    fn = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d

    def run():
        y = fn(x, f, s, p)
        return torch.autograd.grad(y, x, torch.ones_like(y))
    return run


def have_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def set_threads(n):
    """Same thread count for Numba, the GEMM split, BLAS and PyTorch."""
    import numba

    from minigrad.backend.threads import configure_threads

    # minigrad picks Numba's threading layer; set_num_threads would start the default one.
    configure_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if have_torch():
        import torch
        torch.set_num_threads(n)


def interleaved_medians(fns, rounds):
    """Median seconds per callable, calling them alternately (after one warm-up each)."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for t, fn in zip(times, fns):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def peak_bytes(fn):
    """Peak numpy allocation during one call (numpy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def kernel_rows(rounds=7):
    """One dict per workload: ours, torch (None without torch), ratio, GFLOP/s, peak bytes."""
    with_torch = have_torch()
    work = [(conv_label(*c), conv_flops(*c), minigrad_conv(*c), torch_conv(*c) if with_torch else None)
            for c in CONV_SHAPES]
    work += [(f"{k}_pool {shape} f{f} s{s}", None, minigrad_pool(k, shape, f, s, p),
              torch_pool(k, shape, f, s, p) if with_torch else None) for k, shape, f, s, p in POOL_SHAPES]
    rows = []
    for name, flops, ours, theirs in work:
        fns = [ours] + ([theirs] if theirs else [])
        med = interleaved_medians(fns, rounds)
        t_ours, t_torch = med[0], (med[1] if theirs else None)
        rows.append({
            "workload": name, "ours_s": t_ours, "torch_s": t_torch,
            "ratio": t_ours / t_torch if t_torch else None,
            "gflops": flops / t_ours / 1e9 if flops else None,
            "peak_bytes": peak_bytes(ours),
        })
    return rows


_PROBE = """
import time, numpy as np
t0 = time.perf_counter()
from minigrad.backend.threads import configure_threads; configure_threads()
from minigrad.backend import cpu_conv, cpu_pool
x = np.ones((2, 3, 8, 8), np.float32); w = np.ones((4, 3, 3, 3), np.float32)
y = cpu_conv.conv2d_forward(x, w, None, (1, 1), (1, 1, 1, 1))
cpu_conv.conv2d_backward(y, x, w, (1, 1), (1, 1, 1, 1), (True, True, True))
z, a = cpu_pool.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
cpu_pool.max_pool2d_backward(z, a, x.shape, (2, 2), (2, 2), (0, 0))
z = cpu_pool.avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
cpu_pool.avg_pool2d_backward(z, x.shape, (2, 2), (2, 2), (0, 0))
print(time.perf_counter() - t0)
"""


def first_call_times():
    """Seconds to import the kernels and run each once, in fresh processes: with an
    empty Numba cache directory (cold: everything compiles), then with that cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=ROOT)
        out = {}
        for key in ("cold_s", "warm_s"):
            res = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
            out[key] = float(res.stdout.strip().splitlines()[-1])
        return out


_VGG_PROBE = """
import resource, sys, numpy as np
from minigrad.backend.threads import configure_threads; configure_threads()
from minigrad.backend import cpu_conv, cpu_pool
cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']
n = int(sys.argv[1]); rng = np.random.default_rng(0)
x = rng.standard_normal((n, 3, 224, 224), dtype=np.float32); tape = []
for v in cfg:
    if v == 'M':
        y, a = cpu_pool.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0)); tape.append(('M', x.shape, a))
    else:
        w = (rng.standard_normal((v, x.shape[1], 3, 3)) * 0.05).astype(np.float32)
        y = np.maximum(cpu_conv.conv2d_forward(x, w, None, (1, 1), (1, 1, 1, 1)), 0); tape.append(('C', x, w, y))
    x = y
g = np.ones_like(x)
for rec in reversed(tape):
    if rec[0] == 'M':
        g = cpu_pool.max_pool2d_backward(g, rec[2], rec[1], (2, 2), (2, 2), (0, 0))
    else:
        _, xi, w, y = rec
        g, gw, _ = cpu_conv.conv2d_backward(g * (y > 0), xi, w, (1, 1), (1, 1, 1, 1), (True, True, False))
    tape.pop()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def vgg16_peak_rss(batch=8):
    """Peak RSS (bytes) of VGG-16's 13 convs + 5 pools, forward then backward, float32 224 x 224."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    res = subprocess.run([sys.executable, "-c", _VGG_PROBE, str(batch)], env=env, capture_output=True, text=True, check=True)
    return int(res.stdout.strip().splitlines()[-1])


def machine():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version()}


def _fmt_ms(s):
    return "-" if s is None else f"{s * 1e3:.2f}"


def markdown(rows, extra, threads, command):
    from minigrad.backend.threads import describe_threads

    conv = [r["ratio"] for r in rows if r["ratio"] and r["workload"].startswith("conv")]
    lines = ["## Engine kernels (CPU)", "",
             f"Forward + all gradients, float32, {threads} threads, median of interleaved rounds.",
             "| workload | minigrad ms | PyTorch ms | ratio | GFLOP/s | peak MB |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        gf = "-" if r["gflops"] is None else f"{r['gflops']:.1f}"
        lines.append(f"| {r['workload']} | {_fmt_ms(r['ours_s'])} | {_fmt_ms(r['torch_s'])} | {ratio} | {gf} | {r['peak_bytes'] / 2**20:.0f} |")
    if conv:
        lines += ["", f"conv2d: geometric-mean ratio {float(np.exp(np.mean(np.log(conv)))):.2f}, worst {max(conv):.2f}."]
    info = describe_threads()
    lines += ["", f"- machine: {extra['machine']['cpu']}, {extra['machine']['cores']} cores; Python {extra['machine']['python']}",
              f"- threads: numba {info['numba_threading_layer']} x {info['numba_threads']}, "
              f"BLAS {[(p['library'], p['threads']) for p in info['thread_pools']]}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}",
              f"- peak MB: numpy allocations during one minigrad call (tracemalloc), inputs excluded",
              f"- import + first call of every kernel: cold (empty Numba cache) {extra['first_call']['cold_s']:.1f} s, "
              f"warm (cached) {extra['first_call']['warm_s']:.1f} s"]
    lines.append(f"- load average (1, 5, 15 min) at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    if "vgg16_rss" in extra:
        lines.append(f"- VGG-16 convs + pools, batch 8, 224 x 224, forward + backward: peak RSS {extra['vgg16_rss'] / 2**30:.2f} GiB")
    lines += [f"- command: `{command}`", ""]
    return "\n".join(lines)


def write_section(path, text, title="## Engine kernels (CPU)"):
    """Replace (or append) this report's section in RESULTS.md, leaving other sections alone."""
    old = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    start = old.find(title)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(title))
        new = old[:start] + text + ("" if end < 0 else old[end + 1:])
    with open(path, "w") as fh:
        fh.write(new)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--no-vgg", action="store_true", help="skip the VGG-16 peak-memory probe")
    args = ap.parse_args(argv)
    set_threads(args.threads)
    extra = {"machine": machine(), "first_call": first_call_times()}
    rows = kernel_rows(args.rounds)
    if not args.no_vgg:
        extra["vgg16_rss"] = vgg16_peak_rss()
    command = "python benchmarks/report_kernels.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(rows, extra, args.threads, command.strip())
    write_section(args.out, text)
    print(text)
    print(json.dumps({"rows": rows, **extra}, indent=1))


if __name__ == "__main__":
    main()
