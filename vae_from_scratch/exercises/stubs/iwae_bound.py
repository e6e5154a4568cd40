"""Exercise iwae_bound (chapter ch10, beyond the VAE): the importance-weighted (IWAE)
bound, computed stably with log-sum-exp, and its gradient.

Copy this file, fill in both functions, and grade them:

    python -m vae_from_scratch.exercises check iwae_bound --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).
Stuck?  python -m vae_from_scratch.exercises hint iwae_bound
"""

import numpy as np  # noqa: F401  (you will need it)


def iwae_bound(log_w):
    """The IWAE bound of each example from its K log importance weights (slides Concept 11.7):

        L_K = log (1/K) Σ_k w_k,   log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x),

    with z_1 … z_K ~ q(z|x) (slides Concept 11.6 is K = 1: the ELBO, thesis eq. 2.9).
    Log-weights of real images are in the hundreds or thousands of nats: exp(−2000)
    is 0.0 and exp(1000) is inf in float64, so the bound must be computed without
    leaving the log domain, exactly, for any finite log-weights.

    Arguments
        log_w: (K, N), the log-weights of the K samples of each of N examples.

    Returns bound: (N,), in the dtype of log_w.  Do not change log_w in place.
    """
    raise NotImplementedError("iwae_bound: log-mean-exp over the K axis, stably")


def iwae_bound_backward(dbound, log_w):
    """Gradient of iwae_bound with respect to the log-weights.

    Arguments
        dbound: (N,), the upstream gradient ∂L/∂bound.
        log_w:  (K, N), as above.

    Returns dlog_w = ∂L/∂log_w, (K, N), in the dtype of log_w: the normalised
    importance weights w̃_k = w_k / Σ_j w_j of each example, times its dbound.
    Do not change the arguments in place.
    """
    raise NotImplementedError("iwae_bound_backward: the normalised weights")
