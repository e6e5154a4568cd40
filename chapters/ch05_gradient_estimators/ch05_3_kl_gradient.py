# %% [markdown]
# # Chapter 5.3 — The KL's gradient: closed form against Monte Carlo
#
# Sections 5.1 and 5.2 compared two estimators of the ELBO's gradient.  One part of that
# gradient needs no estimator at all: for q = N(μ, diag(σ²)) and p(z) = N(0, I) the KL is
# known in closed form (tutorial eq. 22, chapter 3.1), and so is its gradient.  The
# tutorial splits ∇_φ L into ∇_φ⟨log p(x|z)⟩ − ∇_φ KL (eq. 27, whose KL to p_θ(z|x) repeats
# the misprint of eq. 14: it is the KL to p(z)) and differentiates it (eq. 28, 36–37):
#
#     ∇_φ L = ∇_φ ⟨log p(x | μ + σ ⊙ ε)⟩_ε + ½ Σ_l ∇_φ [1 + log σ_l² − σ_l² − μ_l²]   (tutorial eq. 36)
#
# whose second term is −∇_φ KL (the tutorial writes the ELBO's −KL).  Per dimension:
#
#     ∂KL/∂μ_l = μ_l,        ∂KL/∂log σ_l² = ½ (σ_l² − 1)
#
# (`DiagonalGaussian.kl_backward`; the library's encoders output log σ², design.md).
# The alternative is thesis eq. 2.16 / `objectives.elbo(kl="mc")`: estimate the KL as
# log q(z) − log p(z) at one reparameterized z = μ + σ ⊙ ε (thesis eq. 2.5, 2.15; tutorial
# eq. 35) and differentiate that (eq. 2.17).  Since log q(μ + σ ⊙ ε) = −½ Σ (log 2π +
# log σ² + ε²) (eq. 2.29), the μ-dependence is all in −log p(z) = ½ Σ (log 2π + z²):
#
#     ĝ_μ = z = μ + σ ε,                 mean μ,           variance σ²
#     ĝ_logσ² = ½ (σ² ε² + σ μ ε − 1),    mean ½ (σ² − 1),  variance σ⁴/2 + σ² μ²/4
#
# per dimension: the right mean (unbiased, thesis eq. 2.18), and a variance the closed form does
# not have.  Even at q = p, where the gradient is exactly 0, one draw of ĝ has variance
# 1 and ½.  This section measures both, and what the noise adds to a whole ELBO
# gradient — why the VAE (thesis eq. 2.10, tutorial eq. 38) uses the analytic KL.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import exercise_commands, start_section
from vae_from_scratch.distributions import DiagonalGaussian, StandardNormal
from vae_from_scratch.models.toy import LinearGaussianModel
from vae_from_scratch.objectives import elbo
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch05_3", "Chapter 5.3: the KL's gradient, closed form against Monte Carlo",
                    "20,000 draws and 100 × 100 ELBO gradients (full: 400,000, 1000 × 100)")
# the chapter's fifth and sixth streams (5.1 and 5.2 draw from the first four)
rng_kl, rng_elbo = sec.rngs(6)[4:]
n, reps = (20_000, 100) if sec.quick else (400_000, 1000)

# %% [markdown]
# ## The closed form against finite differences
#
# First the formula itself: `kl_backward` against central differences of
# `kl_to_standard_normal` (float64, step 1e-6), for four random q in three dimensions.

# %%
theta = rng_kl.normal(0, 1, (4, 6))                       # (μ, log σ²) of four q's, L = 3


def kl(t):
    return DiagonalGaussian(*np.split(t, 2, axis=1)).kl_to_standard_normal()


closed = np.concatenate(DiagonalGaussian(*np.split(theta, 2, axis=1)).kl_backward(np.ones(4)), 1)
h = 1e-6 * np.eye(6)
fd = np.stack([(kl(theta + h[j]) - kl(theta - h[j])) / 2e-6 for j in range(6)], axis=1)
fd_err = float(np.max(np.abs(closed - fd) / np.maximum(np.abs(fd), 1e-3)))
print(f"∂KL/∂(μ, log σ²), closed form vs finite differences: max relative error {fd_err:.1e}")
# about 1e-9 or below (the differences' own round-off)

# %% [markdown]
# ## One Monte Carlo draw at a time
#
# Chapter 3.1's q — μ = (0.5, −1, 2), σ² = (0.5, 2, 1) — and q = p.  The per-draw
# gradient of log q(z) − log p(z) is chained exactly as `objectives.elbo(kl="mc")` does
# it: `log_prob_backward` of both densities at z, then `backward` through the sampler
# (thesis eq. 2.17), n draws at once (the n rows are n independent examples).  The
# derivation above is checked on the same ε.

# %%
def mc_kl_gradient(mu, logvar, eps):
    """One draw of ∇(log q(z) − log p(z)) at z = μ + σ ε per row: (dmu, dlogvar), each (n, L)."""
    q = DiagonalGaussian(mu, logvar)
    z = q.sample(eps=eps)
    ones = np.ones(len(eps))
    dz_q, dmu, dlogvar = q.log_prob_backward(z, ones)                  # + log q(z)
    dz_p, _, _ = StandardNormal(mu.shape, np.float64).log_prob_backward(z, -ones)   # − log p(z)
    dmu_z, dlogvar_z = q.backward(dz_q + dz_p)                          # through z, eq. 2.17
    return dmu + dmu_z, dlogvar + dlogvar_z


CASES = {"ch03.1's q": ([0.5, -1.0, 2.0], [0.5, 2.0, 1.0]), "q = p": ([0.0] * 3, [1.0] * 3)}
draws = {}
for name, (m, var) in CASES.items():
    m, var = np.array(m), np.array(var)
    eps = rng_kl.standard_normal((n, 3))
    g_mu, g_lv = mc_kl_gradient(np.tile(m, (n, 1)), np.tile(np.log(var), (n, 1)), eps)
    s = np.sqrt(var)
    derived = np.abs(np.concatenate([g_mu - (m + s * eps),
                                     g_lv - 0.5 * (var * eps ** 2 + s * m * eps - 1)])).max()
    draws[name] = (m, var, eps, np.concatenate([g_mu, g_lv], axis=1))
    print(f"{name}: library chain vs the formulas above, max |Δ| = {derived:.1e}")
# round-off: the derivation is right

# %% [markdown]
# Per component: the closed form, the Monte Carlo mean ± SE and its distance in SE, and
# the variance of one draw, measured (± its own SE) against σ² and σ⁴/2 + σ²μ²/4.

# %%
rows = []
print(f"{n} draws per case")
print(f"{'case':>12} {'':>10} {'closed':>8} {'MC mean ± SE':>18} {'|Δ|/SE':>7} "
      f"{'var, one draw':>18} {'predicted':>9}")
for name, (m, var, _, g) in draws.items():
    exact = np.concatenate([m, 0.5 * (var - 1)])
    pred = np.concatenate([var, var ** 2 / 2 + var * m ** 2 / 4])
    for i in range(6):
        gi = g[:, i]
        mean, se = float(gi.mean()), float(gi.std(ddof=1) / math.sqrt(n))
        v = float(gi.var(ddof=1))
        v_se = float(((gi - mean) ** 2).std(ddof=1) / math.sqrt(n))
        label = f"∂/∂μ{i + 1}" if i < 3 else f"∂/∂logσ²{i - 2}"
        rows.append({"case": name, "component": label, "closed": float(exact[i]), "mc_mean": mean,
                     "mc_se": se, "z": abs(mean - exact[i]) / se, "var": v, "var_se": v_se,
                     "var_pred": float(pred[i]), "var_z": abs(v - pred[i]) / v_se})
        print(f"{name:>12} {label:>10} {exact[i]:8.4f} {mean:9.4f} ± {se:.4f} {rows[-1]['z']:7.2f} "
              f"{v:9.4f} ± {v_se:.4f} {pred[i]:9.4f}")
# the means within a few SE of the closed form; the variances within a few of their SE of
# the prediction; the closed form's variance is 0

# %% [markdown]
# ## Averaging M draws, through `objectives.elbo`
#
# Averaging M draws divides the variance by M: the noise shrinks only like 1/√M.  The
# averaged estimator is what the library's objective computes for a batch: on a
# linear-Gaussian model whose decoder ignores z (W = 0), with a constant encoder whose
# bias is (μ, log σ²), the gradient of the loss −mean(ELBO) with respect to that bias is
# exactly the batch mean of ∇KL.  On the same ε it must equal the chain's M-draw average;
# with kl="analytic" the same call returns the closed form, whatever ε.

# %%
m, var, eps, g = draws["ch03.1's q"]
pred = np.concatenate([var, var ** 2 / 2 + var * m ** 2 / 4])
model = LinearGaussianModel(np.zeros((4, 3)), np.zeros(4), noise_var=1.0)
vae = model.vae(model.constant_encoder(m, np.log(var)))
averaged, lib_diff, analytic_diff = [], 0.0, 0.0
for M in (1, 10, 100):
    means = g[:n // M * M].reshape(-1, M, 6).mean(axis=1)              # the M-draw averages
    for r in range(20):                                                 # the library, 20 batches
        xs, e = np.zeros((M, 4)), eps[r * M:(r + 1) * M]
        elbo(vae, xs, eps=e, kl="mc")
        lib_diff = max(lib_diff, float(np.abs(vae.encoder.grads["b"] - means[r]).max()))
        elbo(vae, xs, eps=e, kl="analytic")
        analytic_diff = max(analytic_diff, float(np.abs(vae.encoder.grads["b"]
                                                        - np.concatenate([m, 0.5 * (var - 1)])).max()))
    sq = ((means - means.mean(axis=0)) ** 2).sum(axis=1)               # its mean: the variance
    v, v_se = float(sq.sum() / (len(sq) - 1)), float(sq.std(ddof=1) / math.sqrt(len(sq)))
    averaged.append({"M": M, "batches": len(means), "var_total": v, "var_total_se": v_se,
                     "var_total_pred": float(pred.sum() / M)})
    print(f"M = {M:3d}: total variance of the average {v:.4f} ± {v_se:.4f}   # predicted "
          f"{pred.sum():.4f} / M = {pred.sum() / M:.4f}")
print(f"objectives.elbo(kl='mc') vs the chain on the same ε: max |Δ| = {lib_diff:.1e}; "
      f"kl='analytic' vs the closed form: {analytic_diff:.1e}")
# both round-off: the library's MC KL gradient is the one measured above, the analytic
# one has no noise at all

# %% [markdown]
# ## What the noise does to a whole ELBO gradient
#
# In a VAE the KL's gradient is added to the reconstruction term's, which is noisy
# anyway; the two noises could partly cancel.  Chapter 5.1's model and q (the best
# diagonal q moved by (0.5, −0.5) in μ and 0.5 in log σ²): the reparameterized ELBO
# gradient with kl="mc" and with kl="analytic", on the same ε, R batches of 100 draws,
# against the exact gradient (`LinearGaussianModel.elbo_grad`).

# %%
model = LinearGaussianModel.random(5, 2, np.random.default_rng(0), noise_var=0.5)
x, _ = model.sample(1, np.random.default_rng(1))
mu_b, lv_b = model.best_diagonal_q(x)
mu, logvar = mu_b[0] + np.array([0.5, -0.5]), lv_b[0] + 0.5
exact = np.concatenate(model.elbo_grad(x, mu[None], logvar[None]), axis=1)[0]
vae, M = model.vae(model.constant_encoder(mu, logvar)), 100
grads = {"mc": np.empty((reps, 4)), "analytic": np.empty((reps, 4))}
for r in range(reps):
    e = rng_elbo.standard_normal((M, 2))
    for kl in grads:
        elbo(vae, np.repeat(x, M, axis=0), eps=e, kl=kl)
        grads[kl][r] = -vae.encoder.grads["b"]                          # mean ∇ELBO_i
whole = {}
for kl, gk in grads.items():
    se = gk.std(axis=0, ddof=1) / math.sqrt(reps)
    whole[kl] = {"var_total": float((gk.var(axis=0, ddof=1) * M).sum()),   # one draw
                 "max_z": float(np.max(np.abs(gk.mean(axis=0) - exact) / se))}
    print(f"kl={kl!r:>10}: total variance of one draw {whole[kl]['var_total']:.3f}, mean within "
          f"{whole[kl]['max_z']:.2f} SE of the exact gradient")
ratio = whole["mc"]["var_total"] / whole["analytic"]["var_total"]
print(f"variance ratio mc / analytic: {ratio:.2f}")
# both unbiased; the MC KL adds about a quarter to the variance here (1.26 in a long run)

# %% [markdown]
# The single-draw gradients of the KL with respect to μ₃ (where μ = 2, σ = 1) and
# log σ²₁: centred on the closed form (dashed), with a spread the closed form does not
# have; right, the variance of the M-draw average falling like 1/M.

# %%
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.9))
for ax, i, label in ((ax1, 2, "∂KL/∂μ₃"), (ax2, 3, "∂KL/∂log σ²₁")):
    ax.hist(g[:, i], bins=80, density=True, color="C0", alpha=0.7, label="one MC draw")
    closed_i = (m if i < 3 else 0.5 * (var - 1))[i % 3]
    ax.axvline(closed_i, color="k", ls="--", lw=1.2, label=f"closed form {closed_i:.2f}")
    ax.set(xlabel=label, title=f"{label}: mean right, spread {g[:, i].std():.2f}")
    ax.legend(fontsize=8)
Ms = [a["M"] for a in averaged]
ax3.loglog(Ms, [a["var_total"] for a in averaged], "o", label="measured")
ax3.loglog(Ms, [pred.sum() / M for M in Ms], "-", label="Σ predicted variances / M")
ax3.set(xlabel="draws averaged, M", ylabel="total variance of the average",
        title="falls like 1/M (the closed form: 0)")
ax3.grid(alpha=0.3, which="both")
ax3.legend(fontsize=8)
fig_kl = save_figure(fig, sec.out / "kl_gradient.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# The closed-form KL gradient of tutorial eq. 28/36 matches finite differences; the Monte
# Carlo gradient has the same mean (unbiased, within a few SE) and a variance exactly as
# derived, σ² and σ⁴/2 + σ²μ²/4 per dimension — not zero even at q = p — falling only
# like 1/M when M draws are averaged.  In a whole ELBO gradient it adds to the variance
# here.  The closed form costs nothing and has no noise: the VAE uses it wherever q and
# p(z) allow (kl="analytic", the library's default).

# %%
worst = max(r["z"] for r in rows)
results = sec.finish({"draws": n, "fd_max_rel_err": fd_err, "components": rows,
                      "averaged": averaged, "library_vs_chain": lib_diff,
                      "analytic_vs_closed": analytic_diff, "elbo_gradient": whole,
                      "elbo_var_ratio_mc_over_analytic": ratio, "figures": [fig_kl]},
                     summary=f"MC KL gradient within {worst:.1f} SE of the closed form, one-draw "
                             f"variance as derived ({averaged[0]['var_total']:.2f} vs "
                             f"{averaged[0]['var_total_pred']:.2f} in total); the closed form has none; "
                             f"ELBO gradient variance ×{ratio:.2f} with the MC KL")

# %% [markdown]
# ## Exercises
#
# Write the reparameterized sample z = μ + σ ⊙ ε with its backward pass (thesis eq.
# 2.15–2.17, 2.27), and the score-function estimator of slides Concept 11.22, yourself;
# the autograder checks them against the library, by finite differences and by Monte
# Carlo:

# %%
print(exercise_commands("ch05"))
