"""Exercise bernoulli_log_likelihood (chapter ch07, the VAE): the reconstruction term of a
VAE on binary images, computed stably from the decoder's logits, and its gradient.

Copy this file, fill in both functions, and grade them:

    python -m vae_from_scratch.exercises check bernoulli_log_likelihood --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).
Stuck?  python -m vae_from_scratch.exercises hint bernoulli_log_likelihood
"""

import numpy as np  # noqa: F401  (you will need it)


def bernoulli_log_likelihood(x, logits):
    """log p(x | z) for independent Bernoulli pixels given by their logits (thesis eq. 2.31):

        log p(x | z) = Σ_i x_i log p_i + (1 − x_i) log(1 − p_i),
        p_i = sigmoid(l_i) = 1 / (1 + exp(−l_i)),   l = logits.

    It must stay finite for every finite logit: a decoder that is sure of a pixel
    outputs l = ±40 or more, where sigmoid(l) rounds to exactly 0 or 1 and log gives
    −inf.  Find a form that never computes log(sigmoid(l)) directly.

    Arguments
        x:      (N, ...) targets in [0, 1]: binary pixels, or soft targets.
        logits: same shape as x.

    Returns log_p: (N,), summed over every axis but the batch axis, in the dtype of
    logits.  Do not change x or logits in place.
    """
    raise NotImplementedError("bernoulli_log_likelihood: from the logits, stably")


def bernoulli_log_likelihood_backward(dlogp, x, logits):
    """Gradient of bernoulli_log_likelihood with respect to the logits.

    Arguments
        dlogp:     (N,), the upstream gradient ∂L/∂log_p.
        x, logits: (N, ...), as above.

    Returns dlogits = ∂L/∂logits, shaped like logits, in its dtype.  Do not change the
    arguments in place.
    """
    raise NotImplementedError("bernoulli_log_likelihood_backward: differentiate by the logits")
