# %% [markdown]
# # Chapter 5 — Gradient estimators: reparameterization vs the log-derivative trick
#
# Training needs the gradient of the ELBO with respect to the encoder's parameters φ,
#
#     ∇_φ E_{q_φ(z|x)}[ f(z) ],    f(z) = log p(x, z) − log q_φ(z|x),
#
# and the expectation's distribution itself depends on φ.  So the gradient cannot simply
# be moved inside the expectation with z held fixed (thesis §2.5.2, eq. 2.14).  Two ways around it,
# both unbiased:
#
# - **Reparameterization** (thesis eq. 2.15–2.17; tutorial §3.6, eq. 29–37; slides
#   Concept 11.18, 11.21): write z = μ + σ ⊙ ε with ε ~ N(0, I), so the expectation is over ε,
#   which does not depend on φ, and backpropagate through z:
#   ∇_φ E_ε[f(μ + σ ⊙ ε)] = E_ε[∇_φ f(μ + σ ⊙ ε)].
# - **The log-derivative (score-function) trick** (slides Concept 11.22): from
#   ∇_φ q = q ∇_φ log q,
#   ∇_φ E_q[f] = E_q[ f(z) ∇_φ log q_φ(z|x) ] + E_q[ ∇_φ f(z) ]  (z held fixed),
#   which never differentiates through the sample and works for discrete z too.
#
# Both are in the library: `objectives.elbo(…, estimator="reparameterization")` and
# `estimator="score_function"`.  On the linear-Gaussian model of `models/toy.py` the exact
# gradient is known in closed form (`LinearGaussianModel.elbo_grad`), so we can measure:
# the same mean (both unbiased), and very different variances.  The chapter has three
# sections:
#
# 1. **this one**: the change of variables behind the reparameterization, and both
#    estimators (and eq. 2.14's mistake) against the exact gradient at D = 2;
# 2. `ch05_2_dimension_and_training.py`: the variance gap as the latent dimension grows,
#    and what it does to training q with each estimator;
# 3. `ch05_3_kl_gradient.py`: the KL's gradient in closed form (tutorial eq. 36) against
#    its Monte Carlo estimate: the same mean, and the variance the closed form saves.
#
# Run it as a script (`python chapters/ch05_gradient_estimators/ch05_1_two_estimators.py
# [--quick] [--out DIR] [--seed S]`) or open it as a notebook; either way the numbers
# below are the same.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.distributions import DiagonalGaussian, StandardNormal
from vae_from_scratch.models.toy import LinearGaussianModel
from vae_from_scratch.objectives import elbo
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch05_1", "Chapter 5.1: the two estimators against the exact gradient",
                    "300 × 100 draws instead of 3000 × 100, a second")
# the chapter's four random streams: this section draws from the first two, 5.2 from
# the last two, so that --quick changes how many draws, not which
rng_cov, rng_grad, _, _ = sec.rngs(4)
reps, M = (300 if sec.quick else 3000), 100
ESTIMATORS = {"reparameterization": "RP", "score_function": "SF"}

# %% [markdown]
# ## The change of variables behind the reparameterization (thesis eq. 2.19–2.20)
#
# For z = f(ε) = μ + σ ⊙ ε, the Jacobian ∂z/∂ε is diag(σ) (thesis eq. 2.27–2.28), so
#
#     log q(z | x) = log p(ε) − log |det ∂z/∂ε| = log p(ε) − Σ_j log σ_j      (eq. 2.29)
#                  = log p(ε) − ½ Σ_j logvar_j.
#
# The library computes log q(z|x) directly from z (`DiagonalGaussian.log_prob`, thesis
# eq. 2.30); both must agree for every ε.  Four random q in three dimensions:

# %%
mu4, logvar4 = rng_cov.normal(0, 1, (4, 3)), rng_cov.normal(0, 1, (4, 3))
q4 = DiagonalGaussian(mu4, logvar4)
eps4 = rng_cov.standard_normal((4, 3))
z4 = q4.sample(eps=eps4)                                          # z = μ + σ ⊙ ε
via_eps = StandardNormal((4, 3), np.float64).log_prob(eps4) - 0.5 * logvar4.sum(axis=1)
cov_err = float(np.abs(q4.log_prob(z4) - via_eps).max())
print(f"log q(z|x) from z vs log p(ε) − ½ Σ logvar (eq. 2.29): max |Δ| = {cov_err:.1e}")
# should be round-off, below 1e-12

# %% [markdown]
# ## Same mean, different variance
#
# The model is chapter 4's: z ∈ R², x ∈ R⁵, x | z ~ N(Wz + b, 0.5 I).  We fix one x and a
# q(z|x) = N(μ, diag(exp(logvar))) that is *not* optimal (μ = the posterior mean + (0.5,
# −0.5), logvar 0.5 above the best), so the gradient is not zero.  Its exact value comes
# from the closed form:

# %%
model = LinearGaussianModel.random(5, 2, np.random.default_rng(0), noise_var=0.5)
x, _ = model.sample(1, np.random.default_rng(1))
mu_best, logvar_best = model.best_diagonal_q(x)
mu, logvar = mu_best[0] + np.array([0.5, -0.5]), logvar_best[0] + 0.5
exact = np.concatenate(model.elbo_grad(x, mu[None], logvar[None]), axis=1)[0]
print("exact ∇ELBO w.r.t. (μ₁, μ₂, logvar₁, logvar₂):", np.round(exact, 4))
# not zero: q is away from the optimum

# %% [markdown]
# The encoder is a constant one (`constant_encoder(mu, logvar)`): its bias is (μ, logvar),
# and the gradient of the loss −mean(ELBO) with respect to the bias is minus the batch mean
# of the per-example gradients with respect to (μ, logvar).  We put x M = 100 times in a
# batch, call `elbo(…, kl="mc")` with both estimators *on the same ε*, and repeat R times.
# The mean over all R · M draws estimates the gradient (with its standard error); the
# variance of a single draw is M times the variance of the R batch means.
#
# A third column shows what goes wrong with thesis eq. 2.14: differentiate
# log p(x, z) − log q(z|x) with z held fixed.  log p(x, z) then has no φ-dependence at all,
# and E_q[∇_φ log q] = 0, so this "estimator" averages to zero whatever the true gradient.
# We also keep the decoder's gradients of the two estimators, to compare them.

# %%
D = model.latent_dim
vae = model.vae(model.constant_encoder(mu, logvar))
xs = np.repeat(x, M, axis=0)
q = DiagonalGaussian(np.broadcast_to(mu, (M, D)), np.broadcast_to(logvar, (M, D)))
draws = {name: np.empty((reps, 2 * D)) for name in (*ESTIMATORS, "z held fixed")}
dec_diff = 0.0
for r in range(reps):
    eps = rng_grad.standard_normal((M, D))
    decoder = {}
    for name in ESTIMATORS:
        elbo(vae, xs, eps=eps, kl="mc", estimator=name)
        draws[name][r] = -vae.encoder.grads["b"]          # −∂loss/∂(μ, logvar) = mean ∇ELBO_i
        decoder[name] = {k: g.copy() for k, g in vae.decoder.grads.items()}
    dec_diff = max(dec_diff, *(float(np.abs(decoder["reparameterization"][k]
                                            - decoder["score_function"][k]).max())
                               for k in decoder["score_function"]))
    # eq. 2.14's mistake: ∇_φ of (log p(x, z) − log q(z|x)) at fixed z = −∇_φ log q
    _, dmu, dlogvar = q.log_prob_backward(q.sample(eps=eps), -np.ones(M) / M)
    draws["z held fixed"][r] = np.concatenate([dmu.sum(0), dlogvar.sum(0)])
print(f"{reps} × {M} = {reps * M} draws per estimator, the same ε for all three")

# %% [markdown]
# Per component: the mean ± its standard error, how many SE it lies from the exact value
# (z), and the variance of one draw, for each estimator:

# %%
n = reps * M
rows = []
for i, name in enumerate(["∂/∂μ₁", "∂/∂μ₂", "∂/∂logvar₁", "∂/∂logvar₂"]):
    row = {"component": name, "exact": float(exact[i])}
    for est, g in draws.items():
        mean = float(g[:, i].mean())
        var1 = float(g[:, i].var(ddof=1) * M)                  # one draw: M × var(batch mean)
        se = math.sqrt(var1 / n)
        key = ESTIMATORS.get(est, "fixed")
        row.update({f"{key}_mean": mean, f"{key}_se": se, f"{key}_var": var1,
                    f"{key}_z": abs(mean - exact[i]) / se if se > 0 else 0.0})
    row["var_ratio"] = row["SF_var"] / row["RP_var"]
    rows.append(row)

# %%
print(f"{'':>11} {'exact':>9} {'reparameterization':>20} {'score function':>20} "
      f"{'z held fixed':>18} {'var RP':>8} {'var SF':>8} {'SF/RP':>6}")
for r in rows:
    cells = [f"{r[f'{k}_mean']:9.4f} ± {r[f'{k}_se']:.4f}" for k in ("RP", "SF", "fixed")]
    print(f"{r['component']:>11} {r['exact']:9.4f} {cells[0]:>20} {cells[1]:>20} {cells[2]:>18} "
          f"{r['RP_var']:8.3f} {r['SF_var']:8.1f} {r['var_ratio']:6.1f}")
# should be: RP and SF within a few SE of the exact column, the z-held-fixed one near 0;
# the score function's variance many times the reparameterization one in every row

# %% [markdown]
# The three claims in numbers: both estimators are unbiased (within a few SE; thesis
# eq. 2.18 for the reparameterization one), the z-held-fixed one is not (its mean is 0);
# the score function pays for never differentiating through the sample with a much
# larger variance.

# %%
total = {k: float(sum(r[f"{k}_var"] for r in rows)) for k in ("RP", "SF")}
worst = {k: max(r[f"{k}_z"] for r in rows) for k in ("RP", "SF")}
print(f"|mean − exact| / SE at most {worst['RP']:.2f} (RP) and {worst['SF']:.2f} (SF); "
      f"z held fixed: {max(r['fixed_z'] for r in rows):.0f} SE off (its mean is 0)")
# unbiased: below ~3 SE; z held fixed: far off (> 10 SE)
print(f"total variance of one draw (sum over the 4 components): RP {total['RP']:.3f}, "
      f"SF {total['SF']:.1f}, ratio {total['SF'] / total['RP']:.1f}")
# ratio about 23 at D = 2 (full run 23.4)

# %% [markdown]
# The decoder's parameters θ do not shape the distribution of z, so their gradient is
# backpropagation at the sampled z under either estimator (thesis eq. 2.13, tutorial
# eq. 25–26; slides 11.22): on the same ε the two must give the same decoder gradients.

# %%
print(f"decoder gradients of the two estimators on the same ε: max |Δ| = {dec_diff:.1e}")
# should be 0 (or round-off): ∇_θ is the same backpropagation in both

# %% [markdown]
# The R batch means of ∂ELBO/∂μ₁ from each estimator, on the same bins: centred on the
# same exact value, with very different spreads.

# %%
fig, ax = plt.subplots(figsize=(6.2, 4.2))
g_sf = draws["score_function"][:, 0]                         # ∂/∂μ₁
bins = np.linspace(g_sf.min(), g_sf.max(), 80)               # the same bins for both
for est in ESTIMATORS:
    g = draws[est][:, 0]
    ax.hist(g, bins=bins, alpha=0.6, density=True, label=f"{est} (mean {g.mean():.3f})")
ax.axvline(exact[0], color="k", ls="--", lw=1, label=f"exact {exact[0]:.3f}")
ax.set(xlabel=f"∂ELBO/∂μ₁, mean of {M} draws", title="same mean, different spread")
ax.legend(fontsize=8)
fig_hist = save_figure(fig, sec.out / "estimators.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# The change of variables of eq. 2.29 holds to round-off; both estimators' means lie
# within a few SE of the exact gradient, the z-held-fixed one far from it; the decoder
# gradients are identical; the score-function variance is about 20 times the
# reparameterization one at D = 2.  Section 5.2 follows that ratio as D grows.

# %%
gradient = {"components": rows, "total_var_RP": total["RP"], "total_var_SF": total["SF"],
            "total_var_ratio": total["SF"] / total["RP"], "max_z_RP": worst["RP"],
            "max_z_SF": worst["SF"], "decoder_grad_max_diff": dec_diff}
results = sec.finish(
    {"change_of_variables_max_err": cov_err, "gradient": gradient, "figures": [fig_hist]},
    summary=f"both estimators unbiased (within {max(worst.values()):.1f} SE of the exact "
            f"gradient); score-function variance {gradient['total_var_ratio']:.0f}× the "
            f"reparameterization one at D = 2")
