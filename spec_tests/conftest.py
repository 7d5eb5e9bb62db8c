"""Test-session setup shared by every spec test."""

import os

# The CUDA tests run on numba's CUDA simulator unless a real GPU is asked for
# (MINIGRAD_REAL_GPU=1). numba reads the switch when numba.cuda is first
# imported, so it has to be set here, before any test module imports minigrad.
if os.environ.get("MINIGRAD_REAL_GPU") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
