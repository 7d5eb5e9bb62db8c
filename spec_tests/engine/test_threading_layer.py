"""Which Numba threading layer minigrad picks, and that its kernels survive fork().

Each check runs in a fresh interpreter: the layer is chosen once per process, at
Numba's first parallel launch, and forking the test worker itself would be unsafe.
"""
import importlib.metadata
import os
import subprocess
import sys
import textwrap

import pytest

# A conv large enough for the parallel kernels (the direct path's Numba loop).
_CONV = textwrap.dedent("""
    import numpy as np, numba, minigrad
    import minigrad.functional as F
    x = minigrad.tensor(np.random.default_rng(0).standard_normal((4, 16, 16, 16)).astype(np.float32))
    w = minigrad.tensor(np.random.default_rng(1).standard_normal((16, 16, 3, 3)).astype(np.float32))
    def conv():
        return F.conv2d(x, w, padding=1).numpy()
""")


def _run(script, **env):
    clean = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    clean.update(env)
    done = subprocess.run([sys.executable, "-c", _CONV + textwrap.dedent(script)], env=clean,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()


def _tbb_installed():
    try:
        importlib.metadata.version("tbb")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def test_minigrad_runs_numba_on_tbb_where_it_is_installed_else_workqueue():
    """`minigrad info` names the layer before the first parallel loop, and that loop starts it."""
    out = _run("""
        from minigrad.backend.threads import describe_threads
        print(describe_threads()["numba_threading_layer"])
        conv()
        print(numba.threading_layer())
    """)
    expected = "tbb" if _tbb_installed() else "workqueue"
    assert out[-2:] == [f"{expected} (not started yet)", expected]


def test_the_users_numba_threading_layer_wins():
    assert _run("conv(); print(numba.threading_layer())", NUMBA_THREADING_LAYER="workqueue")[-1] == "workqueue"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_a_forked_child_runs_the_parallel_kernels_after_its_parent():
    """multiprocessing's fork start method (Linux's default before Python 3.14): Numba's
    GNU OpenMP layer terminates such a child at its first parallel loop."""
    out = _run("""
        import multiprocessing
        mine = conv()
        with multiprocessing.get_context("fork").Pool(1) as pool:
            theirs = pool.apply_async(conv).get(timeout=120)
        print(numba.threading_layer(), np.array_equal(mine, theirs))
    """)
    assert out[-1].split()[1] == "True", out
