"""`minigrad bench`: time minigrad against PyTorch, a plain numpy engine and the machine's GEMM peak.

Prints one row per workload (median and min-max per peer, the ratios, GFLOP/s and
the percentage of the GEMM peak) and writes, under ``--out``: bench.json (every
figure, the machine, the load), bench.md (the table in Markdown), ratios.png and
scaling.png. ``--quick`` runs a subset in about a minute, the full suite takes
under 15 minutes. The suite itself lives in ``apps.bench``.
"""

import argparse
import re

from apps.cli_args import CLIError, output_dir, output_file, positive_int


def regex(text):
    """An argparse type: a regular expression that compiles (checked before any workload runs)."""
    try:
        re.compile(text)
    except re.error as error:
        raise argparse.ArgumentTypeError(f"is not a valid regular expression ({error}): {text!r}") from None
    return text


def register(subparsers):
    parser = subparsers.add_parser(
        "bench",
        help="benchmark minigrad against PyTorch, a numpy im2col engine and the GEMM peak",
        description="Run the benchmark suite: conv2d on nine shapes, pooling, a matmul, a tiny op's overhead, "
        "whole models (LeNet-5, ResNet-18/50, VGG-16, a style-transfer step) and the scaling of one ResNet block. "
        "Peers are timed interleaved in one process; PyTorch is used when installed.",
    )
    parser.add_argument("--quick", action="store_true", help="a subset with shorter samples: about a minute")
    parser.add_argument("--out", type=output_dir, default="bench-results", help="directory for bench.json, bench.md and the PNGs "
                        "(default: bench-results/)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="threads for minigrad (Numba), numpy's BLAS and PyTorch alike, >= 1 "
                        "(default: Numba's default)")
    parser.add_argument("--only", metavar="PATTERN", type=regex, default=None,
                        help="only workloads whose name or group matches this regex, e.g. 'conv2d fwd' or 'resnet|lenet'")
    parser.add_argument("--rounds", type=positive_int, default=None,
                        help="timed rounds per workload, >= 1 (default: 7, --quick: 3)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    parser.add_argument("--no-jit", action="store_true", help="skip the JIT compile probe (fresh processes)")
    parser.add_argument("--results-md", metavar="PATH", type=output_file, default=None,
                        help="also write this run into its section of a Markdown file (e.g. benchmarks/RESULTS.md), "
                        "with the charts copied beside it")
    parser.add_argument("--memory", action="store_true",
                        help="also record each workload's peak numpy allocation and VGG-16's peak RSS (batch 8)")
    parser.add_argument("--list", action="store_true", help="list the workloads that would run, and exit")
    parser.set_defaults(func=run)


def run(args):
    from apps.bench import report, suite
    from apps.bench.workloads import all_workloads

    chosen = suite.select(all_workloads(), quick=args.quick, only=args.only)
    if not chosen:
        raise CLIError(f"--only {args.only!r} matches no workload (see minigrad bench --list)")
    if args.list:
        for w in chosen:
            print(f"{w.group:<12} {w.name}  [{', '.join(w.setups)}]")
        return 0
    result = suite.run_suite(
        quick=args.quick, only=args.only, threads=args.threads, rounds=args.rounds,
        use_torch=not args.no_torch, jit=not args.no_jit, command=_reconstruct(args), measure_memory=args.memory,
    )
    paths = report.write_all(result, args.out)
    if args.results_md:
        paths["results_md"] = report.update_results_md(result, args.results_md)
    print(report.text_table(result))
    print("\nwrote " + ", ".join(paths.values()))
    failed = any(r["errors"] or "minigrad" not in r["peers"] for r in result["results"])
    return 1 if failed else 0


def _reconstruct(args):
    parts = ["minigrad bench"]
    if args.quick:
        parts.append("--quick")
    for flag in ("threads", "only", "rounds"):
        value = getattr(args, flag)
        if value is not None:
            parts.append(f"--{flag} {value!r}" if flag == "only" else f"--{flag} {value}")
    if args.out != "bench-results":
        parts.append(f"--out {args.out}")
    if args.no_torch:
        parts.append("--no-torch")
    if args.no_jit:
        parts.append("--no-jit")
    if args.memory:
        parts.append("--memory")
    if args.results_md:
        parts.append(f"--results-md {args.results_md}")
    return " ".join(parts)
