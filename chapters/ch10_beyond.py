# %% [markdown]
# # Chapter 10 — Beyond the ELBO: IWAE, β-VAE, KL annealing
#
# **Theory:** slides Concept 11.7 (IWAE), Concept 11.25 (β-VAE), Concept 11.23 (VQ-VAE);
# tutorial §4 (β annealed from 0 to 1); thesis eq. 2.7–2.9.
# **Code:** `vae_from_scratch/objectives.py` (`iwae`, `elbo(beta=…)`), `schedules.py`
# (`linear_beta_schedule`), `train.py` (`fit`), `viz/latent_space.py` (`active_units`,
# traversals).
#
# The ELBO is one choice of objective.  This chapter changes it in three ways and
# measures what each change does, on the Bernoulli VAE of chapter 7 (scikit-learn's 8×8
# digits, 8-dimensional z, MLP 64-256-8):
#
# 1. **IWAE** — average K importance weights inside the log: a bound that tightens as K
#    grows, to evaluate a model and to train one;
# 2. **β-VAE** — weigh the KL by β: a knob between reconstruction and compression;
# 3. **KL annealing** — let β rise from 0 to 1 during the first epochs.
#
# Run: `python chapters/ch10_beyond.py [--quick] [--out DIR]`, or open it as a notebook.

# %%
import os
import time
from pathlib import Path

# One BLAS thread: fast and reproducible on a shared 2-core machine (see chapter 6).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from vae_from_scratch.apps.chapter_tools import (parse_chapter_args, run_as_script,
                                                 write_results)
from vae_from_scratch.backend import get_backend, to_numpy
from vae_from_scratch.data import load_for_vae
from vae_from_scratch.viz.latent_space import (active_units, decode_mean,
                                           latent_traversal, posterior_means, save_traversal)
from vae_from_scratch.models import mlp_vae
from vae_from_scratch.objectives import iwae
from vae_from_scratch.schedules import linear_beta_schedule
from vae_from_scratch.optim import Adam
from vae_from_scratch.viz.plots import pyplot, save_figure, save_image_grid, save_image_rows
from vae_from_scratch.train import evaluate_elbo, fit
from vae_from_scratch.models.vq_vae import mlp_vqvae, perplexity


def parse_args(argv=None):
    return parse_chapter_args(argv, "ch10", "Chapter 10: IWAE, β-VAE, KL annealing",
                              "fewer epochs and settings", backend=True)


def load_data(seed):
    """Digits as `data.load_for_vae` gives them (as in chapter 7): grey training images
    (binarized afresh per minibatch by `fit`), one fixed binarization of the validation
    and test images, and the grey splits."""
    grey, binary = load_for_vae("digits", rng=np.random.default_rng(seed))
    return (*(s.images for s in binary), grey)


def new_vae(bk, x_train, seed):
    vae = mlp_vae((1, 8, 8), latent_dim=8, hidden=(256,), likelihood="bernoulli",
                  rng=np.random.default_rng(seed), backend=bk)
    vae.init_output_bias(x_train.mean(axis=0))
    return vae


def train(model, x_train, x_val, *, epochs, seed, beta=1.0):
    optimizer = Adam(model.params, model.grads, lr=1e-3)
    t0 = time.perf_counter()
    history = fit(model, optimizer, x_train, x_val, epochs=epochs, batch_size=50,
                  rng=np.random.default_rng(seed), beta=beta, quiet=True)
    return history, time.perf_counter() - t0


# %% [markdown]
# ## 1. The importance-weighted bound (slides Concept 11.7)
#
# log p(x) = log E_{z~q}[p(x|z) p(z) / q(z|x)].  The VAE moves the log inside the
# expectation — Jensen's inequality makes that the ELBO (thesis eq. 2.9), below log p(x)
# by KL(q(z|x) ‖ p(z|x)) (eq. 2.7).  The IWAE bound (Burda, Grosse, Salakhutdinov 2016)
# keeps K samples inside the log:
#
#   L_K(x) = E[ log (1/K) Σ_{k=1..K} w_k ],   w_k = p(x|z_k) p(z_k) / q(z_k|x),  z_k ~ q(z|x).
#
# L_1 is the ELBO, and L_1 ≤ L_5 ≤ L_50 ≤ … ≤ log p(x), with L_K → log p(x) as K → ∞
# (Burda et al., Theorem 1): more samples, a tighter bound, for the *same* model.  The cell
# trains chapter 7's VAE once and evaluates L_K on the 359 test digits for growing K.
#
# Two standard errors are printed.  The one of L_K itself (spread over the images / √N)
# mostly measures how different the digits are; the one that decides whether L_K rises
# is that of the *paired* difference L_K(x) − L_1(x), image by image.  The effective
# sample size 1/Σ w̃_k² of the normalised weights says how many of the K samples count.
#
# What the full run finds: L_1 ≈ −22.9, and the bound rises by 0.16 ± 0.05 nats at K = 5
# and 0.29 ± 0.05 at K = 50, then flattens (K = 500 adds 0.01): for this model log p(x)
# is only about 0.3 nats above the ELBO, so q(z|x) is close to the true posterior — the
# effective sample size stays near half of K.

# %%
def iwae_bounds(model, x, Ks, seed, batch_size=100):
    """Per-image L_K for each K (one independent draw of z per K), and the mean ESS."""
    bounds, ess = {}, {}
    for K in Ks:
        rng = np.random.default_rng(seed + K)
        per_image, ess_sum = [], 0.0
        for start in range(0, len(x), batch_size):
            xb = model.backend.asarray(x[start:start + batch_size])
            r = iwae(model, xb, K, rng=rng, grads=False)
            per_image.append(r.per_example)
            ess_sum += r.ess * len(xb)
        bounds[K] = np.concatenate(per_image).astype(np.float64)
        ess[K] = ess_sum / len(x)
    return bounds, ess


def report_bounds(bounds, ess, label):
    Ks = sorted(bounds)
    n = len(bounds[Ks[0]])
    print(f"{label}: test set, {n} images, nats per image")
    print(f"{'K':>5} {'L_K':>9} {'± s.e.':>7} {'L_K − L_1':>10} {'± s.e. (paired)':>16} "
          f"{'ESS':>7}")
    rows = {}
    for K in Ks:
        b = bounds[K]
        d = b - bounds[Ks[0]]
        se, se_d = b.std(ddof=1) / np.sqrt(n), d.std(ddof=1) / np.sqrt(n)
        rows[K] = {"bound": float(b.mean()), "se": float(se), "gain_over_K1": float(d.mean()),
                   "gain_se": float(se_d), "ess": float(ess[K])}
        print(f"{K:>5} {b.mean():>9.3f} {se:>7.3f} {d.mean():>10.3f} {se_d:>16.3f} {ess[K]:>7.2f}")
    return rows


# %% [markdown]
# ### Training with the IWAE bound
#
# Slides 11.7 present IWAE as a training objective: maximise L_K instead of L_1.  Its
# gradient is Σ_k w̃_k ∇ log w_k, each sample weighted by its normalised importance
# weight w̃ = softmax(log w) (`objectives.iwae`).  Burda et al. report that IWAE-trained
# models reach a higher log-likelihood and use more latent dimensions, while their ELBO
# (L_1) can be lower — the encoder no longer has to make q(z|x) match p(z|x) closely,
# since the K weights correct for the mismatch.  The small class below only adapts
# `objectives.iwae` to the interface `fit` expects; the validation numbers `fit` records
# stay the ELBO.
#
# Measured (full run): the L_5-trained model has the lower ELBO (−23.5 against −22.9) but
# the higher L_500, by 0.19 ± 0.04 nats (paired standard error) — Burda et al.'s finding,
# on a small scale.  Both models use all 8 latent dimensions, so the "more active units"
# part cannot show here.

# %%
class IWAEObjective:
    """A VAE trained by `fit` on −L_K instead of −ELBO (slides Concept 11.7)."""

    def __init__(self, vae, K):
        self.vae, self.K = vae, int(K)
        self.params, self.grads = vae.params, vae.grads
        self.backend, self.dtype = vae.backend, vae.dtype

    def loss_and_grads(self, x, rng=None, beta=1.0):
        result = iwae(self.vae, x, self.K, rng=rng)          # fills the VAE's gradients
        result.metrics = lambda: {f"iwae{self.K}": result.bound}
        return result

    def evaluate(self, x, rng):
        return self.vae.evaluate(x, rng)                     # the ELBO, as for any VAE

    def config(self):
        return {**self.vae.config(), "objective": f"iwae{self.K}"}


def iwae_section(bk, data, args, out, epochs):
    x_train, x_val, x_test, _ = data
    Ks = (1, 5, 50) if args.quick else (1, 5, 50, 500)
    elbo_vae = new_vae(bk, x_train, args.seed + 1)
    _, seconds = train(elbo_vae, x_train, x_val, epochs=epochs, seed=args.seed + 3)
    print(f"VAE trained on the ELBO, {epochs} epochs ({seconds:.1f} s)")
    bounds, ess = iwae_bounds(elbo_vae, x_test, Ks, args.seed + 10)
    rows = report_bounds(bounds, ess, "model trained on the ELBO (L_1)")
    rising = all(rows[a]["gain_over_K1"] < rows[b]["gain_over_K1"]
                 for a, b in zip(Ks[:-1], Ks[1:]))
    print(f"L_K rises with K: {rising}")

    K_train = 5
    iw_vae = new_vae(bk, x_train, args.seed + 1)
    _, seconds_iw = train(IWAEObjective(iw_vae, K_train), x_train, x_val, epochs=epochs,
                          seed=args.seed + 3)
    print(f"\nthe same VAE trained on L_{K_train}, {epochs} epochs ({seconds_iw:.1f} s)")
    bounds_iw, ess_iw = iwae_bounds(iw_vae, x_test, Ks, args.seed + 10)
    rows_iw = report_bounds(bounds_iw, ess_iw, f"model trained on L_{K_train}")
    K_max = Ks[-1]
    comparison = {}
    print(f"\n{'trained on':<12} {'ELBO (L_1)':>10} {f'L_{K_max} ≈ log p(x)':>18} {'KL':>6} "
          f"{'active units':>13}")
    for name, vae, rws in (("ELBO", elbo_vae, rows), (f"L_{K_train}", iw_vae, rows_iw)):
        mu, _ = posterior_means(vae, x_test)
        kl = evaluate_elbo(vae, x_test, np.random.default_rng(args.seed + 20))["kl"]
        comparison[name] = {"L1": rws[1]["bound"], f"L{K_max}": rws[K_max]["bound"], "kl": kl,
                            "active_units": active_units(mu)[0]}
        print(f"{name:<12} {rws[1]['bound']:>10.3f} {rws[K_max]['bound']:>18.3f} {kl:>6.2f} "
              f"{comparison[name]['active_units']:>13}")
    diff = bounds_iw[K_max] - bounds[K_max]
    print(f"L_{K_max} of the L_{K_train}-trained model minus the ELBO-trained one: "
          f"{diff.mean():+.3f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.3f} nats (paired s.e.)")
    _plot_bounds(rows, rows_iw, K_train, out / "iwae_bound.png")
    return {"elbo_trained": rows, f"iwae{K_train}_trained": rows_iw, "rising": rising,
            "comparison": comparison,
            f"L{K_max}_difference": [float(diff.mean()),
                                     float(diff.std(ddof=1) / np.sqrt(len(diff)))]}


def _plot_bounds(rows, rows_iw, K_train, path):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.4, 3.6))
    for r, label, m in ((rows, "trained on the ELBO", "o-"),
                        (rows_iw, f"trained on L_{K_train}", "s-")):
        Ks = sorted(r)
        axes[0].errorbar(Ks, [r[k]["bound"] for k in Ks], yerr=[r[k]["se"] for k in Ks],
                         fmt=m, capsize=3, label=label)
        axes[1].errorbar(Ks, [r[k]["gain_over_K1"] for k in Ks],
                         yerr=[r[k]["gain_se"] for k in Ks], fmt=m, capsize=3, label=label)
    axes[0].set(xscale="log", xlabel="K", ylabel="nats per image",
                title="L_K on the test digits (± s.e.)")
    axes[1].set(xscale="log", xlabel="K", ylabel="nats per image",
                title="L_K − L_1, image by image (± paired s.e.)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(fig, path, fontsize=11,
                title="Slides Concept 11.7: the importance-weighted bound tightens as K grows")


# %% [markdown]
# ## 2. β-VAE (slides Concept 11.25)
#
# The β-VAE maximises E_q[log p(x|z)] − β · KL(q(z|x) ‖ p(z)); β = 1 is the VAE.  β > 1
# makes every nat of information in z dearer, β < 1 cheaper.  Information theory reads the
# two terms as *distortion* (−E log p(x|z), nats the decoder still needs) and *rate* (KL,
# nats the code carries); β picks a point on the trade-off between them, and the ELBO
# (β = 1) is their sum with a minus sign.  (For a Gaussian decoder with fixed σ², β acts
# like scaling σ²: chapter 7's σ² experiment is the same knob.)  Higgins et al. observed
# "better feature disentanglement" for β > 1; the digits come without ground-truth
# factors, so here we measure the trade-off and only look at the traversals.
#
# The cell trains the VAE for several β (`fit(…, beta=β)`, `objectives.elbo(beta=…)`),
# and reports on the test digits the rate, the distortion, the ELBO (the β = 1 objective,
# for every model) and the active units.
#
# Measured (full run): from β = 0.25 to 8 the rate falls from about 12 nats to 0 and the
# distortion rises from about 14 to 27 nats.  The ELBO is highest at β = 1, as it must be:
# β = 1 is the objective it measures.  At β = 2 only 4 of the 8 dimensions stay active,
# and each of them morphs the digit between two classes in the traversal; from β = 4 on
# no dimension is active and every image decodes to the mean digit — the KL's price is
# then higher than anything z could buy.

# %%
def beta_section(bk, data, args, out, epochs):
    x_train, x_val, x_test, _ = data
    betas = (0.5, 1.0, 4.0) if args.quick else (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    rows, models = {}, {}
    print(f"{'β':>5} {'rate: KL':>9} {'distortion: −E log p(x|z)':>26} {'ELBO (β = 1)':>13} "
          f"{'active units':>13}")
    for beta in betas:
        vae = new_vae(bk, x_train, args.seed + 1)
        train(vae, x_train, x_val, epochs=epochs, seed=args.seed + 3, beta=beta)
        test = evaluate_elbo(vae, x_test, np.random.default_rng(args.seed + 20))
        mu, _ = posterior_means(vae, x_test)
        n_active, activity = active_units(mu)
        rows[beta] = {"kl": test["kl"], "distortion": -test["reconstruction"],
                      "elbo": test["elbo"], "active_units": n_active,
                      "activity": activity.tolist()}
        models[beta] = vae
        print(f"{beta:>5g} {test['kl']:>9.2f} {-test['reconstruction']:>26.2f} "
              f"{test['elbo']:>13.2f} {n_active:>13}")
    kls = [rows[b]["kl"] for b in betas]
    monotone = all(a >= b - 0.01 for a, b in zip(kls[:-1], kls[1:]))
    best = max(betas, key=lambda b: rows[b]["elbo"])
    collapsed = [b for b in betas if rows[b]["active_units"] == 0]
    print(f"rate never rises with β: {monotone}; the highest ELBO comes from β = {best:g}; "
          f"no active unit left at β = {', '.join(f'{b:g}' for b in collapsed) or '—'}")
    _plot_beta(rows, out / "beta_vae.png")
    values = np.linspace(-2.5, 2.5, 9)
    # traversals: β = 1, and the largest β > 1 that still uses z (larger ones collapse)
    kept = [b for b in betas if b > 1 and rows[b]["active_units"] > 0]
    for beta in [1.0] + ([max(kept)] if kept else []):
        vae = models[beta]
        order = np.argsort(rows[beta]["activity"])[::-1]         # most active dimension first
        z = latent_traversal(8, values, dims=order)
        save_traversal(decode_mean(vae, z), values, out / f"traversal_beta{beta:g}.png",
                       row_labels=[f"z{d + 1} (A={rows[beta]['activity'][d]:.2f})" for d in order],
                       title=f"β = {beta:g}: one dimension at a time from z = 0, most active first")
    return {"rows": {str(b): r for b, r in rows.items()}, "rate_never_rises_with_beta": monotone,
            "best_elbo_beta": best, "collapsed_betas": collapsed}, models[1.0]


def _annotate_betas(ax, points, **kw):
    """Label the β of each point; points that coincide (collapsed models) share a label."""
    groups = {}
    for b, x, y in points:
        groups.setdefault((round(x, 1), round(y, 1)), []).append((b, x, y))
    for group in groups.values():
        label = "β=" + ", ".join(f"{b:g}" for b, _, _ in group)
        ax.annotate(label, group[0][1:], textcoords="offset points", fontsize=8, **kw)


def _plot_beta(rows, path):
    plt = pyplot()
    betas = sorted(rows)
    fig, axes = plt.subplots(1, 2, figsize=(9.4, 3.6))
    rate = [rows[b]["kl"] for b in betas]
    dist = [rows[b]["distortion"] for b in betas]
    axes[0].plot(rate, dist, "o-")
    _annotate_betas(axes[0], zip(betas, rate, dist), xytext=(5, 4))
    axes[0].set(xlabel="rate: KL(q(z|x) ‖ p(z)) (nats)", ylabel="distortion: −E log p(x|z) (nats)",
                title="the trade-off β chooses")
    axes[1].plot(betas, [rows[b]["elbo"] for b in betas], "o-", label="ELBO (β = 1 objective)")
    axes[1].set(xscale="log", xlabel="β", ylabel="nats per image", title="test ELBO")
    axes[1].set_xticks(betas)
    axes[1].set_xticklabels([f"{b:g}" for b in betas])
    axes[1].minorticks_off()
    ax2 = axes[1].twinx()
    ax2.plot(betas, [rows[b]["active_units"] for b in betas], "s--", color="C1",
             label="active units")
    ax2.set_ylabel("active units (of 8)", color="C1")
    ax2.set_ylim(0, 8.5)
    axes[1].legend(fontsize=8, loc="lower left")
    ax2.legend(fontsize=8, loc="lower right")
    for ax in axes:
        ax.grid(alpha=0.3)
    save_figure(fig, path, fontsize=11,
                title="Slides Concept 11.25: β-VAE on the digits (test set)")


# %% [markdown]
# ## 3. KL annealing (tutorial §4)
#
# The tutorial's conclusion notes a complication: training "got stuck at the beginning
# of training in a minimum due to minimization of DKL", and the cure is "parameter beta
# in front of DKL to be annealed from 0 to 1 in the first few epochs" (Bowman et al.,
# "Generating sentences from a continuous space"; the Ladder VAE).  Early on the decoder
# is poor, so information in z buys little reconstruction, while the KL charges for it
# at once: the cheapest move is q(z|x) = p(z) — posterior collapse — and a decoder that
# has learned to ignore z gives the encoder no reason to come back.  With β small at
# first, the encoder can put information into z before the KL's full price applies.
#
# `linear_beta_schedule(n)` raises β linearly from 0 to 1 over n optimizer steps, and `fit`
# takes it as `beta`.  The cell trains the VAE with β = 1 throughout and with a warm-up,
# records the validation KL every epoch, and reports the test ELBO, KL and active units at
# the end, over three seeds (full mode).  Three decoders: chapter 7's Bernoulli VAE, a
# Gaussian decoder with σ² = 0.2, which leaves some dimensions inactive, and one with
# σ² = 1 — the setting in which chapter 7 saw z collapse completely.
#
# What the full run finds: the warm-up changes the path, not the destination.  While β is
# small the KL shoots up (to about 17 nats for the Bernoulli VAE, against 5 at the end),
# then falls back as β reaches 1; 300 epochs later the test ELBO is the same as without
# annealing to within its seed-to-seed spread (differences of a few hundredths of a nat,
# ± 0.03), with perhaps half an active unit more at σ² = 0.2.  At σ² = 1 the warm-up
# fills z with 8 nats of information and training empties it again: there, collapse is
# the optimum of the ELBO, not a trap that annealing could help out of.  The tutorial's
# complication is real for decoders that can model x without z — the autoregressive
# decoders of "Generating sentences from a continuous space" — but a decoder whose pixels
# are independent given z, like ours, always gains from z, and reaches the same solution
# either way.

# %%
def annealing_section(bk, data, args, out, epochs):
    x_train, x_val, x_test, splits = data
    steps_per_epoch = -(-len(x_train) // 50)
    warmup_epochs = max(2, epochs // 6)
    schedule = linear_beta_schedule(warmup_epochs * steps_per_epoch)
    seeds = [args.seed] if args.quick else [args.seed + i for i in range(3)]
    print(f"warm-up: β from 0 to 1 over the first {warmup_epochs} epochs "
          f"({warmup_epochs * steps_per_epoch} steps), then 1; {len(seeds)} seed(s) per setting")
    grey = (splits.train.images, splits.val.images, splits.test.images)
    settings = {"Bernoulli": ("bernoulli", 1.0, (x_train, x_val, x_test)),
                "Gaussian σ² = 0.2": ("gaussian", 0.2, grey),
                "Gaussian σ² = 1": ("gaussian", 1.0, grey)}
    rows, curves = {}, {}
    print(f"{'decoder':<18} {'β':<9} {'test ELBO':>16} {'KL':>13} {'active units':>13} "
          f"{'peak val. KL':>13}")
    for name, (likelihood, var, (xt, xv, xs)) in settings.items():
        per = {}
        for label, beta in (("constant", 1.0), ("warm-up", schedule)):
            runs = []
            for seed in seeds:
                vae = mlp_vae((1, 8, 8), latent_dim=8, hidden=(256,), likelihood=likelihood,
                              decoder_var=var, rng=np.random.default_rng(seed + 1), backend=bk)
                if likelihood == "bernoulli":
                    vae.init_output_bias(xt.mean(axis=0))
                optimizer = Adam(vae.params, vae.grads, lr=1e-3)
                history = fit(vae, optimizer, xt, xv, epochs=epochs, batch_size=50,
                              rng=np.random.default_rng(seed + 3), beta=beta, quiet=True,
                              binarize="dynamic" if likelihood == "bernoulli" else None)
                test = evaluate_elbo(vae, xs, np.random.default_rng(seed + 20))
                mu, _ = posterior_means(vae, xs)
                runs.append({"elbo": test["elbo"], "kl": test["kl"],
                             "active_units": active_units(mu)[0],
                             "peak_val_kl": max(history["val_kl"])})
                if seed == seeds[0]:
                    curves[f"{name}, {label}"] = (history["epoch"], history["val_kl"])
            per[label] = runs
            key = f"{name}, {label}"
            rows[key] = {k: [r[k] for r in runs] for k in runs[0]}
            print(f"{name:<18} {label:<9} {_mean_sd([r['elbo'] for r in runs]):>16} "
                  f"{_mean_sd([r['kl'] for r in runs]):>13} "
                  f"{_mean_sd([r['active_units'] for r in runs], '.1f'):>13} "
                  f"{_mean_sd([r['peak_val_kl'] for r in runs], '.1f'):>13}")
        diff = np.array([w["elbo"] - c["elbo"] for w, c in zip(per["warm-up"], per["constant"])])
        rows[f"{name}, ELBO warm-up − constant"] = diff.tolist()
        se = (f" ± {diff.std(ddof=1) / np.sqrt(len(diff)):.3f} (s.e.)" if len(diff) > 1 else "")
        print(f"{'':<18} warm-up − constant, same seed(s): ELBO {diff.mean():+.3f}{se}")
    if len(seeds) > 1:
        print("(mean ± standard deviation over the seeds)")
    _plot_annealing(curves, warmup_epochs, out / "kl_annealing.png")
    return {"rows": rows, "warmup_epochs": warmup_epochs, "seeds": seeds}


def _mean_sd(values, fmt=".2f"):
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(values.mean(), fmt)} ± {format(values.std(ddof=1), fmt)}"


def _plot_annealing(curves, warmup_epochs, path):
    plt = pyplot()
    names = sorted({k.split(",")[0] for k in curves})
    fig, axes = plt.subplots(1, len(names), figsize=(4.8 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        for key, (ep, kl) in curves.items():
            if key.startswith(name):
                ax.plot(ep, kl, label=key.split(", ")[1])
        ax.axvline(warmup_epochs, color="k", ls=":", lw=1, label="end of warm-up")
        ax.set(xlabel="epoch", ylabel="validation KL (nats per image)", title=name,
               xscale="log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(fig, path, fontsize=11,
                title="Tutorial §4: KL annealing — the KL term during training")


# %% [markdown]
# ## 4. VQ-VAE: a discrete code (slides Concept 11.23)
#
# The slides close with the VQ-VAE (van den Oord, Vinyals, Kavukcuoglu 2017).  Its encoder
# outputs M vectors z_e,m ∈ R^D, and each is replaced by the nearest of K learned code
# vectors e_k: the code of an image is M symbols out of K.  The argmin has no gradient,
# so the decoder's gradient is copied straight through to z_e, and two squared distances
# pull the codebook towards the encoder's outputs (codebook loss) and the encoder towards
# its codes (commitment loss, weight 0.25).  The project's implementation, with its
# gradient checks, is `vae_from_scratch/models/vq_vae.py` (tests in `tests/test_vq.py`).
#
# Read as a latent-variable model, q(k|x) is a point mass and the prior is uniform over
# the K^M code tuples, so the KL — the rate — is exactly M log K nats for every image,
# fixed by the architecture instead of learned, and ELBO = log p(x|z_q) − M log K.  That
# puts a VQ-VAE on the same rate–distortion plane as the β-VAEs of section 2.  The paper
# then fits a second, autoregressive prior over the codes; with the uniform prior kept
# here, samples (random codes) show what the uniform prior gets wrong.
#
# Measured (full run, three codebooks): every code is used (perplexity close to K).
# With M = 8 symbols out of K = 4 (16 bits, 11.1 nats) the VQ-VAE reconstructs with a
# distortion of about 13.2 nats, *below* the β-VAE curve at the same rate (about 14.2
# nats, between β = 0.5 and 0.25); the other two codebooks (4 × 16 and 2 × 64) lie half a
# nat to a nat above it.  At equal rate a discrete code does about as well as a Gaussian
# one here, and many small symbols beat few large ones.  The ELBO of the best VQ-VAE
# (about −24.3) is still below the VAE's −22.9, because
# its rate is fixed at 11 nats while the ELBO's best trade-off lies near 5; and its
# samples from random codes look like scrambled digits — the code tuples of real digits
# are far from uniform, which is what the learned prior of the paper is for.

# %%
VQ_CONFIGS = ((8, 4, 2), (4, 16, 2), (2, 64, 4))      # (M latents, K codes, code dimension D)


def vq_section(bk, data, args, out, epochs, beta_rows, vae):
    x_train, x_val, x_test, _ = data
    configs = VQ_CONFIGS[:1] if args.quick else VQ_CONFIGS
    rows, models = {}, {}
    print(f"{'M × K codes (D)':<16} {'rate = M log K':>14} {'distortion':>11} {'ELBO':>8} "
          f"{'perplexity':>10} {'codes used':>10}")
    for M, K, D in configs:
        model = mlp_vqvae((1, 8, 8), num_latents=M, code_dim=D, num_codes=K, hidden=(256,),
                          rng=np.random.default_rng(args.seed + 1), backend=bk)
        model.init_output_bias(x_train.mean(axis=0))
        _, seconds = train(model, x_train, x_val, epochs=epochs, seed=args.seed + 3)
        test = evaluate_elbo(model, x_test, np.random.default_rng(args.seed + 20))
        _, _, idx = model.encode(bk.asarray(x_test))
        idx = to_numpy(idx)
        key = f"{M}x{K}"
        rows[key] = {"M": M, "K": K, "D": D, "rate": model.kl,
                     "distortion": -test["reconstruction"],
                     "elbo": test["elbo"], "perplexity": perplexity(idx, K),
                     "codes_used": int(len(np.unique(idx))), "seconds": seconds}
        models[key] = model
        r = rows[key]
        print(f"{f'{M} × {K} ({D})':<16} {r['rate']:>14.2f} {r['distortion']:>11.2f} "
              f"{r['elbo']:>8.2f} {r['perplexity']:>10.2f} {r['codes_used']:>7} / {K}")
    best = max(rows, key=lambda k: rows[k]["elbo"])
    b1 = beta_rows[1.0]
    print(f"Gaussian VAE (β = 1) for comparison: rate {b1['kl']:.2f}, distortion "
          f"{b1['distortion']:.2f}, ELBO {b1['elbo']:.2f}")
    _plot_rate_distortion(beta_rows, rows, out / "rate_distortion.png")
    fig_rng = np.random.default_rng(args.seed + 6)
    shown = x_test[:12]
    vq = models[best]
    save_image_rows([shown, to_numpy(vae.reconstruct(bk.asarray(shown), fig_rng)),
                     to_numpy(vq.reconstruct(bk.asarray(shown)))],
                    ["binary x", "VAE (β = 1)", f"VQ-VAE {best.replace('x', '×')}"],
                    out / "reconstructions_vq.png", title="Test digits and their reconstructions")
    save_image_grid(to_numpy(vq.sample(40, fig_rng)), out / "samples_vq.png", ncols=10,
                    title=f"VQ-VAE {best.replace('x', '×')}: E[x|codes], codes drawn uniformly")
    return {"rows": rows, "best": best}


def _plot_rate_distortion(beta_rows, vq_rows, path):
    plt = pyplot()
    betas = sorted(beta_rows)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ax.plot([beta_rows[b]["kl"] for b in betas], [beta_rows[b]["distortion"] for b in betas],
            "o-", label="Gaussian VAE, β-VAE (section 2)")
    _annotate_betas(ax, [(b, beta_rows[b]["kl"], beta_rows[b]["distortion"]) for b in betas],
                    xytext=(5, 5))
    ax.plot([r["rate"] for r in vq_rows.values()], [r["distortion"] for r in vq_rows.values()],
            "s", color="C3", label="VQ-VAE, rate = M log K")
    for k, r in vq_rows.items():
        ax.annotate(f"{r['M']}×{r['K']}", (r["rate"], r["distortion"]), textcoords="offset points",
                    xytext=(-12, -13), fontsize=8, color="C3")
    for elbo in (-23, -25, -27):                       # lines of constant ELBO: D = −ELBO − R
        r = np.linspace(0, 14, 2)
        ax.plot(r, -elbo - r, color="grey", lw=0.7, ls=":")
        ax.annotate(f"ELBO {elbo}", (13.9, -elbo - 13.9), fontsize=7, color="grey", ha="right",
                    va="top", rotation=-28)
    ax.set(xlabel="rate: KL (nats per image)", ylabel="distortion: −E log p(x|z) (nats)",
           title="Rate and distortion on the test digits", xlim=(-0.5, 14.5))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


# %% [markdown]
# ## Run everything
#
# Figures: `iwae_bound.png`, `beta_vae.png`, `traversal_beta1.png` and
# `traversal_beta<β>.png` (the largest β > 1 that still uses z: 2 in full mode),
# `kl_annealing.png`, `rate_distortion.png`, `reconstructions_vq.png`, `samples_vq.png`;
# and `results.json`.  Full mode takes about three minutes on two cores.

# %%
def main(argv=None):
    args = parse_args(argv)
    bk = get_backend(args.backend)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs = 30 if args.quick else 300
    print(f"chapter 10 ({'quick' if args.quick else 'full'} mode), backend {bk.name}, "
          f"{epochs} epochs per model; figures go to {out}/")
    t0 = time.perf_counter()
    data = load_data(args.seed)
    results = {"quick": bool(args.quick), "backend": bk.name, "epochs": epochs}
    print("\n== 1. IWAE (slides Concept 11.7)")
    results["iwae"] = iwae_section(bk, data, args, out, epochs)
    print("\n== 2. β-VAE (slides Concept 11.25)")
    results["beta_vae"], vae_beta1 = beta_section(bk, data, args, out, epochs)
    print("\n== 3. KL annealing (tutorial §4)")
    results["annealing"] = annealing_section(bk, data, args, out, epochs)
    print("\n== 4. VQ-VAE (slides Concept 11.23)")
    beta_rows = {float(b): r for b, r in results["beta_vae"]["rows"].items()}
    results["vq_vae"] = vq_section(bk, data, args, out, epochs, beta_rows, vae_beta1)
    results["seconds"] = time.perf_counter() - t0
    rows = results["iwae"]["elbo_trained"]
    K_max = max(rows)
    vq = results["vq_vae"]["rows"][results["vq_vae"]["best"]]
    results["summary"] = (
        f"L_1 {rows[1]['bound']:.2f} → L_{K_max} {rows[K_max]['bound']:.2f} "
        f"(+{rows[K_max]['gain_over_K1']:.2f} ± {rows[K_max]['gain_se']:.2f}); best ELBO at "
        f"β = {results['beta_vae']['best_elbo_beta']:g}; VQ-VAE {results['vq_vae']['best']}: "
        f"ELBO {vq['elbo']:.2f}, distortion {vq['distortion']:.2f} at rate {vq['rate']:.2f}")
    print(f"\nchapter 10 done in {results['seconds']:.1f} s; figures and results.json in {out}/")
    write_results(results, out)
    return results


if __name__ == "__main__":
    run_as_script(main)
