# %% [markdown]
# # Chapter 2 — Latent variable models and importance sampling
#
# A latent variable model (thesis §2.1, eq. 2.1; slides Definition 11.4) explains an
# observation x by an unobserved z:
#
#     p_θ(x, z) = p_θ(x | z) p_θ(z),        p_θ(x) = ∫ p_θ(x | z) p_θ(z) dz.
#
# Data are generated in two steps (ancestral sampling): z ~ p(z), then x ~ p(x | z).
# Training by maximum likelihood needs log p_θ(x), an integral — or a sum — over z that
# is "intractable" in a VAE (thesis §2.1, assumption 1).  This chapter estimates it by
# Monte Carlo, on models where the exact value is known:
#
# 1. the mixture of three Gaussians of **slides Example 11.5**, where z ∈ {A, B, C};
# 2. the **naive estimator** p(x) ≈ p(x | Z), Z ~ p(z) (slides Concept 11.6, Choice 1) and
#    why its variance is high (Concept 11.8: only about 1/3 of the samples contribute);
# 3. **importance sampling** (Concepts 11.6 Choice 2, 11.9): Z ~ q(z | x) and the weight
#    p(x | Z) p(Z) / q(Z | x); the optimal q is the posterior p(z | x) and gives an exact
#    estimate from a single sample;
# 4. "the issue worsens as the observable and latent variable dimension increases"
#    (Concept 11.8), measured on a linear-Gaussian model with the library's own
#    `objectives.log_likelihood`, the estimator a VAE is evaluated with.
#
# The models live in `vae_from_scratch/models/toy.py`; the estimators are the library's.

# %%
import os
import time
from pathlib import Path

# One BLAS thread, as in the other chapters: on a shared 2-core machine spinning BLAS
# threads slow small problems down, and the thread count can move the last digits.
# (It must be set before NumPy is imported; set OPENBLAS_NUM_THREADS to override.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib
matplotlib.use("Agg")                       # figures go to files, no screen needed
import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import (parse_chapter_args, run_as_script,
                                                 write_results)
from vae_from_scratch.viz.plots import save_figure
from vae_from_scratch.objectives import log_likelihood, log_mean_exp
from vae_from_scratch.models.toy import GaussianMixture, LinearGaussianModel

CHAPTER = "ch02"


def parse_args(argv=None):
    return parse_chapter_args(argv, "ch02", "Chapter 2: latent variable models",
                              "fewer Monte Carlo draws, a few seconds")


# %% [markdown]
# ## 1. The Gaussian mixture of slides Example 11.5
#
# p(Z = A) = p(Z = B) = p(Z = C) = 1/3 and p(x | Z = k) = N(x; μ_k, Σ_k) in R².  The slides
# give no numbers; `GaussianMixture.example_11_5()` picks three well-separated blobs.  The
# marginal is a sum of three terms,
#
#     p(x) = ⅓ N(x; μ_A, Σ_A) + ⅓ N(x; μ_B, Σ_B) + ⅓ N(x; μ_C, Σ_C),
#
# whose log, summed over the data, is the training objective of Example 11.5; the
# posterior p(Z = k | x) = p(x | k) p(k) / p(x) is Bayes' rule (slides Concept 11.2).
# Here everything is exact, which is what lets us judge the estimators below.

# %%
TEST_POINTS = {"near μ_A": [0.5, 3.2], "between A and B": [-1.5, 0.5],
               "between B and C": [0.0, -2.0]}


def the_mixture(gm, rng, n, out):
    x, z = gm.sample(n, rng)                       # ancestral sampling: z ~ p(z), x ~ p(x|z)
    share = np.bincount(z, minlength=3) / n
    avg_ll = float(gm.log_prob(x).mean())
    # the objective of Example 11.5 at the true parameters, and with μ_A moved by 1
    moved = GaussianMixture(gm.weights, gm.means + np.array([[1.0, 0.0], [0, 0], [0, 0]]),
                            gm.covs)
    avg_ll_moved = float(moved.log_prob(x).mean())
    pts = np.array(list(TEST_POINTS.values()))
    post = gm.posterior(pts)
    print(f"{n} points by ancestral sampling; component shares A/B/C = "
          f"{share[0]:.3f}/{share[1]:.3f}/{share[2]:.3f} (prior 1/3 each)")
    print(f"average log p(X_i) (the objective of Example 11.5, per point): {avg_ll:.4f} at "
          f"the true parameters, {avg_ll_moved:.4f} with μ_A moved by 1")
    print(f"{'test point':>16} {'x':>14} {'log p(x)':>9}   posterior p(A|x) p(B|x) p(C|x)")
    for (name, p), lp, q in zip(TEST_POINTS.items(), gm.log_prob(pts), post):
        print(f"{name:>16} ({p[0]:5.2f}, {p[1]:5.2f}) {lp:9.4f}   "
              f"{q[0]:.4f} {q[1]:.4f} {q[2]:.4f}")

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
    return ({"component_share": share.tolist(), "avg_log_lik": avg_ll,
             "avg_log_lik_mu_A_moved": avg_ll_moved},
            save_figure(fig, out / "mixture.png", dpi=110))


# %% [markdown]
# ## 2. Naive Monte Carlo vs importance sampling (slides Concepts 11.6–11.9)
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
# Its variance is Var_q[w] = Σ_k q_k (w_k − p(x))², w_k the weight of outcome k (E_q[w] = p(x)).
# With q = p(z | x), the posterior, every
# w equals p(x) exactly: zero variance ("optimal IS sampling distribution" q⋆ = p(z | X_i)).
# The posterior is unknown in a real model — it needs p(x) — so a VAE learns an
# approximation q_φ(z | x) (Concept 11.10).  We stand in for such an approximation with
# the posterior of a "blurred" mixture whose covariances are 4× too large.
#
# `GaussianMixture.importance_log_weights` returns log w for S draws; the estimate from
# K draws is log p̂_K = log (1/K) Σ_k w_k (`objectives.log_mean_exp`, the same function the
# IWAE bound uses).  Per point we print the exact relative standard deviation of a single
# weight, √Var[w] / p(x), next to the one measured over S draws.  Then the log-estimates
# for K = 1, 10, 100: p̂_K is unbiased, but log p̂_K is biased low (Jensen), and its bias
# and spread shrink with K and with a better q.

# %%
def naive_vs_importance(gm, rng, draws, reps, out):
    pts = np.array(list(TEST_POINTS.values()))
    exact = gm.log_prob(pts)
    blurry = GaussianMixture(gm.weights, gm.means, 4 * gm.covs)
    proposals = {"naive, q = p(z)": np.broadcast_to(gm.weights, (len(pts), 3)),
                 "IS, blurred posterior": blurry.posterior(pts),
                 "IS, exact posterior": gm.posterior(pts)}
    joint = np.exp(gm.log_joint(pts))                               # p(x, z = k), (3, K)
    per_draw = []
    print(f"\none weight w per estimate: relative standard deviation √Var[w] / p(x), exact "
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

    # log p̂_K over `reps` repetitions, for the point near μ_A
    K_values = (1, 10, 100)
    logs = {}
    print(f"\nlog p̂_K − log p(x) for the point near μ_A over {reps} repetitions "
          f"(mean ± standard deviation):")
    print(f"{'proposal':>22} " + " ".join(f"{'K = ' + str(K):>21}" for K in K_values))
    est_rows = []
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
    path = save_figure(fig, out / "estimators.png", dpi=110)
    return {"per_draw": per_draw, "log_estimates": est_rows}, path


# %% [markdown]
# ## 3. Dimension makes the naive estimator hopeless (slides Concept 11.8)
#
# With a continuous latent z ∈ R^D, the prior puts almost no mass where the posterior is,
# and the fraction of prior samples that "meaningfully contribute" falls exponentially
# with D.  We use the linear-Gaussian model of `models/toy.py` (z ~ N(0, I_D),
# x | z ~ N(Wz + b, σ² I)) with orthogonal columns of W, so that the posterior is a
# diagonal Gaussian and a VAE encoder can represent it exactly.  The same model is a
# library VAE (`LinearGaussianModel.vae(encoder)`), so the estimator is the library's
# `objectives.log_likelihood(model, x, K, rng)` — log (1/K) Σ_k p(x|z_k) p(z_k)/q(z_k|x) —
# with three encoders:
#
# - the prior, q(z | x) = N(0, I): then the weight is p(x | z), the naive estimator;
# - an imperfect encoder: the posterior mean with 1.5× the posterior variance;
# - the exact posterior (`optimal_encoder()`), for which every weight is p(x).
#
# K = 100 draws each, for 20 points x drawn from the model, each estimate repeated,
# against the exact log p(x) = log N(x; b, WWᵀ + σ²I).

# %%
def dimension(rng, dims, reps, out, n_points=20):
    rows = []
    print(f"\nlog p̂ − log p(x) with K = 100 draws, {n_points} points x × {reps} repetitions "
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

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    D = [r["D"] for r in rows]
    for key, label in (("naive", "naive, q = p(z)"), ("wide", "q = 1.5 × posterior variance"),
                       ("posterior", "q = posterior")):
        rmse = [np.hypot(r[f"{key}_bias"], r[f"{key}_std"]) for r in rows]
        ax.semilogy(D, np.maximum(rmse, 1e-16), "o-", label=label)
    ax.set_xlabel("latent dimension D")
    ax.set_ylabel("root mean square error of log p̂ (nats)")
    ax.set_title("objectives.log_likelihood, K = 100")
    ax.set_xscale("log", base=2)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return rows, save_figure(fig, out / "dimension.png", dpi=110)


# %% [markdown]
# ## Run everything
#
# What to look for: the naive single-draw spread near μ_A is √2 ≈ 1.41 with about 1/3 of
# the draws useful; the exact posterior gives spread 0 and log p̂ = log p(x) to round-off
# for every K; all estimates of p(x) itself are unbiased (mean w / p(x) ≈ 1); and the
# naive estimator's error of log p(x) explodes with the latent dimension while importance
# sampling with a good q stays within a fraction of a nat.

# %%
def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # one independent stream per section, so that --quick changes sizes, not draws
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(3)]
    t0 = time.perf_counter()
    print(f"Chapter 2 — latent variable models ({'quick' if args.quick else 'full'} run, "
          f"seed {args.seed}); figures go to {out}/\n")
    gm = GaussianMixture.example_11_5()
    mixture, fig1 = the_mixture(gm, rngs[0], n=600 if args.quick else 3000, out=out)
    estimators, fig2 = naive_vs_importance(gm, rngs[1], draws=20_000 if args.quick else 200_000,
                                           reps=1000 if args.quick else 10_000, out=out)
    dims, fig3 = dimension(rngs[2], dims=(1, 2, 4, 8, 16), reps=10 if args.quick else 100, out=out)
    results = {"chapter": CHAPTER, "quick": args.quick, "seed": args.seed, "mixture": mixture,
               "estimators": estimators, "dimension": dims, "figures": [fig1, fig2, fig3],
               "seconds": time.perf_counter() - t0}
    naive_a = next(r for r in estimators["per_draw"]
                   if r["point"] == "near μ_A" and r["proposal"].startswith("naive"))
    d16 = dims[-1]
    results["summary"] = (f"near μ_A one naive draw has relative std "
                          f"{naive_a['rel_std_measured']:.2f} "
                          f"(exact {naive_a['rel_std_exact']:.2f}), "
                          f"the posterior 0; at D = {d16['D']} naive log p̂ is off by "
                          f"{d16['naive_bias']:.1f} nats, IS with q = posterior by "
                          f"{abs(d16['posterior_bias']):.0e}")
    print(f"\nfigures: {', '.join(map(str, results['figures']))}")
    write_results(results, out)
    return results


if __name__ == "__main__":
    run_as_script(main)
