"""Numerically stable elementwise functions, shared by the activation layers and the
Bernoulli likelihood.  Each takes the array module `xp` (numpy or cupy).

The naive formulas overflow: 1 / (1 + exp(−x)) calls exp(1000) = inf for x = −1000,
and log(1 + exp(x)) is inf for x = 1000.  Writing them through exp(−|x|) ∈ (0, 1]
never overflows and keeps full relative precision on both tails.
"""

import numpy as np


def sigmoid(x, xp=np):
    """σ(x) = 1 / (1 + e^{−x}), finite and accurate for any x.

    With e = exp(−|x|) ∈ (0, 1]:  σ(x) = 1 / (1 + e) for x ≥ 0,  e / (1 + e) for x < 0
    (the second is the first multiplied by e^{x} / e^{x}).
    """
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def softplus(x, xp=np):
    """log(1 + e^{x}) = max(x, 0) + log1p(e^{−|x|}), finite and accurate for any x."""
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
