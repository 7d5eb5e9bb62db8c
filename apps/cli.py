"""The `minigrad` command line: `minigrad --version`, `minigrad info` and the subcommands under apps/commands/."""

import argparse
import importlib
import sys

# Each name is a module of apps.commands with a register(subparsers) function.
SUBCOMMANDS = [
    "info",
    "checklist",
    "train",
    "bench",
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
        try:
            module = importlib.import_module(f"apps.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"apps.commands.{name}":
                continue  # a subcommand not written yet
            raise
        module.register(subparsers)
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
