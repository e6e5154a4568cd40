"""Exercise log_likelihood_is (chapter ch02, latent variable models): the importance-
sampled estimate of log p(x), computed stably with log-sum-exp, and the effective sample
size of its weights.

Copy this file, fill in both functions, and grade them:

    python -m vae_from_scratch.exercises check log_likelihood_is --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).
Stuck?  python -m vae_from_scratch.exercises hint log_likelihood_is
"""

import numpy as np  # noqa: F401  (you will need it)


def log_likelihood_is(log_px_given_z, log_pz, log_qz):
    """The importance-sampled estimate of log p(x) for each example (slides Concepts
    11.6 Choice 2, 11.7, 11.9):

        log p(x) = log E_{z~p(z)}[p(x|z)]         (the slides' §11 objective, before 11.6)
                 ≈ log (1/K) Σ_k w_k,   w_k = p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x),

    where p(x|z) p(z) = p(x, z) (thesis eq. 2.1).  K = 1 is the single-sample estimate
    whose expectation is the ELBO (thesis eq. 2.9), below log p(x) by KL(q ‖ p(z|x))
    (thesis eq. 2.8); as K grows the estimate tends to log p(x) (from below, in
    expectation).  Log-weights
    of images are in the hundreds or thousands of nats: exp(−2000) is 0.0 and exp(1000)
    is inf in float64, so compute it without leaving the log domain, for any finite
    log-densities, and with one shift per example (the examples of a batch may sit at
    very different scales).

    Arguments
        log_px_given_z: (K, N), log p(x_n | z_k,n), the decoder's log-likelihood of each
                        example at each of its K samples.
        log_pz:         (K, N), log p(z_k,n), the prior's log-density at the samples.
        log_qz:         (K, N), log q(z_k,n | x_n), the proposal's log-density there.

    Returns log_px: (N,), in the dtype of the inputs.  Do not change the inputs in place.
    """
    raise NotImplementedError("log_likelihood_is: log-mean-exp of the log-weights over K")


def effective_sample_size(log_px_given_z, log_pz, log_qz):
    """The effective sample size of the K importance weights of each example:

        ESS = 1 / Σ_k w̃_k²,   w̃_k = w_k / Σ_j w_j   (the normalised weights),

    K when every weight is the same (q is the posterior p(z|x), slides Concept 11.9),
    1 when one weight takes everything.  With q the prior, far fewer than K samples
    count (slides Concept 11.8: about a third of them in the mixture of Example 11.5).

    Arguments
        log_px_given_z, log_pz, log_qz: (K, N), as for log_likelihood_is.

    Returns ess: (N,), in the dtype of the inputs.  Do not change the inputs in place.
    """
    raise NotImplementedError("effective_sample_size: normalise the weights stably, then 1 / Σ w̃²")
