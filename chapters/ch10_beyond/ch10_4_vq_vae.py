# %% [markdown]
# # Chapter 10.4 — VQ-VAE: a discrete code (slides Concept 11.23)
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
# puts a VQ-VAE on the same rate–distortion plane as the β-VAEs of section 10.2.  The
# paper then fits a second, autoregressive prior over the codes; with the uniform prior
# kept here, samples (random codes) show what the uniform prior gets wrong.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.backend import get_backend, to_numpy
from vae_from_scratch.data import load_for_vae
from vae_from_scratch.models import mlp_vae
from vae_from_scratch.models.vq_vae import mlp_vqvae, perplexity
from vae_from_scratch.optim import Adam
from vae_from_scratch.train import evaluate_elbo, fit
from vae_from_scratch.viz.plots import save_figure, save_image_grid, save_image_rows

sec = start_section("ch10_4", "Chapter 10.4: the VQ-VAE on the rate–distortion plane",
                    "30 epochs instead of 300, one codebook instead of three", backend=True)
bk = get_backend(sec.backend)
epochs = 30 if sec.quick else 300
VQ_CONFIGS = ((8, 4, 2), (4, 16, 2), (2, 64, 4))      # (M latents, K codes, code dimension D)
configs = VQ_CONFIGS[:1] if sec.quick else VQ_CONFIGS
betas = (0.5, 1.0, 4.0) if sec.quick else (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)     # section 10.2's
# the chapter's data and seeds (section 10.1): split from --seed, weights from seed + 1,
# minibatches from seed + 3, the test ELBO from seed + 20, the figures' draws from seed + 6
_, binary = load_for_vae("digits", rng=np.random.default_rng(sec.seed))
x_train, x_val, x_test = (s.images for s in binary)
print(f"backend {bk.name}, {epochs} epochs per model")


def train(model, beta=1.0):
    fit(model, Adam(model.params, model.grads, lr=1e-3), x_train, x_val, epochs=epochs,
        batch_size=50, rng=np.random.default_rng(sec.seed + 3), beta=beta, quiet=True)
    return model


# %% [markdown]
# ## The β-VAE curve, again
#
# The comparison needs section 10.2's rate–distortion curve and its β = 1 VAE.  Retraining
# them with the same seeds gives the same models and the same numbers as there (a few
# seconds in quick mode, about a minute in full), so that this section stands alone:

# %%
beta_rows, models = {}, {}
for beta in betas:
    vae = mlp_vae((1, 8, 8), latent_dim=8, hidden=(256,), likelihood="bernoulli",
                  rng=np.random.default_rng(sec.seed + 1), backend=bk)
    vae.init_output_bias(x_train.mean(axis=0))
    models[beta] = train(vae, beta)
    test = evaluate_elbo(vae, x_test, np.random.default_rng(sec.seed + 20))
    beta_rows[beta] = {"kl": test["kl"], "distortion": -test["reconstruction"],
                       "elbo": test["elbo"]}
    print(f"β = {beta:<4g} rate {test['kl']:6.2f}  distortion {-test['reconstruction']:6.2f}")
# the rows of section 10.2's table, number for number

# %% [markdown]
# ## VQ-VAEs with three codebooks
#
# Each VQ-VAE has the same MLP (hidden layer of 256) and is trained like the VAE, on the
# same minibatches.  Its rate is M log K by construction; its distortion and its code
# usage — the perplexity exp(H) of the codes' frequencies on the test digits, K when
# all K codes are used equally often — are measured.

# %%
rows, vq_models = {}, {}
print(f"{'M × K codes (D)':<16} {'rate = M log K':>14} {'distortion':>11} {'ELBO':>8} "
      f"{'perplexity':>10} {'codes used':>10}")
for M, K, D in configs:
    model = mlp_vqvae((1, 8, 8), num_latents=M, code_dim=D, num_codes=K, hidden=(256,),
                      rng=np.random.default_rng(sec.seed + 1), backend=bk)
    model.init_output_bias(x_train.mean(axis=0))
    t0 = time.perf_counter()
    train(model)
    test = evaluate_elbo(model, x_test, np.random.default_rng(sec.seed + 20))
    idx = to_numpy(model.encode(bk.asarray(x_test))[2])
    key = f"{M}x{K}"
    rows[key] = r = {"M": M, "K": K, "D": D, "rate": model.kl, "distortion": -test["reconstruction"],
                     "elbo": test["elbo"], "perplexity": perplexity(idx, K),
                     "codes_used": int(len(np.unique(idx))), "seconds": time.perf_counter() - t0}
    vq_models[key] = model
    print(f"{f'{M} × {K} ({D})':<16} {r['rate']:>14.2f} {r['distortion']:>11.2f} "
          f"{r['elbo']:>8.2f} {r['perplexity']:>10.2f} {r['codes_used']:>7} / {K}")
best = max(rows, key=lambda k: rows[k]["elbo"])
b1 = beta_rows[1.0]
print(f"Gaussian VAE (β = 1) for comparison: rate {b1['kl']:.2f}, distortion "
      f"{b1['distortion']:.2f}, ELBO {b1['elbo']:.2f}")
# rate = M log K exactly (8 log 4 = 11.09); ELBO = −distortion − rate; perplexity near K

# %% [markdown]
# Measured (full run, three codebooks): every code is used (perplexity close to K).
# With M = 8 symbols out of K = 4 (16 bits, 11.1 nats) the VQ-VAE reconstructs with a
# distortion of about 13.2 nats, *below* the β-VAE curve at the same rate (about 14.2
# nats, between β = 0.5 and 0.25); the other two codebooks (4 × 16 and 2 × 64) lie half a
# nat to a nat above it.  At equal rate a discrete code does about as well as a Gaussian
# one here, and many small symbols beat few large ones.  The ELBO of the best VQ-VAE
# (about −24.3) is still below the VAE's −22.9, because its rate is fixed at 11 nats
# while the ELBO's best trade-off lies near 5.  On the plane, lines of constant ELBO are
# the diagonals D = −ELBO − R:

# %%
fig, ax = plt.subplots(figsize=(6.4, 4.6))
bs = sorted(beta_rows)
ax.plot([beta_rows[b]["kl"] for b in bs], [beta_rows[b]["distortion"] for b in bs], "o-",
        label="Gaussian VAE, β-VAE (section 10.2)")
groups = {}                                    # label the β of each point, once per place
for b in bs:
    x, y = beta_rows[b]["kl"], beta_rows[b]["distortion"]
    groups.setdefault((round(x, 1), round(y, 1)), []).append((b, x, y))
for group in groups.values():
    ax.annotate("β=" + ", ".join(f"{b:g}" for b, _, _ in group), group[0][1:],
                textcoords="offset points", fontsize=8, xytext=(5, 5))
ax.plot([r["rate"] for r in rows.values()], [r["distortion"] for r in rows.values()],
        "s", color="C3", label="VQ-VAE, rate = M log K")
for r in rows.values():
    ax.annotate(f"{r['M']}×{r['K']}", (r["rate"], r["distortion"]), textcoords="offset points",
                xytext=(-12, -13), fontsize=8, color="C3")
for elbo in (-23, -25, -27):                       # lines of constant ELBO: D = −ELBO − R
    ax.plot([0, 14], [-elbo, -elbo - 14], color="grey", lw=0.7, ls=":")
    ax.annotate(f"ELBO {elbo}", (13.9, -elbo - 13.9), fontsize=7, color="grey", ha="right",
                va="top", rotation=-28)
ax.set(xlabel="rate: KL (nats per image)", ylabel="distortion: −E log p(x|z) (nats)",
       title="Rate and distortion on the test digits", xlim=(-0.5, 14.5))
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
fig_rd = save_figure(fig, sec.out / "rate_distortion.png")

# %% [markdown]
# ## Reconstructions and samples
#
# Twelve test digits, their reconstructions by the VAE (β = 1) and by the best VQ-VAE;
# then samples of the VQ-VAE: E[x | codes] for codes drawn uniformly.  Its samples look
# like scrambled digits — the code tuples of real digits are far from uniform, which is
# what the learned prior of the paper is for.

# %%
fig_rng = np.random.default_rng(sec.seed + 6)
shown, vq, label = x_test[:12], vq_models[best], best.replace("x", "×")
fig_rec = save_image_rows([shown, to_numpy(models[1.0].reconstruct(bk.asarray(shown), fig_rng)),
                           to_numpy(vq.reconstruct(bk.asarray(shown)))],
                          ["binary x", "VAE (β = 1)", f"VQ-VAE {label}"],
                          sec.out / "reconstructions_vq.png",
                          title="Test digits and their reconstructions")
fig_samples = save_image_grid(to_numpy(vq.sample(40, fig_rng)), sec.out / "samples_vq.png",
                              ncols=10, title=f"VQ-VAE {label}: E[x|codes], codes drawn uniformly")

# %% [markdown]
# ## What this section measured
#
# A VQ-VAE's rate is M log K, set by its codebook; at equal rate its distortion is close to
# the β-VAE's.  The numbers go to `results.json`; the last line is the summary.

# %%
vqb = rows[best]
results = sec.finish({"backend": bk.name, "epochs": epochs,
                      "vq_vae": {"rows": rows, "best": best},
                      "beta_vae_points": {str(b): r for b, r in beta_rows.items()},
                      "figures": [fig_rd, fig_rec, fig_samples]},
                     summary=f"VQ-VAE {best}: ELBO {vqb['elbo']:.2f}, distortion "
                             f"{vqb['distortion']:.2f} at rate {vqb['rate']:.2f}; VAE (β = 1): "
                             f"ELBO {b1['elbo']:.2f}, distortion {b1['distortion']:.2f} at rate "
                             f"{b1['kl']:.2f}")
