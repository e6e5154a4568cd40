"""Exercise aevb_step (chapter ch07, the VAE): one step of Auto-Encoding Variational
Bayes (thesis Algorithm 2) for a small VAE: the ELBO estimate of a minibatch, its
gradient with respect to all eight parameter arrays, and the SGD update.

Copy this file, fill in the function, and grade it:

    python -m vae_from_scratch.exercises check aevb_step --file THIS_FILE.py

Use NumPy.  You may call the package's dense-layer kernels,
vae_from_scratch.backend.numpy_dense.dense_forward(x, W, b) -> (y, cache) and
dense_backward(dy, cache) -> (dx, dW, db), or your dense_backward solution; the rest
(tanh, the sampler, the Bernoulli log-likelihood, the KL, the chain rule between them,
the update) is yours.  The exercises dense_backward, reparameterize,
bernoulli_log_likelihood, gaussian_kl and elbo are the pieces.
Stuck?  python -m vae_from_scratch.exercises hint aevb_step
"""

import numpy as np  # noqa: F401  (you will need it)


def aevb_step(params, x, eps, lr):
    """One pass of the loop of thesis Algorithm 2 (AEVB) on the minibatch x:

        Sample ε_1 … ε_N ~ p(ε)          done by the caller: `eps`, so that the step
                                         can be repeated exactly
        Compute L̃(M) and ∇_{θ,φ} L̃(M)   the single-sample ELBO estimate, eq. 2.22
        Update θ, φ                      plain SGD, up the ELBO: p ← p + lr · ∇_p L̃

    The model is the package's mlp_vae(x_shape=(P,), latent_dim=D, hidden=(H,),
    activation="tanh"): every dense layer is y = h Wᵀ + b (thesis eq. 2.24, one example
    per row), and

        encoder   h1 = tanh(x W1ᵀ + b1)                  (N, H)
                  [mu | logvar] = h1 W2ᵀ + b2            (N, 2D): mu the first D columns
        sampler   z = mu + σ ⊙ eps,  σ = exp(½ logvar)   (N, D)   thesis eq. 2.27
        decoder   h3 = tanh(z W3ᵀ + b3)                  (N, H)
                  logits = h3 W4ᵀ + b4                   (N, P)   Bernoulli, eq. 2.31

        L̃(M) = (1/N) Σ_n [ log p(x_n|z_n) − KL(q(z|x_n) ‖ N(0, I)) ]
              log p(x|z) = Σ_p x log sigmoid(l) + (1 − x) log(1 − sigmoid(l))  (keep it
              stable: logits reach ±1000 in one case)
              KL = ½ Σ_d (σ² + mu² − 1 − log σ²)          (tutorial eq. 22)

    (thesis eq. 2.10 with the closed-form KL, the minibatch mean of eq. 2.11; its
    gradient is the reparameterization estimator, eq. 2.17 and 2.22.  The thesis
    prints eq. 2.10 with "+ KL"; the bound is E[log p(x|z)] − KL.)
    The package's names of the arrays: W1, b1 = "encoder.1.W", "encoder.1.b"; W2, b2 =
    "encoder.3.*"; W3, b3 = "decoder.0.*"; W4, b4 = "decoder.2.*".

    Arguments
        params: dict of the eight arrays: "W1" (H, P), "b1" (H,), "W2" (2D, H), "b2" (2D,),
                "W3" (H, D), "b3" (H,), "W4" (P, H), "b4" (P,).
        x:      (N, P) binary data, one example per row.
        eps:    (N, D) the noise, one draw per example.
        lr:     the learning rate η (a float).

    Returns (elbo, grads, new_params):
        elbo        L̃(M) at the parameters given (before the update), a float;
        grads       dict with the same eight keys: ∂L̃/∂W1, …, ∂L̃/∂b4, each shaped like
                    its array (the gradient of the ELBO, which training climbs; the loss
                    is −ELBO);
        new_params  dict with the same keys: params[k] + lr · grads[k], new arrays.
    Every array in the dtype of x.  x and eps are data: no gradient.  Do not change
    the arguments in place.
    """
    raise NotImplementedError("aevb_step: forward, backward by hand, then the SGD update")
