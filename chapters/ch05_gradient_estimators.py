# %% [markdown]
# # Chapter 5 — Gradient estimators: reparameterization vs the log-derivative trick
#
# Training needs the gradient of the ELBO with respect to the encoder's parameters φ,
#
#     ∇_φ E_{q_φ(z|x)}[ f(z) ],    f(z) = log p(x, z) − log q_φ(z|x),
#
# and the expectation's distribution itself depends on φ.  So the gradient cannot simply
# be moved inside the expectation with z held fixed (thesis eq. 2.14).  Two ways around it,
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
# the same mean (both unbiased), and very different variances.

# %%
import math
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
from vae_from_scratch.distributions import DiagonalGaussian, StandardNormal
from vae_from_scratch.objectives import elbo
from vae_from_scratch.optim import Adam
from vae_from_scratch.models.toy import LinearGaussianModel

CHAPTER = "ch05"
ESTIMATORS = {"reparameterization": "RP", "score_function": "SF"}


def parse_args(argv=None):
    return parse_chapter_args(argv, "ch05", "Chapter 5: gradient estimators",
                              "fewer draws and steps, a few seconds")


# %% [markdown]
# ## 1. The change of variables behind the reparameterization (thesis eq. 2.19–2.20)
#
# For z = f(ε) = μ + σ ⊙ ε, the Jacobian ∂z/∂ε is diag(σ) (thesis eq. 2.27–2.28), so
#
#     log q(z | x) = log p(ε) − log |det ∂z/∂ε| = log p(ε) − Σ_j log σ_j      (eq. 2.29)
#                  = log p(ε) − ½ Σ_j logvar_j.
#
# The library computes log q(z|x) directly from z (`DiagonalGaussian.log_prob`, thesis
# eq. 2.30); both must agree for every ε.

# %%
def change_of_variables(rng):
    mu, logvar = rng.normal(0, 1, (4, 3)), rng.normal(0, 1, (4, 3))
    q = DiagonalGaussian(mu, logvar)
    eps = rng.standard_normal((4, 3))
    z = q.sample(eps=eps)                                          # z = μ + σ ⊙ ε
    direct = q.log_prob(z)
    via_eps = StandardNormal((4, 3), np.float64).log_prob(eps) - 0.5 * logvar.sum(axis=1)
    err = float(np.abs(direct - via_eps).max())
    print(f"log q(z|x) from z vs log p(ε) − ½ Σ logvar (eq. 2.29), 4 random q: "
          f"max |Δ| = {err:.1e}")
    return err


# %% [markdown]
# ## 2. Same mean, different variance
#
# The model is chapter 4's: z ∈ R², x ∈ R⁵, x | z ~ N(Wz + b, 0.5 I).  We fix one x and a
# q(z|x) = N(μ, diag(exp(logvar))) that is *not* optimal (μ = the posterior mean + (0.5,
# −0.5), logvar 0.5 above the best), so the gradient is not zero.  The encoder is a
# constant one (`constant_encoder(mu, logvar)`): its bias is (μ, logvar), and the gradient
# of the loss −mean(ELBO) with respect to the bias is minus the batch mean of the
# per-example gradients with respect to (μ, logvar).  We put x M = 100 times in a batch,
# call `elbo(…, kl="mc")` with both estimators *on the same ε*, and repeat R times.  The
# mean over all R · M draws estimates the gradient (with its standard error); the variance
# of a single draw is M times the variance of the R batch means.
#
# A third column shows what goes wrong with thesis eq. 2.14: differentiate
# log p(x, z) − log q(z|x) with z held fixed.  log p(x, z) then has no φ-dependence at all,
# and E_q[∇_φ log q] = 0, so this "estimator" averages to zero whatever the true gradient.

# %%
def setup():
    model = LinearGaussianModel.random(5, 2, np.random.default_rng(0), noise_var=0.5)
    x, _ = model.sample(1, np.random.default_rng(1))
    mu_best, logvar_best = model.best_diagonal_q(x)
    mu = mu_best[0] + np.array([0.5, -0.5])
    logvar = logvar_best[0] + 0.5
    return model, x, mu, logvar


def gradient_draws(model, x, mu, logvar, rng, reps, M=100, z_fixed=False):
    """R batch means of the per-example ELBO gradient w.r.t. (μ, logvar), for each estimator,
    on shared ε; and the decoder gradients of the two, compared.  Returns
    {name: (R, 2D)}, the largest decoder-gradient difference."""
    D = model.latent_dim
    vae = model.vae(model.constant_encoder(mu, logvar))
    xs = np.repeat(x, M, axis=0)
    out = {name: np.empty((reps, 2 * D)) for name in ESTIMATORS}
    if z_fixed:
        out["z held fixed"] = np.empty((reps, 2 * D))
    q = DiagonalGaussian(np.broadcast_to(mu, (M, D)), np.broadcast_to(logvar, (M, D)))
    dec_diff = 0.0
    for r in range(reps):
        eps = rng.standard_normal((M, D))
        decoder = {}
        for name in ESTIMATORS:
            elbo(vae, xs, eps=eps, kl="mc", estimator=name)
            out[name][r] = -vae.encoder.grads["b"]          # −∂loss/∂(μ, logvar) = mean ∇ELBO_i
            decoder[name] = {k: g.copy() for k, g in vae.decoder.grads.items()}
        dec_diff = max(dec_diff, max(float(np.abs(decoder["reparameterization"][k]
                                                  - decoder["score_function"][k]).max())
                                     for k in decoder["score_function"]))
        if z_fixed:
            # eq. 2.14's mistake: ∇_φ of (log p(x, z) − log q(z|x)) at fixed z = −∇_φ log q
            _, dmu, dlogvar = q.log_prob_backward(q.sample(eps=eps), -np.ones(M) / M)
            out["z held fixed"][r] = np.concatenate([dmu.sum(0), dlogvar.sum(0)])
    return out, dec_diff


def same_mean_different_variance(model, x, mu, logvar, rng, reps, M=100):
    exact = np.concatenate(model.elbo_grad(x, mu[None], logvar[None]), axis=1)[0]
    draws, dec_diff = gradient_draws(model, x, mu, logvar, rng, reps, M, z_fixed=True)
    n = reps * M
    names = ["∂/∂μ₁", "∂/∂μ₂", "∂/∂logvar₁", "∂/∂logvar₂"]
    rows = []
    print(f"\nELBO gradient for one x, {reps} × {M} = {n} draws per estimator (same ε for both); "
          f"mean ± SE, and the variance of one draw:")
    print(f"{'':>11} {'exact':>9} {'reparameterization':>20} {'score function':>20} "
          f"{'z held fixed':>18} {'var RP':>8} {'var SF':>8} {'SF/RP':>6}")
    for i, name in enumerate(names):
        row = {"component": name, "exact": float(exact[i])}
        cells = []
        for est, g in draws.items():
            mean = float(g[:, i].mean())
            var1 = float(g[:, i].var(ddof=1) * M)                  # one draw: M × var(batch mean)
            se = math.sqrt(var1 / n)
            key = ESTIMATORS.get(est, "fixed")
            row.update({f"{key}_mean": mean, f"{key}_se": se, f"{key}_var": var1,
                        f"{key}_z": abs(mean - exact[i]) / se if se > 0 else 0.0})
            cells.append(f"{mean:9.4f} ± {se:.4f}")
        row["var_ratio"] = row["SF_var"] / row["RP_var"]
        rows.append(row)
        print(f"{name:>11} {exact[i]:9.4f} {cells[0]:>20} {cells[1]:>20} {cells[2]:>18} "
              f"{row['RP_var']:8.3f} {row['SF_var']:8.1f} {row['var_ratio']:6.1f}")
    total = {k: float(sum(r[f"{k}_var"] for r in rows)) for k in ("RP", "SF")}
    worst = {k: max(r[f"{k}_z"] for r in rows) for k in ("RP", "SF")}
    print(f"|mean − exact| / SE at most {worst['RP']:.2f} (RP) and {worst['SF']:.2f} (SF); "
          f"z held fixed: {max(r['fixed_z'] for r in rows):.0f} SE off (its mean is 0)")
    print(f"total variance of one draw (sum over the 4 components): RP {total['RP']:.3f}, "
          f"SF {total['SF']:.1f}, ratio {total['SF'] / total['RP']:.1f}")
    print(f"decoder gradients of the two estimators on the same ε: max |Δ| = {dec_diff:.1e} "
          f"(∇_θ is backpropagation at the sampled z in both; slides 11.22)")
    return {"components": rows, "total_var_RP": total["RP"], "total_var_SF": total["SF"],
            "total_var_ratio": total["SF"] / total["RP"], "max_z_RP": worst["RP"],
            "max_z_SF": worst["SF"], "decoder_grad_max_diff": dec_diff}, draws


# %% [markdown]
# ## 3. The gap widens with the latent dimension
#
# The score-function estimator multiplies the whole sampled objective f(z) — a sum over all
# D latent and d data dimensions, with a spread that grows with them — by the score
# ∇ log q, one coordinate at a time.  Every coordinate's gradient therefore carries the
# noise of all the others.  The reparameterization gradient of one coordinate mostly sees
# how f changes along that coordinate.  We repeat the measurement for D = 1 … 16 (x ∈ R^(D+4),
# q again away from the optimum) and compare the total variance of one draw.

# %%
def variance_vs_dimension(rng, dims, reps, M=100):
    rows = []
    print(f"\ntotal variance of one gradient draw (sum over the 2D components), "
          f"{reps} × {M} draws:")
    print(f"{'D':>3} {'RP':>10} {'SF':>12} {'SF/RP':>8}")
    for D in dims:
        model = LinearGaussianModel.random(D + 4, D, np.random.default_rng(100 + D), noise_var=0.5)
        x, _ = model.sample(1, np.random.default_rng(200 + D))
        mu_b, lv_b = model.best_diagonal_q(x)
        draws, _ = gradient_draws(model, x, mu_b[0] + 0.5, lv_b[0] + 0.5, rng, reps, M)
        var = {ESTIMATORS[k]: float((g.var(axis=0, ddof=1) * M).sum()) for k, g in draws.items()}
        rows.append({"D": D, "var_RP": var["RP"], "var_SF": var["SF"],
                     "ratio": var["SF"] / var["RP"]})
        print(f"{D:3d} {var['RP']:10.3f} {var['SF']:12.1f} {var['SF'] / var['RP']:8.1f}")
    return rows


# %% [markdown]
# ## 4. What the variance does to training
#
# The same problem as in section 2 — maximize the ELBO over (μ, logvar) for one x, starting
# from the prior (μ = 0, logvar = 0) — with Adam (learning rate 0.05) on each estimator,
# with the *same* number of samples per step (M = 10).  The exact ELBO (closed form) is
# recorded at every step; the best reachable value is that of the best diagonal q.  Five
# runs per estimator with different ε.

# %%
def training(model, x, rng, steps, runs=5, M=10):
    D = model.latent_dim
    mu_b, lv_b = model.best_diagonal_q(x)
    best = float(model.elbo(x, mu_b, lv_b)[0])
    xs = np.repeat(x, M, axis=0)
    curves = {}
    for est in ESTIMATORS:
        curves[est] = np.empty((runs, steps + 1))
        for r in range(runs):
            enc = model.constant_encoder(np.zeros(D), np.zeros(D))
            vae = model.vae(enc)
            opt = Adam({"b": enc.params["b"]}, {"b": enc.grads["b"]}, lr=0.05)   # only (μ, logvar)
            for t in range(steps + 1):
                b = enc.params["b"]
                curves[est][r, t] = model.elbo(x, b[None, :D], b[None, D:])[0]
                if t < steps:
                    elbo(vae, xs, rng=rng, kl="mc", estimator=est)
                    opt.step()
    gap = {est: best - c for est, c in curves.items()}
    tail = max(1, steps // 5)
    print(f"\nAdam (lr 0.05), M = {M} samples per step, {runs} runs each, {steps} steps; "
          f"best reachable ELBO {best:.4f}:")
    summary = {}
    for est, g in gap.items():
        final = float(g[:, -tail:].mean())
        hit = [int(np.argmax(row < 0.05)) if np.any(row < 0.05) else None for row in g]
        summary[ESTIMATORS[est]] = {"final_gap": final,
                                    "steps_to_gap_0.05": hit}
        print(f"  {est:>18}: mean gap to the best ELBO over the last {tail} steps "
              f"{final:.4f} nats; first step with gap < 0.05: {hit}")
    return {"best_elbo": best, **summary}, curves, best


def figure(draws, exact_mu1, dims, curves, best, out):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    i = 0                                                        # ∂/∂μ₁
    g_sf = draws["score_function"][:, i]
    bins = np.linspace(g_sf.min(), g_sf.max(), 80)               # the same bins for both
    for est, g in draws.items():
        if est == "z held fixed":
            continue
        ax.hist(g[:, i], bins=bins, alpha=0.6, density=True,
                label=f"{est} (mean {g[:, i].mean():.3f})")
    ax.axvline(exact_mu1, color="k", ls="--", lw=1, label=f"exact {exact_mu1:.3f}")
    ax.set_xlabel("∂ELBO/∂μ₁, mean of 100 draws")
    ax.set_title("same mean, different spread")
    ax.legend(fontsize=8)
    ax = axes[1]
    D = [r["D"] for r in dims]
    ax.loglog(D, [r["var_RP"] for r in dims], "o-", label="reparameterization")
    ax.loglog(D, [r["var_SF"] for r in dims], "s-", label="score function")
    ax.set_xlabel("latent dimension D")
    ax.set_ylabel("total variance of one gradient draw")
    ax.set_title("variance against dimension")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax = axes[2]
    for (est, c), color in zip(curves.items(), ("tab:blue", "tab:orange")):
        for r, row in enumerate(c):
            ax.semilogy(np.maximum(best - row, 1e-6), color=color, lw=0.8, alpha=0.7,
                        label=est if r == 0 else None)
    ax.set_xlabel("Adam step")
    ax.set_ylabel("best ELBO − ELBO (nats)")
    ax.set_title("training q with each estimator (5 runs each)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out / "estimators.png", dpi=110)


# %% [markdown]
# ## Run everything
#
# What to look for: both estimators' means within a few SE of the exact gradient (and the
# z-held-fixed one far from it); identical decoder gradients; a score-function variance
# about 20 times the reparameterization one at D = 2, thousands of times at D = 16;
# and a training run that gets to the optimum much later with the score function.  The
# log-derivative trick is still what one uses when z cannot be reparameterized (discrete
# latents, VQ-VAE's codebook — slides 11.23); there, variance reduction (baselines, control
# variates) is the price of admission.

# %%
def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # one independent stream per section, so that --quick changes sizes, not draws
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(4)]
    t0 = time.perf_counter()
    print(f"Chapter 5 — gradient estimators ({'quick' if args.quick else 'full'} run, seed "
          f"{args.seed}); figures go to {out}/\n")
    cov_err = change_of_variables(rngs[0])
    model, x, mu, logvar = setup()
    grads, draws = same_mean_different_variance(model, x, mu, logvar, rngs[1],
                                                reps=300 if args.quick else 3000)
    dims = variance_vs_dimension(rngs[2], (1, 2, 4, 8, 16), reps=60 if args.quick else 400)
    train, curves, best = training(model, x, rngs[3], steps=150 if args.quick else 400)
    fig = figure(draws, grads["components"][0]["exact"], dims, curves, best, out)
    results = {"chapter": CHAPTER, "quick": args.quick, "seed": args.seed,
               "change_of_variables_max_err": cov_err, "gradient": grads, "dimension": dims,
               "training": train, "figures": [fig], "seconds": time.perf_counter() - t0}
    worst = max(grads["max_z_RP"], grads["max_z_SF"])
    results["summary"] = (f"both estimators unbiased (within {worst:.1f} SE of the exact "
                          f"gradient); score-function variance {grads['total_var_ratio']:.0f}× "
                          f"the reparameterization one at D = 2, {dims[-1]['ratio']:.0f}× at "
                          f"D = {dims[-1]['D']}")
    print(f"\nfigures: {fig}")
    write_results(results, out)
    return results


if __name__ == "__main__":
    run_as_script(main)
