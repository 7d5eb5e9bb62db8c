"""Memory figures for `minigrad bench --memory`: a kernel call's peak numpy allocation, and VGG-16's peak RSS.

Folded in from the old benchmarks/report_kernels.py, so one harness measures everything.
``peak_numpy_bytes`` runs one call under tracemalloc (numpy reports its allocations
there; the inputs, made before, are not counted). ``vgg16_peak_rss`` runs VGG-16's 13
convs and 5 pools forward then backward on a float32 224 x 224 batch in a fresh process
and reads its peak resident set size, so nothing this process holds is counted.
"""

import os
import resource  # noqa: F401  (the probe uses it; imported here so a platform without it fails early)
import subprocess
import sys
import tracemalloc


def peak_numpy_bytes(fn):
    """Peak bytes numpy allocated during one call of ``fn``."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


_VGG_PROBE = """
import resource, sys, numpy as np
from minigrad.backend import get_backend
xp = get_backend("cpu")
cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']
n = int(sys.argv[1]); rng = np.random.default_rng(0)
x = rng.standard_normal((n, 3, 224, 224), dtype=np.float32); tape = []
for v in cfg:
    if v == 'M':
        y, a = xp.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0)); tape.append(('M', x.shape, a))
    else:
        w = (rng.standard_normal((v, x.shape[1], 3, 3)) * 0.05).astype(np.float32)
        y = np.maximum(xp.conv2d_forward(x, w, None, (1, 1), (1, 1, 1, 1)), 0); tape.append(('C', x, w, y))
    x = y
g = np.ones_like(x)
while tape:
    rec = tape.pop()
    if rec[0] == 'M':
        g = xp.max_pool2d_backward(g, rec[2], rec[1], (2, 2), (2, 2), (0, 0))
    else:
        _, xi, w, y = rec
        g, gw, _ = xp.conv2d_backward(g * (y > 0), xi, w, (1, 1), (1, 1, 1, 1), (True, True, False))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def vgg16_peak_rss(batch=8):
    """Peak RSS in bytes of VGG-16's convs and pools, forward + backward, batch ``batch`` at 224 x 224."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", _VGG_PROBE, str(batch)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return {"batch": batch, "peak_rss_bytes": int(done.stdout.strip().splitlines()[-1])}
