"""The benchmark suite behind `minigrad bench` and `pytest benchmarks/ --benchmark-only`.

minigrad is timed against its peers in one process, interleaved round by round:
PyTorch on the CPU (when installed), a plain numpy im2col engine written here
(``reference_numpy``), and numpy's BLAS on a square GEMM of the same FLOP count
(the machine's limit). The package lives under ``apps`` so that an installed
``minigrad bench`` works without a checkout; nothing in ``minigrad`` imports it.

    workloads.py        what is timed: the Workload record; conv, pool, matmul, tiny-op workloads
    model_workloads.py  whole models and the scaling sweeps of one ResNet block
    timing.py           how: warm-up, interleaved rounds, median and spread, busy detection
    reference_numpy.py  the plain numpy engine (the course's way of writing conv)
    torch_models.py     PyTorch mirrors of the model zoo (torchvision is not required)
    environment.py      the machine, BLAS, threads and versions, and the JIT compile probe
    suite.py            runs a selection of workloads and gathers every figure
    report.py           the table, the JSON file, the PNG charts and the RESULTS.md section
    pytest_bench.py     the same workloads as pytest-benchmark tests (benchmarks/test_bench_*.py)
"""
