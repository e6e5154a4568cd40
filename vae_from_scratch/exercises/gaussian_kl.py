"""Exercise gaussian_kl: the KL divergence of a diagonal Gaussian from N(0, I), and its
gradient (ch03).

The KL term of the ELBO in closed form (tutorial eq. 22, slides Definition 11.17), with
the package's variance convention: the encoder outputs logvar = log σ².  Graded against
vae_from_scratch.distributions.DiagonalGaussian, by central differences, and by Monte
Carlo against the definition KL = E_q[log q(z) − log p(z)] (thesis eq. 2.5), which
catches a log σ / log σ² mix-up without trusting any reference.
"""

import math

import numpy as np

from ..distributions import DiagonalGaussian
from .grading import Case, Fail, compare, compare_outputs, describe_shapes, gradient_check, outputs


NAME = "gaussian_kl"
CHAPTER = "ch03"
TITLE = "KL(N(mu, σ²) ‖ N(0, I)) and its gradient"
EQUATIONS = "tutorial eq. 17-22 and 28; slides Def. 11.17; thesis eq. 2.2, 2.5"
FUNCTIONS = ("gaussian_kl", "gaussian_kl_backward")


def _reference_gaussian_kl(mu, logvar):
    return DiagonalGaussian(mu, logvar).kl_to_standard_normal()


def _reference_gaussian_kl_backward(dkl, mu, logvar):
    return DiagonalGaussian(mu, logvar).kl_backward(dkl)


REFERENCE = {"gaussian_kl": _reference_gaussian_kl,
             "gaussian_kl_backward": _reference_gaussian_kl_backward}

HINT = """
Per latent dimension, with σ² = exp(logvar):

    KL = ½ (σ² + mu² − 1 − log σ²) = ½ (exp(logvar) + mu² − 1 − logvar)

(the tutorial's eq. 22 is −KL; slides Def. 11.17 is the same with tr Σ = Σ σ² and
log det Σ = Σ log σ²).  Sum over the latent axis (axis=1), not over the batch.

Backward: differentiate one term.  ∂KL/∂mu = mu and ∂KL/∂logvar = ½ (exp(logvar) − 1),
each multiplied by the upstream dkl[n] of its own row: dkl[:, None] broadcasts.
The classic bug: σ = exp(logvar) (that reads logvar as log σ).  It is exp(0.5·logvar).
"""


# The usual mistakes, each named by what it gets wrong (the messages must tell them apart:
# a missing ½ and logvar read as log σ both leave a KL too large).
LOG_SIGMA = ("logvar read as log σ, which makes σ² = exp(2·logvar); but logvar = log σ², "
             "so σ² = exp(logvar)")
NO_HALF = "the ½ is missing: KL = ½ Σ_d (σ² + mu² − 1 − log σ²), so ∂KL/∂logvar = ½ (σ² − 1)"
NO_MINUS_ONE = "the −1 is missing: KL = ½ Σ_d (σ² + mu² − 1 − log σ²), so ∂KL/∂logvar = ½ (σ² − 1)"
MEAN_OVER_D = "a mean over the latent dimensions: the KL is their sum, Σ_d (axis=1)"


def _mistakes(mu, logvar, dkl):
    """{output: {hint: what the mistake outputs}} for kl, dmu and dlogvar, each mistake
    computed from its own (wrong) formula."""
    D = mu.shape[1]
    kl = _reference_gaussian_kl(mu, logvar)
    dmu, dlogvar = _reference_gaussian_kl_backward(dkl, mu, logvar)
    g = dkl[:, None]
    return {
        "kl": {LOG_SIGMA: _reference_gaussian_kl(mu, 2 * logvar), NO_HALF: 2 * kl,
               NO_MINUS_ONE: kl + D / 2, MEAN_OVER_D: kl / D},
        "dmu": {NO_HALF: 2 * dmu, MEAN_OVER_D: dmu / D},
        # ∂/∂logvar of ½ (exp(2·logvar) − 2·logvar) and of ½ exp(logvar)
        "dlogvar": {LOG_SIGMA: g * (np.exp(2 * logvar) - 1), NO_HALF: 2 * dlogvar,
                    NO_MINUS_ONE: g * 0.5 * np.exp(logvar), MEAN_OVER_D: dlogvar / D},
    }


def _arrays(N, D, seed, mu_scale=1.0, logvar_range=(-2.0, 1.0), dtype=np.float64):
    rng = np.random.default_rng(seed)
    mu = (mu_scale * rng.standard_normal((N, D))).astype(dtype)
    logvar = rng.uniform(*logvar_range, size=(N, D)).astype(dtype)
    dkl = rng.standard_normal(N).astype(dtype)
    return rng, mu, logvar, dkl


def _reference_case(label, N, D, seed, **kw):
    _, mu, logvar, dkl = _arrays(N, D, seed, **kw)
    kl = _reference_gaussian_kl(mu, logvar)
    dmu, dlogvar = _reference_gaussian_kl_backward(dkl, mu, logvar)

    def mistakes():
        return _mistakes(mu, logvar, dkl)

    def run(student):
        error = compare("kl", student.gaussian_kl(mu, logvar), kl, mistakes=lambda: mistakes()["kl"])
        return max(error, compare_outputs(student.gaussian_kl_backward(dkl, mu, logvar),
                                          {"dmu": dmu, "dlogvar": dlogvar}, "gaussian_kl_backward",
                                          mistakes=mistakes))

    return Case(label, describe_shapes(mu=mu, logvar=logvar), run)


def _zero_case():
    mu, logvar = np.zeros((3, 4)), np.zeros((3, 4))

    def run(student):
        return compare("kl", student.gaussian_kl(mu, logvar), np.zeros(3),
                       mistakes=lambda: _mistakes(mu, logvar, np.ones(3))["kl"])

    return Case("q = p gives KL = 0", describe_shapes(mu=mu, logvar=logvar), run)


def _gradcheck_case(label, N, D, seed):
    _, mu, logvar, dkl = _arrays(N, D, seed)

    def run(student):
        dmu, dlogvar = outputs(student.gaussian_kl_backward(dkl, mu, logvar), ("dmu", "dlogvar"),
                               "gaussian_kl_backward")
        return gradient_check(lambda: _reference_gaussian_kl(mu, logvar),
                              {"mu": mu, "logvar": logvar}, {"mu": dmu, "logvar": dlogvar},
                              direction=dkl)

    return Case(label, describe_shapes(mu=mu, logvar=logvar), run)


def _monte_carlo_case(N=3, D=2, K=200_000, seed=11):
    """KL = E_q[log q(z) − log p(z)], estimated from K samples z = mu + σ ⊙ eps."""
    rng, mu, logvar, _ = _arrays(N, D, seed)
    eps = rng.standard_normal((K, N, D))
    z = mu + np.exp(0.5 * logvar) * eps
    # log q(z) − log p(z) = −½ Σ (logvar + eps²) + ½ Σ z²   (the log 2π terms cancel)
    log_ratio = 0.5 * np.sum(z ** 2 - eps ** 2 - logvar, axis=2)        # (K, N)
    estimate = log_ratio.mean(axis=0)
    standard_error = log_ratio.std(axis=0) / math.sqrt(K)

    def run(student):
        kl = np.asarray(student.gaussian_kl(mu, logvar))
        if kl.shape != (N,):
            raise Fail(f"kl has shape {kl.shape}, expected ({N},)")
        deviation = np.abs(kl - estimate) / standard_error      # in standard errors
        n = int(np.argmax(deviation))
        error = float(np.abs(kl - estimate).max() / np.abs(estimate).max())
        if not deviation[n] < 5:
            raise Fail(f"kl[{n}] = {kl[n]:.6g}, but the average of log q(z) − log p(z) over {K} "
                       f"samples is {estimate[n]:.6g} ± {standard_error[n]:.1g}: is σ = "
                       f"exp(0.5·logvar)?", error)
        return error

    return Case("Monte Carlo: E_q[log q − log p]", describe_shapes(mu=mu, logvar=logvar), run)


def cases():
    return [
        _reference_case("one example, one dimension", 1, 1, seed=0),
        _zero_case(),
        _reference_case("a minibatch", 16, 8, seed=1),
        _reference_case("tiny and large variances", 5, 4, seed=2, logvar_range=(-20.0, 8.0)),
        _reference_case("means far from 0", 4, 3, seed=3, mu_scale=30.0),
        _gradcheck_case("gradient check", 4, 3, seed=4),
        _gradcheck_case("gradient check, batch 1", 1, 6, seed=5),
        _monte_carlo_case(),
        _reference_case("float32 stays float32", 6, 5, seed=6, dtype=np.float32),
    ]
