# %% [markdown]
# # Chapter 4.3 — Encoder and decoder maximise the same objective
#
# **Theory:** slides Concepts 11.11, 11.12 and Definition 11.13; thesis eq. 2.7, 2.8 and
# Algorithm 2.
#
# Section 4.2 trained the encoder q_φ with the decoder fixed at the true model: "minimize
# KL" and "maximize ELBO" are then one problem (slides Concept 11.11).  The decoder's
# problem is maximum likelihood, max_θ Σᵢ log p_θ(Xᵢ); the slides replace log p_θ(Xᵢ) by
# an importance-sampled estimate with Zᵢ ~ q_φ(z|Xᵢ), then the log of the estimate by its
# expectation, and arrive at the same Σᵢ E_q[log p_θ(Xᵢ|Z)] − KL(q_φ ‖ p_Z) (Concept
# 11.12).  "The optimization objectives for the encoder (Concept 11.11) and decoder
# (Concept 11.12) are the same!  Simultaneously train p_θ and q_φ" (Definition 11.13) —
# the thesis's Algorithm 2, which updates θ and φ with the one gradient.
#
# Does maximising a *lower bound* find the decoder that maximum likelihood would?  On the
# linear-Gaussian model of sections 4.1–4.2 the answer is known in closed form.  With σ²
# fixed, log p_θ(x) = log N(x; b, WWᵀ + σ²I) is largest (Tipping & Bishop 1999) at b̂ = x̄
# and WWᵀ = U diag(λⱼ − σ²)₊ Uᵀ, with λ₁ ≥ λ₂ the two largest eigenvalues of the sample
# covariance and U their eigenvectors; W itself only up to a rotation.  Among those
# rotations one has orthogonal columns, and then the posterior is diagonal and the best
# diagonal q is exact (section 4.1): the ELBO reaches max log p_θ(x).  Since
# ELBO ≤ log p_θ(x) ≤ max_θ log p_θ(x) everywhere (thesis eq. 2.8), that maximum is the
# ELBO's maximum too: trained jointly, the ELBO and log p_θ(x) must both climb to the
# closed-form maximum, and the gap between them close.

# %%
import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.models.toy import LinearGaussianModel, mvn_log_prob
from vae_from_scratch.objectives import elbo
from vae_from_scratch.optim import Adam
from vae_from_scratch.schedules import cosine_decay
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch04_3", "Chapter 4.3: encoder and decoder trained on one objective",
                    "2000 Adam steps instead of 8000, a few seconds")
rng = sec.rngs(5)[4]            # the chapter's fifth stream (4.1 draws from the first three,
steps = 2000 if sec.quick else 8000                       # 4.2 from the fourth)
n, batch, every = 500, 100, 20

# %% [markdown]
# The true model of sections 4.1–4.2 (z ∈ R², x ∈ R⁵, σ² = 0.5, W and b from seed 0) and
# 500 points from it.  The maximum of the log-likelihood, in closed form, lies a little
# *above* the true parameters' log-likelihood: 500 points are fitted best by parameters
# that fit their own sampling noise too.

# %%
true = LinearGaussianModel.random(5, 2, np.random.default_rng(0), noise_var=0.5)
x, _ = true.sample(n, rng)
lam, U = np.linalg.eigh(np.cov(x, rowvar=False, bias=True))          # ascending
lam, U = lam[::-1][:2], U[:, ::-1][:, :2]                            # the two largest
C_ml = 0.5 * np.eye(5) + U @ np.diag(np.maximum(lam - 0.5, 0)) @ U.T  # WWᵀ + σ²I at the max
ll_max = float(mvn_log_prob(x, x.mean(axis=0), C_ml).mean())
ll_true = float(true.log_marginal(x).mean())
print(f"mean log p(x): at the maximum {ll_max:.5f}, at the true parameters {ll_true:.5f}")
# the maximum above the truth by a few thousandths of a nat per point

# %% [markdown]
# The learner: a decoder Dense(2 → 5) holding W and b, started at a *random* model (W, b
# drawn from N(0, 1)), σ² fixed at 0.5; a Dense encoder as in 4.2.  Adam on all
# parameters at once (learning rate 0.05 down to 0.0005, cosine), minibatches of 100: the
# library's `elbo(…)` fills the encoder's and the decoder's gradients of the one
# objective.  Every 20 steps, exactly (`models/toy.py`'s closed forms, with the current
# W and b): the mean ELBO, the mean log p_θ(x), and the decoder's distance to the truth
# and to the maximum, ‖C_θ − C‖_F / ‖C‖_F with C_θ = WWᵀ + σ²I, the covariance of x
# (W's rotation cannot be recovered; WWᵀ can).

# %%
start = LinearGaussianModel.random(5, 2, rng, noise_var=0.5)
vae = start.vae(start.random_encoder(rng))
opt = Adam(vae.params, vae.grads, lr=cosine_decay(0.05, steps, final_lr=0.0005))
hist = {k: [] for k in ("step", "elbo", "log_p", "to_true", "to_max", "rho")}


def distance(C, target):
    return float(np.linalg.norm(C - target) / np.linalg.norm(target))


def record(step):
    now = LinearGaussianModel(vae.decoder.params["W"].copy(), vae.decoder.params["b"].copy(), 0.5)
    mu, logvar = vae.encoder_forward(x)
    S = np.linalg.inv(now.posterior_precision())                      # p_θ(z|x)'s covariance
    hist["step"].append(step)
    for key, value in (("elbo", now.elbo(x, mu, logvar).mean()),
                       ("log_p", now.log_marginal(x).mean()),
                       ("to_true", distance(now.marginal_cov(), true.marginal_cov())),
                       ("to_max", distance(now.marginal_cov(), C_ml)),
                       ("rho", S[0, 1] / np.sqrt(S[0, 0] * S[1, 1]))):
        hist[key].append(float(value))



# %%
record(0)
for step in range(1, steps + 1):
    elbo(vae, x[rng.choice(n, batch, replace=False)], rng=rng, kl="analytic")  # θ and φ
    opt.step()
    if step % every == 0:
        record(step)

# %% [markdown]
# The history: the ELBO and the exact log p_θ(x) side by side, their gap (= the mean
# KL(q_φ ‖ p_θ(z|x)), thesis eq. 2.7), the correlation ρ of the current posterior, and
# the decoder's distances.

# %%
print(f"{'step':>5} {'ELBO':>10} {'log p_θ(x)':>11} {'gap':>9} {'ρ':>7} "
      f"{'C_θ to truth':>13} {'C_θ to max':>11}")
for i in sorted({0, 1, 2, 5, 10, 25, 50, len(hist["step"]) // 2, len(hist["step"]) - 1}):
    print(f"{hist['step'][i]:5d} {hist['elbo'][i]:10.4f} {hist['log_p'][i]:11.4f} "
          f"{hist['log_p'][i] - hist['elbo'][i]:9.5f} {hist['rho'][i]:7.3f} "
          f"{hist['to_true'][i]:13.4f} {hist['to_max'][i]:11.4f}")
mle_to_true = distance(C_ml, true.marginal_cov())
print(f"closed form: max log p = {ll_max:.4f}; the maximum's C to the truth {mle_to_true:.4f}")
# the ELBO and log p_θ(x) rise together to within a few thousandths of a nat of the
# maximum; the gap and ρ go to 0; C_θ moves to the maximum's C, and so to the truth as
# closely as the maximum itself is (about 0.05)

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.plot(hist["step"], hist["elbo"], label="mean ELBO (exact)")
ax1.plot(hist["step"], hist["log_p"], label="mean log p_θ(x) (exact)")
ax1.axhline(ll_max, color="k", ls="--", lw=1, label="max log p_θ(x), closed form")
ax1.axhline(ll_true, color="tab:red", ls=":", lw=1, label="log p(x) at the true θ")
ax1.set_ylim(ll_max - 1.5, ll_max + 0.2)
ax1.set(xlabel="Adam step", ylabel="nats per point", title="one objective, θ and φ together")
ax1.legend(fontsize=8)
ax2.semilogy(hist["step"], hist["to_true"], label="C_θ to the true C")
ax2.semilogy(hist["step"], hist["to_max"], label="C_θ to the maximum-likelihood C")
ax2.semilogy(hist["step"], np.maximum(np.array(hist["log_p"]) - hist["elbo"], 1e-6),
             label="gap log p_θ(x) − ELBO")
ax2.axhline(mle_to_true, color="k", ls=":", lw=1, label="the maximum's C to the truth")
ax2.set(xlabel="Adam step", title="the decoder moves to the maximum")
ax2.legend(fontsize=8)
for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
fig_joint = save_figure(fig, sec.out / "shared_objective.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# Trained on the ELBO alone, from a random decoder, θ reaches the maximum-likelihood
# decoder known in closed form: log p_θ(x) ends within a few thousandths of a nat of
# max log p_θ(x), the ELBO with it, and the gap closes as W's columns turn orthogonal
# (ρ → 0).  The decoder ends as close to the true model as maximum likelihood on 500
# points can be.

# %%
final = {k: hist[k][-1] for k in ("elbo", "log_p", "to_true", "to_max", "rho")}
joint = {"ll_max": ll_max, "ll_true": ll_true, "mle_to_true": mle_to_true,
         "initial_log_p": hist["log_p"][0], "initial_to_true": hist["to_true"][0],
         **{f"final_{k}": v for k, v in final.items()}}
results = sec.finish({"steps": steps, "joint": joint, "figures": [fig_joint]},
                     summary=f"ELBO {final['elbo']:.4f}, log p_θ(x) {final['log_p']:.4f} vs "
                             f"closed-form max {ll_max:.4f} (start {hist['log_p'][0]:.2f}); "
                             f"C_θ to the max {final['to_max']:.3f}, to the truth "
                             f"{final['to_true']:.3f} (the max's {mle_to_true:.3f})")
