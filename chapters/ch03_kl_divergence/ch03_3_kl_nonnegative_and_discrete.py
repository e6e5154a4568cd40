# %% [markdown]
# # Chapter 3.3 — KL ≥ 0, and the discrete KL of a VQ-VAE
#
# Sections 3.1 and 3.2 used the KL of continuous densities (thesis eq. 2.2).  For a
# discrete variable the integral is a sum,
#
#     KL(q ‖ p) = Σ_x q(x) log( q(x) / p(x) )                        (thesis eq. 2.3)
#
# with 0 · log(0 / p) = 0 (the limit of t log t), and KL = ∞ if q(x) > 0 where p(x) = 0.
# In both cases the KL is never negative (thesis eq. 2.4): with r = p(x)/q(x) and
# 1 − r ≤ −log r,
#
#     KL = Σ_x q(x) (−log r(x)) ≥ Σ_x q(x) (1 − r(x)) = Σ_x q(x) − Σ_x p(x) = 1 − 1 = 0.
#
# Equality in 1 − r ≤ −log r holds only at r = 1, so the KL is 0 only when q = p
# (wherever q has mass).  This section checks each line numerically, on many random
# pairs, discrete and Gaussian, and then computes the discrete KL of a model that has
# one: the VQ-VAE (slides Concept 11.23), whose rate M log K comes straight out of eq. 2.3.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import exercise_commands, start_section
from vae_from_scratch.distributions import DiagonalGaussian
from vae_from_scratch.models.toy import gaussian_kl
from vae_from_scratch.models.vq_vae import mlp_vqvae
from vae_from_scratch.objectives import log_mean_exp
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch03_3", "Chapter 3.3: KL ≥ 0, and the discrete KL of a VQ-VAE",
                    "2,000 random pairs per case instead of 50,000, a second")
# the chapter's streams 4–7 (3.1 and 3.2 draw from the first three)
rng_disc, rng_line, rng_gauss, rng_vq = sec.rngs(7)[3:]
pairs = 2_000 if sec.quick else 50_000


def discrete_kl(q, p):
    """KL(q ‖ p) = Σ_k q_k log(q_k / p_k) over the last axis   (thesis eq. 2.3);
    terms with q_k = 0 are 0, a q_k > 0 where p_k = 0 gives +inf."""
    with np.errstate(divide="ignore"):
        terms = np.where(q > 0, q * (np.log(np.where(q > 0, q, 1.0)) - np.log(p)), 0.0)
    return terms.sum(axis=-1)


# %% [markdown]
# ## Eq. 2.4, line by line, on one pair
#
# Two distributions over five values: the KL, the bound Σ q (1 − p/q) that eq. 2.4
# puts below it, and the inequality −log r ≥ 1 − r term by term.

# %%
q1, p1 = np.array([0.4, 0.3, 0.15, 0.1, 0.05]), np.array([0.1, 0.2, 0.2, 0.25, 0.25])
r1 = p1 / q1
print(f"KL(q ‖ p) = Σ q (−log r) = {discrete_kl(q1, p1):.6f}")
print(f"bound     = Σ q (1 − r)  = {np.sum(q1 * (1 - r1)):.1e}   # 1 − Σ p = 0")
print("−log r − (1 − r) per term:", np.round(-np.log(r1) - (1 - r1), 4))   # every one ≥ 0

# %% [markdown]
# ## Many random discrete pairs
#
# q and p drawn from a Dirichlet distribution over K values, for K from 2 to 100 and two
# concentrations: α = 1 (uniform over the simplex) and α = 0.1 (most of the mass on a few
# values, the others tiny — a test of the logs).  The smallest KL of each batch must be
# ≥ 0, and KL(p ‖ p) exactly 0.

# %%
disc = []
print(f"{pairs} random pairs per row")
print(f"{'K':>4} {'α':>5} {'min KL(q‖p)':>12} {'median':>8} {'max |KL(p‖p)|':>14} "
      f"{'min term gap':>13}")
for K in (2, 5, 20, 100):
    for alpha in (1.0, 0.1):
        q = np.maximum(rng_disc.dirichlet(np.full(K, alpha), size=pairs), 1e-300)
        p = np.maximum(rng_disc.dirichlet(np.full(K, alpha), size=pairs), 1e-300)
        q, p = q / q.sum(axis=1, keepdims=True), p / p.sum(axis=1, keepdims=True)
        kl, kl_self = discrete_kl(q, p), discrete_kl(p, p)
        gap = float((-np.log(p / q) - (1 - p / q)).min())        # −log r − (1 − r) ≥ 0
        disc.append({"K": K, "alpha": alpha, "min": float(kl.min()),
                     "median": float(np.median(kl)), "self_max": float(np.abs(kl_self).max()),
                     "term_gap_min": gap})
        print(f"{K:4d} {alpha:5.1f} {kl.min():12.2e} {np.median(kl):8.3f} "
              f"{np.abs(kl_self).max():14.1e} {gap:13.1e}")
# every min ≥ 0 (a pair with q ≈ p may round to ±1e-15); KL(p ‖ p) = 0 exactly; every
# term gap ≥ 0, tiny only where p ≈ q

# %% [markdown]
# ## Zero only at q = p
#
# Move q towards p along a straight line, q_t = (1 − t) p + t r for a fixed r: the KL
# stays positive for every t > 0 and vanishes only at t = 0, like t².  Its second-order
# Taylor expansion in q − p is half the χ² distance, KL ≈ ½ Σ (q_t − p)² / p, so the ratio
# KL / (½ χ²) → 1 as t → 0 (with an error of order t).

# %%
p, rr = rng_line.dirichlet(np.ones(10)), rng_line.dirichlet(np.ones(10))
ts = np.geomspace(1e-4, 1, 25)
qt = (1 - ts[:, None]) * p + ts[:, None] * rr
kl_t, chi2_half = discrete_kl(qt, p), 0.5 * np.sum((qt - p) ** 2 / p, axis=1)
for t, a, b in zip(ts[::6], kl_t[::6], chi2_half[::6]):
    print(f"t = {t:8.1e}: KL {a:.3e}, ½χ² {b:.3e}, ratio {a / b:.4f}")
# ratio → 1 as t → 0, its error shrinking like t; KL > 0 for every t > 0

# %% [markdown]
# ## Many random Gaussian pairs
#
# For Gaussians the closed form (`models.toy.gaussian_kl`, eq. 2.2 integrated) does
# the integral; random pairs in d = 1 … 4 with random means and covariances A Aᵀ + 0.1 I,
# and the diagonal case against N(0, I), the VAE's (`DiagonalGaussian`, tutorial eq. 22).

# %%
gauss = []
for d in (1, 2, 3, 4):
    mu_q, mu_p = rng_gauss.normal(0, 2, (2, pairs, d))
    A, B = rng_gauss.normal(0, 1, (2, pairs, d, d))
    cov_q = A @ A.transpose(0, 2, 1) + 0.1 * np.eye(d)
    cov_p = B @ B.transpose(0, 2, 1) + 0.1 * np.eye(d)
    kl, kl_self = gaussian_kl(mu_q, cov_q, mu_p, cov_p), gaussian_kl(mu_q, cov_q, mu_q, cov_q)
    diag = DiagonalGaussian(mu_q, rng_gauss.normal(0, 1.5, (pairs, d))).kl_to_standard_normal()
    gauss.append({"d": d, "min": float(kl.min()), "self_max": float(np.abs(kl_self).max()),
                  "diag_min": float(diag.min())})
    print(f"d = {d}: min KL over {pairs} pairs {kl.min():.2e}, max |KL(q ‖ q)| "
          f"{np.abs(kl_self).max():.1e}, min KL(diagonal q ‖ N(0, I)) {diag.min():.2e}")
# min ≥ 0 in every row; KL(q ‖ q) = 0 up to round-off (< 1e-12)

# %% [markdown]
# ## The VQ-VAE's rate is eq. 2.3
#
# A VQ-VAE (slides Concept 11.23; `models/vq_vae.py`) encodes an image into M vectors and
# replaces each by its nearest of K codebook entries.  As a latent variable model its
# q(k | x) is deterministic — one-hot on the chosen code — and its prior uniform,
# p(k) = 1/K.  Eq. 2.3 then has one non-zero term:
#
#     KL(q ‖ p) = 1 · log(1 / (1/K)) = log K     per code vector,
#
# and M log K for the M independent code vectors of an image: the same for every image,
# whatever the encoder does, so it has no gradient.  The library reports it as
# `VQVAE.kl` (its "rate").  Here eq. 2.3 is applied to the one-hot q's of untrained
# VQ-VAEs on random images, for three (M, K):

# %%
images = rng_vq.random((64, 1, 8, 8))
vq_rows = []
for M, K in [(4, 16), (8, 4), (2, 512)]:
    vq = mlp_vqvae(num_latents=M, num_codes=K, rng=rng_vq, dtype=np.float64)
    z_e, _, idx = vq.encode(images)
    q = np.eye(K)[idx]                                          # one-hot q(k | x), (N, M, K)
    kl = discrete_kl(q, np.full(K, 1.0 / K)).sum(axis=1)        # eq. 2.3, summed over M
    est = vq.evaluate(images)
    vq_rows.append({"M": M, "K": K, "kl_eq_2_3_min": float(kl.min()), "kl_eq_2_3_max": float(kl.max()),
                    "model_kl": vq.kl, "reported_kl": est.kl, "M_log_K": M * math.log(K),
                    "elbo_minus_rec_plus_kl": est.elbo - est.reconstruction + est.kl})
    print(f"M = {M}, K = {K:3d}: eq. 2.3 per image from {kl.min():.6f} to {kl.max():.6f}; "
          f"VQVAE.kl {vq.kl:.6f}; M log K = {M * math.log(K):.6f}")
# all equal: 4 log 16 = 11.090355, 8 log 4 = 11.090355, 2 log 512 = 12.476649

# %% [markdown]
# A *soft* assignment — q(k | x) ∝ exp(−β ‖z_e − e_k‖²), computed with log-sum-exp — is
# no longer one-hot, and its KL to the uniform prior is log K − H(q) (eq. 2.3 with
# p = 1/K), between 0 (β = 0: q uniform, q = p) and log K (β → ∞: the one-hot q).  The
# VQ-VAE's hard assignment is the most expensive code there is, at K = 16:

# %%
vq = mlp_vqvae(num_latents=4, num_codes=16, rng=rng_vq, dtype=np.float64)
z_e = vq.encode(images)[0]
dist = ((z_e[:, :, None, :] - vq.quantizer.params["codebook"]) ** 2).sum(axis=3)  # (N, M, K)
betas = [0.0, 0.3, 1, 3, 10, 100, 1000]
soft = []
for beta in betas:
    a = -beta * dist
    log_q = a - (log_mean_exp(a, axis=2) + math.log(16))[..., None]    # log-softmax
    q = np.exp(log_q)
    kl = discrete_kl(q, np.full(16, 1 / 16)).mean()                     # per code vector
    entropy = -np.sum(q * log_q, axis=2).mean()
    soft.append({"beta": beta, "kl": float(kl), "log_K_minus_H": math.log(16) - float(entropy)})
    print(f"β = {beta:6g}: KL per code vector {kl:.6f}, log K − H(q) {math.log(16) - entropy:.6f}")
# 0 at β = 0, rising with β towards log 16 = 2.772589; the two columns equal

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
ax1.loglog(ts, kl_t, "o", ms=4, label="KL(q_t ‖ p), eq. 2.3")
ax1.loglog(ts, chi2_half, "-", label="½ χ²(q_t, p)")
ax1.set(xlabel="t  (q_t = (1 − t) p + t r)", ylabel="nats", title="zero only at q = p, like t²")
ax1.grid(alpha=0.3, which="both")
ax1.legend(fontsize=8)
ax2.semilogx([max(s["beta"], 0.1) for s in soft], [s["kl"] for s in soft], "o-",
             label="soft q ∝ exp(−β‖z_e − e_k‖²)")
ax2.axhline(math.log(16), color="k", ls="--", lw=1, label="one-hot q: log K (the VQ-VAE)")
ax2.set(xlabel="β (β = 0 drawn at 0.1)", ylabel="KL(q ‖ uniform) per code vector",
        title="K = 16: the rate of a discrete code")
ax2.grid(alpha=0.3, which="both")
ax2.legend(fontsize=8)
fig_kl = save_figure(fig, sec.out / "kl_discrete.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# The KL was never negative over all the random discrete and Gaussian pairs, exactly 0
# for q = p, and positive, like ½ χ² ∝ t², for every q ≠ p nearby; eq. 2.3 applied to a
# VQ-VAE's one-hot q gives M log K for every image, the rate the library reports, the
# largest KL any q over K codes can have against the uniform prior.

# %%
results = sec.finish({"pairs": pairs, "discrete": disc, "gaussian": gauss,
                      "perturbation": {"t": ts.tolist(), "kl": kl_t.tolist(),
                                       "half_chi2": chi2_half.tolist()},
                      "vq_vae": vq_rows, "soft_assignment": soft, "figures": [fig_kl]},
                     summary=f"min KL over {8 * pairs} discrete and {4 * pairs} Gaussian random "
                             f"pairs {min(r['min'] for r in disc + gauss):.1e} (≥ 0 up to "
                             f"round-off); VQ-VAE rate "
                             f"by eq. 2.3 = M log K = {vq_rows[0]['model_kl']:.4f} for M = 4, K = 16")

# %% [markdown]
# ## Exercise
#
# Write the Gaussian KL of section 3.1 and its gradient yourself; the autograder checks
# them against finite differences and against the library:

# %%
print(exercise_commands("ch03"))
