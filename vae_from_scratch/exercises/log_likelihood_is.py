"""Exercise log_likelihood_is: log p(x) by importance sampling, and its effective sample size (ch02).

log p(x) = log E_{z~p(z)}[p(x|z)] cannot be computed; sampling z from a proposal q(z|x)
instead of the prior and weighting each sample by p(z)/q(z|x) (slides Concepts 11.6
Choice 2, 11.7, 11.9) gives the estimate

    log p̂(x) = log (1/K) Σ_k w_k,   log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x),

which objectives.log_likelihood computes with large K to evaluate a model.  The student
writes it from the three log-densities, in the log domain (log-sum-exp), and the
effective sample size 1 / Σ_k w̃_k² of the normalised weights, which says how many of
the K samples carry the estimate (slides Concept 11.8: a third of them in Example 11.5
when q is the prior).  Graded against objectives.log_mean_exp and softmax, against
objectives.log_likelihood on a small VAE with the same draws, on a linear-Gaussian
model whose log p(x) is known in closed form (with q the exact posterior every weight
is p(x), slides Concept 11.9: the estimate is exact and the ESS is K; with a wider q the
estimate tends to log p(x) as K grows), on the three-component mixture of slides
Example 11.5 sampled from the prior, with log-weights near −2000, 0 and +1000 in one
batch, K = 1, float32, and on a seed drawn at grading time.
"""

import numpy as np

from ..distributions import DiagonalGaussian, StandardNormal
from ..models.vae import mlp_vae
from ..objectives import log_likelihood, log_mean_exp, softmax
from .grading import Case, Fail, compare, describe_shapes, hidden_seed

NAME = "log_likelihood_is"
CHAPTER = "ch02"
TITLE = "log p(x) by importance sampling, with log-sum-exp, and the ESS"
EQUATIONS = "slides Concepts 11.6-11.10, Example 11.5; thesis eq. 2.1, 2.8, 2.9"
FUNCTIONS = ("log_likelihood_is", "effective_sample_size")


def _log_weights(log_px_given_z, log_pz, log_qz):
    return log_px_given_z + log_pz - log_qz                   # slides Concept 11.9


def _reference_log_likelihood_is(log_px_given_z, log_pz, log_qz):
    return log_mean_exp(_log_weights(log_px_given_z, log_pz, log_qz), axis=0)   # Concept 11.7


def _reference_effective_sample_size(log_px_given_z, log_pz, log_qz):
    w = softmax(_log_weights(log_px_given_z, log_pz, log_qz), axis=0)       # w̃_k
    return 1 / (w ** 2).sum(axis=0)


REFERENCE = {"log_likelihood_is": _reference_log_likelihood_is,
             "effective_sample_size": _reference_effective_sample_size}

HINT = """
First the log-weights, one per sample and example:  a = log_px_given_z + log_pz − log_qz
(a weight is p(x|z) p(z) / q(z|x): the prior's density over the proposal's, Concept 11.9).

The estimate is log (1/K) Σ_k exp(a_k).  Never call exp on a itself: log-weights of
images are in the hundreds or thousands of nats.  With m = max_k a_k per example,

    log (1/K) Σ_k exp(a_k) = m + log (1/K) Σ_k exp(a_k − m),

and every exp(a_k − m) ≤ 1, the largest exactly 1.  One m per example (axis 0), not
one for the whole batch.  The 1/K belongs inside the log.

The ESS: w̃_k = exp(a_k − m) / Σ_j exp(a_j − m) (a softmax over the K axis), then
1 / Σ_k w̃_k².  It is K when all weights are equal and 1 when one weight takes all.
"""

MEAN = ("that is the mean of the log-weights, the average of K single-sample ELBOs (slides "
        "Concept 11.6); the estimate is the log of the mean of the weights, log (1/K) Σ_k w_k")
NO_1_OVER_K = "the 1/K is missing: log Σ_k w_k is log K more than log (1/K) Σ_k w_k"
PLUS_LOG_Q = "log q(z|x) added: a weight is p(x|z) p(z) / q(z|x), so log q is subtracted"
NO_PRIOR = "log p(z) left out: a weight is p(x|z) p(z) / q(z|x)"
SUM_OF_SQUARES = "that is Σ_k w̃_k², the inverse of the ESS 1 / Σ_k w̃_k²"
PERPLEXITY = ("that is exp(entropy of w̃), the perplexity of the weights; the effective sample "
              "size here is 1 / Σ_k w̃_k²")
UNNORMALISED = "the weights are not normalised: w̃_k = w_k / Σ_j w_j before squaring"


def _mistakes(log_px_given_z, log_pz, log_qz):
    """{output: {hint: what the mistake outputs}}."""
    a = _log_weights(log_px_given_z, log_pz, log_qz)
    K = a.shape[0]
    est = log_mean_exp(a, axis=0)
    w = softmax(a, axis=0)
    with np.errstate(all="ignore"):
        entropy = -(w * np.log(np.where(w > 0, w, 1.0))).sum(axis=0)
    return {"log_px": {MEAN: a.mean(axis=0), NO_1_OVER_K: est + np.log(K),
                       PLUS_LOG_Q: log_mean_exp(log_px_given_z + log_pz + log_qz, axis=0),
                       NO_PRIOR: log_mean_exp(log_px_given_z - log_qz, axis=0)},
            "ess": {SUM_OF_SQUARES: (w ** 2).sum(axis=0), PERPLEXITY: np.exp(entropy)}}


def _check(student, terms, expected=None, tol=None):
    """Compare both functions with the reference on `terms`; returns the largest error."""
    if expected is None:
        expected = (_reference_log_likelihood_is(*terms), _reference_effective_sample_size(*terms))
    mistakes = lambda: _mistakes(*terms)                         # noqa: E731
    error = compare("log_px", student.log_likelihood_is(*terms), expected[0], tol=tol,
                    mistakes=lambda: mistakes()["log_px"])
    return max(error, compare("ess", student.effective_sample_size(*terms), expected[1], tol=tol,
                              mistakes=lambda: mistakes()["ess"]))


def _terms(K, N, seed, loc=0.0, scale=3.0, dtype=np.float64):
    """Three (K, N) arrays of log-densities whose log-weights are loc + about `scale`
    times a standard normal; loc may be one number per example (N,)."""
    rng = np.random.default_rng(seed)
    log_px_given_z = loc + scale * rng.standard_normal((K, N)) - 5.0
    log_pz = -0.5 * rng.standard_normal((K, N)) ** 2 - 1.0
    log_qz = -0.5 * rng.standard_normal((K, N)) ** 2 - 6.0
    return tuple(a.astype(dtype) for a in (log_px_given_z, log_pz, log_qz))


def _reference_case(label, K, N, seed, shape=None, **kw):
    terms = _terms(K, N, seed, **kw)

    def run(student):
        return _check(student, terms)

    return Case(label, shape or describe_shapes(log_px_given_z=terms[0]), run)


def _hidden_seed_case():
    """A mixed-scale batch from a seed drawn now, so no answer can be written for it in
    advance; the seed is in the report, to reproduce a failure."""
    seed = hidden_seed()
    K, N = 9, 3
    return _reference_case("a hidden seed, examples near -2000, 0, +1000", K, N, seed,
                           shape=f"K={K}, N={N}, seed {seed}",
                           loc=np.array([-2000.0, 0.0, 1000.0]), scale=20.0)


def _package_estimator_case(label, K, N, seed):
    """objectives.log_likelihood on a small VAE: its draws repeated here, z_k = mu + σ ε_k
    with ε from the same Generator, and the three log-densities handed to the student."""
    rng = np.random.default_rng(seed)
    P, D = 6, 2
    model = mlp_vae(x_shape=(P,), latent_dim=D, hidden=(5,), activation="tanh", rng=rng,
                    dtype=np.float64)
    x = (rng.random((N, P)) < 0.5).astype(np.float64)
    draw_seed = int(rng.integers(2 ** 31))
    expected = log_likelihood(model, x, K, rng=np.random.default_rng(draw_seed), chunk=K)
    mu, logvar = model.encoder_forward(x)
    q = DiagonalGaussian(mu, logvar)
    z = q.sample(np.random.default_rng(draw_seed), n_samples=K)         # (K, N, D), as log_likelihood
    x_rep = np.broadcast_to(x, (K, N, P)).reshape(K * N, P)
    log_px_given_z = model.decoder_forward(z.reshape(K * N, D)).log_prob(x_rep).reshape(K, N)
    terms = (log_px_given_z, StandardNormal(mu.shape, mu.dtype).log_prob(z), q.log_prob(z))

    def run(student):
        return _check(student, terms, (expected, _reference_effective_sample_size(*terms)))

    return Case(label, describe_shapes(x=x, z=z), run)


def _linear_gaussian(K, N, seed, q_scale, s2=0.5):
    """z ~ N(0, 1), x | z ~ N(z, s2): log p(x) = log N(x; 0, 1 + s2) exactly, and the
    posterior is N(x / (1 + s2), s2 / (1 + s2)).  q: the posterior with its standard
    deviation times q_scale.  Returns (terms, log p(x))."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(N) * np.sqrt(1 + s2)
    post_mean, post_var = x / (1 + s2), s2 / (1 + s2)
    q_sd = q_scale * np.sqrt(post_var)
    z = post_mean + q_sd * rng.standard_normal((K, N))

    def log_normal(v, mean, var):
        return -0.5 * (np.log(2 * np.pi * var) + (v - mean) ** 2 / var)

    terms = (log_normal(x, z, s2), log_normal(z, 0.0, 1.0), log_normal(z, post_mean, q_sd ** 2))
    return terms, log_normal(x, 0.0, 1 + s2)


def _exact_posterior_case(label, K, N, seed):
    terms, log_px = _linear_gaussian(K, N, seed, q_scale=1.0)

    def run(student):
        # every weight is p(x|z) p(z) / p(z|x) = p(x): the estimate is exact, the ESS is K
        return _check(student, terms, (log_px, np.full(N, float(K))))

    return Case(label, describe_shapes(log_px_given_z=terms[0]), run)


def _wide_proposal_case(label, K, N, seed):
    """q twice as wide as the posterior (in variance): the estimate is within a few
    standard errors of log p(x), and ESS / K near its limit (E w)² / E w² = √3 / 2."""
    terms, log_px = _linear_gaussian(K, N, seed, q_scale=np.sqrt(2.0))

    def run(student):
        est = np.asarray(student.log_likelihood_is(*terms), dtype=np.float64)
        ess = np.asarray(student.effective_sample_size(*terms), dtype=np.float64)
        for name, value in (("log_px", est), ("ess", ess)):
            if value.shape != (N,) or not np.isfinite(value).all():
                raise Fail(f"{name} should be {N} finite numbers, got shape {value.shape}: {value}")
        # the relative variance of w is 2/√3 − 1 = 0.155: the estimate's s.d. is
        # sqrt(0.155 / K) = 0.004 nats at K = 10 000, its bias −0.155 / 2K ≈ 0
        error = float(np.abs(est - log_px).max())
        if error > 0.03:
            raise Fail(f"log_px: the estimate is {error:.3g} nats from the exact log p(x) = "
                       f"{np.round(log_px, 4)} with K = {K} (got {np.round(est, 4)}; expected "
                       f"within 0.03, about 7 standard errors)", error)
        ratio = ess / K
        if np.abs(ratio - np.sqrt(3) / 2).max() > 0.05:
            raise Fail(f"ess: ESS / K = {np.round(ratio, 3)}; for this proposal it tends to "
                       f"(E w)² / E w² = √3/2 = 0.866" + _ess_hint(ratio, K),
                       float(np.abs(ratio - np.sqrt(3) / 2).max()))
        return error

    return Case(label, describe_shapes(log_px_given_z=terms[0]), run)


def _ess_hint(ratio, K):
    if np.all(ratio * K * K < 2):
        return f"\n({SUM_OF_SQUARES})"
    return ""


def _mixture_case(label, K, seed):
    """Slides Example 11.5: z uniform on {A, B, C}, x | z ~ N(μ_z, I) with the means far
    apart, and q = the prior (slides Concept 11.8).  Only the samples with z = A, the
    component x came from, carry a weight that is not ~0: the ESS is their count."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]])
    x = means[0] + rng.standard_normal((3, 2))                        # N = 3 examples from A
    z = rng.integers(0, 3, size=(K, 3))                               # z_k ~ p(z) = q(z)
    log_px_given_z = -0.5 * ((x[None] - means[z]) ** 2).sum(axis=2) - np.log(2 * np.pi)
    log_p = np.full((K, 3), np.log(1 / 3))
    terms = (log_px_given_z, log_p, log_p.copy())
    count = (z == 0).sum(axis=0).astype(np.float64)

    def run(student):
        error = _check(student, terms)
        # the weights of B and C are below e^-50 of A's: the ESS is the count of A's
        return max(error, compare("ess (the number of samples with z = A)",
                                  student.effective_sample_size(*terms), count, tol=1e-6))

    return Case(label, describe_shapes(log_px_given_z=terms[0]), run)


def cases():
    return [
        _reference_case("K = 1: one weight, ESS 1", 1, 3, seed=0, loc=-50.0),
        _reference_case("K = 5, moderate log-weights", 5, 4, seed=1, loc=-100.0, scale=5.0),
        _reference_case("batch 1, K = 200", 200, 1, seed=2, loc=-300.0, scale=2.0),
        _reference_case("one weight dominates", 10, 3, seed=3, scale=300.0),
        # one shift for the whole batch leaves the −2000 example with exp(−3000) = 0
        _reference_case("examples near -2000, 0, +1000", 6, 3, seed=4,
                        loc=np.array([-2000.0, 0.0, 1000.0]), scale=10.0),
        _package_estimator_case("objectives.log_likelihood on a small VAE", 50, 4, seed=5),
        _exact_posterior_case("q = the exact posterior: exact, ESS = K", 8, 4, seed=6),
        _wide_proposal_case("q wider than the posterior: tends to log p(x)", 10_000, 3, seed=7),
        _mixture_case("Example 11.5 from the prior: ESS counts z = A", 60, seed=8),
        _reference_case("float32 stays float32", 7, 4, seed=9, loc=-500.0, scale=5.0, dtype=np.float32),
        _hidden_seed_case(),
    ]
