# %% [markdown]
# # Chapter 3.2 — The KL is not symmetric
#
# Section 3.1 checked the closed form of KL(q ‖ p) (thesis eq. 2.2, tutorial eq. 22).
# Here the order of the arguments: KL(q ‖ p) averages log(q/p) under q, KL(p ‖ q)
# averages log(p/q) under p, and the two differ — which decides what a VAE's q looks
# like when the true posterior has several peaks.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.distributions import DiagonalGaussian, StandardNormal
from vae_from_scratch.models.toy import (GaussianMixture, diagonal_cov, gaussian_kl,
                                         kl_by_quadrature)
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch03_2", "Chapter 3.2: the KL's two directions",
                    "20,000 draws and a coarser (μ, σ) grid, a second")
rng = sec.rngs(3)[2]            # the chapter's third stream (3.1 draws from the first two)
n = 20_000 if sec.quick else 400_000


def mc_mean(samples):
    """Monte Carlo mean and its standard error, std / √n."""
    return float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(len(samples)))


# %% [markdown]
# ## Two Gaussians, both directions
#
# For p = N(0, 1) and q = N(μ, σ²) in one dimension:
#
#     KL(q ‖ p) = ½ (σ² + μ² − 1 − log σ²)           (library, tutorial eq. 22)
#     KL(p ‖ q) = ½ (1/σ² + μ²/σ² − 1 + log σ²)      (`models.toy.gaussian_kl`, full form)
#
# As σ → 0, KL(q ‖ p) grows only like −log σ, but KL(p ‖ q) like 1/σ²: p puts mass where a
# narrow q has almost none, and KL(p ‖ q) punishes exactly that.  As σ → ∞ it is the
# other way round.  With equal variances the two agree (both are ½ μ²).  Both are checked
# by Monte Carlo (draws from q for the first, from p for the second).

# %%
asym = []
p = StandardNormal((1, 1), dtype=np.float64)
for m, s in [(0.0, 0.2), (0.0, 3.0), (2.0, 1.0), (1.0, 0.5)]:
    mu, logvar = np.array([[m]]), np.array([[math.log(s * s)]])
    q = DiagonalGaussian(mu, logvar)
    zq, zp = q.sample(rng, n_samples=n), p.sample(rng, n_samples=n)
    (f_mc, f_se), (r_mc, r_se) = (mc_mean((q.log_prob(zq) - p.log_prob(zq))[:, 0]),
                                  mc_mean((p.log_prob(zp) - q.log_prob(zp))[:, 0]))
    asym.append({"mu": m, "sigma": s, "kl_qp": float(q.kl_to_standard_normal()[0]),
                 "kl_qp_mc": f_mc, "kl_qp_se": f_se, "kl_pq_mc": r_mc, "kl_pq_se": r_se,
                 "kl_pq": float(gaussian_kl(np.zeros(1), np.eye(1), mu[0],
                                            diagonal_cov(logvar[0])))})

# %%
print(f"p = N(0, 1), q = N(μ, σ²); Monte Carlo with {n} draws")
print(f"{'μ':>5} {'σ':>5} {'KL(q‖p)':>9} {'MC ± SE':>18} {'KL(p‖q)':>9} {'MC ± SE':>18}")
for r in asym:
    print(f"{r['mu']:5.1f} {r['sigma']:5.1f} {r['kl_qp']:9.4f} {r['kl_qp_mc']:9.4f} ± "
          f"{r['kl_qp_se']:.4f} {r['kl_pq']:9.4f} {r['kl_pq_mc']:9.4f} ± {r['kl_pq_se']:.4f}")
# should be: the two directions differ in every row but μ = 2, σ = 1, where both are
# μ²/2 = 2; each Monte Carlo estimate within a few SE of its closed form

# %% [markdown]
# Over a range of σ (μ = 0) the two curves cross at σ = 1, where both are zero:

# %%
sig = np.geomspace(0.1, 10, 200)
logvar = np.log(sig ** 2)[:, None]
kl_qp = DiagonalGaussian(np.zeros_like(logvar), logvar).kl_to_standard_normal()
kl_pq = gaussian_kl(np.zeros(1), np.eye(1), np.zeros_like(logvar), diagonal_cov(logvar))
fig, ax = plt.subplots(figsize=(6.2, 4))
ax.loglog(sig, kl_qp, label="KL(q ‖ p)")
ax.loglog(sig, kl_pq, label="KL(p ‖ q)")
ax.axvline(1.0, color="0.6", lw=0.8, ls="--")
ax.set(xlabel="σ of q = N(0, σ²)", ylabel="nats", title="p = N(0, 1): the two directions")
ax.grid(alpha=0.3, which="both")
ax.legend()
fig_asymmetry = save_figure(fig, sec.out / "asymmetry.png", dpi=110)

# %% [markdown]
# ## Fitting one Gaussian to two peaks: mode-seeking vs mass-covering
#
# Let p be a mixture of two Gaussians (weights 0.6 and 0.4, means ∓2.5, σ = 0.6), and look
# for the Gaussian q = N(μ, σ²) closest to it, in either direction.
#
# - **KL(p ‖ q)** is minimized by matching the mean and variance of p ("moment
#   matching"): q spreads over both peaks, and puts its own peak in the valley between
#   them, where p has almost no mass.
# - **KL(q ‖ p)** punishes q for mass where p has little, so q squeezes into one peak.
#   It has a local minimum on each peak; the global one is on the heavier peak.
#
# A VAE minimizes KL(q(z|x) ‖ p(z|x)) (thesis §2.4; slides Concept 11.10): when the true
# posterior has several modes, its q tends to pick one and to be too narrow, never too
# wide.  (Chapter 4 sees the same effect on a correlated Gaussian posterior.)  Both KLs
# are computed by the trapezoid rule on a fine grid (`models.toy.kl_by_quadrature`,
# eq. 2.2 evaluated numerically), for every (μ, σ) of a grid of q's.

# %%
p = GaussianMixture([0.6, 0.4], [[-2.5], [2.5]], [[[0.36]], [[0.36]]])
x = np.linspace(-12, 12, 2401)
log_p = p.log_prob(x[:, None])                                          # (M,)
mus = np.linspace(-4, 4, 81 if sec.quick else 161)
sigmas = np.geomspace(0.2, 5, 60 if sec.quick else 120)
MU, SIG = np.meshgrid(mus, sigmas, indexing="ij")
q = DiagonalGaussian(MU.ravel()[:, None], np.log(SIG.ravel() ** 2)[:, None])   # one q a point
log_q = q.log_prob(np.broadcast_to(x[:, None, None], (len(x), MU.size, 1))).T  # (Q, M)
kl_qp = kl_by_quadrature(log_q, log_p[None, :], x).reshape(MU.shape)
kl_pq = kl_by_quadrature(log_p[None, :], log_q, x).reshape(MU.shape)
print(f"KL(q ‖ p) and KL(p ‖ q) on a grid of {len(mus)} × {len(sigmas)} q's")

# %% [markdown]
# The minimizers: KL(p ‖ q)'s over the whole grid; KL(q ‖ p)'s over σ for each μ, then the
# best μ on each side of 0.  A q sitting exactly on one well-separated peak of weight w
# has KL(q ‖ p) ≈ log(1/w).

# %%
m_mean, m_std = float(p.mean()[0]), math.sqrt(float(p.covariance()[0, 0]))
i, j = np.unravel_index(np.argmin(kl_pq), kl_pq.shape)
pq_fit = (float(mus[i]), float(sigmas[j]), float(kl_pq[i, j]))
best_over_sigma = kl_qp.min(axis=1)
fits_qp = []
for side in (mus < 0, mus > 0):
    k = np.flatnonzero(side)[np.argmin(best_over_sigma[side])]
    fits_qp.append((float(mus[k]), float(sigmas[np.argmin(kl_qp[k])]), float(best_over_sigma[k])))
print(f"p: mean {m_mean:.4f}, std {m_std:.4f}")
print(f"argmin KL(p ‖ q): μ = {pq_fit[0]:.3f}, σ = {pq_fit[1]:.3f}, KL = {pq_fit[2]:.4f}"
      f"   # moment matching: μ = {m_mean:.3f}, σ = {m_std:.3f}")
for (m, s, kl), w in zip(fits_qp, (0.6, 0.4)):
    print(f"local min of KL(q ‖ p), peak of weight {w}: μ = {m:.3f}, σ = {s:.3f}, KL = {kl:.4f}"
          f"   # log(1/{w}) = {math.log(1 / w):.4f}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.2))
xs = x[(x > -7) & (x < 7)]
ax1.plot(xs, np.exp(p.log_prob(xs[:, None])), "k-", lw=2, label="p (two peaks)")
for (m, s, _), ls, label in [(fits_qp[0], "-", "argmin KL(q ‖ p)"),
                             (fits_qp[1], ":", "local min of KL(q ‖ p)"),
                             (pq_fit, "--", "argmin KL(p ‖ q)")]:
    qf = DiagonalGaussian(np.array([[m]]), np.array([[math.log(s * s)]]))
    ax1.plot(xs, np.exp(qf.log_prob(xs[:, None, None]))[:, 0], ls, lw=1.6,
             label=f"{label}: μ={m:.2f}, σ={s:.2f}")
ax1.set(xlabel="z", title="the best single Gaussian, in each direction", ylim=(0, 1.0))
ax1.legend(fontsize=8, loc="upper left")
# right: KL(q ‖ p) over the grid, its two minima and KL(p ‖ q)'s
cs = ax2.contourf(MU, SIG, np.log10(kl_qp), levels=30, cmap="viridis")
fig.colorbar(cs, ax=ax2, label="log₁₀ KL(q ‖ p)")
for m, s, _ in fits_qp:
    ax2.plot(m, s, "r*", ms=12)
ax2.plot(pq_fit[0], pq_fit[1], "wo", ms=8, mec="k", label="argmin KL(p ‖ q)")
ax2.set(yscale="log", xlabel="μ of q", ylabel="σ of q", title="KL(q ‖ p) over (μ, σ): two minima (red)")
ax2.legend(fontsize=8, loc="upper right")
fig_modes = save_figure(fig, sec.out / "mode_seeking.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# KL(q ‖ p) ≠ KL(p ‖ q) in every row but the one with σ = 1; the KL(p ‖ q) fit sits at
# the mixture's mean and standard deviation, between the peaks; the KL(q ‖ p) fits sit on
# the peaks, each with a KL close to log(1/weight).

# %%
a = asym[0]
results = sec.finish({"draws": n, "asymmetry": asym, "mode_seeking": {
    "moment_matching": [m_mean, m_std], "argmin_kl_pq": list(pq_fit),
    "local_minima_kl_qp": [list(f) for f in fits_qp]},
    "figures": [fig_asymmetry, fig_modes]},
    summary=f"KL(q‖p) = {a['kl_qp']:.3f} vs KL(p‖q) = {a['kl_pq']:.3f} for σ = {a['sigma']}; "
            f"KL(q‖p) minima on the peaks at {fits_qp[0][2]:.3f} and {fits_qp[1][2]:.3f} nats")
