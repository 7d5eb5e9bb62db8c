"""Shared option types for every `minigrad` command, and the one guard that turns expected failures into one line.

Declare an option once with a type from here and a bad value is refused by argparse,
before any work, as

    minigrad train: error: --epochs must be >= 1, got 0

with exit code 2. Inside a command, raise :class:`CLIError` for an expected failure
(a file that is not what it should be, a checkpoint that does not fit); :func:`run_guarded`
prints it as one line and returns 2. Anything else is a bug and keeps its traceback.
``--debug`` (a global option) shows the traceback for expected failures too.
"""

import argparse
import math
import os
import re
import sys
from pathlib import Path


class CLIError(Exception):
    """An expected failure of a command: printed as one line, exit code 2, no traceback."""


class Parser(argparse.ArgumentParser):
    """argparse's parser, with its type errors worded as "--epochs must be >= 1, got 0"."""

    def error(self, message):
        # argparse says "argument --epochs: must be ..."; say "--epochs must be ...".
        worded = re.sub(r"^argument ([^:]+): (must|is|does|should|has) ", r"\1 \2 ", message)
        worded = re.sub(r"^argument ([^:]+): invalid choice: (.*) \(choose from (.*)\)$",
                        lambda m: f"{m.group(1)} must be one of {m.group(3).replace(chr(39), '')}, got {m.group(2)}", worded)
        if worded == message:
            # Not a value of ours (an unknown option, a missing argument, a wrong choice): point at the usage.
            worded += f" (see '{self.prog} --help')"
        self.exit(2, f"{self.prog}: error: {worded}\n")


def _number(text, kind):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def int_at_least(low):
    """An argparse type: an integer >= low."""

    def parse(text):
        value = _number(text, int)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    parse.__name__ = f"int>={low}"
    return parse


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)


def positive_float(text):
    """An argparse type: a finite number > 0 (learning rates, margins, sizes)."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def nonnegative_float(text):
    """An argparse type: a finite number >= 0 (weights of a cost term)."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def finite_float(text):
    """An argparse type: any finite number."""
    return _number(text, float)


def fraction(text):
    """An argparse type: a number in [0, 1] (thresholds, probabilities)."""
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def int_between(low, high):
    """An argparse type: an integer in [low, high]."""

    def parse(text):
        value = _number(text, int)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    parse.__name__ = f"int in [{low}, {high}]"
    return parse


def seed(text):
    """An argparse type: a random seed, 0 to 2**32 - 1 (what every RNG involved takes and a checkpoint records)."""
    return int_between(0, 2**32 - 1)(text)


def int_list(low=1):
    """An argparse type: comma-separated integers, each >= low ("4,10,20")."""
    item = int_at_least(low)

    def parse(text):
        parts = [part.strip() for part in text.split(",") if part.strip()]
        try:
            if not parts:
                raise ValueError
            return [int(part) for part in parts] and [item(part) for part in parts]
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"must be comma-separated integers >= {low}, got {text!r}") from None

    return parse


def existing_file(text):
    """An argparse type: a path to a readable file that exists."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"does not exist: {text}")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"is a folder, expected a file: {text}")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"is not readable: {text}")
    return text


def existing_dir(text):
    """An argparse type: a path to a folder that exists."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"is not a folder: {text}" if path.exists() else f"does not exist: {text}")
    return text


def output_dir(text):
    """An argparse type: a folder to write into; it may not exist yet, but it must not be a file.

    Checked up front so that a run never ends, after all its work, on a path it cannot write.
    """
    path = Path(text)
    for parent in [path, *path.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"must be a folder, but {parent} is a file")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise argparse.ArgumentTypeError(f"is not writable: {parent}")
            break
    return text


def output_file(text):
    """An argparse type: a file to write; its folder may not exist yet, and it must not be a folder."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"is a folder, expected a file name: {text}")
    output_dir(str(path.parent) if str(path.parent) else ".")
    return text


def run_guarded(func, args, prog="minigrad", debug=False):
    """Run a command; expected failures become one line on stderr and exit code 2.

    Expected: CLIError, a missing or unreadable file (OSError), and a broken pipe
    (`minigrad bench --list | head`), which ends quietly like any Unix filter.
    Ctrl-C ends with 130, the shell's code for SIGINT.
    """
    try:
        return int(func(args) or 0)
    except BrokenPipeError:
        # The reader went away: stop writing, without Python's "Exception ignored" on exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (CLIError, OSError) as error:
        if debug:
            raise
        print(f"{prog}: error: {describe(error)}", file=sys.stderr)
        return 2
    except MemoryError as error:
        # A size the machine cannot hold (--width 100000): the user's choice, not a bug.
        if debug:
            raise
        print(f"{prog}: error: out of memory ({error or 'MemoryError'}); try smaller sizes", file=sys.stderr)
        return 2
    except ValueError as error:
        # Numba's "No threading layer could be loaded" (NUMBA_THREADING_LAYER names one that is not
        # installed) is the user's setting, not a bug: one line with the way out.
        if debug or "threading layer" not in str(error):
            raise
        layer = os.environ.get("NUMBA_THREADING_LAYER", "default")
        print(f"{prog}: error: Numba could not load a threading layer (NUMBA_THREADING_LAYER={layer}); "
              f"install it or unset NUMBA_THREADING_LAYER", file=sys.stderr)
        return 2


def describe(error):
    """One line for an expected error: an OSError's strerror and file name, else its message's first line."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.strerror}: {error.filename}"
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0] if len(text.splitlines()) == 1 else " ".join(line.strip() for line in text.splitlines())
