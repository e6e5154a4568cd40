"""Exercise score_function (chapter ch05, gradient estimators): the log-derivative
(score-function, REINFORCE) estimate of a gradient, the alternative to reparameterization.

Copy this file, fill in the function, and grade it:

    python -m vae_from_scratch.exercises check score_function --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).
Stuck?  python -m vae_from_scratch.exercises hint score_function
"""

import numpy as np  # noqa: F401  (you will need it)


def score_function_gradient(f, z, mu, logvar):
    """Estimate ∇_{mu, logvar} E_{z ~ q}[f(z)] for q = N(mu, diag(exp(logvar))) by the
    log-derivative trick (slides Concept 11.22):

        ∇_φ E_q[f(z)] = E_q[f(z) · ∇_φ log q(z)]  ≈  (1/K) Σ_k f(z_k) · ∇_φ log q(z_k),

    with z_k ~ q held fixed (f is never differentiated: it may be any black box).
    log q(z) is the diagonal Gaussian log-density (thesis eq. 2.30), logvar = log σ².

    Arguments
        f:          (K, N), f(z_k) for each of the K samples of each of N examples.
        z:          (K, N, D), the samples.
        mu, logvar: (N, D), the parameters of q, one row per example.

    Returns (dmu, dlogvar), each (N, D), in the dtype of mu: the estimates of
    ∂E_q[f]/∂mu and ∂E_q[f]/∂logvar for every example.  Do not change the arguments
    in place.
    """
    raise NotImplementedError("score_function_gradient: average f times the score")
