"""The `minigrad` command's subcommands, one module each.

A subcommand module defines ``register(subparsers)``, which adds its parser and
sets ``func`` to a callable taking the parsed arguments and returning an exit code.
"""
