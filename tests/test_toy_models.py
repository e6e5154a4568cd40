"""models/toy.py: the Gaussian mixture, the linear-Gaussian model and the Gaussian KLs,
each checked against an independent computation:

- densities written out with np.exp / np.linalg.det / np.linalg.inv, and integrated
  numerically on a grid (trapezoid rule: they must integrate to 1);
- the posterior of the linear-Gaussian model from the conditional of the joint Gaussian
  of (z, x) (Schur complement: m = Wᵀ C⁻¹ (x − b), S = I − Wᵀ C⁻¹ W), which is a
  different formula from the module's precision form, and, for a 1-D latent, by
  numerical integration of p(x|z) p(z) over z;
- Monte Carlo, with a tolerance of 4 standard errors (a correct implementation fails
  one comparison with probability ≈ 6e-5);
- central finite differences in float64 (gradcheck.compare_gradients);
- the library: DiagonalGaussian.kl_to_standard_normal, objectives.elbo and
  objectives.log_likelihood run on the same model as a VAE.
"""

import math

import numpy as np
import pytest

from vae_from_scratch.distributions import DiagonalGaussian
from vae_from_scratch.gradcheck import compare_gradients
from vae_from_scratch.objectives import elbo, log_likelihood, log_mean_exp
from vae_from_scratch.models.toy import (GaussianMixture, LinearGaussianModel, diagonal_cov,
                                         gaussian_kl, kl_by_quadrature, mvn_log_prob)


def mvn_pdf(x, mean, cov):
    """The multivariate normal density written out with det and inv, for x: (N, d)."""
    d = len(mean)
    diff = x - mean
    quad = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)
    return np.exp(-0.5 * quad) / math.sqrt((2 * math.pi) ** d * np.linalg.det(cov))


def random_spd(d, rng):
    A = rng.standard_normal((d, d))
    return A @ A.T + 0.5 * np.eye(d)


def grid_2d(lo, hi, n):
    t = np.linspace(lo, hi, n)
    X, Y = np.meshgrid(t, t, indexing="ij")
    return t, np.stack([X.ravel(), Y.ravel()], axis=1)


def trapezoid_2d(values, t):
    """∫∫ f over the square grid t × t, values: (n·n,) in meshgrid 'ij' order."""
    F = values.reshape(len(t), len(t))
    w = np.full(len(t), t[1] - t[0])
    w[[0, -1]] /= 2
    return float(w @ F @ w)


# --- Gaussians with full covariances ------------------------------------------------

def test_mvn_log_prob_matches_the_written_out_density_and_integrates_to_one(rng):
    for d in (1, 2, 4):
        mean, cov = rng.standard_normal(d), random_spd(d, rng)
        x = rng.standard_normal((7, d)) * 2
        np.testing.assert_allclose(np.exp(mvn_log_prob(x, mean, cov)), mvn_pdf(x, mean, cov),
                                   rtol=1e-10)
    mean, cov = np.array([0.5, -0.3]), np.array([[1.0, 0.6], [0.6, 0.8]])
    t, pts = grid_2d(-7, 7, 401)
    assert abs(trapezoid_2d(np.exp(mvn_log_prob(pts, mean, cov)), t) - 1) < 1e-6
    assert mvn_log_prob(np.zeros((2, 3, 2)), mean, cov).shape == (2, 3)


def test_gaussian_kl_to_standard_normal_equals_the_library_closed_form(rng):
    mu, logvar = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    ours = gaussian_kl(mu, diagonal_cov(logvar), np.zeros(3), np.eye(3))
    np.testing.assert_allclose(ours, DiagonalGaussian(mu, logvar).kl_to_standard_normal(),
                               rtol=1e-12, atol=1e-12)


def test_gaussian_kl_is_zero_for_equal_arguments_and_not_symmetric(rng):
    mu, cov = rng.standard_normal(3), random_spd(3, rng)
    assert abs(gaussian_kl(mu, cov, mu, cov)) < 1e-12
    mu2, cov2 = rng.standard_normal(3), random_spd(3, rng)
    assert gaussian_kl(mu, cov, mu2, cov2) > 0
    assert abs(gaussian_kl(mu, cov, mu2, cov2) - gaussian_kl(mu2, cov2, mu, cov)) > 1e-3


def test_gaussian_kl_matches_monte_carlo_for_full_covariances(rng):
    """KL(q ‖ p) = E_q[log q − log p] (thesis eq. 2.5), 200 000 draws, within 4 SE."""
    d, n = 3, 200_000
    mu_q, cov_q = rng.standard_normal(d), random_spd(d, rng)
    mu_p, cov_p = rng.standard_normal(d), random_spd(d, rng)
    z = mu_q + rng.standard_normal((n, d)) @ np.linalg.cholesky(cov_q).T
    terms = mvn_log_prob(z, mu_q, cov_q) - mvn_log_prob(z, mu_p, cov_p)
    se = terms.std(ddof=1) / math.sqrt(n)
    assert abs(terms.mean() - gaussian_kl(mu_q, cov_q, mu_p, cov_p)) < 4 * se


def test_gaussian_kl_broadcasts_over_a_batch(rng):
    mu_q = rng.standard_normal((4, 2))
    cov_q = np.stack([random_spd(2, rng) for _ in range(4)])
    batch = gaussian_kl(mu_q, cov_q, np.zeros(2), np.eye(2))
    one_by_one = [gaussian_kl(mu_q[i], cov_q[i], np.zeros(2), np.eye(2)) for i in range(4)]
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-12)


def test_kl_by_quadrature_matches_the_1d_closed_form():
    """KL(N(a, s²) ‖ N(c, t²)) = log(t/s) + (s² + (a − c)²) / (2t²) − ½, written out."""
    grid = np.linspace(-20, 20, 8001)
    for a, s, c, t in [(0.0, 1.0, 0.0, 1.0), (1.0, 0.5, -0.5, 2.0), (-2.0, 1.5, 1.0, 0.7)]:
        log_q = -0.5 * np.log(2 * np.pi * s * s) - (grid - a) ** 2 / (2 * s * s)
        log_p = -0.5 * np.log(2 * np.pi * t * t) - (grid - c) ** 2 / (2 * t * t)
        exact = math.log(t / s) + (s * s + (a - c) ** 2) / (2 * t * t) - 0.5
        assert abs(kl_by_quadrature(log_q, log_p, grid) - exact) < 1e-7
        assert abs(gaussian_kl([a], [[s * s]], [c], [[t * t]]) - exact) < 1e-12


def test_kl_by_quadrature_ignores_points_where_q_vanishes():
    grid = np.linspace(-1, 1, 3)
    log_q = np.array([-np.inf, 0.0, -np.inf])
    assert np.isfinite(kl_by_quadrature(log_q, np.zeros(3), grid))


# --- the Gaussian mixture -------------------------------------------------------------

def test_mixture_density_is_the_written_out_sum_and_integrates_to_one():
    gm = GaussianMixture.example_11_5()
    t, pts = grid_2d(-9, 9, 361)
    explicit = sum(w * mvn_pdf(pts, m, c) for w, m, c in zip(gm.weights, gm.means, gm.covs))
    np.testing.assert_allclose(np.exp(gm.log_prob(pts)), explicit, rtol=1e-10, atol=1e-300)
    assert abs(trapezoid_2d(explicit, t) - 1) < 1e-6
    assert gm.n_components == 3 and gm.dim == 2
    np.testing.assert_allclose(gm.weights, 1 / 3)


def test_mixture_posterior_is_bayes_rule(rng):
    gm = GaussianMixture.example_11_5()
    x = rng.standard_normal((6, 2)) * 3
    joint = np.stack([w * mvn_pdf(x, m, c) for w, m, c in zip(gm.weights, gm.means, gm.covs)],
                     axis=1)
    np.testing.assert_allclose(gm.posterior(x), joint / joint.sum(1, keepdims=True), rtol=1e-9)
    np.testing.assert_allclose(gm.posterior(x).sum(1), 1.0, rtol=1e-12)


def test_mixture_sampling_matches_weights_mean_and_covariance(rng):
    gm = GaussianMixture([0.2, 0.5, 0.3], [[0, 0], [3, 1], [-2, 2]],
                         [np.eye(2), [[1, 0.5], [0.5, 2]], [[0.3, 0], [0, 0.3]]])
    n = 100_000
    x, z = gm.sample(n, rng)
    freq = np.bincount(z, minlength=3) / n
    assert np.all(np.abs(freq - gm.weights) < 4 * np.sqrt(gm.weights * (1 - gm.weights) / n))
    se = x.std(0, ddof=1) / math.sqrt(n)
    assert np.all(np.abs(x.mean(0) - gm.mean()) < 4 * se)
    # each component's points have that component's mean and covariance
    for k in range(3):
        xk = x[z == k]
        assert np.all(np.abs(xk.mean(0) - gm.means[k])
                      < 4 * np.sqrt(np.diag(gm.covs[k]) / len(xk)))
    np.testing.assert_allclose(np.cov(x.T), gm.covariance(), atol=0.05)


def test_naive_importance_estimate_is_unbiased(rng):
    """E[(1/S) Σ_s w_s] = p(x) for the naive proposal q = p(z), within 4 SE."""
    gm = GaussianMixture.example_11_5()
    x = np.array([[0.0, 2.5], [0.0, 0.0]])
    log_w = gm.importance_log_weights(x, 200_000, rng)
    w = np.exp(log_w)
    se = w.std(0, ddof=1) / math.sqrt(len(w))
    assert np.all(np.abs(w.mean(0) - np.exp(gm.log_prob(x))) < 4 * se)
    # for a point near μ_A about 2/3 of the naive draws contribute almost nothing (B, C)
    useless = np.mean(w[:, 0] < 1e-3 * np.exp(gm.log_prob(x[:1]))[0])
    assert abs(useless - 2 / 3) < 4 * math.sqrt(2 / 9 / len(w))


def test_importance_estimate_with_a_proposal_is_unbiased(rng):
    gm = GaussianMixture.example_11_5()
    blurry = GaussianMixture(gm.weights, gm.means, 4 * gm.covs)
    x = np.array([[1.0, 0.5], [-2.0, -1.0]])
    w = np.exp(gm.importance_log_weights(x, 200_000, rng, proposal=blurry.posterior(x)))
    se = w.std(0, ddof=1) / math.sqrt(len(w))
    assert np.all(np.abs(w.mean(0) - np.exp(gm.log_prob(x))) < 4 * se)


def test_posterior_proposal_gives_zero_variance_weights(rng):
    """Slides Concept 11.9: with q = p(z|x) every weight p(x, z)/q(z|x) equals p(x)."""
    gm = GaussianMixture.example_11_5()
    x = rng.standard_normal((5, 2)) * 2
    log_w = gm.importance_log_weights(x, 50, rng, proposal=gm.posterior(x))
    np.testing.assert_allclose(log_w, np.broadcast_to(gm.log_prob(x), log_w.shape), atol=1e-12)
    np.testing.assert_allclose(log_mean_exp(log_w, axis=0), gm.log_prob(x), atol=1e-12)


def test_mixture_rejects_bad_input(rng):
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixture([0.5, 0.6], [[0.0], [1.0]], [[[1.0]], [[1.0]]])
    with pytest.raises(ValueError, match="covs of shape"):
        GaussianMixture([0.5, 0.5], [[0.0], [1.0]], [[[1.0]]])
    gm = GaussianMixture.example_11_5()
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        gm.log_prob(np.zeros(2))
    with pytest.raises(ValueError, match="proposal of shape"):
        gm.importance_log_weights(np.zeros((3, 2)), 4, rng, proposal=np.full((2, 3), 1 / 3))
    with pytest.raises(TypeError, match="Generator"):
        gm.sample(3, 0)


# --- the linear-Gaussian model ----------------------------------------------------------

def joint_gaussian_posterior(model, x):
    """p(z | x) from the joint Gaussian of (z, x): m = Wᵀ C⁻¹ (x − b), S = I − Wᵀ C⁻¹ W."""
    C = model.W @ model.W.T + model.noise_var * np.eye(model.data_dim)
    K = model.W.T @ np.linalg.inv(C)
    return (x - model.b) @ K.T, np.eye(model.latent_dim) - K @ model.W


def test_log_marginal_and_posterior_by_quadrature_for_a_1d_latent(rng):
    """D = 1: p(x) = ∫ p(x|z) p(z) dz and the posterior's mean and variance, numerically."""
    model = LinearGaussianModel.random(3, 1, rng, noise_var=0.4)
    x, _ = model.sample(4, rng)
    z = np.linspace(-12, 12, 24001)
    log_joint = model.log_joint(x[:, None, :], z[None, :, None])          # (4, M)
    joint = np.exp(log_joint)
    dz = z[1] - z[0]
    px = joint.sum(1) * dz
    np.testing.assert_allclose(np.log(px), model.log_marginal(x), rtol=0, atol=1e-8)
    post = joint / px[:, None]
    mean = (post * z).sum(1) * dz
    var = (post * z ** 2).sum(1) * dz - mean ** 2
    m, S = model.posterior(x)
    np.testing.assert_allclose(m[:, 0], mean, atol=1e-8)
    np.testing.assert_allclose(S[0, 0], var, atol=1e-8)


def test_posterior_matches_the_joint_gaussian_conditional(rng):
    model = LinearGaussianModel.random(6, 3, rng, noise_var=0.3)
    x, _ = model.sample(5, rng)
    m, S = model.posterior(x)
    m2, S2 = joint_gaussian_posterior(model, x)
    np.testing.assert_allclose(m, m2, atol=1e-10)
    np.testing.assert_allclose(S, S2, atol=1e-10)
    # log p(x, z) − log p(z | x) = log p(x) at any z (Bayes' rule, slides Concept 11.2)
    z = rng.standard_normal((5, 3))
    log_post = np.array([mvn_log_prob(z[i], m[i], S) for i in range(5)])
    np.testing.assert_allclose(model.log_joint(x, z) - log_post, model.log_marginal(x),
                               atol=1e-10)


def test_log_marginal_matches_the_written_out_density(rng):
    model = LinearGaussianModel.random(4, 2, rng)
    x, _ = model.sample(5, rng)
    np.testing.assert_allclose(np.exp(model.log_marginal(x)),
                               mvn_pdf(x, model.b, model.marginal_cov()), rtol=1e-10)


def test_sampling_has_the_marginal_moments(rng):
    model = LinearGaussianModel.random(3, 2, rng, noise_var=0.2)
    x, z = model.sample(200_000, rng)
    se = x.std(0, ddof=1) / math.sqrt(len(x))
    assert np.all(np.abs(x.mean(0) - model.b) < 4 * se)
    np.testing.assert_allclose(np.cov(x.T), model.marginal_cov(), atol=0.05)


def test_elbo_plus_kl_to_the_posterior_is_log_p_x(rng):
    """Thesis eq. 2.8: log p(x) − KL(q ‖ p(z|x)) = ELBO, for any q."""
    model = LinearGaussianModel.random(5, 3, rng)
    x, _ = model.sample(6, rng)
    mu, logvar = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    np.testing.assert_allclose(model.elbo(x, mu, logvar) + model.kl_to_posterior(x, mu, logvar),
                               model.log_marginal(x), rtol=1e-12)
    assert np.all(model.elbo(x, mu, logvar) < model.log_marginal(x))


def test_exact_elbo_matches_the_library_monte_carlo_elbo(rng):
    """objectives.elbo with kl='mc' (thesis eq. 2.16), 100 000 draws, within 4 SE."""
    model = LinearGaussianModel.random(4, 2, rng, noise_var=0.5)
    x, _ = model.sample(1, rng)
    mu, logvar = np.array([0.3, -0.5]), np.array([-0.7, 0.2])
    vae = model.vae(model.constant_encoder(mu, logvar))
    n = 100_000
    est = elbo(vae, np.repeat(x, n, axis=0), rng=rng, kl="mc", grads=False).per_example
    se = est.std(ddof=1) / math.sqrt(n)
    assert abs(est.mean() - model.elbo(x, mu[None], logvar[None])[0]) < 4 * se


def test_exact_elbo_gradient_matches_finite_differences(rng):
    model = LinearGaussianModel.random(5, 3, rng)
    x, _ = model.sample(2, rng)
    mu, logvar = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    dmu, dlogvar = model.elbo_grad(x, mu, logvar)
    result = compare_gradients(lambda: model.elbo(x, mu, logvar).sum(),
                               {"mu": mu, "logvar": logvar}, {"mu": dmu, "logvar": dlogvar})
    assert result.passed(1e-7), result


def test_exact_elbo_gradient_matches_the_library_gradient_in_expectation(rng):
    """The reparameterization gradient of objectives.elbo, averaged over 100 000 draws,
    equals the exact gradient within 4 SE (the bias gradient of a constant encoder is
    −mean of the per-example gradients; each block of 1000 examples gives one average)."""
    model = LinearGaussianModel.random(4, 2, rng)
    x, _ = model.sample(1, rng)
    mu, logvar = np.array([0.4, -0.2]), np.array([-0.3, 0.1])
    vae = model.vae(model.constant_encoder(mu, logvar))
    xs = np.repeat(x, 1000, axis=0)
    draws = []
    for _ in range(100):
        elbo(vae, xs, rng=rng, kl="analytic")
        draws.append(-vae.encoder.grads["b"].copy())
    draws = np.array(draws)
    se = draws.std(0, ddof=1) / math.sqrt(len(draws))
    exact = np.concatenate(model.elbo_grad(x, mu[None], logvar[None]), axis=1)[0]
    assert np.all(np.abs(draws.mean(0) - exact) < 4 * se), (draws.mean(0), exact, se)


def test_best_diagonal_q_minimises_the_kl_to_the_posterior(rng):
    model = LinearGaussianModel.random(5, 3, rng)
    x, _ = model.sample(2, rng)
    mu, logvar = model.best_diagonal_q(x)
    best = model.kl_to_posterior(x, mu, logvar)
    assert np.all(best > 1e-3)                     # correlated posterior: no diagonal q is exact
    for _ in range(20):
        assert np.all(model.kl_to_posterior(x, mu + 0.05 * rng.standard_normal(mu.shape),
                                            logvar + 0.05 * rng.standard_normal(mu.shape))
                      > best)
    # the exact gradient of the ELBO vanishes there (log p(x) does not depend on q)
    dmu, dlogvar = model.elbo_grad(x, mu, logvar)
    assert np.abs(dmu).max() < 1e-10 and np.abs(dlogvar).max() < 1e-10
    # and its variances are the reciprocal diagonal of the precision, below S_jj
    _, S = model.posterior(x)
    assert np.all(np.exp(logvar[0]) <= np.diag(S) + 1e-12)


def test_orthogonal_columns_give_a_diagonal_posterior_and_a_tight_elbo(rng):
    """Slides Concept 11.15: when q can equal the posterior, the ELBO is log p(x), and
    every importance weight equals p(x): objectives.log_likelihood is exact with K = 3."""
    model = LinearGaussianModel.random(6, 3, rng, orthogonal=True)
    x, _ = model.sample(4, rng)
    _, S = model.posterior(x)
    np.testing.assert_allclose(S, np.diag(np.diag(S)), atol=1e-12)
    mu, logvar = model.best_diagonal_q(x)
    np.testing.assert_allclose(model.kl_to_posterior(x, mu, logvar), 0, atol=1e-12)
    np.testing.assert_allclose(model.elbo(x, mu, logvar), model.log_marginal(x), rtol=1e-12)
    vae = model.vae(model.optimal_encoder())
    np.testing.assert_allclose(log_likelihood(vae, x, K=3, rng=rng), model.log_marginal(x),
                               atol=1e-10)


def test_encoders_output_what_they_promise(rng):
    model = LinearGaussianModel.random(5, 2, rng)
    x, _ = model.sample(7, rng)
    mu, logvar = model.vae(model.optimal_encoder()).encoder_forward(x)
    best_mu, best_logvar = model.best_diagonal_q(x)
    np.testing.assert_allclose(mu, best_mu, atol=1e-12)
    np.testing.assert_allclose(logvar, best_logvar, atol=1e-12)
    c_mu, c_logvar = model.vae(model.constant_encoder([1.0, 2.0], [-1.0, 0.5])).encoder_forward(x)
    np.testing.assert_allclose(c_mu, np.broadcast_to([1.0, 2.0], (7, 2)))
    np.testing.assert_allclose(c_logvar, np.broadcast_to([-1.0, 0.5], (7, 2)))
    vae = model.vae(model.random_encoder(rng))
    assert vae.encoder.params["W"].shape == (4, 5) and vae.dtype == np.float64
    # the decoder mean is W z + b
    z = rng.standard_normal((3, 2))
    np.testing.assert_allclose(vae.decoder_forward(z).mean, z @ model.W.T + model.b, atol=1e-12)


def test_linear_gaussian_rejects_bad_input(rng):
    with pytest.raises(ValueError, match="noise_var"):
        LinearGaussianModel(np.ones((3, 2)), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match=r"\(d, D\)"):
        LinearGaussianModel(np.ones((3, 2)), np.zeros(2), 1.0)
    model = LinearGaussianModel.random(3, 2, rng)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        model.log_marginal(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="latent_dim ≤ data_dim"):
        LinearGaussianModel.random(2, 3, rng, orthogonal=True)
