# %% [markdown]
# # Chapter 7.2 — Gaussian decoders: the weight of σ²
#
# **Theory:** thesis eq. 2.30; slides Definition 11.17 and Concepts 11.18–11.20;
# tutorial appendix C.2 and §3.7 (eq. 39).
#
# Section 7.1 trained the standard VAE with a Bernoulli decoder on binarized digits.  For
# continuous data the standard instance takes a Gaussian decoder p_θ(x|z) = N(f_θ(z), σ²I)
# (slides Definition 11.17).  With σ² fixed, the reconstruction term is
#
#   log p(x|z) = −‖x − f_θ(z)‖² / (2σ²) − (D/2) log(2πσ²)     (thesis eq. 2.30),
#
# a squared error: the VAE's loss is an autoencoder's loss plus the KL "regularization
# term on the output of the encoder", and "the choice of σ determines the relative
# weight between the reconstruction loss and the regularization" (slides Concept 11.20).
# (The tutorial's eq. 39 writes this term "+ 1/N Σᵢ (y⁽ⁱ⁾ − x⁽ⁱ⁾)²": the sign is flipped —
# a log-likelihood falls as the error grows — and the 1/(2σ²) is missing, the very
# weight this section varies.)
# This section checks the identity on test images, then trains the same VAE with σ² = 1,
# 0.1 and 0.01, and one that learns its variance.

# %%
import time

import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.backend import get_backend, to_numpy
from vae_from_scratch.data import load_for_vae
from vae_from_scratch.models import mlp_vae
from vae_from_scratch.optim import Adam
from vae_from_scratch.train import evaluate_elbo, evaluate_log_likelihood, fit
from vae_from_scratch.viz.latent_space import active_units, posterior_means
from vae_from_scratch.viz.plots import pyplot, save_figure, save_image_rows

sec = start_section("ch07_2", "Chapter 7.2: Gaussian decoders and the weight of σ²",
                    "30 epochs instead of 300, IWAE with 50 samples instead of 1000",
                    backend=True)
bk = get_backend(sec.backend)
seed = sec.seed                  # the old chapter's seeds: + 1 weights, + 3 training, …
epochs, K = (30, 50) if sec.quick else (300, 1000)
splits, _ = load_for_vae("digits", rng=np.random.default_rng(seed))   # as in 7.1
x_train, x_val, x_test = (s.images for s in splits)                   # grey values
SETTINGS = {"σ² = 1": 1.0, "σ² = 0.1": 0.1, "σ² = 0.01": 0.01, "learned σ² (C.2)": "learned"}
FIXED = ["σ² = 1", "σ² = 0.1", "σ² = 0.01"]
print(f"backend {bk.name}; Gaussian MLP VAEs on grey digits, 8-D latent, {epochs} epochs")

# %% [markdown]
# Every model of this section is the MLP VAE of 7.1 with a Gaussian decoder, built from
# the same seed (the same initial weights for every fixed σ²):

# %%
def gaussian_vae(var):
    """The 64-256-(8+8) | 8-256-64 VAE of 7.1 with a Gaussian decoder of variance `var`
    (a number, or "learned": tanh hidden layer and a log σ² output, tutorial C.2)."""
    learned = var == "learned"
    return mlp_vae((1, 8, 8), latent_dim=8, hidden=(256,), likelihood="gaussian",
                   activation="tanh" if learned else "relu", decoder_var=var,
                   rng=np.random.default_rng(seed + 1), backend=bk)


# %% [markdown]
# ## The squared-error form of the Gaussian log-likelihood (slides Concept 11.20)
#
# At the same z, the decoder's `log_prob` must equal −‖x − f(z)‖²/(2σ²) − (D/2) log 2πσ²
# with D = 64 pixels.  Checked on 50 test images, for each fixed σ², before training:

# %%
form_gaps = {}
for name in FIXED:
    vae, var = gaussian_vae(SETTINGS[name]), SETTINGS[name]
    xb = bk.asarray(x_test[:50])
    p = vae.decode(vae.encode(xb).sample(np.random.default_rng(0)))
    sq = to_numpy(((xb - p.mean) ** 2).reshape(50, -1).sum(axis=1))
    form = -sq / (2 * var) - 0.5 * 64 * np.log(2 * np.pi * var)          # eq. 2.30
    form_gaps[name] = float(np.abs(to_numpy(p.log_prob(xb)) - form).max() / np.abs(form).max())
    print(f"{name}: log p(x|z) vs −‖x − f(z)‖²/(2σ²) − (D/2) log 2πσ², "
          f"relative difference {form_gaps[name]:.1e}")
# should be float32 round-off: about 1e-7

# %% [markdown]
# ## Training with σ² = 1, 0.1, 0.01
#
# The smaller σ², the more a squared error costs, the more information the encoder is
# pushed to put into z — the KL should grow and the reconstruction error fall.  At
# σ² = 1 the whole squared error of a digit (about 5) costs less than the nats z would
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
# Each model is trained as in 7.1 (Algorithm 2, Adam 1e-3, minibatches of 50, the same
# seeds) and evaluated on the test images as there — ELBO, its two terms, IWAE_K, active
# units — plus the squared reconstruction error Σ_pixels (x − E[x|z])², z ~ q(z|x).

# %%
def train_and_measure(var):
    """Train the VAE of decoder variance `var` as in 7.1; its test numbers, and E[x|z] of
    the first 12 test digits for the figure."""
    vae = gaussian_vae(var)
    t0 = time.perf_counter()
    fit(vae, Adam(vae.params, vae.grads, lr=1e-3), x_train, x_val, epochs=epochs,
        rng=np.random.default_rng(seed + 3), batch_size=50, binarize=None, quiet=True)
    seconds = time.perf_counter() - t0
    r = evaluate_elbo(vae, x_test, np.random.default_rng(seed + 4))
    r = {k: r[k] for k in ("elbo", "reconstruction", "kl")}
    r[f"log_px_iwae{K}"] = evaluate_log_likelihood(vae, x_test, np.random.default_rng(seed + 5), K=K)
    r["active_units"] = active_units(posterior_means(vae, x_test)[0])[0]
    recon = to_numpy(vae.reconstruct(bk.asarray(x_test), np.random.default_rng(seed + 6)))
    r["squared_error"] = float(((x_test - recon) ** 2).reshape(len(x_test), -1).sum(axis=1).mean())
    r["seconds"] = seconds
    return r, to_numpy(vae.reconstruct(bk.asarray(x_test[:12]), np.random.default_rng(seed + 6)))


# %%
results, recons = {}, []
for name, var in SETTINGS.items():
    r, recon = train_and_measure(var)
    if name in form_gaps:
        r["squared_error_form_gap"] = form_gaps[name]
    results[name], recons = r, recons + [recon]
    print(f"Gaussian, {name:<17} ELBO {r['elbo']:>7.2f} = E log p(x|z) {r['reconstruction']:>6.2f}"
          f" − KL {r['kl']:>5.2f};  log p(x) ≥ IWAE_{K} {r[f'log_px_iwae{K}']:>6.2f};  "
          f"active units {r['active_units']};  trained in {r['seconds']:.1f} s")
# σ² = 1: KL ≈ 0 and no active unit (the collapse); the smaller σ², the larger the KL

# %% [markdown]
# Gaussian log-likelihoods are log-*densities* of grey values: they can be positive and
# are not comparable with the Bernoulli numbers of 7.1, which are log-probabilities of
# binary images.  Compare Gaussian models with each other only.  Rate and distortion side
# by side:

# %%
print(f"{'decoder':<18} {'KL (nats)':>9} {'Σ (x − E[x|z])²':>16} {'active units':>13}")
for name, r in results.items():
    print(f"{name:<18} {r['kl']:>9.2f} {r['squared_error']:>16.3f} {r['active_units']:>13}")
# Concept 11.20: σ² = 1 → 0.1 → 0.01, KL up (full run: 0 → about 6 → about 18 nats),
# squared error down (about 4.7 → 1.6 → 0.8); σ² = 1 collapsed (KL ≈ 0, no active unit);
# the learned variance has by far the highest (positive) log-density

# %% [markdown]
# The reconstructions: σ² = 1 draws the mean digit whatever the input; the smaller σ²,
# the sharper the copy.

# %%
fig_recons = save_image_rows([x_test[:12]] + [np.clip(r, 0, 1) for r in recons],
                             ["grey x"] + list(SETTINGS),
                             sec.out / "reconstructions_gaussian.png",
                             title="Gaussian decoders: test digits and E[x|z], z ~ q(z|x)")

# %% [markdown]
# KL (the rate) and squared error (the distortion) against the fixed σ², on a log axis:

# %%
plt = pyplot()
fig, axes = plt.subplots(1, 2, figsize=(9.2, 3.4))
titles = ("rate: KL (nats per image)", "distortion: Σ (x − E[x|z])² per image")
for ax, key, label in zip(axes, ("kl", "squared_error"), titles):
    ax.plot([SETTINGS[n] for n in FIXED], [results[n][key] for n in FIXED], "o-")
    ax.set(xscale="log", xlabel="decoder variance σ²", title=label)
    ax.grid(alpha=0.3)
fig_sigma = save_figure(fig, sec.out / "gaussian_sigma.png", fontsize=11,
                        title="Slides Concept 11.20: σ² weighs reconstruction against the KL")
# the KL falls and the squared error rises with σ²

# %% [markdown]
# ## What this section measured
#
# The squared-error form holds to float32 round-off for every σ².  In the full run
# (seed 0), σ² = 1 → 0.1 → 0.01: the KL grows (0 → about 6 → about 18 nats) and the
# squared error falls (about 4.7 → 1.6 → 0.8), as Concept 11.20 says; σ² = 1 collapses to
# the mean digit; the learned variance gives by far the highest (positive) log-density.
# Figures: `reconstructions_gaussian.png`, `gaussian_sigma.png`; and `results.json`.

# %%
out = sec.finish(
    {"backend": bk.name, "epochs": epochs, "iwae_k": K, "gaussian": results,
     "figures": [fig_recons, fig_sigma]},
    summary="Gaussian σ² = 1 / 0.1 / 0.01: KL "
            + " / ".join(f"{results[n]['kl']:.2f}" for n in FIXED)
            + ", squared error " + " / ".join(f"{results[n]['squared_error']:.2f}" for n in FIXED)
            + f"; learned σ²: ELBO {results['learned σ² (C.2)']['elbo']:.2f}")
