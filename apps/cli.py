"""The `minigrad` command line: assembles the subcommands that each application registers; nothing else."""

import argparse
import importlib
import sys

# Each name is a module with a register(subparsers) function, in the order `minigrad --help` lists them.
SUBCOMMANDS = [
    "apps.info",
    "apps.checklist.cli",
    "apps.digits.cli",
    "apps.bench.cli",
]


def build_parser():
    import minigrad

    parser = argparse.ArgumentParser(
        prog="minigrad",
        description="Convolutional networks from first principles.",
    )
    parser.add_argument("--version", action="version", version=f"minigrad {minigrad.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
