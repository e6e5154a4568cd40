"""The command line's one place for option values: the parser every command and chapter
uses, and the types that check a value while it is parsed.

A bad value ends the command before any work starts, with the usage of the command it
was given to (a subcommand's own, not the top-level one), one line

    python -m vae_from_scratch thesis: error: --epochs: expected a whole number ≥ 1, got '0'

and exit code 2 (argparse's convention for a usage error).  The types are argparse
`type=` functions: argparse calls them on the text the user typed (and on string
defaults), and turns the ArgumentTypeError they raise into that line.
"""

import argparse
import math
import os
import re
import sys
from pathlib import Path


class Parser(argparse.ArgumentParser):
    """argparse, with its error lines in the form `error: --OPTION: expected …, got …`.

    argparse writes "argument --epochs: …" and "invalid choice: 'x' (choose from 'a',
    'b')"; both are rewritten here, once, for every command and its subcommands (a
    subparser is made by the same class)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)     # --epoch is a typo, not --epochs
        super().__init__(*args, **kwargs)

    def error(self, message):
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
        message = re.sub(r"invalid choice: (.+?) \(choose from (.+)\)$",
                         lambda m: f"expected one of {m.group(2).replace(chr(39), '')}, "
                                   f"got {m.group(1)}", message)
        message = re.sub(r"^(-[^:]+): expected one argument$", r"\1: expected a value, got none",
                         message)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an unknown argument is reported by the subcommand it was
        given to, with that subcommand's usage (argparse leaves it to the top level)."""
        namespace, unknown = self.parse_known_args(args, namespace)
        if unknown:
            owner = self._chosen_subcommand(namespace) or self
            owner.error(f"unknown argument(s) {' '.join(unknown)}; "
                        f"{owner.prog} --help lists the options")
        return namespace

    def _chosen_subcommand(self, namespace):
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices.get(getattr(namespace, action.dest, None))
        return None


def whole(lowest=1):
    """An argparse type: a whole number ≥ lowest (epochs, batch sizes, K, steps, …)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lowest:
            raise argparse.ArgumentTypeError(f"expected a whole number ≥ {lowest}, got {text!r}")
        return value
    parse.__name__ = f"whole number ≥ {lowest}"
    return parse


def real(low=0.0, *, low_open=True, high=math.inf, high_open=False):
    """An argparse type: a finite number in the interval from low to high."""
    wanted = (f"{'>' if low_open else '≥'} {low:g}" if high == math.inf else
              f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}")

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if (not math.isfinite(value) or value < low or (low_open and value == low)
                or value > high or (high_open and value == high)):
            raise argparse.ArgumentTypeError(f"expected a finite number {wanted}, got {text!r}")
        return value
    parse.__name__ = f"number {wanted}"
    return parse


def folder(text):
    """An argparse type: a folder that exists or can be created (it is not created here:
    parsing `--help` must not touch the disk).  Refuses a file, a path under a file, and
    a place where this user cannot write."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a folder, got the file {text!r}")
    existing = path
    while not existing.exists():                # the nearest part of the path that exists
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"expected a folder, got {text!r}, which lies under "
                                         f"the file {str(existing)!r}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"expected a folder that can be written, got {text!r} "
                                         f"({str(existing)!r} is not writable)")
    return text


BACKENDS = ("numpy", "numba", "cupy", "auto")      # --backend's choices, everywhere
SEED_HELP = "random seed: the same seed gives the same run on the same machine (default %(default)s)"
seed = whole(0)

__all__ = ["Parser", "whole", "real", "folder", "seed", "SEED_HELP", "BACKENDS"]
