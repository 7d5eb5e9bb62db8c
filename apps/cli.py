"""The `minigrad` command line: assembles the subcommands that each application registers; nothing else."""

import importlib
import sys
import warnings

from apps.cli_args import Parser, run_guarded

# Each name is a module with a register(subparsers) function, in the order `minigrad --help` lists them.
SUBCOMMANDS = [
    "apps.info",
    "apps.checklist.cli",
    "apps.digits.cli",
    "apps.bench.cli",
    "apps.yolo.cli",
    "apps.faces.cli",
    "apps.style.cli",
    "apps.visualize_cli",
    "apps.edges_cli",
    "apps.weights",
    "apps.tour.cli",
]


def build_parser():
    import minigrad

    parser = Parser(
        prog="minigrad",
        description="Convolutional networks from first principles.",
    )
    parser.add_argument("--version", action="version", version=f"minigrad {minigrad.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an expected error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv=None):
    # numpy's "overflow/invalid value encountered" warnings are not for the user: a diverging run is reported in one
    # line by fit.py's NaN guard (epoch, step, learning rate); without this, a dozen warning lines came before it.
    warnings.filterwarnings("ignore", message=r"(overflow|invalid value|divide by zero) encountered", category=RuntimeWarning)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:
        # argparse refused a value (2) or printed --help/--version (0): a code, as for every other outcome.
        return done.code if isinstance(done.code, int) else 0 if done.code is None else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    # "minigrad yolo detect", not "minigrad yolo": the action of a command with actions (its parser's dest is <command>_command).
    action = getattr(args, f"{args.command}_command", None)
    prog = f"minigrad {args.command}" + (f" {action}" if isinstance(action, str) else "")
    code = run_guarded(args.func, args, prog=prog, debug=args.debug)
    if code:
        from minigrad.distributed import end_job_on_failure

        end_job_on_failure(code)  # on several MPI ranks, the others must not wait for this one
    return code


if __name__ == "__main__":
    sys.exit(main())
