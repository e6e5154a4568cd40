# %% [markdown]
# # Chapter 7.3 — The latent space
#
# **Theory:** tutorial §3.2; thesis §3.1 (the exploration plots).
#
# "The latent space is continuous by design, and we can easily sample and interpolate in
# this continuous space" (tutorial §3.2).  To see it, this section trains the Bernoulli
# VAE of section 7.1 once more with a 2-dimensional z and draws
#
# - the posterior means μ(x) of the test digits, coloured by the digit they show (labels
#   the VAE never saw): similar digits land near each other;
# - the decoder's E[x|z] on a regular grid of z ∈ [−2.5, 2.5]², where the prior puts
#   almost all of its mass: moving through z morphs one digit into another.
#
# With two dimensions the bottleneck is tight: compare its ELBO with the 8-dimensional
# model's of section 7.1 (about −23 nats in the full run, −24 with --quick).  The 8-D
# model's traversal (`traversal_bernoulli.png`, written by section 7.1) moves one
# dimension at a time, as the thesis's exploration plots do (§3.1).

# %%
import time

import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.backend import get_backend
from vae_from_scratch.data import binarize_static, load_for_vae
from vae_from_scratch.models import mlp_vae
from vae_from_scratch.optim import Adam
from vae_from_scratch.train import evaluate_elbo, evaluate_log_likelihood, fit
from vae_from_scratch.viz.latent_space import (active_units, decode_mean, latent_grid,
                                               posterior_means, save_latent_grid,
                                               save_latent_scatter)

sec = start_section("ch07_3", "Chapter 7.3: the 2-D latent space",
                    "30 epochs instead of 300, IWAE with 50 samples instead of 1000",
                    backend=True)
bk = get_backend(sec.backend)
seed = sec.seed                  # the old chapter's seeds: + 1 weights, + 3 training, …
epochs, K = (30, 50) if sec.quick else (300, 1000)
splits, binary = load_for_vae("digits", rng=np.random.default_rng(seed))   # as in 7.1
x_test = binary.test.images
print(f"backend {bk.name}; {epochs} epochs; IWAE with K = {K}")

# %% [markdown]
# ## The Bernoulli VAE with a 2-D latent space
#
# The same model, data and training as section 7.1 (Algorithm 2, Adam 1e-3, minibatches
# of 50, dynamic binarization, the same seeds), with `latent_dim=2`:

# %%
vae = mlp_vae((1, 8, 8), latent_dim=2, hidden=(256,), likelihood="bernoulli",
              rng=np.random.default_rng(seed + 1), backend=bk)
vae.init_output_bias(splits.train.images.mean(axis=0))         # start at the mean image
t0 = time.perf_counter()
fit(vae, Adam(vae.params, vae.grads, lr=1e-3), splits.train.images, binary.val.images,
    epochs=epochs, rng=np.random.default_rng(seed + 3), batch_size=50, binarize="dynamic",
    quiet=True)
seconds = time.perf_counter() - t0
print(f"MLP VAE 64-256-(2+2) | 2-256-64, {vae.n_params:,} parameters, "
      f"{epochs} epochs in {seconds:.1f} s")

# %% [markdown]
# Evaluated on the 359 binarized test images as in 7.1: the ELBO and its two terms, the
# IWAE bound, the active units.

# %%
test = evaluate_elbo(vae, x_test, np.random.default_rng(seed + 4))
log_px = evaluate_log_likelihood(vae, x_test, np.random.default_rng(seed + 5), K=K)
mu, _ = posterior_means(vae, x_test)
n_active, _ = active_units(mu)
print(f"Bernoulli, 2-D latent: ELBO {test['elbo']:.2f} = E log p(x|z) "
      f"{test['reconstruction']:.2f} − KL {test['kl']:.2f};  log p(x) ≥ IWAE_{K} "
      f"{log_px:.2f};  active units {n_active}")
# below the 8-D model's ELBO (−23.10 full, −23.97 quick): a tighter bottleneck; both
# dimensions active

# %% [markdown]
# ## The posterior means, and the decoder on a grid
#
# Each test digit at its posterior mean μ(x), coloured by its label; then E[x|z] on a
# 12 × 12 grid of z ∈ [−2.5, 2.5]².

# %%
fig_scatter = save_latent_scatter(mu, splits.test.labels, sec.out / "latent_scatter.png",
                                  title="Posterior means of the test digits (2-D latent)")
# digits of one class form clusters; some classes overlap

# %%
n = 12
fig_grid = save_latent_grid(decode_mean(vae, latent_grid(n, 2.5)), n,
                            sec.out / "latent_grid.png", 2.5,
                            title="E[x|z] on a grid of z (2-D latent)")
# neighbouring z decode to similar digits: one digit morphs into the next

# %% [markdown]
# ## How well do the digits separate?
#
# A number for what the scatter shows: the share of test digits whose nearest training
# digit in z (by posterior mean; the training images binarized once) has the same label.
# Ten classes of roughly equal size: a z that knows nothing about the digit gives about
# 0.1.

# %%
x_train_binary = binarize_static(splits.train.images, np.random.default_rng(seed + 7))
mu_train, _ = posterior_means(vae, x_train_binary)
d = ((mu[:, None, :] - mu_train[None, :, :]) ** 2).sum(axis=2)      # (test, train)
nn_accuracy = float((splits.train.labels[d.argmin(axis=1)] == splits.test.labels).mean())
print(f"nearest-neighbour label agreement in the 2-D latent space: {nn_accuracy:.3f} "
      f"(chance ≈ 0.1)")
# far above chance, although the VAE never saw a label

# %% [markdown]
# ## What this section measured
#
# The 2-D latent space groups the digits (nearest-neighbour agreement far above chance)
# at the price of a lower ELBO than the 8-D model of section 7.1.  Figures:
# `latent_scatter.png`, `latent_grid.png`; and `results.json`.

# %%
latent_2d = {"elbo": test["elbo"], "reconstruction": test["reconstruction"], "kl": test["kl"],
             f"log_px_iwae{K}": log_px, "active_units": n_active,
             "nearest_neighbour_label_agreement": nn_accuracy, "seconds": seconds}
results = sec.finish(
    {"backend": bk.name, "epochs": epochs, "iwae_k": K, "latent_2d": latent_2d,
     "figures": [fig_scatter, fig_grid]},
    summary=f"2-D latent: test ELBO {test['elbo']:.2f} = {test['reconstruction']:.2f} − KL "
            f"{test['kl']:.2f}, IWAE_{K} {log_px:.2f} nats; nearest-neighbour label "
            f"agreement {nn_accuracy:.2f} (chance ≈ 0.1)")
