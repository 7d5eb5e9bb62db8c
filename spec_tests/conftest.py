"""Test-session setup shared by every spec test."""

import os

# The CUDA tests run on numba's CUDA simulator unless a real GPU is asked for
# (MINIGRAD_REAL_GPU=1). numba reads the switch when numba.cuda is first
# imported, so it has to be set here, before any test module imports minigrad.
if os.environ.get("MINIGRAD_REAL_GPU") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def mpiexec():
    """run(n, script, *args, timeout=150, env=None) -> (returncode, output, seconds): ``script`` (or "-m",
    module) on n local MPI ranks, with a hard timeout (a hang fails the test, never blocks it). Skips without mpi4py."""
    import importlib.util

    launcher = shutil.which("mpiexec")
    if importlib.util.find_spec("mpi4py") is None or launcher is None:
        pytest.skip("mpi4py (pip install 'minigrad[distributed]') is not installed")

    def run(n, script, *args, timeout=150, env=None):
        command = [launcher, "--oversubscribe", "-n", str(n)]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-run-as-root")
        full_env = dict(os.environ, PYTHONPATH=_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {}))
        start = time.monotonic()
        done = subprocess.run(command + [sys.executable, script, *map(str, args)], env=full_env,
                              capture_output=True, text=True, errors="replace", timeout=timeout)
        return done.returncode, done.stdout + done.stderr, time.monotonic() - start

    return run


@pytest.fixture
def spy(monkeypatch):
    """spy(module, name, arg) -> list: replaces module.name with a wrapper that records the
    shape of positional argument ``arg`` of every call, so a test knows the code path it
    meant to cover really ran."""
    def install(module, name, arg):
        calls, real = [], getattr(module, name)

        def wrapper(*args):
            calls.append(args[arg].shape)
            return real(*args)

        monkeypatch.setattr(module, name, wrapper)
        return calls
    return install
