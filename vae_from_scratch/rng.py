"""Randomness comes from one place: a `numpy.random.Generator` the caller passes in.

Every function that draws random numbers (weight initialisation, sampling, data
generation, shuffling) calls `check_rng` first, so that passing a seed, a RandomState
or nothing fails at once with the same message, instead of silently using NumPy's
global random state (which would make runs irreproducible).
"""

import numpy as np


def check_rng(rng, who, alternative=""):
    """TypeError unless `rng` is a numpy.random.Generator.

    who: the function asking, for the message; alternative: another way to supply the
    randomness, e.g. "or an explicit eps".
    """
    if not isinstance(rng, np.random.Generator):
        alternative = f" {alternative}" if alternative else ""
        raise TypeError(f"{who}: needs rng=numpy.random.Generator (e.g. np.random.default_rng(0))"
                        f"{alternative}, got {type(rng).__name__}; the global NumPy random state "
                        f"is never used")


__all__ = ["check_rng"]
