# %% [markdown]
# # Chapter 7 — The variational autoencoder on real digits
#
# **Theory:** thesis §2.7 (eq. 2.25–2.31) and Algorithm 2; tutorial §3 (eq. 13, 14, 17–22,
# 35) and appendix C.2; slides Definition 11.17 and Concepts 11.18–11.20.
# **Code:** `vae_from_scratch/models/vae.py` (`mlp_vae`), `distributions.py`,
# `objectives.py` (`elbo`, `log_likelihood`), `train.py` (`fit`), `viz/latent_space.py`.
#
# The thesis completes the AEVB algorithm (§2.5) with three choices (§2.7.1): the
# decoder p_θ(x|z), the prior p(z) with its reparameterization, and the encoder
# q_φ(z|x).  The *standard instance* (slides Definition 11.17) takes
#
# - p(z) = N(0, I);
# - q_φ(z|x) = N(μ_φ(x), diag σ²_φ(x)), with μ and log σ² the outputs of a network
#   (thesis eq. 2.26; the project's networks output log σ², see docs/design.md,
#   "Conventions");
# - p_θ(x|z) a Bernoulli for binary data (eq. 2.31) or a Gaussian N(f_θ(z), σ²I) for
#   continuous data (eq. 2.30, slides 11.17), f_θ a network.
#
# This chapter trains that model on scikit-learn's 1797 handwritten 8×8 digits with both
# decoders, reports the test ELBO and an importance-sampled log p(x) in nats per image,
# splits the ELBO into its reconstruction and KL terms, and looks at the latent space.
#
# Run: `python chapters/ch07_vae.py [--quick] [--out DIR]`, or open it as a notebook.

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
from vae_from_scratch.data import binarize_static, load_for_vae
from vae_from_scratch.distributions import StandardNormal
from vae_from_scratch.viz.latent_space import (active_units, decode_mean, latent_grid,
                                           latent_traversal, posterior_means,
                                           save_latent_grid, save_latent_scatter,
                                           save_traversal)
from vae_from_scratch.models import mlp_vae
from vae_from_scratch.objectives import elbo
from vae_from_scratch.optim import Adam
from vae_from_scratch.viz.plots import (plot_elbo_curves, pyplot, save_figure,
                                       save_image_grid, save_image_rows)
from vae_from_scratch.train import evaluate_elbo, evaluate_log_likelihood, fit


def parse_args(argv=None):
    return parse_chapter_args(argv, "ch07", "Chapter 7: the VAE on digits (thesis §2.7)",
                              "30 epochs instead of 300", backend=True)


# %% [markdown]
# ## 1. Data: 8×8 digits, binary for the Bernoulli decoder, grey for the Gaussian
#
# `load_for_vae("digits")` splits the 1797 images 1258 / 180 / 359 (train / validation /
# test) with a seeded permutation; pixels are in [0, 1] (17 grey levels).  A Bernoulli
# likelihood (thesis eq. 2.31) is a likelihood only for x ∈ {0, 1}: the training loop draws
# a fresh binary image x ~ Bernoulli(grey value) for every minibatch ("dynamic
# binarization"), and the validation and test images are binarized once, with a fixed
# seed, so that every number below is measured on the same binary images.  The Gaussian
# decoders see the grey values.

# %%
def load_data(seed):
    splits, binary = load_for_vae("digits", rng=np.random.default_rng(seed))
    print(f"digits: {len(splits.train.images)} train / {len(splits.val.images)} validation / "
          f"{len(splits.test.images)} test images of shape {splits.train.images.shape[1:]}")
    return splits, binary


# %% [markdown]
# ## 2. One ELBO estimate, piece by piece (thesis eq. 2.27, 2.29, 2.31; tutorial eq. 22)
#
# For one image x and one noise draw ε ~ N(0, I) the AEVB estimator (thesis eq. 2.16,
# with the KL in closed form, eq. 2.10) is
#
#   L̃(x, ε) = log p_θ(x | z) − KL(q_φ(z|x) ‖ N(0, I)),   z = μ + σ ⊙ ε  (eq. 2.27),
#
# with the Bernoulli log-likelihood Σᵢ xᵢ log pᵢ + (1 − xᵢ) log(1 − pᵢ) (eq. 2.31) and
# KL = ½ Σₗ (σₗ² + μₗ² − 1 − log σₗ²) (tutorial eq. 22, which writes −KL).  The cell
# assembles it from the model's parts — `encode`, `sample`, `decode`, `log_prob`,
# `kl_to_standard_normal` — and compares with `objectives.elbo` for the same ε.
#
# It also checks the change of variables behind the reparameterization (thesis eq. 2.19,
# 2.20, 2.29): log q(z|x) = log p(ε) − Σᵢ log σᵢ, with log σᵢ = ½ log σᵢ².

# %%
def elbo_by_parts(vae, x, rng):
    xp = vae.xp
    x = vae.backend.asarray(x)
    q = vae.encode(x)                                          # q(z|x) = N(mu, diag σ²)
    eps = xp.asarray(rng.standard_normal(q.mu.shape, dtype=q.mu.dtype))
    z = q.sample(eps=eps)                                      # eq. 2.27
    rec = vae.decode(z).log_prob(x)                            # eq. 2.31, per image
    kl = q.kl_to_standard_normal()                             # tutorial eq. 22
    by_parts = to_numpy(rec - kl)
    library = elbo(vae, x, eps=eps, grads=False).per_example
    prior = StandardNormal(q.mu.shape, q.mu.dtype, xp)
    change_of_variables = to_numpy(prior.log_prob(eps) - 0.5 * q.logvar.sum(axis=1))
    gap_elbo = float(np.abs(by_parts - library).max())
    gap_cov = float(np.abs(to_numpy(q.log_prob(z)) - change_of_variables).max())
    print("image  log p(x|z)      KL   ELBO estimate")
    for i in range(len(by_parts)):
        print(f"{i:>5} {float(rec[i]):>11.3f} {float(kl[i]):>7.3f} {by_parts[i]:>15.3f}")
    print(f"by parts vs objectives.elbo, same ε: max |difference| = {gap_elbo:.1e}")
    print(f"log q(z|x) vs log p(ε) − Σ log σ (eq. 2.29): max |difference| = {gap_cov:.1e}")
    return {"elbo_parts_gap": gap_elbo, "change_of_variables_gap": gap_cov}


# %% [markdown]
# ## 3. Training (thesis Algorithm 2) and evaluation
#
# `fit` is Algorithm 2: shuffle, draw a minibatch, sample ε, compute L̃ and its gradient
# (every backward pass hand-written, proven in chapters 6 and 8), update θ and φ (here
# with Adam, learning rate 1e-3, minibatches of 50).  After training we report on the
# 359 test images, in nats per image:
#
# - the **ELBO** with one z ~ q(z|x) per image, split into E log p(x|z) (reconstruction)
#   and KL(q(z|x) ‖ p(z)) (tutorial eq. 14 with the prior in the KL; slides 11.17);
# - **log p(x) ≥ IWAE_K**, the importance-sampled bound with K samples (slides Concept
#   11.7, chapter 10), which approaches log p(x) from below as K grows;
# - the **active units**: latent dimensions whose posterior mean varies over the data by
#   more than 0.01 (Burda et al. 2016; `latent_space.active_units`).
#
# Since log p(x) − ELBO = KL(q(z|x) ‖ p(z|x)) (thesis eq. 2.7, 2.8), the distance between
# the two numbers is a lower bound on how far the Gaussian q(z|x) is from the true
# posterior, on average over the test images.

# %%
def train(vae, x_train, x_val, *, epochs, seed, binarize):
    rng = np.random.default_rng(seed)
    optimizer = Adam(vae.params, vae.grads, lr=1e-3)
    t0 = time.perf_counter()
    history = fit(vae, optimizer, x_train, x_val, epochs=epochs, rng=rng, batch_size=50,
                  binarize=binarize, quiet=True)
    return history, time.perf_counter() - t0


def evaluate(vae, x_test, K, seed):
    test = evaluate_elbo(vae, x_test, np.random.default_rng(seed))
    log_px = evaluate_log_likelihood(vae, x_test, np.random.default_rng(seed + 1), K=K)
    mu, _ = posterior_means(vae, x_test)
    n_active, _ = active_units(mu)
    return {"elbo": test["elbo"], "reconstruction": test["reconstruction"], "kl": test["kl"],
            f"log_px_iwae{K}": log_px, "active_units": n_active}


def report(name, r, K, seconds):
    print(f"{name:<28} ELBO {r['elbo']:>8.2f}  = E log p(x|z) {r['reconstruction']:>8.2f} "
          f"− KL {r['kl']:>6.2f};  log p(x) ≥ IWAE_{K} {r[f'log_px_iwae{K}']:>8.2f};  "
          f"active units {r['active_units']};  trained in {seconds:.1f} s")


def bernoulli_vae(bk, splits, binary, args, out, epochs, K):
    vae = mlp_vae((1, 8, 8), latent_dim=8, hidden=(256,), likelihood="bernoulli",
                  rng=np.random.default_rng(args.seed + 1), backend=bk)
    vae.init_output_bias(splits.train.images.mean(axis=0))   # start at the mean image
    print(f"MLP VAE 64-256-(8+8) | 8-256-64, Bernoulli decoder, {vae.n_params:,} parameters, "
          f"{epochs} epochs")
    print("\nOne ELBO estimate by parts, on 4 test images (untrained model):")
    x_test = binary.test.images
    parts = elbo_by_parts(vae, x_test[:4], np.random.default_rng(args.seed + 5))
    untrained = evaluate_elbo(vae, x_test, np.random.default_rng(args.seed + 2))["elbo"]
    history, seconds = train(vae, splits.train.images, binary.val.images, epochs=epochs,
                             seed=args.seed + 3, binarize="dynamic")
    r = evaluate(vae, x_test, K, args.seed + 4)
    r.update(parts, untrained_elbo=untrained, seconds=seconds,
             final_train_elbo=history["train_elbo"][-1], final_val_elbo=history["val_elbo"][-1])
    print(f"\ntest ELBO before training (decoder bias at the mean image): {untrained:.2f}")
    report("Bernoulli, 8-D latent", r, K, seconds)
    print(f"gap IWAE_{K} − ELBO = {r[f'log_px_iwae{K}'] - r['elbo']:.2f} nats "
          f"≤ mean KL(q(z|x) ‖ p(z|x))  (thesis eq. 2.7)")
    plot_elbo_curves(history, out / "elbo_bernoulli.png",
                     title="Bernoulli MLP VAE on digits: ELBO per epoch (nats per image)")
    fig_rng = np.random.default_rng(args.seed + 6)
    shown = x_test[:12]
    recon = to_numpy(vae.reconstruct(bk.asarray(shown), fig_rng))
    save_image_rows([splits.test.images[:12], shown, recon], ["grey", "binary x", "E[x|z]"],
                    out / "reconstructions_bernoulli.png",
                    title="Test digits and their reconstructions, z ~ q(z|x)")
    save_image_grid(to_numpy(vae.sample(40, fig_rng)), out / "samples_bernoulli.png", ncols=10,
                    title="Bernoulli VAE: E[x|z] for z ~ N(0, I)")
    values = np.linspace(-2.5, 2.5, 9)
    base, _ = posterior_means(vae, x_test[:1])
    save_traversal(decode_mean(vae, latent_traversal(8, values, base=base[0])), values,
                   out / "traversal_bernoulli.png",
                   title="One latent dimension at a time, from the code of the first test digit")
    return vae, r, history


# %% [markdown]
# ## 4. Gaussian decoders: the weight of σ² (slides Concepts 11.18–11.20, tutorial C.2)
#
# With p_θ(x|z) = N(f_θ(z), σ²I) and σ² fixed, the reconstruction term is
#
#   log p(x|z) = −‖x − f_θ(z)‖² / (2σ²) − (D/2) log(2πσ²)     (thesis eq. 2.30),
#
# a squared error: the VAE's loss is an autoencoder's loss plus the KL "regularization
# term on the output of the encoder", and "the choice of σ determines the relative
# weight between the reconstruction loss and the regularization" (slides Concept 11.20).
# The cell checks the identity on test images, then trains the same VAE with σ² = 1, 0.1
# and 0.01: the smaller σ², the more a squared error costs, the more information the
# encoder is pushed to put into z — the KL should grow and the reconstruction error fall.
# At σ² = 1 the whole squared error of a digit (about 5) costs less than the nats z would
# need: the encoder gives up, q(z|x) = p(z) for every x (KL ≈ 0, no active unit), and the
# decoder draws the mean digit for every input — *posterior collapse*, made here on
# purpose by a too-large σ² (chapter 10 comes back to it).
#
# Tutorial appendix C.2 instead lets the decoder learn the variance:
# h = tanh(W₃z + b₃), μ = W₄h + b₄, log σ² = W₅h + b₅.  That is
# `mlp_vae(…, activation="tanh", decoder_var="learned")`; the project bounds σ² below by
# 10⁻³ (`distributions.floor_logvar`), because a pixel that never changes (the digits'
# blank border) would otherwise drive σ² → 0 and log p(x|z) → +∞.
#
# Gaussian log-likelihoods are log-*densities* of grey values: they can be positive and
# are not comparable with the Bernoulli numbers, which are log-probabilities of binary
# images.  Compare Gaussian models with each other only.

# %%
def check_squared_error_form(vae, x, sigma2, rng):
    """log p(x|z) = −‖x − f(z)‖²/(2σ²) − (D/2) log(2πσ²) at the same z (slides 11.20)."""
    xb = vae.backend.asarray(x)
    z = vae.encode(xb).sample(rng)
    p = vae.decode(z)
    D = int(np.prod(x.shape[1:]))
    sq = to_numpy(((xb - p.mean) ** 2).reshape(len(x), -1).sum(axis=1))
    form = -sq / (2 * sigma2) - 0.5 * D * np.log(2 * np.pi * sigma2)
    return float(np.abs(to_numpy(p.log_prob(xb)) - form).max() / np.abs(form).max())


def reconstruction_error(vae, x, seed):
    """Mean over images of Σ_pixels (x − E[x|z])², z ~ q(z|x)."""
    recon = to_numpy(vae.reconstruct(vae.backend.asarray(x), np.random.default_rng(seed)))
    return float(((x - recon) ** 2).reshape(len(x), -1).sum(axis=1).mean())


def gaussian_vaes(bk, splits, args, out, epochs, K):
    x_train, x_val, x_test = (s.images for s in splits)
    settings = {"σ² = 1": 1.0, "σ² = 0.1": 0.1, "σ² = 0.01": 0.01, "learned σ² (C.2)": "learned"}
    results, recons = {}, []
    print(f"Gaussian MLP VAEs on grey digits, 8-D latent, {epochs} epochs")
    for i, (name, var) in enumerate(settings.items()):
        learned = var == "learned"
        vae = mlp_vae((1, 8, 8), latent_dim=8, hidden=(256,), likelihood="gaussian",
                      activation="tanh" if learned else "relu", decoder_var=var,
                      rng=np.random.default_rng(args.seed + 1), backend=bk)
        if not learned:
            gap = check_squared_error_form(vae, x_test[:50], var, np.random.default_rng(0))
            print(f"  {name}: log p(x|z) vs −‖x − f(z)‖²/(2σ²) − (D/2) log 2πσ², "
                  f"relative difference {gap:.1e}")
        history, seconds = train(vae, x_train, x_val, epochs=epochs, seed=args.seed + 3,
                                 binarize=None)
        r = evaluate(vae, x_test, K, args.seed + 4)
        r["squared_error"] = reconstruction_error(vae, x_test, args.seed + 6)
        r["seconds"] = seconds
        if not learned:
            r["squared_error_form_gap"] = gap
        results[name] = r
        recons.append(to_numpy(vae.reconstruct(bk.asarray(x_test[:12]),
                                               np.random.default_rng(args.seed + 6))))
    print()
    for name, r in results.items():
        report(f"Gaussian, {name}", r, K, r["seconds"])
    print(f"\n{'decoder':<18} {'KL (nats)':>9} {'Σ (x − E[x|z])²':>16} {'active units':>13}")
    for name, r in results.items():
        print(f"{name:<18} {r['kl']:>9.2f} {r['squared_error']:>16.3f} {r['active_units']:>13}")
    save_image_rows([x_test[:12]] + [np.clip(r, 0, 1) for r in recons],
                    ["grey x"] + list(settings), out / "reconstructions_gaussian.png",
                    title="Gaussian decoders: test digits and E[x|z], z ~ q(z|x)")
    fixed = [n for n in settings if settings[n] != "learned"]
    s2 = [settings[n] for n in fixed]
    plot_sigma(out / "gaussian_sigma.png", s2, results, fixed)
    return results


def plot_sigma(path, s2, results, fixed):
    """KL and squared error against the fixed decoder variance, σ² on a log axis."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 3.4))
    titles = ("rate: KL (nats per image)", "distortion: Σ (x − E[x|z])² per image")
    for ax, key, label in zip(axes, ("kl", "squared_error"), titles):
        ax.plot(s2, [results[n][key] for n in fixed], "o-")
        ax.set(xscale="log", xlabel="decoder variance σ²", title=label)
        ax.grid(alpha=0.3)
    save_figure(fig, path, fontsize=11,
                title="Slides Concept 11.20: σ² weighs reconstruction against the KL")


# %% [markdown]
# ## 5. The latent space
#
# "The latent space is continuous by design, and we can easily sample and interpolate in
# this continuous space" (tutorial §3.2).  To see it, the cell trains the Bernoulli VAE
# once more with a 2-dimensional z and draws
#
# - the posterior means μ(x) of the test digits, coloured by the digit they show (labels
#   the VAE never saw): similar digits land near each other;
# - the decoder's E[x|z] on a regular grid of z ∈ [−2.5, 2.5]², where the prior puts
#   almost all of its mass: moving through z morphs one digit into another.
#
# With two dimensions the bottleneck is tight: compare its ELBO with the 8-dimensional
# model's.  The 8-D model's traversal (`traversal_bernoulli.png`, written by section 3)
# moves one dimension at a time, as the thesis's exploration plots do (§3.1).

# %%
def latent_space(bk, splits, binary, args, out, epochs, K):
    vae = mlp_vae((1, 8, 8), latent_dim=2, hidden=(256,), likelihood="bernoulli",
                  rng=np.random.default_rng(args.seed + 1), backend=bk)
    vae.init_output_bias(splits.train.images.mean(axis=0))
    _, seconds = train(vae, splits.train.images, binary.val.images, epochs=epochs,
                       seed=args.seed + 3, binarize="dynamic")
    r = evaluate(vae, binary.test.images, K, args.seed + 4)
    report("Bernoulli, 2-D latent", r, K, seconds)
    mu, _ = posterior_means(vae, binary.test.images)
    save_latent_scatter(mu, splits.test.labels, out / "latent_scatter.png",
                        title="Posterior means of the test digits (2-D latent)")
    n = 12
    grid = decode_mean(vae, latent_grid(n, 2.5))
    save_latent_grid(grid, n, out / "latent_grid.png", 2.5,
                     title="E[x|z] on a grid of z (2-D latent)")
    # how well do the digits separate?  the share of test digits whose nearest training
    # digit in z (by posterior mean) has the same label
    mu_train, _ = posterior_means(vae, binarize_static(splits.train.images,
                                                       np.random.default_rng(args.seed + 7)))
    d = ((mu[:, None, :] - mu_train[None, :, :]) ** 2).sum(axis=2)
    nn_accuracy = float((splits.train.labels[d.argmin(axis=1)] == splits.test.labels).mean())
    print(f"nearest-neighbour label agreement in the 2-D latent space: {nn_accuracy:.3f} "
          f"(chance ≈ 0.1)")
    r["nearest_neighbour_label_agreement"] = nn_accuracy
    r["seconds"] = seconds
    return r


# %% [markdown]
# ## Run everything
#
# Figures: `elbo_bernoulli.png` (ELBO per epoch; validation KL and reconstruction),
# `reconstructions_bernoulli.png`, `samples_bernoulli.png`, `traversal_bernoulli.png`,
# `reconstructions_gaussian.png`, `gaussian_sigma.png`, `latent_scatter.png`,
# `latent_grid.png`; and `results.json`.  What to look for (full mode, seed 0):
#
# - the ELBO by parts equals `objectives.elbo` to float32 round-off, and eq. 2.29 holds;
# - the Bernoulli VAE's test ELBO rises from about −28 nats (the mean image) to about
#   −23, of which about 5 nats are KL; IWAE_1000 lies about half a nat above it;
# - σ² = 1 → 0.1 → 0.01: the KL grows (0 → about 6 → about 18 nats) and the squared
#   error falls (about 4.7 → 1.6 → 0.8), as Concept 11.20 says; σ² = 1 collapses to the
#   mean digit; the learned variance gives by far the highest (positive) log-density;
# - the 2-D latent space groups the digits (nearest-neighbour agreement far above
#   chance) at the price of a lower ELBO than the 8-D model.

# %%
def main(argv=None):
    args = parse_args(argv)
    bk = get_backend(args.backend)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs, K = (30, 50) if args.quick else (300, 1000)
    print(f"chapter 7 ({'quick' if args.quick else 'full'} mode), backend {bk.name}; "
          f"figures go to {out}/")
    t0 = time.perf_counter()
    splits, binary = load_data(args.seed)
    results = {"quick": bool(args.quick), "backend": bk.name, "epochs": epochs,
               "iwae_k": K}
    print("\n== Bernoulli decoder (thesis eq. 2.31)")
    _, results["bernoulli"], _ = bernoulli_vae(bk, splits, binary, args, out, epochs, K)
    print("\n== Gaussian decoders (thesis eq. 2.30; slides 11.18–11.20; tutorial C.2)")
    results["gaussian"] = gaussian_vaes(bk, splits, args, out, epochs, K)
    print("\n== latent space (2-D latent)")
    results["latent_2d"] = latent_space(bk, splits, binary, args, out, epochs, K)
    results["seconds"] = time.perf_counter() - t0
    b, g = results["bernoulli"], results["gaussian"]
    results["summary"] = (
        f"Bernoulli VAE: test ELBO {b['elbo']:.2f} = {b['reconstruction']:.2f} − KL {b['kl']:.2f}, "
        f"IWAE_{K} {b[f'log_px_iwae{K}']:.2f} nats; Gaussian σ² = 1 / 0.1 / 0.01: KL "
        + " / ".join(f"{g[k]['kl']:.2f}" for k in ("σ² = 1", "σ² = 0.1", "σ² = 0.01"))
        + f"; 2-D latent: nearest-neighbour label agreement "
        f"{results['latent_2d']['nearest_neighbour_label_agreement']:.2f}")
    print(f"\nchapter 7 done in {results['seconds']:.1f} s; figures and results.json in {out}/")
    write_results(results, out)
    return results


if __name__ == "__main__":
    run_as_script(main)
