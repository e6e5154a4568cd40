# %% [markdown]
# # Chapter 3 — The Kullback-Leibler divergence
#
# The KL divergence measures how different two distributions are (thesis §2.3):
#
#     KL(q ‖ p) = ∫ q(x) log( q(x) / p(x) ) dx              (thesis eq. 2.2)
#               = E_{q(x)}[ log q(x) − log p(x) ]            (thesis eq. 2.5)
#
# It is never negative (eq. 2.4, from 1 − r ≤ −log r) and zero only for q = p.  A VAE
# meets it twice: the ELBO contains KL(q(z|x) ‖ p(z)), which for Gaussians has a closed
# form (tutorial eq. 17–22, slides Definition 11.17), and the gap between the ELBO and
# log p(x) is KL(q(z|x) ‖ p(z|x)) (chapter 4).  The chapter has three sections:
#
# 1. **this one**: the closed form, term by term, against the Monte Carlo estimate of
#    eq. 2.5, with the library's `DiagonalGaussian`, and the Monte Carlo check catching
#    the classic log σ / log σ² mix-up;
# 2. `ch03_2_asymmetry.py`: KL(q ‖ p) ≠ KL(p ‖ q), and what the asymmetry does when one
#    Gaussian is fitted to two peaks;
# 3. `ch03_3_kl_nonnegative_and_discrete.py`: KL ≥ 0 (eq. 2.4) checked on random pairs,
#    and the discrete KL (eq. 2.3) as the VQ-VAE's rate.
#
# Run it as a script (`python chapters/ch03_kl_divergence/ch03_1_closed_form.py
# [--quick] [--out DIR] [--seed S]`) or open it as a notebook; either way the numbers
# below are the same.

# %%
import math

import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.distributions import LOG_2PI, DiagonalGaussian, StandardNormal

sec = start_section("ch03_1", "Chapter 3.1: the closed-form KL against Monte Carlo",
                    "20,000 draws instead of 400,000, a second")
# the chapter's three random streams: this section draws from the first two, 3.2 from
# the third, so that --quick changes how many draws, not which
rng_cases, rng_mixup, _ = sec.rngs(3)
n = 20_000 if sec.quick else 400_000


def mc_mean(samples):
    """Monte Carlo mean and its standard error, std / √n."""
    return float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(len(samples)))


# %% [markdown]
# ## The two expectations, and their difference
#
# For q = N(μ, diag(σ²)) and p = N(0, I) in L dimensions, the tutorial's §3.5 computes
# the two expectations in eq. 2.5 separately:
#
#     E_q[log p(z)] = −(L/2) log 2π − ½ Σ_l (σ_l² + μ_l²)            (tutorial eq. 17)
#     E_q[log q(z)] = −(L/2) log 2π − ½ Σ_l (1 + log σ_l²)           (tutorial eq. 20)
#
# and their difference is the KL:
#
#     KL(q ‖ p) = ½ Σ_l (σ_l² + μ_l² − 1 − log σ_l²)                  (tutorial eq. 22)
#
# (= ½ (tr Σ + ‖μ‖² − L − log det Σ), slides Definition 11.17.)  A remark on signs: the
# tutorial's eq. 21–22 write ∫ q (log p − log q), which is *minus* the KL — the term as it
# enters the ELBO — and call it the KL; the thesis's eq. 2.10 likewise prints "+ KL" where
# the ELBO has "− KL".  Eq. 22 above is the KL itself, ≥ 0.  And the middle line of the
# tutorial's eq. 20 prints "− log σ_l²" inside the bracket, with no sum over l: log q(z)
# holds −½ log det Σ = −½ Σ_l log σ_l².  Its last line, used above, is right (each
# (z_l − μ_l)²/(2σ_l²) has expectation ½).
#
# In the library, `DiagonalGaussian.kl_to_standard_normal()` is eq. 22, `entropy()` is
# −(eq. 20), and the Monte Carlo estimate of eq. 2.5 is `q.log_prob(z) − prior.log_prob(z)`
# averaged over z = μ + σ ⊙ ε (`q.sample`).  Eq. 17 is not in the library; one line
# writes it out.  First one q, 3-D, by hand:

# %%
mu, logvar = np.array([[0.5, -1.0, 2.0]]), np.log(np.array([[0.5, 2.0, 1.0]]))   # (1, L)
q, prior = DiagonalGaussian(mu, logvar), StandardNormal(mu.shape, dtype=np.float64)
L = mu.shape[1]
eq17 = -0.5 * L * LOG_2PI - 0.5 * np.sum(q.var + mu ** 2)       # E_q[log p(z)], eq. 17
eq20 = -q.entropy()[0]                                           # E_q[log q(z)], eq. 20
print(f"eq. 20 − eq. 17 = {eq20 - eq17:.6f}")
print(f"eq. 22          = {q.kl_to_standard_normal()[0]:.6f}   # the same number")

# %% [markdown]
# Each Monte Carlo estimate comes with its standard error (SE); a correct closed form
# lies within a few SE of it — |Δ|/SE is a standard normal draw, below 2 in 95 % of the
# cases.  Six q's: q = p, a shifted mean, a narrow and a wide σ, the 3-D one above, and
# eight random dimensions.

# %%
CASES = [("q = p", [0.0], [0.0]),                                # (name, μ, log σ²)
         ("shifted mean", [1.5], [0.0]),
         ("narrow", [0.0], [math.log(0.1 ** 2)]),
         ("wide", [0.0], [math.log(3.0 ** 2)]),
         ("3-D, mixed", [0.5, -1.0, 2.0], [math.log(0.5), math.log(2.0), 0.0]),
         ("8-D, random", None, None)]

# %% [markdown]
# For each q: draw n samples z ~ q, average log q(z) − log p(z), and set the average
# beside the closed forms.

# %%
cases = []
for name, m, lv in CASES:
    if m is None:
        m, lv = rng_cases.normal(0, 1, 8), rng_cases.normal(0, 1, 8)
    q = DiagonalGaussian(np.array([m], float), np.array([lv], float))
    z = q.sample(rng_cases, n_samples=n)                                 # (n, 1, L)
    log_q, log_p = q.log_prob(z)[:, 0], StandardNormal(q.mu.shape, np.float64).log_prob(z)[:, 0]
    L = q.mu.shape[1]
    eq17 = float(-0.5 * L * LOG_2PI - 0.5 * np.sum(q.var + q.mu ** 2))
    (mc_p, se_p), (mc_q, se_q) = mc_mean(log_p), mc_mean(log_q)
    kl, (mc_kl, se_kl) = float(q.kl_to_standard_normal()[0]), mc_mean(log_q - log_p)
    cases.append({"case": name, "dim": L, "kl_closed": kl, "kl_mc": mc_kl, "kl_se": se_kl,
                  "z": abs(mc_kl - kl) / se_kl if se_kl > 0 else 0.0,
                  "eq17": eq17, "eq17_mc": mc_p, "eq17_se": se_p,
                  "eq20": float(-q.entropy()[0]), "eq20_mc": mc_q, "eq20_se": se_q,
                  "eq20_minus_eq17": float(-q.entropy()[0]) - eq17})

# %% [markdown]
# The table: each expectation and the KL, closed form beside Monte Carlo.

# %%
print(f"{n} draws per case")
print(f"{'case':>13} {'eq. 17':>10} {'MC':>10} {'eq. 20':>10} {'MC':>10} {'KL eq. 22':>10} "
      f"{'MC ± SE':>19} {'|Δ|/SE':>7}")
for r in cases:
    print(f"{r['case']:>13} {r['eq17']:10.4f} {r['eq17_mc']:10.4f} {r['eq20']:10.4f} "
          f"{r['eq20_mc']:10.4f} {r['kl_closed']:10.4f} {r['kl_mc']:10.4f} ± {r['kl_se']:.4f} "
          f"{r['z']:7.2f}")
# |Δ|/SE should be below about 2 in every row; for q = p every draw gives log q − log p
# = 0 exactly, so SE = 0 and the row is exact

# %% [markdown]
# ## The Monte Carlo check catches the log σ / log σ² mix-up
#
# Encoders output (μ, log σ²) here (docs/design.md, "Conventions"); the thesis's eq. 2.26
# writes (μ, log σ).  Suppose an encoder outputs s = log σ but the code treats it as
# log σ²: the sampler then draws with σ = exp(s) while the KL is computed for
# σ = exp(s/2).  Each piece looks fine; only their disagreement shows the bug.  We draw z
# with the true σ and compare the Monte Carlo KL with the closed form evaluated both
# ways.

# %%
mu, log_sigma = np.array([[0.3, -0.8]]), np.array([[math.log(2.0), math.log(0.4)]])
q = DiagonalGaussian(mu, 2 * log_sigma)                        # right: log σ² = 2 log σ
z = q.sample(rng_mixup, n_samples=n)
mc, se = mc_mean((q.log_prob(z) - StandardNormal(mu.shape, np.float64).log_prob(z))[:, 0])
right = float(q.kl_to_standard_normal()[0])
wrong = float(DiagonalGaussian(mu, log_sigma).kl_to_standard_normal()[0])     # the bug
mixup = {"mc": mc, "se": se, "closed_right": right, "closed_wrong": wrong,
         "z_right": abs(mc - right) / se, "z_wrong": abs(mc - wrong) / se}
print(f"σ = (2, 0.4): Monte Carlo KL {mc:.4f} ± {se:.4f}")
print(f"  closed form with log σ² = 2 log σ:      {right:.4f}  ({mixup['z_right']:.1f} SE away)")
print(f"  closed form with log σ passed as log σ²: {wrong:.4f}  ({mixup['z_wrong']:.0f} SE away)")
# the right one within a few SE; the mix-up tens of SE away with --quick, hundreds in full

# %% [markdown]
# ## What this section measured
#
# Every closed form agrees with its Monte Carlo estimate within a few standard errors,
# and the mixed-up one is far outside them: a Monte Carlo check is cheap and finds a
# whole class of bugs that each piece, read alone, hides.  The section's numbers go to
# `results.json`; the last line is its summary.

# %%
worst = max(r["z"] for r in cases)
results = sec.finish({"draws": n, "closed_form_vs_mc": cases, "log_sigma_mixup": mixup},
                     summary=f"closed-form KL within {worst:.1f} SE of Monte Carlo in all "
                             f"{len(cases)} cases; the log σ mix-up is "
                             f"{mixup['z_wrong']:.0f} SE off")
