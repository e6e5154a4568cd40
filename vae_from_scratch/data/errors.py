"""What the data loaders raise when something outside their inputs is wrong, and the
one check every random transform shares.

`MissingDependency` is an ImportError, so `except ImportError` still catches it; its
message says which package is missing and the command that installs it.
"""

import numpy as np


class MissingDependency(ImportError):
    """An optional package that this loader needs is not installed."""


def check_rng(rng, who):
    """TypeError unless `rng` is a numpy.random.Generator (the global state is never used)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{who}: needs rng=numpy.random.Generator (e.g. np.random.default_rng(0)), "
                        f"got {type(rng).__name__}; the global NumPy random state is never used")
