# %% [markdown]
# # Chapter 4.1 — The evidence lower bound (ELBO) and its gap
#
# For any distribution q(z | x), the log-likelihood splits into two terms (thesis eq. 2.7,
# tutorial §2.3, eq. 6–10):
#
#     log p(x) = E_q[ log p(x, z) − log q(z | x) ] + KL( q(z | x) ‖ p(z | x) )
#              =            ELBO(q)               +       the gap
#
# Since the KL is ≥ 0 (chapter 3), the first term is a lower bound on log p(x),
# ELBO = log p(x) − KL ≤ log p(x) (tutorial eq. 11–12) — the ELBO, or variational lower
# bound (thesis eq. 2.8–2.9; slides Definition 11.13, Concept 11.14) — and the gap
# between the two is exactly KL(q ‖ p(z|x)) (thesis §2.4: "it is also the gap between
# ELBO and log p(x)").  The bound is tight when q equals the posterior (slides
# Concept 11.15).
#
# In a VAE neither log p(x) nor p(z|x) can be computed, so the identity cannot be
# checked there.  Here we take a model where both are exact — the linear-Gaussian model
# z ~ N(0, I), x | z ~ N(Wz + b, σ²I) of `models/toy.py` — and run the library's own
# `objectives.elbo` on it, as a VAE whose decoder is that model.  The chapter has three
# sections:
#
# 1. **this one**: for several q, the Monte Carlo ELBO from `objectives.elbo`, its gap to
#    the exact log p(x), and the exact KL(q ‖ p(z|x)): the gap equals the KL within Monte
#    Carlo error; and when q can equal the posterior, the gap is 0 and every single-sample
#    ELBO equals log p(x) — an estimator with zero variance;
# 2. `ch04_2_training.py`: maximizing the ELBO over an encoder q_φ(z|x) (slides
#    Concept 11.11) drives the KL down to the smallest value a diagonal Gaussian can
#    reach; the ELBO and the KL move by the same amount at every step, since their sum
#    log p(x) does not depend on q;
# 3. `ch04_3_shared_objective.py`: encoder and decoder maximise the same ELBO (slides
#    Concept 11.12): trained together, the decoder reaches the maximum-likelihood model.
#
# Run a section as a script (`python chapters/ch04_elbo/ch04_1_gap_is_kl.py [--quick]
# [--out DIR] [--seed S]`) or open it as a notebook; either way the numbers below are the
# same.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.models.toy import LinearGaussianModel
from vae_from_scratch.objectives import elbo
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch04_1", "Chapter 4.1: the gap between log p(x) and the ELBO",
                    "20,000 draws instead of 400,000, a second")
# the chapter's four random streams: this section draws from the first three, 4.2 from
# the fourth, so that --quick changes sizes, not draws
rng_x, rng_gap, rng_tight, _ = sec.rngs(4)
n = 20_000 if sec.quick else 400_000

# %% [markdown]
# ## The model and its exact posterior
#
# z ∈ R², x ∈ R⁵, σ² = 0.5, W and b drawn once (`LinearGaussianModel.random`, seed 0).
# Then p(x) = N(b, WWᵀ + σ²I) and p(z | x) = N(m(x), S) with S = (I + WᵀW/σ²)⁻¹ — a
# correlated Gaussian, since WᵀW is not diagonal.  A VAE's q(z | x) = N(μ, diag(σ_q²)) is
# diagonal, so no q equals this posterior, and the ELBO stays below log p(x) by at least
#
#     min_q KL(q ‖ p(z|x)) = −½ log(1 − ρ²)   (D = 2, ρ the posterior correlation),
#
# reached at the posterior mean with σ_q,j² = 1/Λ_jj, Λ = S⁻¹ (`best_diagonal_q`): a q
# narrower than the posterior's marginals, as chapter 3 predicted for KL(q ‖ p).
#
# Posterior and evidence are tied by Bayes' rule, p(x) = p(x|z) p(z) / p(z|x) for every
# z: the identity behind the second line of eq. 2.7.  The thesis's eq. 2.6 prints it
# inverted, "p_θ(x) = p_θ(z|x) p_θ(z) / p_θ(x|z) ≈ p_θ(z|x) p_θ(z) / q_φ(x|z)"; read
# p_θ(x) = p_θ(x|z) p_θ(z) / p_θ(z|x) ≈ p_θ(x|z) p_θ(z) / q_φ(z|x).  The same §2.4 calls
# p_θ(z|x) the "*decoder distribution* or just *decoder*": the decoder is p_θ(x|z)
# (§2.7.1, "the parameterization of decoder p_θ(x|z)"); p_θ(z|x) is the true posterior
# that the encoder q_φ(z|x) approximates.  One x drawn from the model:

# %%
model = LinearGaussianModel.random(5, 2, np.random.default_rng(0), noise_var=0.5)
x, _ = model.sample(1, rng_x)
m, S = model.posterior(x)
rho = S[0, 1] / math.sqrt(S[0, 0] * S[1, 1])
mu_best, logvar_best = model.best_diagonal_q(x)
floor = float(model.kl_to_posterior(x, mu_best, logvar_best)[0])
log_px = float(model.log_marginal(x)[0])
print(f"x = {np.array2string(x[0], precision=3)}; exact log p(x) = {log_px:.5f}")
print(f"posterior p(z|x): mean {np.array2string(m[0], precision=4)}, standard deviations "
      f"{np.array2string(np.sqrt(np.diag(S)), precision=4)}, correlation ρ = {rho:.4f}")
print(f"best diagonal q: standard deviations "
      f"{np.array2string(np.exp(0.5 * logvar_best[0]), precision=4)}; its KL to the "
      f"posterior {floor:.5f} = −½ log(1 − ρ²) = {-0.5 * math.log(1 - rho * rho):.5f}")
# the two floors agree to round-off; the best q's standard deviations are below the marginals
info = {"rho": float(rho), "kl_floor": floor, "log_p_x": log_px}

# %% [markdown]
# ## The gap between log p(x) and the ELBO is KL(q ‖ p(z|x))
#
# Four choices of q(z | x), each set as a constant encoder (`constant_encoder(mu, logvar)`,
# a Dense layer with zero weights):
#
# - the prior N(0, I), which ignores x;
# - the posterior's mean with the posterior's marginal variances S_jj;
# - the best diagonal q;
# - the best diagonal q with its mean moved by (0.3, −0.3).
#
# For each, the library's `elbo(model, x, rng=…, kl=…, grads=False)` on x repeated n times
# gives n independent single-sample ELBOs (`per_example`), whose mean estimates the ELBO
# with standard error SE = std/√n.  Two estimators, both unbiased (chapter 5 compares
# their gradients):
#
# - kl="mc": log p(x|z) + log p(z) − log q(z|x) at z ~ q, the thesis's form (eq. 2.9,
#   2.16) and the tutorial's eq. 23, ELBO = E_q[log p(x, z)/q(z|x)];
# - kl="analytic": log p(x|z) − KL(q ‖ p(z)) with the closed-form KL (eq. 2.10, tutorial
#   eq. 22).
#
# Replacing a sampled term by its expectation is often said to reduce the variance, and
# far from the posterior (q = prior) the two are about equally noisy here.  But near the
# posterior the kl="mc" form wins: its terms cancel — the last part of this section shows
# that they are exactly constant when q = p(z|x) — while kl="analytic" keeps the full
# noise of log p(x|z).
#
# We compare log p(x) − ELBO with the exact KL(q ‖ p(z|x)) (`models.toy.gaussian_kl`).

# %%
qs = {"prior N(0, I)": (np.zeros(2), np.zeros(2)),
      "posterior marginals": (m[0], np.log(np.diag(S))),
      "best diagonal": (mu_best[0], logvar_best[0]),
      "best, mean moved": (mu_best[0] + np.array([0.3, -0.3]), logvar_best[0])}
xs = np.repeat(x, n, axis=0)
gaps = []
print(f"log p(x) − ELBO against KL(q ‖ p(z|x)), ELBO from objectives.elbo with {n} draws:")
print(f"{'q':>20} {'KL(q‖p(z|x))':>13} {'gap, kl=mc':>20} {'|Δ|/SE':>7} "
      f"{'gap, kl=analytic':>21} {'|Δ|/SE':>7} {'exact ELBO':>11}")
for name, (mu, logvar) in qs.items():
    vae = model.vae(model.constant_encoder(mu, logvar))
    kl = float(model.kl_to_posterior(x, mu[None], logvar[None])[0])
    row = {"q": name, "kl_to_posterior": kl,
           "elbo_exact": float(model.elbo(x, mu[None], logvar[None])[0])}
    cells = []
    for form in ("mc", "analytic"):
        draws = elbo(vae, xs, rng=rng_gap, kl=form, grads=False).per_example
        est, se = float(draws.mean()), float(draws.std(ddof=1) / math.sqrt(n))
        row[f"gap_{form}"], row[f"se_{form}"] = log_px - est, se
        row[f"z_{form}"] = abs(log_px - est - kl) / se
        cells.append(f"{log_px - est:10.5f} ± {se:.5f} {row[f'z_{form}']:7.2f}")
    gaps.append(row)
    print(f"{name:>20} {kl:13.5f} {cells[0]:>28} {cells[1]:>29} {row['elbo_exact']:11.5f}")
# should be: every gap within a few SE of its KL (|Δ|/SE is a standard normal draw, below
# 2 in 95 % of the cases); the best diagonal q's KL the floor above, and the smallest; the
# kl="mc" SE the smaller one near the posterior

# %% [markdown]
# The posterior (black, 1 and 2 standard deviations) and the four q (2 standard
# deviations): every diagonal q is an axis-aligned ellipse, the posterior a tilted one.


# %%
def ellipse(mean, cov, k=2.0, n=200):
    """The k-standard-deviation contour of N(mean, cov) in 2-D, as (n, 2) points."""
    vals, vecs = np.linalg.eigh(cov)
    t = np.linspace(0, 2 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)
    return mean + k * (circle * np.sqrt(vals)) @ vecs.T


fig, ax = plt.subplots(figsize=(6, 5.2))
for k, lw in ((1, 1.0), (2, 2.2)):
    e = ellipse(m[0], S, k)
    ax.plot(e[:, 0], e[:, 1], "k-", lw=lw, label=f"posterior p(z|x), {k} sd")
for (name, (mu, logvar)), row, c in zip(qs.items(), gaps, ("tab:gray", "tab:blue",
                                                            "tab:green", "tab:orange")):
    e = ellipse(mu, np.diag(np.exp(logvar)), 2.0)
    ax.plot(e[:, 0], e[:, 1], "--", color=c, lw=1.6,
            label=f"q: {name} (KL {row['kl_to_posterior']:.3f})")
ax.set_aspect("equal")
ax.set(xlabel="z₁", ylabel="z₂", title="the posterior and four diagonal q (2 sd)")
ax.legend(fontsize=8, loc="lower left")
fig_q = save_figure(fig, sec.out / "posterior_and_q.png", dpi=110)

# %% [markdown]
# ## A tight bound: when q is the posterior (slides Concept 11.15)
#
# If the columns of W are orthogonal, WᵀW is diagonal and so is the posterior; the best
# diagonal q *is* p(z|x).  Then log p(x, z) − log q(z|x) = log p(x) for every z, so every
# single-sample ELBO equals log p(x) and the Monte Carlo estimate has no variance at all.
# A second model (seed 1, orthogonal columns), one x, 1000 single-sample ELBOs with the
# exact posterior as encoder (`optimal_encoder()`):

# %%
model_o = LinearGaussianModel.random(5, 2, np.random.default_rng(1), noise_var=0.5,
                                     orthogonal=True)
x_o, _ = model_o.sample(1, rng_tight)
draws = elbo(model_o.vae(model_o.optimal_encoder()), np.repeat(x_o, 1000, axis=0),
             rng=rng_tight, kl="mc", grads=False).per_example
log_px_o = float(model_o.log_marginal(x_o)[0])
kl_o = float(model_o.kl_to_posterior(x_o, *model_o.best_diagonal_q(x_o))[0])
tight = {"kl": kl_o, "log_p_x": log_px_o, "elbo_mean": float(draws.mean()),
         "elbo_std": float(draws.std()), "max_abs_error": float(np.abs(draws - log_px_o).max())}
print(f"orthogonal columns: KL(q ‖ p(z|x)) = {kl_o:.2e}; log p(x) = {log_px_o:.10f}; "
      f"1000 single-sample ELBOs: mean {draws.mean():.10f}, std {draws.std():.1e}, "
      f"max |ELBO − log p(x)| = {tight['max_abs_error']:.1e}")
# should be: KL 0 and std and error at round-off (below 1e-10)

# %% [markdown]
# ## What this section measured
#
# In every row of the table the gap agrees with the exact KL within a few SE, for both
# estimators (the kl="mc" SE is the smaller one near the posterior); the best diagonal q
# has the smallest gap, equal to −½ log(1 − ρ²); with orthogonal columns the
# single-sample ELBO is log p(x) to round-off.  Section 4.2 trains an encoder on the ELBO
# and watches its KL fall to that floor.

# %%
worst = max(max(r["z_mc"], r["z_analytic"]) for r in gaps)
results = sec.finish({"draws": n, "model": info, "gap_vs_kl": gaps, "tight_bound": tight,
                      "figures": [fig_q]},
                     summary=f"log p(x) − ELBO = KL(q‖p(z|x)) within {worst:.1f} SE for all "
                             f"{len(gaps)} q; floor −½ log(1 − ρ²) = {floor:.4f}; tight bound "
                             f"std {tight['elbo_std']:.0e}")
