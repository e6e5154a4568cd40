"""Exercise score_function: the log-derivative (score-function, REINFORCE) gradient
estimator (ch05).

The alternative to the reparameterization trick (slides Concept 11.22, thesis eq. 2.14
says why the naive exchange of ∇ and E fails):

    ∇_φ E_{q_φ}[f(z)] = E_{q_φ}[f(z) ∇_φ log q_φ(z)]  ≈  (1/K) Σ_k f(z_k) ∇_φ log q_φ(z_k).

The student returns the estimate for φ = (mu, logvar) given K samples and their f
values.  Graded against DiagonalGaussian.log_prob_backward (the package's chapter 5
code builds on it), and by Monte Carlo for f(z) = ‖z‖², whose exact gradients are known:
E[‖z‖²] = Σ (mu² + σ²), so ∇_mu = 2 mu and ∇_logvar = σ².
"""

import math

import numpy as np

from ..distributions import DiagonalGaussian
from .grading import Case, Fail, compare_outputs, describe_shapes, outputs

NAME = "score_function"
CHAPTER = "ch05"
TITLE = "the log-derivative (score-function) gradient estimator"
EQUATIONS = "slides Concept 11.22; thesis eq. 2.14"
FUNCTIONS = ("score_function_gradient",)


def _reference_score_function_gradient(f, z, mu, logvar):
    K = z.shape[0]
    _, dmu, dlogvar = DiagonalGaussian(mu, logvar).log_prob_backward(z, f / K)
    return dmu, dlogvar


REFERENCE = {"score_function_gradient": _reference_score_function_gradient}

HINT = """
Differentiate log q(z) = −½ Σ_d (log 2π + logvar_d + (z_d − mu_d)² · exp(−logvar_d))
with z held fixed (thesis eq. 2.30 with σ² = exp(logvar)):

    ∂ log q / ∂mu     = (z − mu) / σ²
    ∂ log q / ∂logvar = −½ + ½ (z − mu)² / σ²

Both have shape (K, N, D) for z of shape (K, N, D).  Weight each sample by its f value,
f[:, :, None], and average over the K samples (axis 0).  If the ½'s are missing you
have the derivative with respect to log σ, not log σ².
"""


def _arrays(K, N, D, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((N, D)).astype(dtype)
    logvar = rng.uniform(-1.5, 1.0, size=(N, D)).astype(dtype)
    z = (mu + np.exp(0.5 * logvar) * rng.standard_normal((K, N, D))).astype(dtype)
    f = rng.standard_normal((K, N)).astype(dtype)           # any function values will do
    return f, z, mu, logvar


def _reference_case(label, K, N, D, seed, dtype=np.float64):
    f, z, mu, logvar = _arrays(K, N, D, seed, dtype)
    dmu, dlogvar = _reference_score_function_gradient(f, z, mu, logvar)

    def run(student):
        return compare_outputs(student.score_function_gradient(f, z, mu, logvar),
                               {"dmu": dmu, "dlogvar": dlogvar}, "score_function_gradient")

    return Case(label, describe_shapes(f=f, z=z), run)


def _unbiased_case(K=200_000, seed=13):
    """f(z) = ‖z‖²: the estimate must match 2 mu and σ² within its own standard error."""
    rng = np.random.default_rng(seed)
    mu, logvar = np.array([[0.8, -0.5], [0.0, 1.5]]), np.array([[-0.5, 0.3], [0.7, -1.0]])
    var = np.exp(logvar)
    eps = rng.standard_normal((K,) + mu.shape)
    z = mu + np.sqrt(var) * eps
    f = np.sum(z ** 2, axis=2)                                  # (K, N)
    exact = {"dmu": 2 * mu, "dlogvar": var}
    # the per-sample terms f · ∇ log q, for the estimate's standard error
    terms = {"dmu": f[..., None] * eps / np.sqrt(var),
             "dlogvar": f[..., None] * 0.5 * (eps ** 2 - 1)}
    standard_error = {k: t.std(axis=0) / math.sqrt(K) for k, t in terms.items()}

    def run(student):
        got = outputs(student.score_function_gradient(f, z, mu, logvar), ("dmu", "dlogvar"),
                      "score_function_gradient")
        error = 0.0
        for name, value in zip(("dmu", "dlogvar"), got):
            value = np.asarray(value)
            if value.shape != mu.shape:
                raise Fail(f"{name} has shape {value.shape}, expected {mu.shape}")
            off = np.abs(value - exact[name]) / standard_error[name]
            error = max(error, float(np.abs(value - exact[name]).max() / np.abs(exact[name]).max()))
            if not off.max() < 5:
                i = np.unravel_index(int(np.argmax(off)), off.shape)
                formula = "2·mu" if name == "dmu" else "σ² = exp(logvar)"
                raise Fail(f"for f(z) = ‖z‖² the exact gradient is {formula}; {name}[{i[0]}, {i[1]}] "
                           f"is {value[i]:.4g}, expected {exact[name][i]:.4g} ± "
                           f"{standard_error[name][i]:.1g} (Monte Carlo, K = {K})", error)
        return error

    return Case("unbiased: f(z) = |z|² by Monte Carlo", describe_shapes(f=f, z=z), run)


def cases():
    return [
        _reference_case("one sample, one dimension", 1, 1, 1, seed=0),
        _reference_case("K = 10 samples", 10, 4, 3, seed=1),
        _reference_case("K = 1, a minibatch", 1, 5, 2, seed=2),
        _reference_case("K = 7, batch 1", 7, 1, 6, seed=3),
        _unbiased_case(),
        _reference_case("float32 stays float32", 6, 3, 2, seed=4, dtype=np.float32),
    ]
