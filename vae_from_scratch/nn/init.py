"""Weight initialisation, always from a `numpy.random.Generator` the caller passes in.

Glorot & Bengio (2010) choose the spread so that the variance of activations and of
gradients is preserved for a linear layer on average over both directions:
    Var[w] = 2 / (fan_in + fan_out),  drawn uniform on [−a, a] with a = √(6 / (fan_in + fan_out)).
He et al. (2015) correct for ReLU, which zeroes half of its inputs:
    Var[w] = 2 / fan_in  (normal, or uniform with a = √(6 / fan_in)).

fan_in / fan_out count the inputs and outputs each weight connects:
    Dense(in, out):                       fan_in = in,        fan_out = out
    Conv2D(C → F, k) and
    ConvTranspose2D(C → F, k):            fan_in = C·k·k,     fan_out = F·k·k
"""

import numpy as np

from ..utils import check_rng

INITS = ("glorot_uniform", "he_normal", "he_uniform")


def glorot_uniform(shape, fan_in, fan_out, rng):
    """U(−a, a) with a = √(6 / (fan_in + fan_out)), so Var = 2 / (fan_in + fan_out)."""
    check_rng(rng, "glorot_uniform")
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def he_normal(shape, fan_in, fan_out, rng):
    """N(0, 2 / fan_in).  (fan_out is unused; the argument keeps one signature for all.)"""
    check_rng(rng, "he_normal")
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


def he_uniform(shape, fan_in, fan_out, rng):
    """U(−a, a) with a = √(6 / fan_in), so Var = 2 / fan_in."""
    check_rng(rng, "he_uniform")
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape)


def initialize(name, shape, fan_in, fan_out, rng):
    """Draw a weight array of `shape` with the named scheme (one of INITS)."""
    schemes = {"glorot_uniform": glorot_uniform, "he_normal": he_normal, "he_uniform": he_uniform}
    if name not in schemes:
        raise ValueError(f"unknown initialisation {name!r}; expected one of {', '.join(INITS)}")
    return schemes[name](shape, fan_in, fan_out, rng)
