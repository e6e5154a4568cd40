"""The small things every layer of the package shares: where randomness comes from,
how a file is written so that nothing is lost, and how an argument is checked.

    check_rng(rng, who)                 randomness only from a numpy.random.Generator
    atomic_write(path, write)           a temporary file, then an atomic rename
    write_json(path, document)          the same for a JSON document
    check_int(owner, name, value, lo)   an integer ≥ lo (channels, kernels, steps, …)
    check_number(owner, name, value, …) a finite real number in an interval
    check_choice(value, choices, what)  one of a few names
    in_notebook_kernel()                whether this runs inside a Jupyter kernel
    mean_sd(values, digits)             "0.712 ± 0.034": a mean and its sample spread

Each check raises ValueError (TypeError for the rng) with one line that says who asked,
what was expected and what came.  This module imports nothing from the package, so
everything else may import it.
"""

import json
import math
import numbers
import os
import sys
import tempfile
from pathlib import Path

import numpy as np


# --- randomness ---------------------------------------------------------------------------

def check_rng(rng, who, alternative=""):
    """TypeError unless `rng` is a numpy.random.Generator.

    Every function that draws random numbers (weight initialisation, sampling, data
    generation, shuffling) calls this first, so that passing a seed, a RandomState or
    nothing fails at once with the same message, instead of silently using NumPy's global
    random state (which would make runs irreproducible).

    who: the function asking, for the message; alternative: another way to supply the
    randomness, e.g. "or an explicit eps".
    """
    if not isinstance(rng, np.random.Generator):
        alternative = f" {alternative}" if alternative else ""
        raise TypeError(f"{who}: needs rng=numpy.random.Generator (e.g. np.random.default_rng(0))"
                        f"{alternative}, got {type(rng).__name__}; the global NumPy random state "
                        f"is never used")


# --- files ----------------------------------------------------------------------------------

def atomic_write(path, write):
    """Create or replace the file `path` with what `write(f)` writes to a binary file f.

    The bytes go to a temporary file in the same folder (a rename is atomic only within
    one file system), are flushed to disk, and the file is then renamed over `path`: a
    reader never sees a half-written file, and a crash (or a full disk) mid-write leaves
    the previous version in place.  On any error the temporary file is removed and the
    error raised again.  Used for checkpoints (train.py), results and downloads.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)             # mkstemp makes it private (0600)
        os.replace(tmp, path)            # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path, document, indent=1):
    """Write `document` as JSON to `path`, atomically (results, histories, run records).
    NumPy scalars (np.float64, np.bool_) are written as the numbers they hold."""
    text = json.dumps(document, indent=indent, default=_plain) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"JSON: cannot write a {type(value).__name__}")


# --- arguments ------------------------------------------------------------------------------

def check_int(owner, name, value, lowest):
    """An integer ≥ lowest (channel counts and kernels ≥ 1, paddings ≥ 0, steps ≥ 1);
    a bool is refused although Python counts it as an int.  Returns it as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lowest:
        raise ValueError(f"{owner}: {name} must be an integer ≥ {lowest}, got {value!r}")
    return int(value)


def check_number(owner, name, value, low=0.0, high=math.inf, *, low_open=True, high_open=False):
    """A real, finite number in the interval from low to high (open or closed ends).
    Returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    value = float(value)
    if value < low or (low_open and value == low) or value > high or (high_open and value == high):
        if high == math.inf:
            wanted = f"{'>' if low_open else '≥'} {low:g}"
        else:
            wanted = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{owner}: {name} must be {wanted}, got {value!r}")
    return value


def check_choice(value, choices, what):
    """`value` is one of `choices` (names such as "analytic", "mc")."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(choices)}")


def in_notebook_kernel():
    """Whether this code runs inside a Jupyter (IPython) kernel, where a figure is shown
    below its cell as well as saved, and a chapter reads its options from
    $VAE_CHAPTER_ARGS instead of the kernel's command line."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def mean_sd(values, digits=3):
    """"mean ± s.d." of `values` as text, with `digits` decimals; the sample standard
    deviation (ddof 1, the spread of repeated runs over seeds); one value alone is
    written without a spread.  An empty `values` raises ValueError."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0:
        raise ValueError("mean_sd: expected at least one value, got none")
    text = f"{values.mean():.{digits}f}"
    return text + (f" ± {values.std(ddof=1):.{digits}f}" if values.size > 1 else "")


__all__ = ["atomic_write", "write_json", "check_choice", "check_int", "check_number", "check_rng",
           "in_notebook_kernel", "mean_sd"]
