"""objectives.py: the ELBO in its two forms, β, the KL schedule, the IWAE bound, the
importance-sampled log-likelihood, the two gradient estimators, and log-mean-exp.

The models are small float64 VAEs whose parameters are all redrawn from N(0, 0.3²), so
that biases are nonzero and no ReLU sits exactly on its kink:
    mlp_vae((1, 4, 4), latent_dim=2, hidden=(5,))
    conv_vae((1, 8, 8), latent_dim=3, channels=(3, 4), hidden=6)

Independent computations: the ELBO and the IWAE log-weights written out from the encoder
and decoder outputs with closed-form densities; log p(x) by numerical integration over a
1-D latent; Monte Carlo with a tolerance of 4 standard errors (a correct implementation
fails one comparison with probability ≈ 6e-5); central finite differences in float64.

Monte Carlo over many eps draws is done in one call by repeating an example R times along
the batch axis: per_example then holds R independent draws for it.
"""

import math

import numpy as np
import pytest

from vae_from_scratch.gradcheck import compare_gradients
from vae_from_scratch.models import conv_vae, mlp_vae
from vae_from_scratch.objectives import (ESTIMATORS, KL_FORMS, elbo, iwae, log_likelihood,
                                         log_mean_exp, reparameterization_gradient,
                                         score_function_gradient, softmax)
from vae_from_scratch.schedules import linear_beta_schedule

TOL = 1e-6           # gradient checks: normwise relative error, as in conftest.py
H = 1e-5             # gradient checks: central-difference step (see the gradient test)
LOG_2PI = math.log(2 * math.pi)


# --- models and data ------------------------------------------------------------------

def perturb(model, rng, scale=0.3):
    """Redraw every parameter from N(0, scale²): a generic point, biases not zero."""
    for p in model.params.values():
        p[...] = rng.normal(0.0, scale, p.shape)
    return model


def make_model(kind, rng, likelihood="bernoulli", decoder_var=1.0, scale=0.3):
    if kind == "mlp":
        m = mlp_vae((1, 4, 4), latent_dim=2, hidden=(5,), likelihood=likelihood,
                    decoder_var=decoder_var, rng=rng)
    else:
        m = conv_vae((1, 8, 8), latent_dim=3, channels=(3, 4), hidden=6,
                     likelihood=likelihood, decoder_var=decoder_var, rng=rng)
    return perturb(m.astype(np.float64), rng, scale)


def make_data(kind, rng, n=2, likelihood="bernoulli"):
    shape = (n, 1, 4, 4) if kind == "mlp" else (n, 1, 8, 8)
    x = rng.random(shape)
    return (x < 0.5).astype(np.float64) if likelihood == "bernoulli" else x


def encoder_grad_vector(model):
    return np.concatenate([g.ravel() for k, g in model.grads.items() if k.startswith("encoder")])


def copy_grads(model):
    return {k: np.array(g, copy=True) for k, g in model.grads.items()}


# --- independent log-densities, written out ---------------------------------------------

def bernoulli_log_lik(logits, x):
    p = 1.0 / (1.0 + np.exp(-logits))
    return (x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(len(x), -1).sum(axis=1)


def normal_log_pdf(z, mu, var):
    """Σ over the last axis of log N(z; mu, var), from the 1-D density."""
    return np.log(np.exp(-(z - mu) ** 2 / (2 * var)) / np.sqrt(2 * np.pi * var)).sum(axis=-1)


# --- log_mean_exp and softmax ----------------------------------------------------------

def test_log_mean_exp_matches_direct_formula_for_moderate_values(rng):
    a = rng.normal(0.0, 3.0, (7, 4, 3))
    for axis in (0, 1, 2):
        expected = np.log(np.mean(np.exp(a), axis=axis))
        np.testing.assert_allclose(log_mean_exp(a, axis=axis), expected, rtol=1e-12, atol=1e-13)
    out32 = log_mean_exp(a.astype(np.float32), axis=0)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, np.log(np.mean(np.exp(a), axis=0)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shift", [1e4, -1e4, 700.0, -800.0])
def test_log_mean_exp_is_finite_and_correct_for_huge_values(shift, rng):
    """log mean exp(c + b) = c + log mean exp(b): the direct formula overflows (or underflows
    to log 0) for c = ±1e4, but the identity gives the exact answer from moderate b."""
    b = rng.normal(0.0, 2.0, (5, 3))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = log_mean_exp(shift + b, axis=0)
    np.testing.assert_allclose(got, shift + np.log(np.mean(np.exp(b), axis=0)),
                               rtol=1e-13, atol=1e-9)
    with np.errstate(over="ignore", divide="ignore"):
        direct = np.log(np.mean(np.exp(shift + b), axis=0))
    if abs(shift) == 1e4:
        assert not np.any(np.isfinite(direct))         # why the stable form is needed


def test_log_mean_exp_with_minus_infinity():
    a = np.array([[-np.inf, -np.inf, -np.inf],
                  [-np.inf, 0.0, math.log(2.0)],
                  [1e4, -np.inf, 1e4]])
    with np.errstate(invalid="raise", divide="raise", over="raise"):  # no log(0), no nan
        got = log_mean_exp(a, axis=1)
    assert got[0] == -np.inf
    np.testing.assert_allclose(got[1:], [math.log(1.0), 1e4 + math.log(2.0 / 3.0)], rtol=1e-14)


def test_softmax_is_normalised_exponential(rng):
    a = rng.normal(0.0, 3.0, (4, 5))
    expected = np.exp(a) / np.exp(a).sum(axis=0)
    np.testing.assert_allclose(softmax(a, axis=0), expected, rtol=1e-13)
    big = softmax(np.array([[1e4], [1e4 - math.log(3.0)]]), axis=0)
    np.testing.assert_allclose(big[:, 0], [0.75, 0.25], rtol=1e-12)


# --- the ELBO value -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_elbo_value_matches_an_independent_computation(kind, rng):
    """Rebuild z = mu + exp(½ logvar) · eps, log p(x|z) from the decoder's logits, and the KL
    (tutorial eq. 22, written out) or log q − log p(z) from 1-D normal densities."""
    model = make_model(kind, rng)
    x = make_data(kind, rng, n=3)
    D = model.latent_dim
    eps = rng.standard_normal((3, D))
    h = model.encoder.forward(x)
    mu, logvar = h[:, :D], h[:, D:]
    z = mu + np.sqrt(np.exp(logvar)) * eps
    rec = bernoulli_log_lik(model.decoder.forward(z), x)
    kl_analytic = -0.5 * np.sum(1 + logvar - np.exp(logvar) - mu ** 2, axis=1)
    kl_mc = normal_log_pdf(z, mu, np.exp(logvar)) - normal_log_pdf(z, 0.0, 1.0)
    for form, kl in (("analytic", kl_analytic), ("mc", kl_mc)):
        r = elbo(model, x, eps=eps, kl=form, grads=False)
        np.testing.assert_allclose(r.per_example, rec - kl, rtol=1e-12)
        np.testing.assert_allclose(r.reconstruction, rec.mean(), rtol=1e-12)
        np.testing.assert_allclose(r.kl, kl.mean(), rtol=1e-12)
        np.testing.assert_allclose(r.elbo, (rec - kl).mean(), rtol=1e-12)
        np.testing.assert_allclose(r.loss, -(rec - kl).mean(), rtol=1e-12)


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_analytic_and_mc_forms_differ_per_draw_but_agree_in_expectation(kind, rng):
    """R = 5000 draws of eps per example, the same eps for both forms.  Their difference per
    draw is KL_analytic − (log q(z) − log p(z)): not zero, but of mean zero (within 4 SE)."""
    R = 5000
    model = make_model(kind, rng)
    x = make_data(kind, rng, n=2)
    xr = np.repeat(x, R, axis=0)
    eps = rng.standard_normal((len(xr), model.latent_dim))
    an = elbo(model, xr, eps=eps, kl="analytic", grads=False)
    mc = elbo(model, xr, eps=eps, kl="mc", grads=False)
    assert an.reconstruction == mc.reconstruction                 # same z, same log p(x|z)
    d = (mc.per_example - an.per_example).reshape(2, R)
    assert np.all(d.std(axis=1) > 1e-2)                           # they differ per draw
    se = d.std(axis=1, ddof=1) / np.sqrt(R)
    assert np.all(np.abs(d.mean(axis=1)) < 4 * se), (d.mean(axis=1), se)
    # the KL field: the MC average of log q − log p equals the closed form (4 SE)
    assert abs(mc.kl - an.kl) < 4 * d.std(ddof=1) / np.sqrt(2 * R)


def test_beta_weights_only_the_kl_term(rng):
    model = make_model("mlp", rng)
    x = make_data("mlp", rng, n=3)
    eps = rng.standard_normal((3, 2))
    for form in KL_FORMS:
        r0 = elbo(model, x, eps=eps, beta=0.0, kl=form, grads=False)
        r1 = elbo(model, x, eps=eps, beta=1.0, kl=form, grads=False)
        r4 = elbo(model, x, eps=eps, beta=4.0, kl=form, grads=False)
        assert r4.kl != 0 and r4.reconstruction != 0           # both terms present
        np.testing.assert_allclose(r0.loss, -r0.reconstruction, rtol=1e-14)
        np.testing.assert_allclose(r4.loss, -(r4.reconstruction - 4.0 * r4.kl), rtol=1e-13)
        np.testing.assert_allclose(r1.loss, -r1.elbo, rtol=1e-14)
        assert r0.beta == 0.0 and r4.beta == 4.0
        for r in (r0, r4):                    # the ELBO itself does not depend on β
            np.testing.assert_allclose(r.elbo, r1.elbo, rtol=1e-14)
            np.testing.assert_allclose(r.per_example, r1.per_example, rtol=1e-14)
            np.testing.assert_allclose(r.elbo, r.reconstruction - r.kl, rtol=1e-13)


def test_linear_beta_schedule():
    b = linear_beta_schedule(10)
    assert [b(0), b(3), b(5), b(10), b(11), b(1000)] == pytest.approx([0, 0.3, 0.5, 1, 1, 1])
    b = linear_beta_schedule(4, beta_max=2.0, beta_min=0.5)
    assert [b(0), b(1), b(2), b(4), b(9)] == pytest.approx([0.5, 0.875, 1.25, 2.0, 2.0])
    b = linear_beta_schedule(0, beta_max=3.0)
    assert b(0) == 3.0 and b(7) == 3.0
    assert isinstance(linear_beta_schedule(10)(5), float)
    with pytest.raises(ValueError, match="warmup_steps"):
        linear_beta_schedule(-1)


# --- IWAE and the log-likelihood ---------------------------------------------------------

@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_iwae_value_matches_an_independent_computation(kind, rng):
    """log w_k = log p(x|z_k) + log N(z_k; 0, I) − log q(z_k|x), bound = log mean_k w_k, and
    ess = 1 / Σ_k w̃_k², all written out from the encoder and decoder outputs."""
    K, N = 4, 3
    model = make_model(kind, rng)
    x = make_data(kind, rng, n=N)
    D = model.latent_dim
    eps = rng.standard_normal((K, N, D))
    h = model.encoder.forward(x)
    mu, logvar = h[:, :D], h[:, D:]
    z = mu + np.exp(0.5 * logvar) * eps
    log_w = np.stack([bernoulli_log_lik(model.decoder.forward(z[k]), x)
                      + normal_log_pdf(z[k], 0.0, 1.0) - normal_log_pdf(z[k], mu, np.exp(logvar))
                      for k in range(K)])                                   # (K, N)
    w = np.exp(log_w)                                  # moderate here: no overflow
    r = iwae(model, x, K, eps=eps, grads=False)
    np.testing.assert_allclose(r.per_example, np.log(w.mean(axis=0)), rtol=1e-12)
    np.testing.assert_allclose(r.bound, np.log(w.mean(axis=0)).mean(), rtol=1e-12)
    np.testing.assert_allclose(r.loss, -r.bound, rtol=1e-14)
    wn = w / w.sum(axis=0)
    np.testing.assert_allclose(r.ess, np.mean(1.0 / (wn ** 2).sum(axis=0)), rtol=1e-12)
    assert 1.0 <= r.ess <= K and r.K == K


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_iwae_with_one_sample_is_the_mc_elbo(kind, rng):
    """K = 1, the same eps: the bound and its gradient equal the ELBO's (kl="mc")."""
    model = make_model(kind, rng)
    x = make_data(kind, rng, n=3)
    eps = rng.standard_normal((3, model.latent_dim))
    e = elbo(model, x, eps=eps, kl="mc")
    g_elbo = copy_grads(model)
    i = iwae(model, x, 1, eps=eps[None])
    np.testing.assert_allclose(i.per_example, e.per_example, rtol=1e-12)
    np.testing.assert_allclose(i.loss, e.loss, rtol=1e-12)
    assert i.ess == pytest.approx(1.0)
    for k, g in model.grads.items():
        np.testing.assert_allclose(g, g_elbo[k], rtol=1e-10, atol=1e-14, err_msg=k)


# A model where the gap between the bounds is noticeable: fixed (seed 3), so that the strict
# inequalities below hold at every VAE_TEST_SEED; only the draws come from `rng`.  Measured
# over 20 draw seeds: IWAE_5 − ELBO ≥ 9.5 SE, IWAE_10 − ELBO ≥ 11 SE (≈ 0.1–0.15 nats).
GAP_MODEL_SEED = 3


def test_iwae_bound_increases_with_k(rng):
    """E[ELBO] ≤ E[IWAE_5] ≤ E[IWAE_10] (Burda et al. 2016), each a mean over R = 4000 draws
    per example: each step may fall short of ≥ by at most 4 SE of the difference, and
    the IWAE bounds must be strictly above the ELBO, by > 4 SE (IWAE_5) and > 6 SE (IWAE_10).
    (IWAE_10 − IWAE_5 is only 0.5–4 SE here, so that step is checked as ≥ only.)"""
    R, N = 4000, 2
    fixed = np.random.default_rng(GAP_MODEL_SEED)
    model = make_model("mlp", fixed)
    x = make_data("mlp", fixed, n=N)
    xr = np.repeat(x, R, axis=0)
    vals = [elbo(model, xr, rng=rng, kl="mc", grads=False).per_example.reshape(N, R),
            iwae(model, xr, 5, rng=rng, grads=False).per_example.reshape(N, R),
            iwae(model, xr, 10, rng=rng, grads=False).per_example.reshape(N, R)]
    means = [v.mean(axis=1) for v in vals]
    ses = [v.std(axis=1, ddof=1) / np.sqrt(R) for v in vals]

    def z(lo, hi):
        return (means[hi] - means[lo]) / np.sqrt(ses[lo] ** 2 + ses[hi] ** 2)

    assert np.all(z(1, 2) > -4), (means, ses)
    assert np.all(z(0, 1) > 4), (means, ses)
    assert np.all(z(0, 2) > 6), (means, ses)


def test_log_likelihood_is_above_the_elbo(rng):
    """log_likelihood with K = 2000 (an IWAE_2000 estimate) against the mean of R = 4000
    ELBO draws, on the model above: above it by more than 4 SE of the ELBO mean (the gap
    log p(x) − ELBO = KL(q ‖ p(z|x)) is ≈ 0.14 nats, measured ≥ 40 SE over 20 seeds)."""
    R, N = 4000, 2
    fixed = np.random.default_rng(GAP_MODEL_SEED)
    model = make_model("mlp", fixed)
    x = make_data("mlp", fixed, n=N)
    ll = log_likelihood(model, x, 2000, rng=rng)
    assert ll.shape == (N,)
    e = elbo(model, np.repeat(x, R, axis=0), rng=rng, grads=False).per_example.reshape(N, R)
    assert np.all(ll > e.mean(axis=1) + 4 * e.std(axis=1, ddof=1) / np.sqrt(R))


@pytest.mark.parametrize("chunk", [1, 3, 10, 64])
def test_log_likelihood_is_the_iwae_bound_drawn_in_chunks(chunk):
    """Drawing K = 10 samples `chunk` at a time reads the same normal stream as drawing
    them at once, so with one seed the estimate equals the IWAE bound on those eps."""
    model = make_model("mlp", np.random.default_rng(5))
    x = make_data("mlp", np.random.default_rng(6), n=3)
    ll = log_likelihood(model, x, 10, rng=np.random.default_rng(7), chunk=chunk)
    eps = np.random.default_rng(7).standard_normal((10, 3, 2))
    assert isinstance(ll, np.ndarray) and ll.shape == (3,)
    np.testing.assert_allclose(ll, iwae(model, x, 10, eps=eps, grads=False).per_example,
                               rtol=1e-12)


def test_log_likelihood_matches_numerical_integration_for_a_1d_latent(rng):
    """latent_dim = 1: log p(x) = log ∫ p(x|z) N(z; 0, 1) dz by the trapezoid rule on
    z ∈ [−12, 12] (4801 points).  The encoder's last layer is set to q(z|x) = N(0, 2), a
    proposal wider than the prior: the weights p(x|z) p(z) / q(z) ≤ √2 are then bounded and
    the K = 20 000 estimate is accurate to ≈ 0.01 nats (largest error seen over 30 seeds ×
    20 estimates: 0.022); tolerance 0.05 nats.  The ELBO (R = 20 000 draws) must lie below
    log p(x) by more than 4 SE — q is not the posterior."""
    R, N = 20_000, 2
    model = mlp_vae((1, 4, 4), latent_dim=1, hidden=(5,), rng=rng).astype(np.float64)
    perturb(model, rng, scale=0.5)
    model.encoder.params["3.W"][...] = 0.0                      # [mu | logvar] = [0 | log 2]
    model.encoder.params["3.b"][...] = [0.0, math.log(2.0)]
    x = make_data("mlp", rng, n=N)
    z = np.linspace(-12.0, 12.0, 4801)
    exact = []
    for n in range(N):
        logits = model.decoder.forward(z[:, None])                 # (G, 1, 4, 4)
        a = bernoulli_log_lik(logits, np.repeat(x[n:n + 1], len(z), axis=0)) \
            - 0.5 * (LOG_2PI + z ** 2)
        exact.append(a.max() + np.log(np.trapezoid(np.exp(a - a.max()), z)))
    exact = np.array(exact)
    ll = log_likelihood(model, x, 20_000, rng=rng, chunk=2000)
    np.testing.assert_allclose(ll, exact, atol=0.05)
    e = elbo(model, np.repeat(x, R, axis=0), rng=rng, grads=False).per_example.reshape(N, R)
    assert np.all(e.mean(axis=1) + 4 * e.std(axis=1, ddof=1) / np.sqrt(R) < exact)


# --- gradients by finite differences (float64, fixed eps) --------------------------------

GRAD_CASES = [
    # (objective, likelihood, decoder_var, kwargs)
    ("elbo", "bernoulli", 1.0, dict(kl="analytic")),
    ("elbo", "bernoulli", 1.0, dict(kl="mc")),
    ("elbo", "bernoulli", 1.0, dict(kl="analytic", beta=0.3)),
    ("elbo", "bernoulli", 1.0, dict(kl="mc", beta=2.5)),
    ("elbo", "gaussian", 0.5, dict(kl="analytic")),
    ("elbo", "gaussian", 0.5, dict(kl="mc", beta=1.7)),
    ("elbo", "gaussian", "learned", dict(kl="analytic")),
    ("elbo", "gaussian", "learned", dict(kl="mc", beta=0.5)),
    ("iwae", "bernoulli", 1.0, dict(K=3)),
    ("iwae", "gaussian", 0.5, dict(K=3)),
    ("iwae", "gaussian", "learned", dict(K=3)),
]


def _case_id(case):
    obj, lik, var, kw = case
    extra = ",".join(f"{k}={v}" for k, v in kw.items())
    return f"{obj}-{lik}" + (f"({var})" if lik == "gaussian" else "") + f"-{extra}"


@pytest.mark.parametrize("kind", ["mlp", "conv"])
@pytest.mark.parametrize("case", GRAD_CASES, ids=[_case_id(c) for c in GRAD_CASES])
def test_objective_gradients_by_finite_differences(kind, case, rng):
    """Every parameter tensor, 10 random entries each, against central differences of the
    loss at the same fixed eps (so the loss is a deterministic function of the parameters)."""
    objective, likelihood, decoder_var, kwargs = case
    model = make_model(kind, rng, likelihood, decoder_var)
    N, D = 3, model.latent_dim
    x = make_data(kind, rng, n=N, likelihood=likelihood)
    if objective == "elbo":
        eps = rng.standard_normal((N, D))

        def run(grads):
            return elbo(model, x, eps=eps, grads=grads, **kwargs)
    else:
        eps = rng.standard_normal((kwargs["K"], N, D))

        def run(grads):
            return iwae(model, x, kwargs["K"], eps=eps, grads=grads)

    run(True)
    analytic = copy_grads(model)
    assert set(analytic) == set(model.params)
    assert any(np.abs(g).max() > 0 for g in analytic.values())
    # h = 1e-5: the loss is 45–80 nats, so a central difference carries a rounding error
    # of about 1e-16 · |loss| / h ≈ 1e-9 in absolute terms, ~1e-7 of the gradient's scale.
    result = compare_gradients(lambda: run(False).loss, model.params, analytic, h=H,
                               n_coords=10, rng=rng, tol=TOL)
    assert result.passed(TOL), f"{kind} {case}:\n{result}"


# --- the score-function estimator --------------------------------------------------------

@pytest.mark.parametrize("kl", KL_FORMS)
def test_score_function_shares_the_decoder_gradient_not_the_encoder_gradient(kl, rng):
    """Same eps: the decoder gradient is ∇_θ log p(x|z) at the same z in both estimators;
    the encoder gradients are different estimators of the same expectation."""
    model = make_model("mlp", rng)
    x = make_data("mlp", rng, n=3)
    eps = rng.standard_normal((3, 2))
    r_rp = reparameterization_gradient(model, x, eps=eps, beta=1.3, kl=kl)
    g_rp = copy_grads(model)
    r_sf = score_function_gradient(model, x, eps=eps, beta=1.3, kl=kl)
    g_sf = copy_grads(model)
    assert (r_rp.loss, r_rp.elbo, r_rp.kl) == (r_sf.loss, r_sf.elbo, r_sf.kl)   # same value
    for k in g_rp:
        if k.startswith("decoder"):
            np.testing.assert_allclose(g_sf[k], g_rp[k], rtol=1e-13, atol=0, err_msg=k)
    enc_rp = np.concatenate([g_rp[k].ravel() for k in g_rp if k.startswith("encoder")])
    enc_sf = np.concatenate([g_sf[k].ravel() for k in g_sf if k.startswith("encoder")])
    assert np.abs(enc_rp - enc_sf).max() > 1e-3 * np.abs(enc_rp).max()


@pytest.mark.parametrize("kl,beta", [("analytic", 0.0), ("analytic", 1.5), ("mc", 1.0)])
def test_score_function_is_unbiased_and_has_larger_variance(kl, beta, rng):
    """Both estimators of the encoder gradient, projected on u: the direction of the true
    gradient, estimated first from 4000 reparameterization draws.  R = 200 calls, each
    averaging M = 200 draws per example (x repeated along the batch), the same eps for both
    estimators: the mean of the paired difference is zero within 4 SE.  With kl="analytic",
    β = 0 the whole encoder gradient is the score-function term E[log p(x|z) ∇ log q];
    with kl="mc" it is E[(log p(x, z) − log q) ∇ log q] (β = 1).

    The model and data are fixed (seed 1) and only the draws come from `rng`, so that the
    test keeps its power at every VAE_TEST_SEED: for this model the projected gradient is
    ≥ 10 SE of the difference (measured over 8 seeds; asserted > 6 SE, so a score-function
    term off by a factor of 2 fails), and the score-function variance is ≥ 96× the
    reparameterization one (asserted > 30×).  (At random points the gradient along u can be
    as small as ~3 SE.)"""
    R, M = 200, 200
    fixed = np.random.default_rng(1)
    model = make_model("mlp", fixed)
    x = make_data("mlp", fixed, n=2)
    elbo(model, np.repeat(x, 2000, axis=0), rng=rng, kl=kl, beta=beta)
    u = encoder_grad_vector(model)
    u /= np.linalg.norm(u)
    x = np.repeat(x, M, axis=0)
    rp, sf = np.empty(R), np.empty(R)
    for r in range(R):
        eps = rng.standard_normal((len(x), 2))
        elbo(model, x, eps=eps, kl=kl, beta=beta, estimator="reparameterization")
        rp[r] = encoder_grad_vector(model) @ u
        elbo(model, x, eps=eps, kl=kl, beta=beta, estimator="score_function")
        sf[r] = encoder_grad_vector(model) @ u
    d = sf - rp
    se = d.std(ddof=1) / np.sqrt(R)
    assert abs(d.mean()) < 4 * se, (rp.mean(), sf.mean(), se)
    assert rp.mean() > 6 * se, (rp.mean(), se)
    assert sf.var(ddof=1) > 30 * rp.var(ddof=1), (sf.var(), rp.var())


# --- bad input -----------------------------------------------------------------------------

def test_unknown_kl_form_or_estimator_names_the_choices(rng):
    model = make_model("mlp", rng)
    x = make_data("mlp", rng)
    with pytest.raises(ValueError, match="analytic, mc") as info:
        elbo(model, x, rng=rng, kl="exact")
    assert "exact" in str(info.value)
    with pytest.raises(ValueError, match="reparameterization, score_function") as info:
        elbo(model, x, rng=rng, estimator="reinforce")
    assert "reinforce" in str(info.value)
    assert set(ESTIMATORS) == {"reparameterization", "score_function"}


def test_iwae_and_log_likelihood_reject_bad_k(rng):
    model = make_model("mlp", rng)
    x = make_data("mlp", rng)
    for K in (0, -3):
        with pytest.raises(ValueError, match="K"):
            iwae(model, x, K, rng=rng)
        with pytest.raises(ValueError, match="K"):
            log_likelihood(model, x, K, rng=rng)
    with pytest.raises(ValueError, match="chunk"):
        log_likelihood(model, x, 10, rng=rng, chunk=0)


def test_wrong_eps_shape_raises(rng):
    model = make_model("mlp", rng)
    x = make_data("mlp", rng, n=3)
    for shape in [(3, 3), (2, 2), (3,), (2, 3, 2)]:
        with pytest.raises(ValueError, match=r"elbo: expected eps of shape \(N, D\) = \(3, 2\)"):
            elbo(model, x, eps=np.zeros(shape))
    for shape in [(3, 2), (4, 3, 2), (2, 3, 3), (2, 2, 2)]:          # iwae with K = 2
        with pytest.raises(ValueError):
            iwae(model, x, 2, eps=np.zeros(shape))


def test_missing_rng_raises_type_error(rng):
    model = make_model("mlp", rng)
    x = make_data("mlp", rng)
    with pytest.raises(TypeError, match="Generator"):
        elbo(model, x)
    with pytest.raises(TypeError, match="Generator"):
        iwae(model, x, 3, rng=np.random.RandomState(0))
