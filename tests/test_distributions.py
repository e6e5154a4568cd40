"""distributions.py: the Gaussian and Bernoulli densities, the reparameterized sampler, the
KL to N(0, I), the entropy, the floored log-variance, and every hand-written gradient.

Each value is compared with an independent computation: a density written out with np.exp
(or as a multivariate normal with a full covariance matrix and np.linalg), numerical
integration on a grid (trapezoid rule), Monte Carlo with a tolerance of 4 standard errors,
or central finite differences in float64 (gradcheck.compare_gradients).

Monte Carlo tolerances: a mean of n draws is compared with its target within 4 standard
errors, SE = (sample std) / √n; a sample variance within 4 · σ² · √(2 / (n − 1)) (its SE
for Gaussian draws).  A correct implementation fails such a check with probability
≈ 6e-5 per comparison; the mistakes they guard against (σ for σ², log σ for log σ², a
missing ½) are off by tens to hundreds of standard errors.
"""

import math

import numpy as np
import pytest

from vae_from_scratch.distributions import (LOG_2PI, Bernoulli, DiagonalGaussian,
                                            StandardNormal, floor_logvar,
                                            floor_logvar_backward)
from vae_from_scratch.gradcheck import compare_gradients

TOL = 1e-6          # gradient checks: normwise relative error, as in conftest.py


def normal_pdf(z, mu, var):
    """The 1-D normal density, written out: exp(−(z − μ)² / 2σ²) / √(2πσ²)."""
    return np.exp(-(z - mu) ** 2 / (2.0 * var)) / np.sqrt(2.0 * np.pi * var)


def mvn_logpdf(z, mu, cov):
    """log N(z; mu, cov) for a full covariance matrix, via np.linalg (z, mu: (D,))."""
    d = z - mu
    sign, logdet = np.linalg.slogdet(cov)
    assert sign > 0
    return -0.5 * (len(z) * math.log(2 * math.pi) + logdet + d @ np.linalg.solve(cov, d))


def random_gaussian(rng, shape):
    mu = rng.normal(0.0, 1.0, shape)
    logvar = rng.uniform(-2.0, 1.5, shape)
    return mu, logvar


# --- DiagonalGaussian.log_prob -----------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (3, 4), (2, 2, 3, 2)])
def test_log_prob_is_log_of_product_of_1d_pdfs(shape, rng):
    mu, logvar = random_gaussian(rng, shape)
    z = mu + rng.normal(0.0, 1.5, shape)
    got = DiagonalGaussian(mu, logvar).log_prob(z)
    per_element = normal_pdf(z, mu, np.exp(logvar))
    expected = np.log(per_element.reshape(shape[0], -1).prod(axis=1))
    assert got.shape == (shape[0],)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_log_prob_matches_multivariate_normal_with_full_diagonal_covariance(rng):
    N, D = 4, 3
    mu, logvar = random_gaussian(rng, (N, D))
    z = rng.normal(0.0, 2.0, (N, D))
    got = DiagonalGaussian(mu, logvar).log_prob(z)
    expected = [mvn_logpdf(z[n], mu[n], np.diag(np.exp(logvar[n]))) for n in range(N)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_log_prob_with_leading_sample_axes(rng):
    """z: (K, N, D) -> (K, N): each slice is the (N, D) log-density."""
    K, N, D = 5, 3, 2
    mu, logvar = random_gaussian(rng, (N, D))
    q = DiagonalGaussian(mu, logvar)
    z = rng.normal(0.0, 1.0, (K, N, D))
    got = q.log_prob(z)
    assert got.shape == (K, N)
    expected = np.log(normal_pdf(z, mu, np.exp(logvar)).prod(axis=-1))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    z2 = rng.normal(0.0, 1.0, (2, K, N, D))
    assert q.log_prob(z2).shape == (2, K, N)
    np.testing.assert_allclose(q.log_prob(z2)[1], q.log_prob(z2[1]), rtol=1e-15)


def test_standard_normal_log_prob(rng):
    z = rng.normal(0.0, 2.0, (4, 3))
    p = StandardNormal((4, 3), dtype=np.float64)
    expected = np.log(normal_pdf(z, 0.0, 1.0).prod(axis=1))
    np.testing.assert_allclose(p.log_prob(z), expected, rtol=1e-12)
    np.testing.assert_allclose(p.log_prob(z), DiagonalGaussian(np.zeros((4, 3)),
                                                               np.zeros((4, 3))).log_prob(z))


def test_density_integrates_to_one_in_1d():
    mu, logvar = 0.7, -0.8
    sigma = math.exp(0.5 * logvar)
    q = DiagonalGaussian(np.array([[mu]]), np.array([[logvar]]))
    z = np.linspace(mu - 12 * sigma, mu + 12 * sigma, 4001)
    density = np.exp(q.log_prob(z.reshape(-1, 1, 1)))[:, 0]
    np.testing.assert_allclose(np.trapezoid(density, z), 1.0, rtol=1e-9)
    # and the first two moments: the grid sees σ² = exp(logvar), not exp(2·logvar)
    m1 = np.trapezoid(density * z, z)
    m2 = np.trapezoid(density * (z - m1) ** 2, z)
    np.testing.assert_allclose(m1, mu, atol=1e-9)
    np.testing.assert_allclose(m2, math.exp(logvar), rtol=1e-8)


def test_density_integrates_to_one_in_2d():
    mu = np.array([[0.3, -1.0]])
    logvar = np.array([[1.2, -1.5]])
    sigma = np.exp(0.5 * logvar[0])
    q = DiagonalGaussian(mu, logvar)
    g0 = np.linspace(mu[0, 0] - 10 * sigma[0], mu[0, 0] + 10 * sigma[0], 601)
    g1 = np.linspace(mu[0, 1] - 10 * sigma[1], mu[0, 1] + 10 * sigma[1], 601)
    Z0, Z1 = np.meshgrid(g0, g1, indexing="ij")
    z = np.stack([Z0, Z1], axis=-1).reshape(-1, 1, 2)              # (G², N=1, D=2)
    density = np.exp(q.log_prob(z)).reshape(len(g0), len(g1))
    total = np.trapezoid(np.trapezoid(density, g1, axis=1), g0)
    np.testing.assert_allclose(total, 1.0, rtol=1e-7)


# --- sampling -----------------------------------------------------------------------

def test_sample_mean_and_variance_match_mu_and_exp_logvar(rng):
    """Monte Carlo, n = 200 000 draws per coordinate, tolerance 4 SE.  logvar = 2 and −3
    make σ² and σ (or exp(2·logvar)) differ by far more than the tolerance."""
    n = 200_000
    mu = np.array([[0.5, -1.0, 2.0, 0.0]])
    logvar = np.array([[2.0, -3.0, 0.0, 0.7]])
    z = DiagonalGaussian(mu, logvar).sample(rng, n_samples=n)
    assert z.shape == (n, 1, 4)
    z = z[:, 0, :]
    var = np.exp(logvar[0])
    mean_se = np.sqrt(var / n)
    assert np.all(np.abs(z.mean(axis=0) - mu[0]) < 4 * mean_se)
    var_se = var * np.sqrt(2.0 / (n - 1))
    assert np.all(np.abs(z.var(axis=0, ddof=1) - var) < 4 * var_se)


def test_sample_shapes_and_std_var_properties(rng):
    mu, logvar = random_gaussian(rng, (3, 2, 4, 4))
    q = DiagonalGaussian(mu, logvar)
    assert q.sample(rng).shape == (3, 2, 4, 4)
    assert q.sample(rng, n_samples=5).shape == (5, 3, 2, 4, 4)
    np.testing.assert_allclose(q.std, np.sqrt(np.exp(logvar)), rtol=1e-14)
    np.testing.assert_allclose(q.var, q.std ** 2, rtol=1e-14)
    assert q.mean is mu


def test_sample_with_explicit_eps_is_mu_plus_sigma_eps_and_deterministic(rng):
    mu, logvar = random_gaussian(rng, (3, 2))
    eps = rng.standard_normal((3, 2))
    q = DiagonalGaussian(mu, logvar)
    z1 = q.sample(eps=eps)
    z2 = q.sample(rng=np.random.default_rng(99), eps=eps)       # eps wins over rng
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_allclose(z1, mu + np.sqrt(np.exp(logvar)) * eps, rtol=1e-14)
    epsK = rng.standard_normal((4, 3, 2))
    np.testing.assert_allclose(q.sample(eps=epsK), mu + np.exp(0.5 * logvar) * epsK, rtol=1e-14)


def test_same_seed_gives_same_draws(rng):
    mu, logvar = random_gaussian(rng, (3, 2))
    q = DiagonalGaussian(mu, logvar)
    a = q.sample(np.random.default_rng(7), n_samples=4)
    b = q.sample(np.random.default_rng(7), n_samples=4)
    c = q.sample(np.random.default_rng(8), n_samples=4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sample_keeps_the_parameters_dtype(dtype, rng):
    q = DiagonalGaussian(np.zeros((2, 3), dtype), np.zeros((2, 3), dtype))
    assert q.sample(rng).dtype == dtype
    assert q.sample(eps=np.ones((2, 3))).dtype == dtype


# --- KL and entropy -------------------------------------------------------------------

def test_kl_closed_form_matches_monte_carlo(rng):
    """mean of log q(z) − log p(z) over n = 100 000 draws z ~ q, within 4 SE."""
    n = 100_000
    mu = np.array([[0.5, -1.2, 0.0], [0.0, 0.0, 0.0], [2.0, 0.3, -0.4]])
    logvar = np.array([[2.0, -3.0, 0.5], [0.0, 0.0, 0.0], [-1.0, 1.0, 0.0]])
    q = DiagonalGaussian(mu, logvar)
    z = q.sample(rng, n_samples=n)                               # (n, 3, 3)
    prior = StandardNormal(mu.shape, np.float64)
    log_ratio = q.log_prob(z) - prior.log_prob(z)                 # (n, 3)
    mc, se = log_ratio.mean(axis=0), log_ratio.std(axis=0, ddof=1) / np.sqrt(n)
    kl = q.kl_to_standard_normal()
    assert kl.shape == (3,)
    assert np.all(np.abs(mc - kl) <= 4 * se + 1e-12)              # row 1: q = p, ratio ≡ 0


def test_kl_closed_form_matches_numerical_integration_in_1d():
    for mu, logvar in [(0.0, 0.0), (1.3, -0.7), (-0.4, 2.0), (2.5, -3.0)]:
        var = math.exp(logvar)
        sigma = math.sqrt(var)
        z = np.linspace(mu - 14 * sigma, mu + 14 * sigma, 20001)
        q = normal_pdf(z, mu, var)
        log_q = -0.5 * (np.log(2 * np.pi * var) + (z - mu) ** 2 / var)
        log_p = -0.5 * (np.log(2 * np.pi) + z ** 2)
        expected = np.trapezoid(q * (log_q - log_p), z)
        got = DiagonalGaussian(np.array([[mu]]), np.array([[logvar]])).kl_to_standard_normal()
        np.testing.assert_allclose(got, [expected], rtol=1e-8, atol=1e-12)


def test_kl_is_nonnegative_and_zero_only_at_the_prior(rng):
    mu, logvar = rng.normal(0, 2, (500, 3)), rng.normal(0, 2, (500, 3))
    assert np.all(DiagonalGaussian(mu, logvar).kl_to_standard_normal() > 0)
    zero = np.zeros((2, 4))
    np.testing.assert_array_equal(DiagonalGaussian(zero, zero).kl_to_standard_normal(), 0.0)
    # moving a single coordinate away from the prior makes it positive
    for delta in (1e-3, -1e-3, 0.5):
        m, lv = zero.copy(), zero.copy()
        m[0, 1] = delta
        lv[1, 2] = delta
        kl = DiagonalGaussian(m, lv).kl_to_standard_normal()
        assert kl[0] > 0 and kl[1] > 0


def test_kl_sums_over_all_event_axes(rng):
    mu, logvar = random_gaussian(rng, (2, 3, 2, 2))
    kl = DiagonalGaussian(mu, logvar).kl_to_standard_normal()
    flat = DiagonalGaussian(mu.reshape(2, -1), logvar.reshape(2, -1)).kl_to_standard_normal()
    assert kl.shape == (2,)
    np.testing.assert_allclose(kl, flat, rtol=1e-14)


def test_entropy_matches_monte_carlo_and_the_determinant_formula(rng):
    """H = −E[log q(z)]: Monte Carlo with n = 100 000 draws within 4 SE, and the closed form
    ½ log det(2πe Σ) from np.linalg on the full covariance matrix."""
    n = 100_000
    mu = np.array([[0.5, -1.0, 3.0], [0.0, 0.0, 0.0]])
    logvar = np.array([[2.0, -3.0, 0.4], [0.0, 0.0, 0.0]])
    q = DiagonalGaussian(mu, logvar)
    H = q.entropy()
    assert H.shape == (2,)
    for i in range(2):
        sign, logdet = np.linalg.slogdet(2 * np.pi * np.e * np.diag(np.exp(logvar[i])))
        np.testing.assert_allclose(H[i], 0.5 * logdet, rtol=1e-12)
    neg_log_q = -q.log_prob(q.sample(rng, n_samples=n))
    se = neg_log_q.std(axis=0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(neg_log_q.mean(axis=0) - H) < 4 * se)


def test_entropy_matches_numerical_integration_in_1d():
    mu, logvar = -0.3, 1.7
    var = math.exp(logvar)
    z = np.linspace(mu - 14 * math.sqrt(var), mu + 14 * math.sqrt(var), 20001)
    q = normal_pdf(z, mu, var)
    expected = -np.trapezoid(q * np.log(q), z)
    got = DiagonalGaussian(np.array([[mu]]), np.array([[logvar]])).entropy()
    np.testing.assert_allclose(got, [expected], rtol=1e-8)


# --- gradients by finite differences (float64) ------------------------------------------

@pytest.mark.parametrize("eps_shape", [(3, 4), (5, 3, 4)], ids=["N,D", "K,N,D"])
def test_sample_backward_by_finite_differences(eps_shape, rng):
    """L = Σ z ⊙ G with z = mu + σ ⊙ eps at a fixed eps; backward(G) = (∂L/∂mu, ∂L/∂logvar)."""
    mu, logvar = random_gaussian(rng, (3, 4))
    eps = rng.standard_normal(eps_shape)
    G = rng.standard_normal(eps_shape)
    q = DiagonalGaussian(mu, logvar)
    q.sample(eps=eps)
    dmu, dlogvar = q.backward(G)
    assert dmu.shape == dlogvar.shape == (3, 4)
    result = compare_gradients(lambda: DiagonalGaussian(mu, logvar).sample(eps=eps),
                               {"mu": mu, "logvar": logvar}, {"mu": dmu, "logvar": dlogvar},
                               direction=G, rng=rng)
    assert result.passed(TOL), str(result)


@pytest.mark.parametrize("z_shape", [(3, 4), (5, 3, 4), (2, 5, 3, 4), (3, 2, 2, 2)],
                         ids=["N,D", "K,N,D", "S,K,N,D", "N,C,H,W"])
def test_log_prob_backward_by_finite_differences(z_shape, rng):
    param_shape = (3, 2, 2, 2) if len(z_shape) == 4 and z_shape[0] == 3 else (3, 4)
    mu, logvar = random_gaussian(rng, param_shape)
    z = mu + rng.normal(0.0, 1.5, z_shape)
    G = rng.standard_normal(z_shape[:len(z_shape) - len(param_shape) + 1])   # (*S, N)
    dz, dmu, dlogvar = DiagonalGaussian(mu, logvar).log_prob_backward(z, G)
    assert dz.shape == z.shape and dmu.shape == dlogvar.shape == param_shape
    result = compare_gradients(lambda: DiagonalGaussian(mu, logvar).log_prob(z),
                               {"z": z, "mu": mu, "logvar": logvar},
                               {"z": dz, "mu": dmu, "logvar": dlogvar}, direction=G, rng=rng)
    assert result.passed(TOL), str(result)


def test_standard_normal_log_prob_backward_by_finite_differences(rng):
    z = rng.normal(0.0, 1.5, (4, 3, 2))
    G = rng.standard_normal((4, 3))
    p = StandardNormal((3, 2), np.float64)
    dz = p.log_prob_backward(z, G)[0]
    result = compare_gradients(lambda: p.log_prob(z), {"z": z}, {"z": dz}, direction=G, rng=rng)
    assert result.passed(TOL), str(result)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2, 2)])
def test_kl_backward_by_finite_differences(shape, rng):
    mu, logvar = random_gaussian(rng, shape)
    G = rng.standard_normal(shape[0])
    dmu, dlogvar = DiagonalGaussian(mu, logvar).kl_backward(G)
    result = compare_gradients(lambda: DiagonalGaussian(mu, logvar).kl_to_standard_normal(),
                               {"mu": mu, "logvar": logvar}, {"mu": dmu, "logvar": dlogvar},
                               direction=G, rng=rng)
    assert result.passed(TOL), str(result)


@pytest.mark.parametrize("shape", [(3, 5), (2, 1, 3, 3)])
def test_bernoulli_log_prob_backward_by_finite_differences(shape, rng):
    logits = rng.normal(0.0, 2.0, shape)
    x = rng.random(shape)                                          # soft targets too
    x[0] = (x[0] > 0.5)
    G = rng.standard_normal(shape[0])
    dlogits = Bernoulli(logits).log_prob_backward(x, G)
    result = compare_gradients(lambda: Bernoulli(logits).log_prob(x), {"logits": logits},
                               {"logits": dlogits}, direction=G, rng=rng)
    assert result.passed(TOL), str(result)


def test_floor_logvar_backward_by_finite_differences(rng):
    m = 1e-2
    raw = math.log(m) + rng.normal(0.0, 3.0, (4, 6))
    G = rng.standard_normal(raw.shape)
    draw = floor_logvar_backward(raw, m, G)
    result = compare_gradients(lambda: floor_logvar(raw, m), {"raw": raw}, {"raw": draw},
                               direction=G, rng=rng)
    assert result.passed(TOL), str(result)


# --- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("bad_rng", [None, 0, np.random.RandomState(0)],
                         ids=["None", "int", "RandomState"])
def test_sample_without_a_generator_raises_type_error(bad_rng):
    q = DiagonalGaussian(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="Generator"):
        q.sample(bad_rng)
    with pytest.raises(TypeError, match="Generator"):
        Bernoulli(np.zeros((2, 3))).sample(bad_rng)


@pytest.mark.parametrize("eps_shape", [(3, 2), (2, 4), (2,), (5, 2, 4), (2, 3, 1)])
def test_sample_with_wrong_eps_shape_raises(eps_shape):
    q = DiagonalGaussian(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        q.sample(eps=np.zeros(eps_shape))


def test_log_prob_with_wrong_value_shape_raises():
    q = DiagonalGaussian(np.zeros((2, 3)), np.zeros((2, 3)))
    for shape in [(2, 4), (3,), (4, 3, 2)]:
        with pytest.raises(ValueError):
            q.log_prob(np.zeros(shape))
        with pytest.raises(ValueError):
            q.log_prob_backward(np.zeros(shape), np.zeros(shape[:-1]))


def test_mu_logvar_shape_mismatch_raises():
    with pytest.raises(ValueError, match="one shape"):
        DiagonalGaussian(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="batch axis"):
        DiagonalGaussian(np.zeros(()), np.zeros(()))


def test_backward_before_sample_raises():
    q = DiagonalGaussian(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="sample"):
        q.backward(np.zeros((2, 3)))
    q.sample(eps=np.zeros((4, 2, 3)))
    with pytest.raises(ValueError):                    # dz not of the last sample's shape
        q.backward(np.zeros((2, 3)))


# --- Bernoulli ------------------------------------------------------------------------

def test_bernoulli_log_prob_equals_direct_formula(rng):
    logits = rng.normal(0.0, 3.0, (4, 2, 3))
    x = (rng.random((4, 2, 3)) < 0.5).astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-logits))
    expected = (x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(4, -1).sum(axis=1)
    got = Bernoulli(logits).log_prob(x)
    assert got.shape == (4,)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_bernoulli_soft_targets_give_negative_binary_cross_entropy(rng):
    logits = rng.normal(0.0, 2.0, (3, 5))
    x = np.full((3, 5), 0.3)
    x[1] = rng.random(5)
    p = 1.0 / (1.0 + np.exp(-logits))
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p))
    np.testing.assert_allclose(Bernoulli(logits).log_prob(x), -bce.sum(axis=1), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_log_prob_is_exact_for_huge_logits(dtype):
    """|l| = 1e4: p is 0 or 1 in floating point and log(p) would be −inf; the exact answer
    is log σ(1e4) ≈ −e^(−1e4) = 0 for the matching label, log σ(−1e4) ≈ −1e4 otherwise."""
    logits = np.array([[1e4], [-1e4], [1e4], [-1e4]], dtype=dtype)
    x = np.array([[1.0], [0.0], [0.0], [1.0]], dtype=dtype)
    b = Bernoulli(logits)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        lp = b.log_prob(x)
        grad = b.log_prob_backward(x, np.ones(4, dtype=dtype))
    assert np.all(np.isfinite(lp)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(lp, [0.0, 0.0, -1e4, -1e4], rtol=1e-6, atol=0)
    # d log p / d l = x − σ(l): 0 for the matching labels, ∓1 for the opposite ones
    np.testing.assert_allclose(grad[:, 0], [0.0, 0.0, -1.0, 1.0], atol=1e-6)


def test_bernoulli_mean_is_the_sigmoid(rng):
    logits = rng.normal(0.0, 4.0, (3, 4))
    np.testing.assert_allclose(Bernoulli(logits).mean, 1.0 / (1.0 + np.exp(-logits)),
                               rtol=1e-14)


def test_bernoulli_sample_frequencies(rng):
    """n = 100 000 draws per probability; frequency within 4 SE = 4·√(p(1 − p)/n) of p."""
    n = 100_000
    row = np.array([-2.0, -0.3, 0.0, 1.1, 3.0])
    b = Bernoulli(np.tile(row, (n, 1)))
    x = b.sample(rng)
    assert x.shape == (n, 5) and x.dtype == np.float64
    assert set(np.unique(x)) <= {0.0, 1.0}
    p = 1.0 / (1.0 + np.exp(-row))
    assert np.all(np.abs(x.mean(axis=0) - p) < 4 * np.sqrt(p * (1 - p) / n))


def test_bernoulli_bad_input():
    b = Bernoulli(np.zeros((2, 3)))
    for shape in [(2, 4), (3, 3), (2, 3, 1), (4, 2, 3)]:
        with pytest.raises(ValueError, match=r"\(2, 3\)"):
            b.log_prob(np.zeros(shape))
        with pytest.raises(ValueError, match=r"\(2, 3\)"):
            b.log_prob_backward(np.zeros(shape), np.zeros(2))
    with pytest.raises(ValueError, match="batch axis"):
        Bernoulli(np.zeros(()))


# --- floor_logvar ---------------------------------------------------------------------

@pytest.mark.parametrize("m", [1e-3, 0.5])
def test_floor_logvar_values(m):
    log_m = math.log(m)
    raw = log_m + np.linspace(-30.0, 30.0, 121)
    out = floor_logvar(raw, m)
    # independent: log(m + exp(raw)), fine to compute directly for moderate raw
    np.testing.assert_allclose(out, np.log(m + np.exp(raw)), rtol=1e-13, atol=1e-13)
    assert np.all(np.exp(out) > m)                       # the floor holds strictly here
    high = raw > log_m + 20                              # raw ≫ log m: σ² ≈ exp(raw)
    np.testing.assert_allclose(np.exp(out[high]), np.exp(raw[high]), rtol=1e-8)
    low = raw < log_m - 20                               # raw ≪ log m: σ² ≈ m
    np.testing.assert_allclose(np.exp(out[low]), m, rtol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_floor_logvar_huge_raw_does_not_overflow(dtype):
    m = 1e-3
    raw = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = floor_logvar(raw, m)
        d = floor_logvar_backward(raw, m, np.ones_like(raw))
    assert out.dtype == dtype and d.dtype == dtype
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(d))
    assert np.all(out >= dtype(math.log(m)))             # never below the floor
    np.testing.assert_allclose(out[[0, -1]], [math.log(m), 1e4], rtol=1e-6)
    np.testing.assert_allclose(d[[0, -1]], [0.0, 1.0], atol=1e-6)


def test_log_2pi_constant():
    assert LOG_2PI == pytest.approx(np.log(2 * np.pi), rel=1e-15)
