"""Exercise reparameterize: the reparameterized sample z = mu + σ ⊙ eps and its backward
pass (ch05).

The reparameterization trick (thesis eq. 2.15-2.17 and 2.27, tutorial eq. 29-35, slides
Concept 11.18) moves the randomness into eps ~ N(0, I), so that z is a differentiable
function of the encoder's outputs.  Graded against DiagonalGaussian.sample/backward,
by central differences, with K samples per example (eps of shape (K, N, D), as IWAE
draws them), and by Monte Carlo: z must have mean mu and variance exp(logvar).
"""

import math

import numpy as np

from ..distributions import DiagonalGaussian
from .grading import Case, Fail, compare, compare_outputs, describe_shapes, gradient_check, outputs

NAME = "reparameterize"
CHAPTER = "ch05"
TITLE = "the reparameterized sample and its backward pass"
EQUATIONS = "thesis eq. 2.15-2.17, 2.27; tutorial eq. 35; slides Concept 11.18"
FUNCTIONS = ("reparameterize", "reparameterize_backward")


def _reference_reparameterize(mu, logvar, eps):
    return DiagonalGaussian(mu, logvar).sample(eps=eps)


def _reference_reparameterize_backward(dz, mu, logvar, eps):
    q = DiagonalGaussian(mu, logvar)
    q.sample(eps=eps)                    # the sampler's backward needs its eps
    return q.backward(dz)


REFERENCE = {"reparameterize": _reference_reparameterize,
             "reparameterize_backward": _reference_reparameterize_backward}

HINT = """
σ = exp(0.5 · logvar), because logvar = log σ² (not log σ: the thesis's eq. 2.26 uses
log σ, this package uses log σ² everywhere).  Then z = mu + σ * eps; broadcasting
handles eps with a leading sample axis (K, N, D) against mu of shape (N, D).

Backward, one entry at a time:  ∂z/∂mu = 1,  ∂z/∂logvar = ∂σ/∂logvar · eps = 0.5 · σ · eps.
So dmu = dz and dlogvar = dz * 0.5 * σ * eps, and when eps has the K axis, mu and
logvar were used K times: sum those products over axis 0 so that dmu and dlogvar
have mu's shape (N, D).
"""


def _arrays(N, D, seed, K=None, dtype=np.float64):
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((N, D)).astype(dtype)
    logvar = rng.uniform(-2.0, 1.0, size=(N, D)).astype(dtype)
    shape = (N, D) if K is None else (K, N, D)
    eps = rng.standard_normal(shape).astype(dtype)
    dz = rng.standard_normal(shape).astype(dtype)
    return mu, logvar, eps, dz


def _reference_case(label, N, D, seed, K=None, dtype=np.float64):
    mu, logvar, eps, dz = _arrays(N, D, seed, K, dtype)
    z = _reference_reparameterize(mu, logvar, eps)
    dmu, dlogvar = _reference_reparameterize_backward(dz, mu, logvar, eps)

    def run(student):
        error = compare("z", student.reparameterize(mu, logvar, eps), z)
        return max(error, compare_outputs(student.reparameterize_backward(dz, mu, logvar, eps),
                                          {"dmu": dmu, "dlogvar": dlogvar},
                                          "reparameterize_backward"))

    return Case(label, describe_shapes(mu=mu, eps=eps), run)


def _gradcheck_case(label, N, D, seed, K=None):
    mu, logvar, eps, dz = _arrays(N, D, seed, K)

    def run(student):
        result = student.reparameterize_backward(dz, mu, logvar, eps)
        dmu, dlogvar = outputs(result, ("dmu", "dlogvar"), "reparameterize_backward")
        return gradient_check(lambda: _reference_reparameterize(mu, logvar, eps),
                              {"mu": mu, "logvar": logvar}, {"mu": dmu, "logvar": dlogvar},
                              direction=dz)

    return Case(label, describe_shapes(mu=mu, eps=eps), run)


def _monte_carlo_case(M=100_000, seed=12):
    """M draws for one Gaussian: the sample mean and variance of z against mu and σ²."""
    rng = np.random.default_rng(seed)
    mu_row, logvar_row = np.array([0.5, -1.0, 2.0]), np.array([-1.5, 0.0, 1.2])
    mu, logvar = np.tile(mu_row, (M, 1)), np.tile(logvar_row, (M, 1))
    eps = rng.standard_normal((M, 3))
    var = np.exp(logvar_row)

    def run(student):
        z = np.asarray(student.reparameterize(mu, logvar, eps))
        if z.shape != mu.shape:
            raise Fail(f"z has shape {z.shape}, expected {mu.shape}")
        mean, sample_var = z.mean(axis=0), z.var(axis=0)
        # standard errors of the sample mean and variance of M Gaussian draws
        mean_off = np.abs(mean - mu_row) / np.sqrt(var / M)
        var_off = np.abs(sample_var - var) / (var * math.sqrt(2.0 / M))
        error = float(np.max(np.abs(sample_var / var - 1)))
        if not mean_off.max() < 5:
            d = int(np.argmax(mean_off))
            raise Fail(f"the sample mean of z[:, {d}] is {mean[d]:.4g}, but mu = {mu_row[d]:.4g}",
                       float(np.abs(mean - mu_row).max()))
        if not var_off.max() < 5:
            d = int(np.argmax(var_off))
            raise Fail(f"the sample variance of z[:, {d}] is {sample_var[d]:.4g}, but "
                       f"exp(logvar) = {var[d]:.4g}: σ = exp(0.5·logvar), since logvar = log σ²",
                       error)
        return error

    return Case("Monte Carlo: mean mu, variance exp(logvar)", describe_shapes(mu=mu, eps=eps), run)


def cases():
    return [
        _reference_case("one example, one dimension", 1, 1, seed=0),
        _reference_case("a minibatch", 6, 3, seed=1),
        _reference_case("K = 4 samples per example", 3, 2, seed=2, K=4),
        _gradcheck_case("gradient check", 3, 4, seed=3),
        _gradcheck_case("gradient check, K = 5 samples", 2, 3, seed=4, K=5),
        _monte_carlo_case(),
        _reference_case("float32 stays float32", 5, 4, seed=5, dtype=np.float32),
    ]
