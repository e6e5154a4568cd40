"""Exercise dual_vae_loss (chapter ch09, the dual VAE): the thesis's double-ELBO loss,
ELBO1 + 450 · ELBO2, of a minibatch, and its gradient with respect to what the four
networks output.

Copy this file, fill in the function, and grade it:

    python -m vae_from_scratch.exercises check dual_vae_loss --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).  The exercises
bernoulli_log_likelihood and gaussian_kl are the pieces; you may copy your solutions in.
Stuck?  python -m vae_from_scratch.exercises hint dual_vae_loss
"""

import numpy as np  # noqa: F401  (you will need it)


def dual_vae_loss(x, logits1, mu1, logvar1, g, logits2, mu2, logvar2, weight, weight_on):
    """The loss of the dual VAE (thesis §2.9) for a minibatch, and its gradient.

    Two VAEs share the image x (thesis eq. 2.35): the foreground VAE's encoder q(z1|x)
    gives (mu1, logvar1) and its decoder p(x|z̃1) the Bernoulli logits1 over the image;
    the background VAE's encoder s(z2|x) gives (mu2, logvar2) and its decoder r(g|z̃2)
    the Bernoulli logits2 over the small target g = g(x) (thesis eq. 3.1, values in
    (0, 1)).  Per example n (thesis eq. 2.10 with the closed-form KL, tutorial eq. 22):

        ELBO1_n = log p(x_n | z̃1_n) − KL(q(z1|x_n) ‖ N(0, I))
        ELBO2_n = log r(g_n | z̃2_n) − KL(s(z2|x_n) ‖ N(0, I))
        log p(x|z) = Σ x · l − softplus(l), summed over every axis but the first
                     (the Bernoulli of thesis eq. 2.31, for soft targets g too; keep it
                     stable: logits reach ±1000)
        KL = ½ Σ_d (σ² + mu² − 1 − log σ²),   σ² = exp(logvar)

    Eq. 2.36 maximises ELBO1 + ELBO2; §3.1 multiplies "the estimator of ELBO2" by a
    weight w (450 there) because its values are much smaller.  The loss, minimised:

        weight_on = "elbo":            loss = −(1/N) Σ_n (ELBO1_n + w · ELBO2_n)
        weight_on = "reconstruction":  loss = −(1/N) Σ_n (ELBO1_n + w · log r(g_n|z̃2_n) − KL2_n)

    (the second is the project's reading, models/dual_vae.py's weight_on, not the
    thesis's).  The gradient asked for is the loss's with respect to the six network
    outputs, each held fixed as an input here: what DualVAE.loss_and_grads sends into
    the two decoders (d logits) and, for the KL terms, into the two encoders (d mu,
    d logvar; the path through z̃ reaches them through the decoders, not asked here).

    Arguments
        x:                 (N, 1, S, S) the images, values in [0, 1].
        logits1:           (N, 1, S, S) the foreground decoder's logits.
        mu1, logvar1:      (N, L1) the foreground encoder's outputs.
        g:                 (N, 1, m, m) the background target, values in (0, 1).
        logits2:           (N, 1, m, m) the background decoder's logits.
        mu2, logvar2:      (N, L2) the background encoder's outputs.
        weight:            w, a float ≥ 0.
        weight_on:         "elbo" or "reconstruction".

    Returns (loss, grads): loss a float (a 0-d array is fine), grads a dict with the
    keys "logits1", "mu1", "logvar1", "logits2", "mu2", "logvar2" holding ∂loss/∂ each,
    shaped like it, in the dtype of x.  Do not change the arguments in place.
    """
    raise NotImplementedError("dual_vae_loss: both ELBOs, the weight on ELBO2, then the gradients")
