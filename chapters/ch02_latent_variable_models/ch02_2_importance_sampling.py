# %% [markdown]
# # Chapter 2.2 — Naive Monte Carlo vs importance sampling
#
# Section 2.1 computed log p(x) of the mixture of slides Example 11.5 exactly.  Here we
# estimate p(x) by Monte Carlo at the same three test points, as one must in a VAE, and
# judge the estimators against the exact value (slides Concepts 11.6–11.9).
#
# **Naive** (Choice 1 of Concept 11.6): p(x) = E_{Z~p(z)}[p(x | Z)] ≈ p(x | Z), Z ~ p(z).  For
# a point near μ_A, p(x | B) ≈ p(x | C) ≈ 0: two draws in three give ≈ 0 and one gives
# 3 p(x) (Concept 11.8).  Unbiased, but with a standard deviation of √2 ≈ 1.4 times the
# value itself.
#
# **Importance sampling** (Choice 2; Concept 11.9): draw Z from q(z | x) and reweight,
#
#     p(x) = E_{Z~q}[ p(x | Z) p(Z) / q(Z | x) ] ≈ w = p(x | Z) p(Z) / q(Z | x).
#
# Its variance is Var_q[w] = Σ_k q_k (w_k − p(x))², w_k the weight of outcome k
# (E_q[w] = p(x)).  With q = p(z | x), the posterior, every w equals p(x) exactly: zero
# variance ("optimal IS sampling distribution" q⋆ = p(z | X_i)).  The posterior is unknown
# in a real model — it needs p(x) — so a VAE learns an approximation q_φ(z | x)
# (Concept 11.10).  We stand in for such an approximation with the posterior of a
# "blurred" mixture whose covariances are 4× too large.

# %%
import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.models.toy import GaussianMixture
from vae_from_scratch.objectives import log_mean_exp
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch02_2", "Chapter 2.2: naive Monte Carlo vs importance sampling",
                    "20,000 draws and 1000 repetitions instead of 200,000 and 10,000, "
                    "a few seconds")
rng = sec.rngs(3)[1]            # the chapter's second stream (2.1 draws from the first)
draws = 20_000 if sec.quick else 200_000
reps = 1000 if sec.quick else 10_000

# %% [markdown]
# The mixture and its three test points (section 2.1), and the three proposals q(z | x)
# at each point: the prior (the naive estimator), the blurred posterior, the exact one.

# %%
gm = GaussianMixture.example_11_5()
TEST_POINTS = {"near μ_A": [0.5, 3.2], "between A and B": [-1.5, 0.5],
               "between B and C": [0.0, -2.0]}
pts = np.array(list(TEST_POINTS.values()))
exact = gm.log_prob(pts)
blurry = GaussianMixture(gm.weights, gm.means, 4 * gm.covs)
proposals = {"naive, q = p(z)": np.broadcast_to(gm.weights, (len(pts), 3)),
             "IS, blurred posterior": blurry.posterior(pts),
             "IS, exact posterior": gm.posterior(pts)}
joint = np.exp(gm.log_joint(pts))                               # p(x, z = k), (3, K)
for pname, q in proposals.items():
    print(f"{pname:>22}: q(A|x), q(B|x), q(C|x) = "
          + " ".join(f"{v:.4f}" for v in q[0]) + " near μ_A")

# %% [markdown]
# ## One weight: its spread, exact and measured
#
# `GaussianMixture.importance_log_weights` returns log w for S draws.  Per point we print
# the exact relative standard deviation of a single weight, √Var[w] / p(x) (from the three
# outcomes), next to the one measured over S draws; the mean of w / p(x), which should be
# 1 (unbiased); and the share of "useful" draws, those worth more than 1 % of the answer.

# %%
per_draw = []
print(f"one weight w per estimate: relative standard deviation √Var[w] / p(x), exact "
      f"(from the 3 outcomes) and measured ({draws} draws)")
print(f"{'test point':>16} {'proposal':>22} {'exact':>8} {'measured':>9} "
      f"{'mean w / p(x)':>14} {'useful draws':>13}")
for i, name in enumerate(TEST_POINTS):
    for pname, q in proposals.items():
        w_k = joint[i] / q[i]                                     # the 3 possible weights
        var = np.sum(q[i] * (w_k - np.exp(exact[i])) ** 2)        # Var_q[w], no cancellation
        rel_exact = float(np.sqrt(var) / np.exp(exact[i]))
        log_w = gm.importance_log_weights(pts[i:i + 1], draws, rng,
                                          proposal=None if pname.startswith("naive")
                                          else q[i:i + 1])[:, 0]
        w = np.exp(log_w - exact[i])                              # w / p(x)
        useful = float(np.mean(w > 0.01))     # draws worth more than 1 % of the answer
        per_draw.append({"point": name, "proposal": pname, "rel_std_exact": rel_exact,
                         "rel_std_measured": float(w.std()), "mean_ratio": float(w.mean()),
                         "mean_ratio_se": float(w.std(ddof=1) / np.sqrt(draws)),
                         "useful_share": useful})
        print(f"{name:>16} {pname:>22} {rel_exact:8.4f} {w.std():9.4f} "
              f"{w.mean():8.4f} ± {per_draw[-1]['mean_ratio_se']:.3f} {useful:13.3f}")
# theory, near μ_A with the naive q: spread √2 ≈ 1.414 and 1/3 of the draws useful;
# the exact posterior: spread 0, every weight p(x); every mean w / p(x) within a few SE of 1

# %% [markdown]
# ## The log of the estimate: biased low, less so with more draws
#
# The estimate from K draws is log p̂_K = log (1/K) Σ_k w_k (`objectives.log_mean_exp`, the
# same function the IWAE bound uses).  p̂_K is unbiased, but log p̂_K is biased low
# (Jensen), and its bias and spread shrink with K and with a better q.  We repeat the
# estimate for the point near μ_A, for K = 1, 10, 100.

# %%
K_values = (1, 10, 100)
logs, est_rows = {}, []
print(f"log p̂_K − log p(x) for the point near μ_A over {reps} repetitions "
      f"(mean ± standard deviation):")
print(f"{'proposal':>22} " + " ".join(f"{'K = ' + str(K):>21}" for K in K_values))
for pname, q in proposals.items():
    cells = []
    for K in K_values:
        log_w = gm.importance_log_weights(np.repeat(pts[:1], reps, axis=0), K, rng,
                                          proposal=None if pname.startswith("naive")
                                          else np.repeat(q[:1], reps, axis=0))
        err = log_mean_exp(log_w, axis=0) - exact[0]              # (reps,)
        logs[(pname, K)] = err
        est_rows.append({"proposal": pname, "K": K, "bias": float(err.mean()),
                         "std": float(err.std())})
        cells.append(f"{err.mean():9.3f} ± {err.std():9.3f}")
    print(f"{pname:>22} " + " ".join(f"{c:>21}" for c in cells))
# should be: bias and spread shrinking with K for the naive and the blurred q; below −1
# for one naive draw (2/3 of them miss A); exactly 0 ± 0 for the exact posterior

# %% [markdown]
# Left, the spread of a single weight per point and proposal; right, the K = 10 estimates
# of log p(x) near μ_A over the repetitions.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
names = list(TEST_POINTS)
width = 0.27
for j, pname in enumerate(proposals):
    vals = [r["rel_std_measured"] for r in per_draw if r["proposal"] == pname]
    ax1.bar(np.arange(3) + (j - 1) * width, vals, width,
            label=pname + (" (0: no bar)" if max(vals) < 1e-12 else ""))
ax1.set_xticks(np.arange(3))
ax1.set_xticklabels(names)
ax1.set_ylabel("std of one weight / p(x)")
ax1.set_title("spread of a single-sample estimate of p(x)")
ax1.legend(fontsize=8)
bins = np.linspace(-3, 1, 81)
for pname in proposals:
    err = logs[(pname, 10)]
    if err.std() < 1e-9:
        ax2.axvline(err.mean(), color="tab:green", lw=2, label=f"{pname} (every estimate)")
    else:
        ax2.hist(np.clip(err, bins[0], bins[-1]), bins=bins, alpha=0.6, label=pname)
ax2.set_xlabel("log p̂₁₀ − log p(x)   (values below −3 drawn at −3)")
ax2.set_ylabel("repetitions")
ax2.set_title("K = 10 draws, point near μ_A")
ax2.legend(fontsize=8)
fig_estimators = save_figure(fig, sec.out / "estimators.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# The naive single-draw spread near μ_A is √2 ≈ 1.41 with about 1/3 of the draws useful;
# the exact posterior gives spread 0 and log p̂ = log p(x) to round-off for every K; all
# estimates of p(x) itself are unbiased (mean w / p(x) ≈ 1).  Section 2.3 shows the
# naive estimator getting much worse as the latent dimension grows.

# %%
naive_a = next(r for r in per_draw
               if r["point"] == "near μ_A" and r["proposal"].startswith("naive"))
results = sec.finish({"estimators": {"per_draw": per_draw, "log_estimates": est_rows},
                      "figures": [fig_estimators]},
                     summary=f"near μ_A one naive draw has relative std "
                             f"{naive_a['rel_std_measured']:.2f} (exact "
                             f"{naive_a['rel_std_exact']:.2f}), "
                             f"{naive_a['useful_share']:.3f} of draws useful; the posterior 0")
