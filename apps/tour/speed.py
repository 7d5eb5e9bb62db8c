"""Speed: a short `minigrad bench` run, minigrad against PyTorch when it is installed and the numpy reference otherwise."""

import shutil

from apps.tour.page import Item

# The tour's workloads: LeNet-5's first conv and its training step; the full tour adds a matmul.
# Short samples either way (`minigrad bench` is the place for careful figures).
QUICK = r"conv2d fwd\+bwd 64x1x32x32|lenet5 train step"
FULL = QUICK + r"|matmul"


def speed(ctx):
    from apps.bench import report as bench_report
    from apps.bench.suite import run_suite

    only = ctx.pick(QUICK, FULL)
    result = run_suite(quick=True, only=only, jit=False, progress=lambda line: None,
                       command=f"minigrad bench --quick --only '{only}'")
    chart = bench_report.ratio_chart(result, ctx.scratch("bench") + "/ratios.png")
    images = []
    if chart:
        shutil.copyfile(chart, ctx.path("speed.png"))
        images.append(("speed.png", "time of minigrad over its peers' (left of 1: minigrad faster)"))
    rows = [[r[0], r[1], r[2], r[3], r[4], r[5]] for r in bench_report.rows(result)]
    peer = "PyTorch " + result["peers"]["torch"] if result["peers"].get("torch") else "the numpy reference only " \
        "(PyTorch is not installed: pip install torch to compare)"
    busy = " The machine was busy during the run, so the times are noisy." if result["load"]["busy"] else ""
    return Item(
        "How fast is it?",
        "The same seeded work, timed interleaved in one process: minigrad's Numba kernels against "
        f"{peer} and a plain numpy im2col engine (the course's own way to write a convolution). Medians with "
        f"min-max over {result['settings']['rounds']} rounds, {result['settings']['threads']} threads.{busy}",
        images=images,
        tables=[("", ["workload", "minigrad", "PyTorch", "numpy ref", "mg/torch", "mg/numpy"], rows)],
        command=result["command"],
    )
