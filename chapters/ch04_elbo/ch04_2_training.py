# %% [markdown]
# # Chapter 4.2 — Maximizing the ELBO minimizes the KL to the posterior
#
# Section 4.1 checked log p(x) = ELBO(q) + KL(q(z|x) ‖ p(z|x)) (thesis eq. 2.7) on the
# linear-Gaussian model z ~ N(0, I), x | z ~ N(Wz + b, σ²I), with z ∈ R², x ∈ R⁵ and
# σ² = 0.5, whose posterior is a correlated Gaussian: no diagonal q reaches it, and the
# KL of the best one, −½ log(1 − ρ²), is a floor under every diagonal q's.  Here we
# *learn* q by maximizing the ELBO, as a VAE does: variational inference (thesis §2.2)
# finds, in a tractable family (here the diagonal Gaussians), the q_φ most similar to the
# posterior, q_φ(z|x) ≈ p_θ(z|x) (tutorial eq. 5).
#
# Amortized inference (slides Concept 11.10; tutorial §2.2): one encoder
# q_φ(z|x) = N(μ_φ(x), diag(exp(logvar_φ(x)))) for all data points.  For this model the
# best diagonal q is an affine function of x, so an encoder with a single Dense layer
# (x → 2D, Glorot-initialised) can represent it.  We train that encoder on 500 points
# drawn from the model with Adam (learning rate from 0.05 down to 0.0005 along
# `optim.cosine_decay`), on the library's reparameterized ELBO gradient (`elbo(…)` with
# grads=True, minibatches of 50), while the decoder stays the true model.  After every
# few steps we compute, exactly, the mean over the 500 points of the ELBO
# (`models/toy.py`'s closed form), of KL(q_φ(z|x) ‖ p(z|x)), and of log p(x).
#
# Slides Concept 11.11: the encoder's problem "minimize KL" (tutorial eq. 13:
# φ* = argmin_φ KL(q_φ(z|x) ‖ p(z|x))) and "maximize ELBO" are the same problem; the sum
# ELBO + KL stays at the mean log p(x) throughout, and the KL falls towards the mean of
# the floor −½ log(1 − ρ²) (the posterior covariance is the same for every x).

# %%
import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.models.toy import LinearGaussianModel
from vae_from_scratch.objectives import elbo
from vae_from_scratch.optim import Adam
from vae_from_scratch.schedules import cosine_decay
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch04_2", "Chapter 4.2: training an encoder on the ELBO",
                    "300 Adam steps instead of 1500, a few seconds")
rng = sec.rngs(4)[3]            # the chapter's fourth stream (4.1 draws from the first three)
steps = 300 if sec.quick else 1500
n, batch, every = 500, 50, 10

# %% [markdown]
# The model of section 4.1 (W and b from seed 0), 500 points from it, and a Glorot-random
# Dense encoder.  Before training: the mean log p(x) the ELBO can at best approach, and the
# floor, the mean KL of the best diagonal q.

# %%
model = LinearGaussianModel.random(5, 2, np.random.default_rng(0), noise_var=0.5)
x, _ = model.sample(n, rng)
vae = model.vae(model.random_encoder(rng))
lr = cosine_decay(0.05, steps, final_lr=0.0005)                 # from 0.05 down to 0.0005
opt = Adam(vae.encoder.params, vae.encoder.grads, lr=lr)        # the decoder stays fixed
log_px = float(model.log_marginal(x).mean())
mu_b, lv_b = model.best_diagonal_q(x)
floor = float(model.kl_to_posterior(x, mu_b, lv_b).mean())
print(f"mean log p(x) = {log_px:.5f}; floor: mean KL of the best diagonal q = {floor:.5f}")

# %% [markdown]
# The training loop: a minibatch, the ELBO's gradient (`elbo` fills the encoder's
# gradients), an Adam step; every 10 steps the exact mean ELBO, KL and their sum on all 500
# points.

# %%
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

# %% [markdown]
# The history at a few steps: the ELBO rises, the KL falls by the same amount, their sum
# stays at log p(x).

# %%
drift = float(np.max(np.abs(np.array(hist["sum"]) - log_px)))
print(f"training a Dense encoder by Adam (lr 0.05 → 0.0005, cosine) on the ELBO, {n} points, "
      f"{steps} steps:")
print(f"{'step':>6} {'mean ELBO':>11} {'mean KL(q‖p(z|x))':>18} {'ELBO + KL':>11}")
marks = sorted(set([0, 1, 2, 5, 10, 20, 50] + [len(hist['step']) - 1]))
for i in (k for k in marks if k < len(hist["step"])):
    print(f"{hist['step'][i]:6d} {hist['elbo'][i]:11.5f} {hist['kl'][i]:18.5f} "
          f"{hist['sum'][i]:11.5f}")
print(f"mean log p(x) = {log_px:.5f} (max |ELBO + KL − log p(x)| over the run: {drift:.1e}); "
      f"floor: mean KL of the best diagonal q = {floor:.5f}")
# should be: the drift at round-off (below 1e-9); the final KL above the floor, within
# 1.4 × the floor in quick mode, and below a tenth of the initial KL

# %% [markdown]
# The learned q for the first point: its standard deviations against the best diagonal
# q's and the posterior's marginals.  The learned q should approach the best diagonal q,
# narrower than the marginals (mode-seeking, chapter 3).

# %%
mu, logvar = vae.encoder_forward(x[:1])
print(f"learned standard deviations {np.array2string(np.exp(0.5 * logvar[0]), precision=4)} "
      f"vs best diagonal {np.array2string(np.exp(0.5 * lv_b[0]), precision=4)} vs posterior "
      f"marginals {np.array2string(np.sqrt(np.diag(model.posterior(x[:1])[1])), precision=4)}")
# between the best diagonal q's and the marginals, nearer the first the longer it trains

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.plot(hist["step"], hist["elbo"], label="mean ELBO (exact)")
ax1.axhline(log_px, color="k", ls="--", lw=1, label="mean log p(x)")
ax1.axhline(log_px - floor, color="tab:red", ls=":", lw=1.2, label="mean log p(x) − KL floor")
ax1.set_ylim(log_px - 6, log_px + 0.5)
ax1.set(xlabel="Adam step", ylabel="nats per example",
        title="the ELBO rises towards log p(x) − floor")
ax1.legend(fontsize=8)
ax2.semilogy(hist["step"], hist["kl"], label="mean KL(q ‖ p(z|x)) = log p(x) − ELBO")
ax2.axhline(floor, color="tab:red", ls=":", lw=1.2, label="floor (best diagonal q)")
ax2.set(xlabel="Adam step", ylabel="nats per example",
        title="… because the KL to the posterior falls")
ax2.legend(fontsize=8)
for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
fig_training = save_figure(fig, sec.out / "training.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# In training, ELBO + KL = log p(x) at every step and the KL ends near its floor: the
# encoder that maximizes the ELBO is the one closest to the posterior in KL(q ‖ p(z|x)).

# %%
training = {"mean_log_p_x": log_px, "kl_floor_mean": floor, "final_elbo": hist["elbo"][-1],
            "final_kl": hist["kl"][-1], "initial_kl": hist["kl"][0], "max_sum_drift": drift,
            "learned_std": np.exp(0.5 * logvar[0]).tolist(),
            "best_std": np.exp(0.5 * lv_b[0]).tolist()}
results = sec.finish({"training": training, "figures": [fig_training]},
                     summary=f"trained encoder KL {training['final_kl']:.4f} vs floor "
                             f"{floor:.4f} (initial {training['initial_kl']:.2f}); "
                             f"ELBO + KL − log p(x) at most {drift:.0e}")
