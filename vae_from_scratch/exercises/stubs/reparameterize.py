"""Exercise reparameterize (chapter ch05, gradient estimators): the reparameterized
sample of the encoder's Gaussian, and its backward pass.

Copy this file, fill in both functions, and grade them:

    python -m vae_from_scratch.exercises check reparameterize --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).
Stuck?  python -m vae_from_scratch.exercises hint reparameterize
"""

import numpy as np  # noqa: F401  (you will need it)


def reparameterize(mu, logvar, eps):
    """z ~ N(mu, diag(σ²)) written as a differentiable function of noise eps ~ N(0, I):

        z = f(eps, φ, x) = mu + σ ⊙ eps,   σ = exp(0.5 · logvar)

    (thesis eq. 2.15 and 2.27, tutorial eq. 35, slides Concept 11.18).  The encoder
    outputs logvar = log σ².  (The thesis's eq. 2.26 outputs log σ instead; this
    package uses log σ² throughout, and mixing the two is the classic VAE bug.)

    Arguments
        mu, logvar: (N, D), one row per example.
        eps:        (N, D), one draw per example, or (K, N, D): K draws per example.

    Returns z, shaped like eps, in the dtype of mu.  Do not change the arguments in place.
    """
    raise NotImplementedError("reparameterize: z = mu + sigma * eps")


def reparameterize_backward(dz, mu, logvar, eps):
    """Gradient through the sampler (thesis eq. 2.17: the gradient moves inside the
    expectation over eps, because eps does not depend on the parameters).

    Arguments
        dz:         ∂L/∂z, shaped like eps: (N, D) or (K, N, D).
        mu, logvar: (N, D).
        eps:        the noise z was computed from, (N, D) or (K, N, D).

    Returns (dmu, dlogvar) = (∂L/∂mu, ∂L/∂logvar), each (N, D) (summed over the K
    samples when there are K), in the dtype of mu.  Do not change the arguments in place.
    """
    raise NotImplementedError("reparameterize_backward: the chain rule through z")
