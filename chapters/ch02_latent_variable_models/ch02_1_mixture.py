# %% [markdown]
# # Chapter 2.1 — Latent variable models: the mixture of Example 11.5
#
# A latent variable model (thesis §2.1, eq. 2.1; slides Definition 11.4) explains an
# observation x by an unobserved z:
#
#     p_θ(x, z) = p_θ(x | z) p_θ(z),    p_θ(x) = ∫ p_θ(x | z) p_θ(z) dz   (tutorial eq. 3)
#
# Data are generated in two steps (ancestral sampling): z ~ p(z), then x ~ p(x | z).
# Training by maximum likelihood needs log p_θ(x), an integral — or a sum — over z that
# is "intractable" in a VAE (thesis §2.1, assumption 1).  This chapter estimates it by
# Monte Carlo, on models where the exact value is known.  It has four sections:
#
# 1. **this one**: the mixture of three Gaussians of **slides Example 11.5**, where
#    z ∈ {A, B, C}: ancestral sampling, the exact log p(x) and the posterior p(z | x);
# 2. `ch02_2_importance_sampling.py`: the **naive estimator** p(x) ≈ p(x | Z), Z ~ p(z)
#    (slides Concept 11.6, Choice 1) and why its variance is high (Concept 11.8: only
#    about 1/3 of the samples contribute); **importance sampling** (Concepts 11.6
#    Choice 2, 11.9): Z ~ q(z | x) and the weight p(x | Z) p(Z) / q(Z | x); the optimal q
#    is the posterior p(z | x) and gives an exact estimate from a single sample;
# 3. `ch02_3_dimension.py`: "the issue worsens as the observable and latent variable
#    dimension increases" (Concept 11.8), measured on a linear-Gaussian model with the
#    library's own `objectives.log_likelihood`, the estimator a VAE is evaluated with;
# 4. `ch02_4_fitting_the_mixture.py`: the same mixture **fitted** by maximum likelihood
#    (EM): the log-likelihood never falls, and the fit approaches the true parameters.
#
# The models live in `vae_from_scratch/models/toy.py`; the estimators are the library's.
# Run a section as a script (`python chapters/ch02_latent_variable_models/ch02_1_mixture.py
# [--quick] [--out DIR] [--seed S]`) or open it as a notebook; either way the numbers
# below are the same.

# %%
import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.models.toy import GaussianMixture
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch02_1", "Chapter 2.1: the mixture of Example 11.5",
                    "600 points instead of 3000, a second")
# the chapter's three random streams: this section draws from the first, 2.2 and 2.3 from
# the second and the third, so that --quick changes sizes, not draws
rng = sec.rngs(3)[0]
n = 600 if sec.quick else 3000

# %% [markdown]
# ## The model
#
# p(Z = A) = p(Z = B) = p(Z = C) = 1/3 and p(x | Z = k) = N(x; μ_k, Σ_k) in R².  The slides
# give no numbers; `GaussianMixture.example_11_5()` picks three well-separated blobs.  A
# Gaussian p(x | z) with a discrete prior makes p(x) a Gaussian mixture (tutorial §1.2):
# the integral of eq. 3 is a sum of three terms,
#
#     p(x) = ⅓ N(x; μ_A, Σ_A) + ⅓ N(x; μ_B, Σ_B) + ⅓ N(x; μ_C, Σ_C),
#
# whose log, summed over the data, is the training objective of Example 11.5; the
# posterior p(Z = k | x) = p(x | k) p(k) / p(x) (tutorial eq. 4) is Bayes' rule (slides
# Concepts 11.1–11.2).  Here everything is exact, which is what lets us judge the
# estimators of sections 2.2 and 2.3.
#
# First, n points by ancestral sampling: each draws its component z from the prior, so
# each component's share of the points should be close to 1/3.

# %%
gm = GaussianMixture.example_11_5()
x, z = gm.sample(n, rng)                       # ancestral sampling: z ~ p(z), x ~ p(x|z)
share = np.bincount(z, minlength=3) / n
print(f"{n} points by ancestral sampling; component shares A/B/C = "
      f"{share[0]:.3f}/{share[1]:.3f}/{share[2]:.3f}")
# the prior: 1/3 each, within a few √(2/9/n) (≈ 0.019 for n = 600)

# %% [markdown]
# ## The objective of Example 11.5
#
# The average of log p(X_i) over the points is the (per point) log-likelihood that
# training maximizes, to find the θ whose p_θ(x) best approximates the true p*(x)
# (tutorial §1.1).  At the parameters that generated the data it should be higher than
# at wrong ones; we move μ_A by 1 and evaluate it again.

# %%
avg_ll = float(gm.log_prob(x).mean())
moved = GaussianMixture(gm.weights, gm.means + np.array([[1.0, 0.0], [0, 0], [0, 0]]),
                        gm.covs)
avg_ll_moved = float(moved.log_prob(x).mean())
print(f"average log p(X_i) (the objective of Example 11.5, per point): {avg_ll:.4f} at "
      f"the true parameters, {avg_ll_moved:.4f} with μ_A moved by 1")
# should be: lower with μ_A moved

# %% [markdown]
# ## The posterior p(z | x)
#
# Three test points: one near μ_A, one between A and B, one between B and C.  Near a
# blob's centre the posterior is almost certain of its component; between two blobs it
# is split between them.  (Section 2.2 estimates p(x) at these same points.)

# %%
TEST_POINTS = {"near μ_A": [0.5, 3.2], "between A and B": [-1.5, 0.5],
               "between B and C": [0.0, -2.0]}
pts = np.array(list(TEST_POINTS.values()))
post = gm.posterior(pts)
print(f"{'test point':>16} {'x':>14} {'log p(x)':>9}   posterior p(A|x) p(B|x) p(C|x)")
for (name, p), lp, q in zip(TEST_POINTS.items(), gm.log_prob(pts), post):
    print(f"{name:>16} ({p[0]:5.2f}, {p[1]:5.2f}) {lp:9.4f}   "
          f"{q[0]:.4f} {q[1]:.4f} {q[2]:.4f}")
# each row of the posterior sums to 1

# %% [markdown]
# Left, the samples coloured by their component, with the contours of log p(x); right, the
# posterior as a colour mixture, red for A, green for B, blue for C.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.6))
g = np.linspace(-7, 7, 300)
X1, X2 = np.meshgrid(g, g)
grid = np.stack([X1.ravel(), X2.ravel()], axis=1)
colors = np.array([[0.85, 0.2, 0.2], [0.2, 0.6, 0.2], [0.2, 0.3, 0.85]])
ax1.scatter(x[:, 0], x[:, 1], s=4, c=colors[z], alpha=0.6)
ax1.contour(X1, X2, gm.log_prob(grid).reshape(X1.shape), levels=np.arange(-14, -1, 1.5),
            colors="k", linewidths=0.6)
for name, p in TEST_POINTS.items():
    ax1.plot(*p, "k*", ms=11)
    ax1.annotate(name, p, textcoords="offset points", xytext=(6, 4), fontsize=8)
ax1.set_title("samples (colour = component z) and contours of log p(x)")
ax1.set_aspect("equal")
rgb = (gm.posterior(grid) @ colors).reshape(X1.shape + (3,))
ax2.imshow(rgb, origin="lower", extent=(-7, 7, -7, 7))
ax2.set_title("posterior p(z | x): red A, green B, blue C")
for p in TEST_POINTS.values():
    ax2.plot(*p, "w*", ms=11, mec="k")
fig_mixture = save_figure(fig, sec.out / "mixture.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# Ancestral sampling gives each component about a third of the points; the objective of
# Example 11.5 is higher at the true parameters than with μ_A moved; the posterior is
# certain near a blob's centre and split between blobs.  The section's numbers go to
# `results.json`; the last line is its summary.

# %%
results = sec.finish({"mixture": {"component_share": share.tolist(), "avg_log_lik": avg_ll,
                                  "avg_log_lik_mu_A_moved": avg_ll_moved},
                      "figures": [fig_mixture]},
                     summary=f"shares A/B/C {share[0]:.3f}/{share[1]:.3f}/{share[2]:.3f}; "
                             f"average log p(x) {avg_ll:.4f} at the true parameters, "
                             f"{avg_ll_moved:.4f} with μ_A moved by 1")
