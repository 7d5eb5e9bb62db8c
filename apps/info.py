"""`minigrad info`: versions, threads, BLAS, Numba's threading layer and whether CUDA is available."""

import os
import platform


def collect():
    """Everything `minigrad info` prints, as a dict (also recorded by the benchmarks)."""
    import numba
    import numpy as np

    import minigrad
    from minigrad.backend import cpu, cuda_available

    info = {
        "minigrad": minigrad.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
    }
    info.update(cpu.describe_threads())
    info["cuda"] = _cuda_description() if cuda_available() else "not available"
    return info


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cuda_description():
    from numba import cuda

    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "CUDA simulator (NUMBA_ENABLE_CUDASIM=1): kernels run on the CPU"
    device = cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else device.name
    return f"{name} (compute capability {device.compute_capability[0]}.{device.compute_capability[1]})"


def run(args):
    for key, value in collect().items():
        print(f"{key + ':':<24}{value}")
    return 0


def register(subparsers):
    parser = subparsers.add_parser("info", help="versions, threads, BLAS, Numba threading layer, CUDA")
    parser.set_defaults(func=run)
