"""Binarization: grey values in [0, 1] -> pixels in {0, 1} for a Bernoulli decoder.

A Bernoulli decoder models each pixel as a coin, p(x | z) = Π p_i^x_i (1 − p_i)^(1−x_i),
which is a likelihood only for x_i ∈ {0, 1}.  Grey images are turned into such data by
reading each grey value x_i as a probability and drawing x̃_i ~ Bernoulli(x_i):

    binarize_static(x, rng)    one draw, made once and kept.  The "statically binarized"
                               data sets (e.g. binarized MNIST of Larochelle & Murray 2011)
                               are such a draw, fixed for every epoch and every paper.
    binarize_dynamic(x, rng)   the same draw, but made afresh for every minibatch of every
                               epoch.  The model then never sees the same binary image twice:
                               it fits p(x) averaged over the draws, whose pixel means are the
                               grey values, and cannot memorise one particular draw, so it
                               overfits far less than on a static set (the training ELBO and
                               the validation ELBO stay close).  It is data augmentation for free.
    threshold(x, t)            deterministic: 1 where x > t.  No noise, but it erases the grey
                               levels (strokes become thicker or thinner with t).

The two random functions compute the same thing; the names say how the result is to be
used.  Call binarize_static once when you load the data; call binarize_dynamic inside the
training loop on each minibatch.  All three return float32 arrays of the input's shape.
"""

import numpy as np

from .errors import check_rng


def _as_unit_interval(x, who):
    """x as a float array, or a ValueError unless every value lies in [0, 1]."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{who}: expected a real-valued array, got dtype {x.dtype}")
    if x.size and not (np.all(x >= 0) and np.all(x <= 1)):      # NaN fails both tests
        raise ValueError(f"{who}: expected values in [0, 1] (grey images scaled to [0, 1]), "
                         f"got values from {np.nanmin(x)} to {np.nanmax(x)}"
                         + (" and NaN" if np.isnan(x).any() else ""))
    return x


def _bernoulli(x, rng, who):
    check_rng(rng, who)
    x = _as_unit_interval(x, who)
    # u ~ U[0, 1): P(u < p) = p, so x = 0 never gives 1 and x = 1 always does.
    return (rng.random(x.shape) < x).astype(np.float32)


def binarize_static(x, rng):
    """One Bernoulli(x) draw per pixel, to be made once and kept (a static binarization)."""
    return _bernoulli(x, rng, "binarize_static")


def binarize_dynamic(x, rng):
    """One Bernoulli(x) draw per pixel, to be made afresh for every minibatch and epoch."""
    return _bernoulli(x, rng, "binarize_dynamic")


def threshold(x, t=0.5):
    """1.0 where x > t, else 0.0 (float32, deterministic).

    Unlike the Bernoulli draws, x need not lie in [0, 1] (only be finite): the thesis's
    synthetic images carry Gaussian noise and are thresholded at 0.75 as they are.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"threshold: expected a real-valued array, got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError("threshold: expected finite values, got NaN or infinity")
    if not np.isscalar(t) or not np.isfinite(t):
        raise ValueError(f"threshold: expected a finite number t, got {t!r}")
    return (x > t).astype(np.float32)
