"""Exercise gaussian_kl (chapter ch03, KL divergence): the KL divergence of the encoder's
Gaussian from the prior N(0, I), and its gradient.

Copy this file, fill in both functions, and grade them:

    python -m vae_from_scratch.exercises check gaussian_kl --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).
Stuck?  python -m vae_from_scratch.exercises hint gaussian_kl
"""

import numpy as np  # noqa: F401  (you will need it)


def gaussian_kl(mu, logvar):
    """KL(q ‖ p) for q = N(mu, diag(σ²)) and p = N(0, I), one value per example.

    The encoder outputs the log-variance, logvar = log σ² (so σ = exp(0.5 · logvar)).
    From the definition KL(q ‖ p) = E_q[log q(z) − log p(z)] (thesis eq. 2.2, 2.5),
    tutorial eq. 17-22 derive the closed form (eq. 22 is written for −KL):

        KL = ½ Σ_d (σ_d² + mu_d² − 1 − log σ_d²)

    (slides Definition 11.17: ½ (tr Σ + ‖mu‖² − d − log det Σ) with Σ diagonal).

    Arguments
        mu, logvar: (N, D), one row per example.

    Returns kl: (N,), in the dtype of mu.  Do not change mu or logvar in place.
    """
    raise NotImplementedError("gaussian_kl: the closed-form KL")


def gaussian_kl_backward(dkl, mu, logvar):
    """Gradient of the KL (tutorial eq. 28 differentiates the same closed form).

    Arguments
        dkl:        (N,), the upstream gradient ∂L/∂kl, one entry per example.
        mu, logvar: (N, D), as in gaussian_kl.

    Returns (dmu, dlogvar) = (∂L/∂mu, ∂L/∂logvar), each (N, D), in the dtype of mu:
        ∂L/∂mu[n, d] = dkl[n] · ∂kl[n]/∂mu[n, d],   and likewise for logvar.
    Do not change the arguments in place.
    """
    raise NotImplementedError("gaussian_kl_backward: differentiate the closed form")
