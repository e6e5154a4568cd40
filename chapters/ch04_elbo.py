# %% [markdown]
# # Chapter 4 — The evidence lower bound (ELBO)
#
# For any distribution q(z | x), the log-likelihood splits into two terms (thesis eq. 2.7,
# tutorial eq. 6–10):
#
#     log p(x) = E_q[ log p(x, z) − log q(z | x) ] + KL( q(z | x) ‖ p(z | x) )
#              =            ELBO(q)               +       the gap
#
# Since the KL is ≥ 0 (chapter 3), the first term is a lower bound on log p(x) — the
# ELBO, or variational lower bound (thesis eq. 2.8–2.9; slides Definition 11.13,
# Concept 11.14) — and the gap between the two is exactly KL(q ‖ p(z|x)) (thesis §2.4:
# "it is also the gap between ELBO and log p(x)").  The bound is tight when q equals the
# posterior (slides Concept 11.15).
#
# In a VAE neither log p(x) nor p(z|x) can be computed, so the identity cannot be
# checked there.  Here we take a model where both are exact — the linear-Gaussian model
# z ~ N(0, I), x | z ~ N(Wz + b, σ²I) of `models/toy.py` — and run the library's own
# `objectives.elbo` on it, as a VAE whose decoder is that model:
#
# 1. for several q, the Monte Carlo ELBO from `objectives.elbo`, its gap to the exact
#    log p(x), and the exact KL(q ‖ p(z|x)): the gap equals the KL within Monte Carlo error;
# 2. when q can equal the posterior, the gap is 0 and every single-sample ELBO equals
#    log p(x) — an estimator with zero variance;
# 3. maximizing the ELBO over an encoder q_φ(z|x) (slides Concept 11.11) drives the KL
#    down to the smallest value a diagonal Gaussian can reach; the ELBO and the KL move by
#    the same amount at every step, since their sum log p(x) does not depend on q.

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
from vae_from_scratch.objectives import elbo
from vae_from_scratch.optim import Adam
from vae_from_scratch.schedules import cosine_decay
from vae_from_scratch.models.toy import LinearGaussianModel

CHAPTER = "ch04"


def parse_args(argv=None):
    return parse_chapter_args(argv, "ch04", "Chapter 4: the ELBO",
                              "fewer draws and steps, a few seconds")


def ellipse(mean, cov, k=2.0, n=200):
    """The k-standard-deviation contour of N(mean, cov) in 2-D, as (n, 2) points."""
    vals, vecs = np.linalg.eigh(cov)
    t = np.linspace(0, 2 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)
    return mean + k * (circle * np.sqrt(vals)) @ vecs.T


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

# %%
def setup(rng):
    model = LinearGaussianModel.random(5, 2, np.random.default_rng(0), noise_var=0.5)
    x, _ = model.sample(1, rng)
    m, S = model.posterior(x)
    rho = S[0, 1] / math.sqrt(S[0, 0] * S[1, 1])
    mu_best, logvar_best = model.best_diagonal_q(x)
    floor = float(model.kl_to_posterior(x, mu_best, logvar_best)[0])
    print(f"x = {np.array2string(x[0], precision=3)}; exact log p(x) = "
          f"{model.log_marginal(x)[0]:.5f}")
    print(f"posterior p(z|x): mean {np.array2string(m[0], precision=4)}, standard deviations "
          f"{np.array2string(np.sqrt(np.diag(S)), precision=4)}, correlation ρ = {rho:.4f}")
    print(f"best diagonal q: standard deviations "
          f"{np.array2string(np.exp(0.5 * logvar_best[0]), precision=4)}; its KL to the "
          f"posterior {floor:.5f} = −½ log(1 − ρ²) = {-0.5 * math.log(1 - rho * rho):.5f}")
    return model, x, {"rho": float(rho), "kl_floor": floor,
                      "log_p_x": float(model.log_marginal(x)[0])}


# %% [markdown]
# ## 1. The gap between log p(x) and the ELBO is KL(q ‖ p(z|x))
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
# gives n independent single-sample ELBOs (`per_example`), whose mean estimates the ELBO with
# standard error SE = std/√n.  Two estimators, both unbiased (chapter 5 compares their
# gradients):
#
# - kl="mc": log p(x|z) + log p(z) − log q(z|x) at z ~ q, the thesis's form (eq. 2.9, 2.16);
# - kl="analytic": log p(x|z) − KL(q ‖ p(z)) with the closed-form KL (eq. 2.10, tutorial
#   eq. 22).
#
# Replacing a sampled term by its expectation is often said to reduce the variance, and
# far from the posterior (q = prior) the two are about equally noisy here.  But near the
# posterior the kl="mc" form wins: its terms cancel — section 2 shows that they are exactly
# constant when q = p(z|x) — while kl="analytic" keeps the full noise of log p(x|z).
#
# We compare log p(x) − ELBO with the exact KL(q ‖ p(z|x)) (`models.toy.gaussian_kl`).

# %%
def gap_equals_kl(model, x, rng, n, out):
    m, S = model.posterior(x)
    mu_best, logvar_best = model.best_diagonal_q(x)
    qs = {"prior N(0, I)": (np.zeros(2), np.zeros(2)),
          "posterior marginals": (m[0], np.log(np.diag(S))),
          "best diagonal": (mu_best[0], logvar_best[0]),
          "best, mean moved": (mu_best[0] + np.array([0.3, -0.3]), logvar_best[0])}
    log_px = float(model.log_marginal(x)[0])
    xs = np.repeat(x, n, axis=0)
    rows = []
    print(f"\nlog p(x) − ELBO against KL(q ‖ p(z|x)), ELBO from objectives.elbo with {n} draws:")
    print(f"{'q':>20} {'KL(q‖p(z|x))':>13} {'gap, kl=mc':>20} {'|Δ|/SE':>7} "
          f"{'gap, kl=analytic':>21} {'|Δ|/SE':>7} {'exact ELBO':>11}")
    for name, (mu, logvar) in qs.items():
        vae = model.vae(model.constant_encoder(mu, logvar))
        kl = float(model.kl_to_posterior(x, mu[None], logvar[None])[0])
        row = {"q": name, "kl_to_posterior": kl,
               "elbo_exact": float(model.elbo(x, mu[None], logvar[None])[0])}
        cells = []
        for form in ("mc", "analytic"):
            draws = elbo(vae, xs, rng=rng, kl=form, grads=False).per_example
            est, se = float(draws.mean()), float(draws.std(ddof=1) / math.sqrt(n))
            row[f"gap_{form}"], row[f"se_{form}"] = log_px - est, se
            row[f"z_{form}"] = abs(log_px - est - kl) / se
            cells.append(f"{log_px - est:10.5f} ± {se:.5f} {row[f'z_{form}']:7.2f}")
        rows.append(row)
        print(f"{name:>20} {kl:13.5f} {cells[0]:>28} {cells[1]:>29} {row['elbo_exact']:11.5f}")

    fig, ax = plt.subplots(figsize=(6, 5.2))
    for k, lw in ((1, 1.0), (2, 2.2)):
        e = ellipse(m[0], S, k)
        ax.plot(e[:, 0], e[:, 1], "k-", lw=lw, label=f"posterior p(z|x), {k} sd")
    for (name, (mu, logvar)), c in zip(qs.items(), ("tab:gray", "tab:blue", "tab:green",
                                                    "tab:orange")):
        e = ellipse(mu, np.diag(np.exp(logvar)), 2.0)
        kl = next(r["kl_to_posterior"] for r in rows if r["q"] == name)
        ax.plot(e[:, 0], e[:, 1], "--", color=c, lw=1.6, label=f"q: {name} (KL {kl:.3f})")
    ax.set_aspect("equal")
    ax.set_xlabel("z₁")
    ax.set_ylabel("z₂")
    ax.set_title("the posterior and four diagonal q (2 sd)")
    ax.legend(fontsize=8, loc="lower left")
    return rows, save_figure(fig, out / "posterior_and_q.png", dpi=110)


# %% [markdown]
# ## 2. A tight bound: when q is the posterior (slides Concept 11.15)
#
# If the columns of W are orthogonal, WᵀW is diagonal and so is the posterior; the best
# diagonal q *is* p(z|x).  Then log p(x, z) − log q(z|x) = log p(x) for every z, so every
# single-sample ELBO equals log p(x) and the Monte Carlo estimate has no variance at all.

# %%
def tight_bound(rng, n):
    model = LinearGaussianModel.random(5, 2, np.random.default_rng(1), noise_var=0.5,
                                       orthogonal=True)
    x, _ = model.sample(1, rng)
    vae = model.vae(model.optimal_encoder())
    draws = elbo(vae, np.repeat(x, n, axis=0), rng=rng, kl="mc", grads=False).per_example
    log_px = float(model.log_marginal(x)[0])
    mu, logvar = model.best_diagonal_q(x)
    kl = float(model.kl_to_posterior(x, mu, logvar)[0])
    print(f"\northogonal columns: KL(q ‖ p(z|x)) = {kl:.2e}; log p(x) = {log_px:.10f}; "
          f"{n} single-sample ELBOs: mean {draws.mean():.10f}, std {draws.std():.1e}, "
          f"max |ELBO − log p(x)| = {np.abs(draws - log_px).max():.1e}")
    return {"kl": kl, "log_p_x": log_px, "elbo_mean": float(draws.mean()),
            "elbo_std": float(draws.std()), "max_abs_error": float(np.abs(draws - log_px).max())}


# %% [markdown]
# ## 3. Maximizing the ELBO minimizes the KL to the posterior
#
# Amortized inference (slides Concept 11.10; tutorial §2.2): one encoder
# q_φ(z|x) = N(μ_φ(x), diag(exp(logvar_φ(x)))) for all data points.  For this model the best
# diagonal q is an affine function of x, so an encoder with a single Dense layer (x → 2D,
# Glorot-initialised) can represent it.  We train that encoder on 500 points drawn from the
# model with Adam (learning rate from 0.05 down to 0.0005 along `optim.cosine_decay`), on
# the library's reparameterized ELBO gradient (`elbo(…)` with grads=True, minibatches of
# 50), while the decoder stays the true model.  After every few
# steps we compute, exactly, the mean over the 500 points of the ELBO (`models/toy.py`'s
# closed form), of KL(q_φ(z|x) ‖ p(z|x)), and of log p(x).  Slides Concept 11.11: the
# encoder's problem "minimize KL" and "maximize ELBO" are the same problem; the sum
# ELBO + KL stays at the mean log p(x) throughout, and the KL falls towards the mean of
# the floor −½ log(1 − ρ²) (the posterior covariance is the same for every x).

# %%
def train_encoder(model, rng, steps, out, n=500, batch=50, every=10):
    x, _ = model.sample(n, rng)
    vae = model.vae(model.random_encoder(rng))
    lr = cosine_decay(0.05, steps, final_lr=0.0005)                 # from 0.05 down to 0.0005
    opt = Adam(vae.encoder.params, vae.encoder.grads, lr=lr)        # the decoder stays fixed
    log_px = float(model.log_marginal(x).mean())
    mu_b, lv_b = model.best_diagonal_q(x)
    floor = float(model.kl_to_posterior(x, mu_b, lv_b).mean())
    hist = {"step": [], "elbo": [], "kl": [], "sum": []}

    def record(step):
        mu, logvar = vae.encoder_forward(x)
        hist["step"].append(step)
        hist["elbo"].append(float(model.elbo(x, mu, logvar).mean()))
        hist["kl"].append(float(model.kl_to_posterior(x, mu, logvar).mean()))
        hist["sum"].append(hist["elbo"][-1] + hist["kl"][-1])

    record(0)
    for step in range(1, steps + 1):
        idx = rng.choice(n, batch, replace=False)
        elbo(vae, x[idx], rng=rng, kl="analytic")                   # fills the gradients
        opt.step()
        if step % every == 0:
            record(step)
    mu, logvar = vae.encoder_forward(x[:1])
    drift = float(np.max(np.abs(np.array(hist["sum"]) - log_px)))
    print(f"\ntraining a Dense encoder by Adam (lr 0.05 → 0.0005, cosine) on the ELBO, {n} points, "
          f"{steps} steps:")
    print(f"{'step':>6} {'mean ELBO':>11} {'mean KL(q‖p(z|x))':>18} {'ELBO + KL':>11}")
    marks = sorted(set([0, 1, 2, 5, 10, 20, 50] + [len(hist['step']) - 1]))
    for i in (k for k in marks if k < len(hist["step"])):
        print(f"{hist['step'][i]:6d} {hist['elbo'][i]:11.5f} {hist['kl'][i]:18.5f} "
              f"{hist['sum'][i]:11.5f}")
    print(f"mean log p(x) = {log_px:.5f} (max |ELBO + KL − log p(x)| over the run: {drift:.1e}); "
          f"floor: mean KL of the best diagonal q = {floor:.5f}")
    print(f"learned standard deviations {np.array2string(np.exp(0.5 * logvar[0]), precision=4)} "
          f"vs best diagonal {np.array2string(np.exp(0.5 * lv_b[0]), precision=4)} vs posterior "
          f"marginals {np.array2string(np.sqrt(np.diag(model.posterior(x[:1])[1])), precision=4)}")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(hist["step"], hist["elbo"], label="mean ELBO (exact)")
    ax1.axhline(log_px, color="k", ls="--", lw=1, label="mean log p(x)")
    ax1.axhline(log_px - floor, color="tab:red", ls=":", lw=1.2,
                label="mean log p(x) − KL floor")
    ax1.set_ylim(log_px - 6, log_px + 0.5)
    ax1.set_xlabel("Adam step")
    ax1.set_ylabel("nats per example")
    ax1.set_title("the ELBO rises towards log p(x) − floor")
    ax1.legend(fontsize=8)
    ax2.semilogy(hist["step"], hist["kl"], label="mean KL(q ‖ p(z|x)) = log p(x) − ELBO")
    ax2.axhline(floor, color="tab:red", ls=":", lw=1.2, label="floor (best diagonal q)")
    ax2.set_xlabel("Adam step")
    ax2.set_ylabel("nats per example")
    ax2.set_title("… because the KL to the posterior falls")
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    return ({"mean_log_p_x": log_px, "kl_floor_mean": floor, "final_elbo": hist["elbo"][-1],
             "final_kl": hist["kl"][-1], "initial_kl": hist["kl"][0], "max_sum_drift": drift,
             "learned_std": np.exp(0.5 * logvar[0]).tolist(),
             "best_std": np.exp(0.5 * lv_b[0]).tolist()},
            save_figure(fig, out / "training.png", dpi=110))


# %% [markdown]
# ## Run everything
#
# What to look for: in every row of the first table the gap agrees with the exact KL
# within a few SE, for both estimators (the kl="mc" SE is the smaller one near the
# posterior); the best
# diagonal q has the smallest gap, equal to −½ log(1 − ρ²); with orthogonal columns the
# single-sample ELBO is log p(x) to round-off; in training, ELBO + KL = log p(x) at every
# step and the KL ends near its floor.

# %%
def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # one independent stream per section, so that --quick changes sizes, not draws
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(4)]
    t0 = time.perf_counter()
    print(f"Chapter 4 — the ELBO ({'quick' if args.quick else 'full'} run, seed {args.seed}); "
          f"figures go to {out}/\n")
    model, x, info = setup(rngs[0])
    gaps, fig1 = gap_equals_kl(model, x, rngs[1], n=20_000 if args.quick else 400_000, out=out)
    tight = tight_bound(rngs[2], n=1000)
    training, fig2 = train_encoder(model, rngs[3], steps=300 if args.quick else 1500, out=out)
    results = {"chapter": CHAPTER, "quick": args.quick, "seed": args.seed, "model": info,
               "gap_vs_kl": gaps, "tight_bound": tight, "training": training,
               "figures": [fig1, fig2], "seconds": time.perf_counter() - t0}
    worst = max(max(r["z_mc"], r["z_analytic"]) for r in gaps)
    results["summary"] = (f"log p(x) − ELBO = KL(q‖p(z|x)) within {worst:.1f} SE for all "
                          f"{len(gaps)} q; tight bound std {tight['elbo_std']:.0e}; trained "
                          f"encoder KL {training['final_kl']:.4f} vs floor "
                          f"{training['kl_floor_mean']:.4f}")
    print(f"\nfigures: {', '.join(map(str, results['figures']))}")
    write_results(results, out)
    return results


if __name__ == "__main__":
    run_as_script(main)
