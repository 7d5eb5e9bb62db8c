"""Compile every CUDA kernel of the backend to PTX for a real GPU, without a GPU.

The simulator runs kernels as Python, so it cannot tell whether numba.cuda would
accept them; this script type-checks and compiles each one for compute
capability 8.0. It needs NVVM and NVRTC (a CUDA toolkit, or the
``nvidia-cuda-nvrtc`` wheel) but no driver. Not collected by pytest (a minute or two):

    python spec_tests/engine/check_cuda_ptx.py

The random-number kernel is left out: numba's xoroshiro128p device functions
look for a driver even when only compiling.
"""

import os
import sys

os.environ["NUMBA_ENABLE_CUDASIM"] = "0"

from numba import cuda  # noqa: E402
from numba import types as T  # noqa: E402

from minigrad.backend import cuda_conv as C  # noqa: E402
from minigrad.backend import cuda_elementwise as E  # noqa: E402
from minigrad.backend import cuda_linalg as L  # noqa: E402
from minigrad.backend import cuda_nn as N  # noqa: E402
from minigrad.backend import cuda_pool as P  # noqa: E402
from minigrad.backend import cuda_reduce as R  # noqa: E402
from minigrad.backend import cuda_shape as S  # noqa: E402


def A(dtype):  # noqa: N802 - a type constructor
    return T.Array(dtype, 1, "C")


I, B, T8 = T.int64, T.boolean, T.UniTuple(T.int64, 8)


def signatures():
    """(name, kernel, argument types) for every kernel and dtype the backend launches."""
    for dt in (T.float32, T.float64):
        for op in (E._add, E._subtract, E._multiply, E._divide, E._power, E._maximum, E._minimum):
            yield "binary", E._binary_kernel(op), (A(dt), A(dt), A(dt), I, T8, T8, T8, B, B)
        for op in (E._greater, E._equal):
            yield "compare", E._binary_kernel(op), (A(dt), A(dt), A(B), I, T8, T8, T8, B, B)
        for op in (E._negative, E._exp, E._log, E._sqrt, E._abs, E._sign, E._tanh, E._sigmoid):
            yield "unary", E._unary_kernel(op), (A(dt), A(dt), I)
        yield "where", E._where_kernel, (A(B), A(dt), A(dt), A(dt), I, T8, T8, T8, T8)
        yield "fill", E._fill_kernel, (A(dt), I, dt)
        yield "sum", R._sum_kernel, (A(dt), A(dt), I, I, T8, T8, T8, T8, I, I)
        yield "max", R._max_kernel, (A(dt), A(dt), A(I), B, I, T8, T8, T8, T8, I)
        yield "copy", S._copy_kernel, (A(dt), I, T8, A(dt), I, T8, I, T8)
        for tile in (8, 16):
            yield "gemm", L._gemm_kernel(dt.name, tile), (A(dt), A(dt), A(dt), I, I, I, T8, T8, T8, I)
        conv = (I,) * 12 + (dt,)
        yield "conv forward", C._forward_kernel, (A(dt), A(dt), A(dt), B, A(dt), I) + conv
        yield "conv input grad", C._input_grad_kernel, (A(dt), A(dt), A(dt), I) + conv
        yield "conv weight grad", C._weight_grad_kernel, (A(dt), A(dt), A(dt), I, I, I) + conv
        pool = (I,) * 10
        yield "max pool forward", P._max_forward_kernel, (A(dt), A(dt), A(I), I) + pool
        yield "max pool backward", P._max_backward_kernel, (A(dt), A(I), A(dt), I) + pool + (dt,)
        yield "avg pool forward", P._avg_forward_kernel, (A(dt), A(dt), I) + pool + (dt,)
        yield "avg pool backward", P._avg_backward_kernel, (A(dt), A(dt), I) + pool + (dt,)
        yield "log_softmax", N._log_softmax_kernel, (A(dt), A(dt), I, I, I)
        yield "one_hot", N._one_hot_kernel, (A(I), A(dt), I, I, dt)
    yield "sum of bools", R._sum_kernel, (A(B), A(I), I, I, T8, T8, T8, T8, I, I)
    yield "cast", S._copy_kernel, (A(T.float32), I, T8, A(T.float64), I, T8, I, T8)
    yield "mixed add", E._binary_kernel(E._add), (A(T.float32), A(T.float64), A(T.float64), I, T8, T8, T8, B, B)
    yield "integer equal", E._binary_kernel(E._equal), (A(I), A(I), A(B), I, T8, T8, T8, B, B)


def main():
    failures = 0
    for count, (name, kernel, sig) in enumerate(signatures(), 1):
        try:
            cuda.compile_ptx(kernel.py_func, sig, cc=(8, 0))
        except Exception as error:  # report every failure, not just the first
            failures += 1
            print(f"FAIL {name} {sig}:\n{error}\n", file=sys.stderr)
    print(f"{count - failures} of {count} kernel signatures compile to PTX")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
