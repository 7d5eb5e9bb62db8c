"""The command as a Unix filter: `minigrad bench --list | head -1` ends quietly (no BrokenPipeError)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_list_into_a_closed_pipe_is_quiet():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    shell = f"{sys.executable} -m apps bench --list | head -1"
    done = subprocess.run(["bash", "-c", "set -o pipefail; " + shell], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.stdout.count("\n") == 1
    assert "Error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
