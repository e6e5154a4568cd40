# %% [markdown]
# # Chapter 7 — The variational autoencoder on real digits
#
# **Theory:** thesis §2.7 and §2.7.2 (eq. 2.25–2.31) and Algorithm 2; tutorial §3 (eq. 13, 14, 17–22,
# 24, 35) and appendix C.2; slides §11 (Definition 11.17 and Concepts 11.18–11.20).
# **Code:** `vae_from_scratch/models/vae.py` (`mlp_vae`), `distributions.py`,
# `objectives.py` (`elbo`, `log_likelihood`), `train.py` (`fit`), `viz/latent_space.py`.
#
# The thesis completes the AEVB algorithm (§2.5) with three choices (§2.7.1): the decoder
# p_θ(x|z) (tutorial §2.1), the prior p(z) (slides Definition 11.16) with its reparameterization,
# and the encoder q_φ(z|x).  The *standard instance* (slides Definition 11.17) takes
#
# - p(z) = N(0, I);
# - q_φ(z|x) = N(μ_φ(x), diag σ²_φ(x)), with μ and log σ² the outputs of a network
#   (thesis eq. 2.26; the project's networks output log σ², see docs/design.md,
#   "Conventions");
# - p_θ(x|z) a Bernoulli for binary data (eq. 2.31) or a Gaussian N(f_θ(z), σ²I) for
#   continuous data (eq. 2.30, slides 11.17), f_θ a network.  (Eq. 2.25 swaps x and z:
#   "N(μ, Σ)(z) or B(p)(z), (μ, Σ) or p = NeuralNet_θ(x)"; the network reads z, and the
#   density is evaluated at x.)
#
# This chapter trains that model on scikit-learn's 1797 handwritten 8×8 digits with both
# decoders, reports the test ELBO and an importance-sampled log p(x) in nats per image,
# splits the ELBO into its reconstruction and KL terms, and looks at the latent space.
# It has five sections:
#
# 1. **this one**: one ELBO estimate assembled by hand, then the Bernoulli VAE trained
#    (Algorithm 2) and evaluated — ELBO, reconstruction and KL, IWAE bound, active units;
# 2. `ch07_2_gaussian_decoders.py`: Gaussian decoders, and how σ² weighs the
#    reconstruction against the KL (slides Concepts 11.18–11.20, tutorial C.2);
# 3. `ch07_3_latent_space.py`: a 2-D latent space, drawn;
# 4. `ch07_4_autoencoder.py`: the deterministic autoencoder beside the VAE (slides
#    Concept 11.3): its codes, and what decoding N(0, I) gives;
# 5. `ch07_5_amortized_inference.py`: one q per digit against the encoder's, the
#    amortisation gap (slides Concept 11.10); and the chapter's exercises.
#
# Run it as a script (`python chapters/ch07_vae/ch07_1_bernoulli_vae.py [--quick]
# [--out DIR] [--seed S] [--backend B]`) or open it as a notebook; the numbers are the
# same.  The old one-file chapter seeded each part with --seed + k (k = 1 … 7); every
# section keeps the seeds of its parts, so its numbers are the old chapter's.

# %%
import time

import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.backend import get_backend, to_numpy
from vae_from_scratch.data import load_for_vae
from vae_from_scratch.distributions import StandardNormal
from vae_from_scratch.models import mlp_vae
from vae_from_scratch.objectives import elbo
from vae_from_scratch.optim import Adam
from vae_from_scratch.train import evaluate_elbo, evaluate_log_likelihood, fit
from vae_from_scratch.viz.latent_space import (active_units, decode_mean, latent_traversal,
                                               posterior_means, save_traversal)
from vae_from_scratch.viz.plots import plot_elbo_curves, save_image_grid, save_image_rows

sec = start_section("ch07_1", "Chapter 7.1: the ELBO by hand and the Bernoulli VAE on digits",
                    "30 epochs instead of 300, IWAE with 50 samples instead of 1000",
                    backend=True)
bk = get_backend(sec.backend)
seed = sec.seed                  # the parts' seeds: seed + 1 (weights), + 3 (training), …
epochs, K = (30, 50) if sec.quick else (300, 1000)
print(f"backend {bk.name}; {epochs} epochs; IWAE with K = {K}")

# %% [markdown]
# ## Data: 8×8 digits, binary for the Bernoulli decoder, grey for the Gaussian
#
# `load_for_vae("digits")` splits the 1797 images 1258 / 180 / 359 (train / validation /
# test) with a seeded permutation; pixels are in [0, 1] (17 grey levels).  A Bernoulli
# likelihood (thesis eq. 2.31) is a likelihood only for x ∈ {0, 1}: the training loop draws
# a fresh binary image x ~ Bernoulli(grey value) for every minibatch ("dynamic
# binarization"), and the validation and test images are binarized once, with a fixed
# seed, so that every number below is measured on the same binary images.  The Gaussian
# decoders (section 7.2) see the grey values.

# %%
splits, binary = load_for_vae("digits", rng=np.random.default_rng(seed))
x_test = binary.test.images                                    # binarized once
print(f"digits: {len(splits.train.images)} train / {len(splits.val.images)} validation / "
      f"{len(splits.test.images)} test images of shape {splits.train.images.shape[1:]}")
print("grey levels:", len(np.unique(splits.train.images)), "| test pixels:", np.unique(x_test))
# theory: 1258 / 180 / 359 images of shape (1, 8, 8); 17 grey levels, binary test pixels

# %% [markdown]
# The model: an MLP encoder 64 → 256 → (μ, log σ²) in 8 dimensions, an MLP decoder
# 8 → 256 → 64 logits, the decoder's output bias set to the logits of the mean training
# image, so that the untrained model already draws the average digit.

# %%
vae = mlp_vae((1, 8, 8), latent_dim=8, hidden=(256,), likelihood="bernoulli",
              rng=np.random.default_rng(seed + 1), backend=bk)
vae.init_output_bias(splits.train.images.mean(axis=0))         # start at the mean image
print(f"MLP VAE 64-256-(8+8) | 8-256-64, Bernoulli decoder, {vae.n_params:,} parameters")
# theory: (64·256 + 256) + (256·16 + 16) + (8·256 + 256) + (256·64 + 64) = 39,504

# %% [markdown]
# ## One ELBO estimate, piece by piece (thesis eq. 2.27, 2.29, 2.31; tutorial eq. 22)
#
# For one image x and one noise draw ε ~ N(0, I) the AEVB estimator (thesis eq. 2.16,
# with the KL in closed form, eq. 2.10; tutorial eq. 38) is
#
#   L̃(x, ε) = log p_θ(x | z) − KL(q_φ(z|x) ‖ N(0, I)),   z = μ + σ ⊙ ε  (eq. 2.27),
#
# with the Bernoulli log-likelihood Σᵢ xᵢ log pᵢ + (1 − xᵢ) log(1 − pᵢ) (eq. 2.31) and
# KL = ½ Σₗ (σₗ² + μₗ² − 1 − log σₗ²) (tutorial eq. 22, which writes −KL).  The cell
# assembles it from the model's parts — `encode`, `sample`, `decode`, `log_prob`,
# `kl_to_standard_normal` — on 4 test images, with the untrained model.

# %%
xp, x4 = vae.xp, bk.asarray(x_test[:4])
q = vae.encode(x4)                                             # q(z|x) = N(mu, diag σ²)
rng_eps = np.random.default_rng(seed + 5)
eps = xp.asarray(rng_eps.standard_normal(q.mu.shape, dtype=q.mu.dtype))
z = q.sample(eps=eps)                                          # eq. 2.27
rec = vae.decode(z).log_prob(x4)                               # eq. 2.31, per image
kl = q.kl_to_standard_normal()                                 # tutorial eq. 22
by_parts = to_numpy(rec - kl)
print("image  log p(x|z)      KL   ELBO estimate")
for i in range(len(by_parts)):
    print(f"{i:>5} {float(rec[i]):>11.3f} {float(kl[i]):>7.3f} {by_parts[i]:>15.3f}")
# untrained: log p(x|z) near the mean image's (about −22 to −26 nats), KL about 1 nat

# %% [markdown]
# The library's `objectives.elbo`, given the same ε, must return the same numbers:

# %%
library = elbo(vae, x4, eps=eps, grads=False).per_example
elbo_parts_gap = float(np.abs(by_parts - library).max())
print(f"by parts vs objectives.elbo, same ε: max |difference| = {elbo_parts_gap:.1e}")
# should be 0 or float32 round-off (below 1e-5): the same arithmetic

# %% [markdown]
# The cell also checks the change of variables behind the reparameterization (thesis
# eq. 2.19, 2.20, 2.29): log q(z|x) = log p(ε) − Σᵢ log σᵢ, with log σᵢ = ½ log σᵢ².

# %%
prior = StandardNormal(q.mu.shape, q.mu.dtype, xp)
change_of_variables = to_numpy(prior.log_prob(eps) - 0.5 * q.logvar.sum(axis=1))
change_of_variables_gap = float(np.abs(to_numpy(q.log_prob(z)) - change_of_variables).max())
print(f"log q(z|x) vs log p(ε) − Σ log σ (eq. 2.29): max |difference| = "
      f"{change_of_variables_gap:.1e}")
# should be float32 round-off: about 1e-6 on numbers of about 10

# %% [markdown]
# ## Training (thesis Algorithm 2, §2.5.4; slides Concept 11.21)
#
# `fit` is Algorithm 2: shuffle, draw a minibatch, sample ε, compute L̃ and its minibatch
# mean gradient (eq. 2.22; every backward pass hand-written, proven in chapters 6 and 8),
# update θ and φ (here with Adam, learning rate 1e-3, minibatches of 50).  Before
# training, the test ELBO is the mean image's:

# %%
untrained_elbo = evaluate_elbo(vae, x_test, np.random.default_rng(seed + 2))["elbo"]
print(f"test ELBO before training (decoder bias at the mean image): {untrained_elbo:.2f}")
# about −28 nats per image

# %%
optimizer = Adam(vae.params, vae.grads, lr=1e-3)
t0 = time.perf_counter()
history = fit(vae, optimizer, splits.train.images, binary.val.images, epochs=epochs,
              rng=np.random.default_rng(seed + 3), batch_size=50, binarize="dynamic",
              quiet=True)
seconds = time.perf_counter() - t0
print(f"{epochs} epochs in {seconds:.1f} s: train ELBO {history['train_elbo'][-1]:.2f}, "
      f"validation ELBO {history['val_elbo'][-1]:.2f}")
fig_curves = plot_elbo_curves(history, sec.out / "elbo_bernoulli.png",
                              title="Bernoulli MLP VAE on digits: ELBO per epoch (nats per image)")
# the ELBO rises fast over the first epochs, then slowly; the KL grows as z starts to carry
# information about x

# %% [markdown]
# ## Evaluation on the 359 test images, in nats per image (averaged as in thesis eq. 2.11)
#
# - the **ELBO** with one z ~ q(z|x) per image, split into E log p(x|z) (reconstruction)
#   and KL(q(z|x) ‖ p(z)) (slides 11.17; tutorial §3.3, eq. 14, and eq. 24 again, print
#   p(z|x) in the KL where the prior p(z) belongs);
# - **log p(x) ≥ IWAE_K**, the importance-sampled bound with K samples (slides Concept
#   11.7, chapter 10), which approaches log p(x) from below as K grows;
# - the **active units**: latent dimensions whose posterior mean varies over the data by
#   more than 0.01 (Burda et al. 2016; `latent_space.active_units`).
#
# Since log p(x) − ELBO = KL(q(z|x) ‖ p(z|x)) (thesis eq. 2.7, 2.8), the distance between
# the two numbers is a lower bound on how far the Gaussian q(z|x) is from the true
# posterior, on average over the test images.

# %%
test = evaluate_elbo(vae, x_test, np.random.default_rng(seed + 4))
log_px = evaluate_log_likelihood(vae, x_test, np.random.default_rng(seed + 5), K=K)
n_active, _ = active_units(posterior_means(vae, x_test)[0])
print(f"Bernoulli, 8-D latent: ELBO {test['elbo']:.2f} = E log p(x|z) "
      f"{test['reconstruction']:.2f} − KL {test['kl']:.2f};  log p(x) ≥ IWAE_{K} "
      f"{log_px:.2f};  active units {n_active}")
print(f"gap IWAE_{K} − ELBO = {log_px - test['elbo']:.2f} nats "
      f"≤ mean KL(q(z|x) ‖ p(z|x))  (thesis eq. 2.7)")
# full run: ELBO about −23 (from −28), about 5 nats of it KL; IWAE about half a nat above

# %% [markdown]
# ## What the trained model draws
#
# Test digits (grey and binarized) and the decoder's mean E[x|z] for one z ~ q(z|x); then
# E[x|z] for z drawn from the prior — new digits; then one latent dimension moved at a
# time from the code of the first test digit, as the thesis's exploration plots do (§3.1).

# %%
fig_rng = np.random.default_rng(seed + 6)
recon = to_numpy(vae.reconstruct(bk.asarray(x_test[:12]), fig_rng))
fig_recon = save_image_rows([splits.test.images[:12], x_test[:12], recon],
                            ["grey", "binary x", "E[x|z]"],
                            sec.out / "reconstructions_bernoulli.png",
                            title="Test digits and their reconstructions, z ~ q(z|x)")
fig_samples = save_image_grid(to_numpy(vae.sample(40, fig_rng)),
                              sec.out / "samples_bernoulli.png", ncols=10,
                              title="Bernoulli VAE: E[x|z] for z ~ N(0, I)")
# reconstructions keep most digits' identity; prior samples show digit strokes, blurrier
# than the reconstructions (more so after the 30 epochs of --quick)

# %%
values = np.linspace(-2.5, 2.5, 9)
base, _ = posterior_means(vae, x_test[:1])
fig_traversal = save_traversal(
    decode_mean(vae, latent_traversal(8, values, base=base[0])), values,
    sec.out / "traversal_bernoulli.png",
    title="One latent dimension at a time, from the code of the first test digit")
# one row per dimension, z_l from −2.5 to 2.5: some rows change the digit a lot, others hardly

# %% [markdown]
# ## What this section measured
#
# The ELBO by parts equals `objectives.elbo` to float32 round-off, and eq. 2.29 holds.
# In the full run (seed 0) the Bernoulli VAE's test ELBO rises from about −28 nats (the
# mean image) to about −23, of which about 5 nats are KL; IWAE_1000 lies about half a nat
# above it.  Figures: `elbo_bernoulli.png` (ELBO per epoch; validation KL and
# reconstruction), `reconstructions_bernoulli.png`, `samples_bernoulli.png`,
# `traversal_bernoulli.png`; and `results.json`.

# %%
bernoulli = {"elbo": test["elbo"], "reconstruction": test["reconstruction"], "kl": test["kl"],
             f"log_px_iwae{K}": log_px, "active_units": n_active,
             "elbo_parts_gap": elbo_parts_gap, "change_of_variables_gap": change_of_variables_gap,
             "untrained_elbo": untrained_elbo, "seconds": seconds,
             "final_train_elbo": history["train_elbo"][-1],
             "final_val_elbo": history["val_elbo"][-1]}
results = sec.finish(
    {"backend": bk.name, "epochs": epochs, "iwae_k": K, "bernoulli": bernoulli,
     "figures": [fig_curves, fig_recon, fig_samples, fig_traversal]},
    summary=f"Bernoulli VAE: test ELBO {test['elbo']:.2f} = {test['reconstruction']:.2f} − KL "
            f"{test['kl']:.2f} (untrained {untrained_elbo:.2f}), IWAE_{K} {log_px:.2f} nats; "
            f"ELBO by parts off by {elbo_parts_gap:.0e}")
