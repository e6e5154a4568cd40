# %% [markdown]
# # Chapter 7.5 — Amortised inference and its gap
#
# **Theory:** tutorial §2.2 and §3.4; slides Concept 11.10.
#
# For every data point the best q is its own: the ELBO of xᵢ is maximised over a
# λᵢ = (μᵢ, log σᵢ²) of its own ("stochastic variational inference", tutorial §3.4).
# A VAE instead trains one encoder that outputs (μ_φ(xᵢ), log σ²_φ(xᵢ)) for every xᵢ:
# "instead of training the network to optimize a separate λ⁽ⁿ⁾ value … for each x⁽ⁿ⁾
# … we may well have just one encoder network.  This technique is called amortized
# variational inference" (tutorial §3.4; §2.2: "a single set of parameters ϕ are
# responsible for the inference of all dataset").  The price, in the slides' words: the
# approximation q_φ(z | Xᵢ) ≈ p_θ(z | Xᵢ) "is often less precise than that of
# individual inference qᵢ(z) ≈ p_θ(z | Xᵢ), but amortized inference is often
# significantly faster" (Concept 11.10).
#
# This section measures "less precise" in nats.  For the trained Bernoulli VAE of
# section 7.1 and each test digit x, we freeze the decoder and optimise one
# q(z | x) = N(μ_x, diag σ_x²) for that x alone — gradient ascent on its ELBO over
# (μ_x, log σ_x²), started at the encoder's output.  Since log p(x) − ELBO =
# KL(q ‖ p(z|x)) (thesis eq. 2.7), the split
#
#   log p(x) − ELBO(encoder's q) = [log p(x) − ELBO(best q)] + [ELBO(best q) − ELBO(encoder's q)]
#
# separates the gap of the Gaussian family (first bracket) from the **amortisation gap**
# (second bracket): what the encoder loses by being one network for all x.

# %%
import time

import numpy as np

from vae_from_scratch.apps.chapter_tools import exercise_commands, start_section
from vae_from_scratch.backend import get_backend, to_numpy
from vae_from_scratch.data import load_for_vae
from vae_from_scratch.distributions import DiagonalGaussian
from vae_from_scratch.models import mlp_vae
from vae_from_scratch.models.toy import LinearGaussianModel
from vae_from_scratch.optim import Adam
from vae_from_scratch.schedules import cosine_decay
from vae_from_scratch.train import evaluate_log_likelihood, fit
from vae_from_scratch.viz.plots import pyplot, save_figure

sec = start_section("ch07_5", "Chapter 7.5: amortised inference and its gap",
                    "30 epochs instead of 300, 100 test digits instead of 359, 300 steps "
                    "per q instead of 1000", backend=True)
bk = get_backend(sec.backend)
seed = sec.seed                  # 7.1's seeds: + 1 weights, + 3 training, + 5 IWAE; + 10 …
epochs, n_test, steps, K = (30, 100, 300, 50) if sec.quick else (300, 359, 1000, 1000)
print(f"backend {bk.name}; {epochs} epochs; {n_test} test digits, {steps} steps per q")

# %% [markdown]
# ## One q per data point, by gradient ascent
#
# The ELBO of one x as a function of its own (μ, log σ²), the decoder fixed: with
# z = μ + σ ⊙ ε (thesis eq. 2.27) its reparameterised gradient (eq. 2.17) is the
# decoder's ∂ log p(x|z)/∂z carried back through the sampler, minus the closed-form KL's
# gradient (∂KL/∂μ = μ, ∂KL/∂log σ² = ½ (σ² − 1); tutorial eq. 22).  The function below
# averages that gradient over 16 draws of ε and takes one Adam step for every x at once;
# Adam's steps are per element, so each x's q moves on its own gradient alone.
# `elbo_of` estimates each ELBO with M draws.


# %%
def per_point_q(model, x, mu, logvar, steps, rng, lr=0.05, S=16):
    """Maximise each x's own ELBO over its (μ, log σ²), the decoder frozen, with S draws
    of ε per step; returns them and the mean single-draw ELBO at each step."""
    xp, n = model.xp, len(x)
    params = {"mu": xp.array(mu), "logvar": xp.array(logvar)}
    grads = {k: xp.zeros_like(v) for k, v in params.items()}
    opt, trace = Adam(params, grads, lr=cosine_decay(lr, steps, final_lr=lr / 50)), []
    xs, weight = xp.concatenate([x] * S), xp.full(S * n, -1.0 / S, dtype=params["mu"].dtype)
    for _ in range(steps):
        q = DiagonalGaussian(*(xp.concatenate([params[k]] * S) for k in ("mu", "logvar")))
        rec = model.decoder_forward(q.sample(rng)).log_prob(xs)            # eq. 2.27, 2.31
        trace.append(float((rec - q.kl_to_standard_normal()).mean()))
        dmu_z, dlogvar_z = q.backward(model.decoder_backward(xs, weight))  # eq. 2.17
        dmu_kl, dlogvar_kl = DiagonalGaussian(params["mu"], params["logvar"]).kl_backward(
            -weight[:n] * S)                                               # tutorial eq. 22
        grads["mu"][...] = dmu_z.reshape(S, n, -1).sum(axis=0) + dmu_kl
        grads["logvar"][...] = dlogvar_z.reshape(S, n, -1).sum(axis=0) + dlogvar_kl
        opt.step()                                     # minimises −ELBO, x by x
    return params["mu"], params["logvar"], trace


# %%
def elbo_of(model, x, mu, logvar, rng, M=200):
    """Each x's ELBO for q = N(μ, diag σ²): M draws of log p(x|z), minus the exact KL."""
    q = DiagonalGaussian(mu, logvar)
    rec = sum(model.decoder_forward(q.sample(rng)).log_prob(x) for _ in range(M)) / M
    return to_numpy(rec - q.kl_to_standard_normal()).astype(np.float64)


# %% [markdown]
# ## The optimiser on a model with a known answer
#
# Chapter 4's linear-Gaussian model (z ∈ R², x ∈ R⁵, σ² = 0.5, W and b from seed 0) has
# an exact ELBO and a best diagonal q in closed form (`best_diagonal_q`, section 4.1).
# Started from the prior N(0, I), `per_point_q` must reach, for every x, the ELBO of
# that best q, log p(x) − min KL:

# %%
lg = LinearGaussianModel.random(5, 2, np.random.default_rng(0), noise_var=0.5)
x_lg, _ = lg.sample(200, np.random.default_rng(seed + 10))
lg_vae = lg.vae(lg.constant_encoder(np.zeros(2), np.zeros(2)))
mu0 = np.zeros((200, 2))
mu_lg, lv_lg, _ = per_point_q(lg_vae, x_lg, mu0, mu0, 500, np.random.default_rng(seed + 11))
best = lg.elbo(x_lg, *lg.best_diagonal_q(x_lg))                # exact, closed form
short = best - lg.elbo(x_lg, mu_lg, lv_lg)                     # exact, ≥ 0
print(f"exact ELBO of the best diagonal q minus that of the optimised q, 200 points: mean "
      f"{short.mean():.1e}, max {short.max():.1e} nats (at the start, the prior: "
      f"{np.mean(best - lg.elbo(x_lg, mu0, mu0)):.2f})")
# should be: about a thousandth of a nat on average, a few thousandths at most

# %% [markdown]
# ## The digit VAE of section 7.1
#
# Trained as in 7.1 (the same seeds: the same model), then the first test digits,
# binarised as in 7.1.

# %%
splits, binary = load_for_vae("digits", rng=np.random.default_rng(seed))   # as in 7.1
vae = mlp_vae((1, 8, 8), latent_dim=8, hidden=(256,), likelihood="bernoulli",
              rng=np.random.default_rng(seed + 1), backend=bk)
vae.init_output_bias(splits.train.images.mean(axis=0))
fit(vae, Adam(vae.params, vae.grads, lr=1e-3), splits.train.images, binary.val.images,
    epochs=epochs, rng=np.random.default_rng(seed + 3), batch_size=50, binarize="dynamic",
    quiet=True)
x = bk.asarray(binary.test.images[:n_test], dtype=vae.dtype)
q_enc = vae.encode(x)                                         # the amortised q_φ(z|x)
print(f"trained {epochs} epochs; {n_test} test digits")

# %% [markdown]
# Each test digit's own q, started at the encoder's, then both ELBOs per digit with the
# same 200 draws of ε (common random numbers: the difference is measured with far less
# noise than either ELBO).

# %%
t0 = time.perf_counter()
mu_x, lv_x, trace = per_point_q(vae, x, q_enc.mu, q_enc.logvar, steps,
                                np.random.default_rng(seed + 12))
seconds = time.perf_counter() - t0
elbo_enc = elbo_of(vae, x, q_enc.mu, q_enc.logvar, np.random.default_rng(seed + 13))
elbo_own = elbo_of(vae, x, mu_x, lv_x, np.random.default_rng(seed + 13))
gap = elbo_own - elbo_enc                                     # the amortisation gap
log_px = evaluate_log_likelihood(vae, binary.test.images[:n_test],
                                 np.random.default_rng(seed + 5), K=K)
amortised = {"elbo_encoder": float(elbo_enc.mean()), "elbo_per_point": float(elbo_own.mean()),
             "gap_mean": float(gap.mean()), "gap_se": float(gap.std(ddof=1) / np.sqrt(n_test)),
             "gap_positive_share": float((gap > 0).mean()), f"log_px_iwae{K}": log_px,
             "seconds": seconds}
print(f"ELBO of the encoder's q {elbo_enc.mean():.3f}, of each digit's own q "
      f"{elbo_own.mean():.3f} ({steps} Adam steps, {seconds:.1f} s); log p(x) ≥ IWAE_{K} "
      f"{log_px:.3f} nats per image")
print(f"amortisation gap {gap.mean():.3f} ± {amortised['gap_se']:.3f} (s.e.) nats per image, "
      f"positive for {100 * (gap > 0).mean():.0f} % of the digits; the Gaussian family's gap "
      f"≥ IWAE − ELBO(own q) = {log_px - elbo_own.mean():.3f}")
# the per-point ELBO is higher: a gap of about 0.2 nats per image (0.23 ± 0.02 with
# --quick, 0.18 ± 0.01 in the full run), positive for every digit; IWAE above both

# %%
plt = pyplot()
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax1.plot(np.arange(1, steps + 1), trace, lw=0.8, label="each digit's own q (one draw)")
ax1.axhline(elbo_enc.mean(), color="tab:red", ls="--", label="encoder's q")
ax1.axhline(log_px, color="k", ls=":", label=f"IWAE_{K} (≤ log p(x))")
ax1.set(xlabel="Adam step", ylabel="mean ELBO, nats per image",
        title="per-point inference, decoder frozen")
ax1.legend(fontsize=8)
ax2.hist(gap, bins=30)
ax2.axvline(0, color="k", lw=0.8)
ax2.set(xlabel="ELBO(own q) − ELBO(encoder's q), nats", ylabel="test digits",
        title=f"amortisation gap: mean {gap.mean():.2f} ± {amortised['gap_se']:.2f}")
fig_gap = save_figure(fig, sec.out / "amortisation_gap.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# On the linear-Gaussian model the per-point optimiser reaches the known best q.  On the
# digits every test image's own q reaches a higher ELBO than the encoder gives it: the
# amortisation gap, the cost of one network for all x (slides Concept 11.10), which the
# IWAE bound shows to be one part of log p(x) − ELBO.  Figure: `amortisation_gap.png`;
# and `results.json`.

# %%
results = sec.finish(
    {"backend": bk.name, "epochs": epochs, "n_test": n_test, "steps": steps, "iwae_k": K,
     "oracle_shortfall_mean": float(short.mean()), "oracle_shortfall_max": float(short.max()),
     "amortised": amortised, "figures": [fig_gap]},
    summary=f"amortisation gap {gap.mean():.3f} ± {amortised['gap_se']:.3f} nats per image "
            f"(ELBO {elbo_enc.mean():.2f} → {elbo_own.mean():.2f}, IWAE_{K} {log_px:.2f}); "
            f"optimiser off the known best q by {short.max():.0e}")

# %% [markdown]
# ## Exercises
#
# Write the two pieces of section 7.1 yourself: the Bernoulli log-likelihood of eq. 2.31
# from logits, numerically stable, with its gradient; and the ELBO of a minibatch with its
# gradient by reparameterization (eq. 2.11, 2.27).  The autograder checks them against the
# library and by central differences:

# %%
print(exercise_commands("ch07"))
