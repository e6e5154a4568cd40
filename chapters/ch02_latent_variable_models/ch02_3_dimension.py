# %% [markdown]
# # Chapter 2.3 — Dimension makes the naive estimator hopeless
#
# Section 2.2 estimated p(x) of a mixture with a discrete z ∈ {A, B, C}: the naive
# estimator (draws from the prior) was unbiased but noisy, importance sampling from the
# posterior exact.  Slides Concept 11.8: "the issue worsens as the observable and latent
# variable dimension increases".  With a continuous latent z ∈ R^D, the prior puts almost
# no mass where the posterior is, and the fraction of prior samples that "meaningfully
# contribute" falls exponentially with D.
#
# We use the linear-Gaussian model of `models/toy.py` (z ~ N(0, I_D),
# x | z ~ N(Wz + b, σ² I)) with orthogonal columns of W, so that the posterior is a
# diagonal Gaussian and a VAE encoder can represent it exactly.  The same model is a
# library VAE (`LinearGaussianModel.vae(encoder)`), so the estimator is the library's
# `objectives.log_likelihood(model, x, K, rng)` — log (1/K) Σ_k p(x|z_k) p(z_k)/q(z_k|x) —
# the estimator a VAE is evaluated with, with three encoders:
#
# - the prior, q(z | x) = N(0, I): then the weight is p(x | z), the naive estimator;
# - an imperfect encoder: the posterior mean with 1.5× the posterior variance;
# - the exact posterior (`optimal_encoder()`), for which every weight is p(x).
#
# K = 100 draws each, for 20 points x drawn from the model, each estimate repeated,
# against the exact log p(x) = log N(x; b, WWᵀ + σ²I).

# %%
import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.models.toy import LinearGaussianModel
from vae_from_scratch.objectives import log_likelihood
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch02_3", "Chapter 2.3: the naive estimator and the latent dimension",
                    "10 repetitions instead of 100, a few seconds")
rng = sec.rngs(3)[2]            # the chapter's third stream (2.1, 2.2 draw from the others)
reps = 10 if sec.quick else 100
n_points, dims = 20, (1, 2, 4, 8, 16)

# %% [markdown]
# For each latent dimension D: a model with x ∈ R^(D+4) (its W drawn from its own seed,
# 100 + D), 20 points from it, and the error log p̂ − log p(x) of each encoder's estimate,
# its mean (the bias) and its standard deviation over the points and repetitions.

# %%
rows = []
print(f"log p̂ − log p(x) with K = 100 draws, {n_points} points x × {reps} repetitions "
      f"(mean ± std), linear-Gaussian model x ∈ R^(D+4):")
print(f"{'D':>3} {'mean log p(x)':>14} {'naive q = p(z)':>20} {'q: 1.5 × posterior var':>24} "
      f"{'q = posterior':>20}")
for D in dims:
    model = LinearGaussianModel.random(D + 4, D, np.random.default_rng(100 + D),
                                       noise_var=0.5, orthogonal=True)
    x, _ = model.sample(n_points, rng)
    exact = np.repeat(model.log_marginal(x), reps)
    wide = model.optimal_encoder()
    wide.params["b"][D:] += np.log(1.5)                # logvar + log 1.5: variance × 1.5
    encoders = {"naive": model.constant_encoder(np.zeros(D), np.zeros(D)),
                "wide": wide, "posterior": model.optimal_encoder()}
    row = {"D": D, "log_p_x": float(exact.mean())}
    for key, enc in encoders.items():
        err = log_likelihood(model.vae(enc), np.repeat(x, reps, axis=0), K=100, rng=rng) - exact
        row[f"{key}_bias"], row[f"{key}_std"] = float(err.mean()), float(err.std())
    rows.append(row)
    print(f"{D:3d} {row['log_p_x']:14.3f} " + " ".join(
        f"{row[k + '_bias']:9.3f} ± {row[k + '_std']:7.3f}".rjust(w)
        for k, w in (("naive", 20), ("wide", 24), ("posterior", 20))))
# should be: the naive error growing with D to more than a nat; the 1.5× q within a tenth
# of a nat; the posterior 0 ± 0 to round-off (below 1e-10) at every D

# %% [markdown]
# The root mean square error √(bias² + std²) of each estimator against D (a zero is drawn
# at 1e-16, the round-off floor):

# %%
fig, ax = plt.subplots(figsize=(6.5, 4.2))
for key, label in (("naive", "naive, q = p(z)"), ("wide", "q = 1.5 × posterior variance"),
                   ("posterior", "q = posterior")):
    rmse = [np.hypot(r[f"{key}_bias"], r[f"{key}_std"]) for r in rows]
    ax.semilogy([r["D"] for r in rows], np.maximum(rmse, 1e-16), "o-", label=label)
ax.set_xlabel("latent dimension D")
ax.set_ylabel("root mean square error of log p̂ (nats)")
ax.set_title("objectives.log_likelihood, K = 100")
ax.set_xscale("log", base=2)
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
fig_dimension = save_figure(fig, sec.out / "dimension.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# The naive estimator's error of log p(x) explodes with the latent dimension, while
# importance sampling with a good q stays within a fraction of a nat, and with q = the
# posterior it is exact.  This is why a VAE is evaluated with importance sampling from its
# encoder, not with draws from the prior.

# %%
d16 = rows[-1]
results = sec.finish({"dimension": rows, "figures": [fig_dimension]},
                     summary=f"at D = {d16['D']} naive log p̂ is off by "
                             f"{d16['naive_bias']:.1f} nats, q = 1.5 × posterior variance by "
                             f"{d16['wide_bias']:.3f}, IS with q = posterior by "
                             f"{abs(d16['posterior_bias']):.0e}")
