"""Exercise elbo (chapter ch07, the VAE): the ELBO of a minibatch and its gradient, for a
VAE whose decoder is one dense layer with Bernoulli outputs.

Copy this file, fill in the function, and grade it:

    python -m vae_from_scratch.exercises check elbo --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).  The earlier
exercises (dense_backward, reparameterize, bernoulli_log_likelihood, gaussian_kl) are
the pieces; you may copy your solutions in.
Stuck?  python -m vae_from_scratch.exercises hint elbo
"""

import numpy as np  # noqa: F401  (you will need it)


def elbo(x, mu, logvar, eps, W, b):
    """The single-sample ELBO estimate of a minibatch and its exact gradient.

    The encoder has already produced q(z|x) = N(mu, diag(σ²)), logvar = log σ², for
    each example.  With the given noise eps (thesis eq. 2.27, tutorial eq. 35):

        z      = mu + σ ⊙ eps,   σ = exp(0.5 · logvar)
        logits = z Wᵀ + b                       (the decoder: one dense layer, eq. 2.24)
        rec_n  = log p(x_n | z_n) = Σ_p x log sigmoid(l) + (1 − x) log(1 − sigmoid(l))
                                                (Bernoulli, thesis eq. 2.31; keep it stable)
        kl_n   = KL(q(z|x_n) ‖ N(0, I)) = ½ Σ_d (σ² + mu² − 1 − log σ²)   (tutorial eq. 22)
        ELBO   = (1/N) Σ_n (rec_n − kl_n)

    (thesis eq. 2.10 with the KL in closed form, averaged over the minibatch as in
    eq. 2.11; its gradient is the reparameterization estimator of eq. 2.17 / 2.22.
    The thesis prints eq. 2.10 with "+ KL"; the bound is E[log p(x|z)] − KL.)

    Arguments
        x:          (N, P) binary data.
        mu, logvar: (N, D) the encoder's outputs.
        eps:        (N, D) the noise, one draw per example.
        W:          (P, D) decoder weights; b: (P,) decoder biases.

    Returns (value, grads): value the ELBO (a float), grads a dict with the keys
    "mu", "logvar", "W", "b" holding ∂ELBO/∂mu, ∂ELBO/∂logvar, ∂ELBO/∂W, ∂ELBO/∂b,
    shaped like each.  (The gradient of the ELBO, which training maximises; the loss
    is −ELBO.)  x and eps are data: no gradient.  Do not change the arguments in place.
    """
    raise NotImplementedError("elbo: forward, then backward by hand")
