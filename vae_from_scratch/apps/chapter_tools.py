"""What every chapter script (chapters/chNN_*.py) shares: its command line and writing
what it measured.  The chapters hold the theory; this holds the plumbing, once.  (They
save their figures with viz.plots.save_figure, as the rest of the package does.)
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np


def parse_chapter_args(argv, chapter, description, quick_help, *, backend=False, extra=None):
    """--quick, --out (default runs/chapters/<chapter>), --seed and, with backend=True,
    --backend (default numpy, so that results do not depend on what is installed).
    extra(parser) adds a chapter's own options.

    parse_known_args: inside Jupyter, sys.argv holds the kernel's own arguments
    (-f kernel.json), which are ignored, so a notebook runs the full mode."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--out", default=f"runs/chapters/{chapter}", help="folder for the figures")
    if backend:
        p.add_argument("--backend", default="numpy", help="numpy (default), numba, cupy or auto")
    p.add_argument("--seed", type=int, default=0)
    if extra is not None:
        extra(p)
    args, _ = p.parse_known_args(argv)
    return args


def write_results(results, out):
    """Write what the chapter measured to out/results.json and print its one-line
    summary last (chapters/run_all.py shows that line).  NumPy scalars (np.float64,
    np.bool_) are written as the Python numbers they hold, paths (a figure's) as strings."""
    (Path(out) / "results.json").write_text(json.dumps(results, indent=1, default=_plain))
    print(f"summary: {results['summary']}")


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"results.json: cannot write a {type(value).__name__}")


__all__ = ["parse_chapter_args", "write_results"]
