# %% [markdown]
# # Chapter 7.4 — The deterministic autoencoder beside the VAE
#
# **Theory:** tutorial §3.1 and §3.2; slides Concept 11.3.
#
# An autoencoder maps x to a code z = f(x) and back, trained "to reproduce [its] outputs
# as close as possible to the inputs" with a reconstruction loss (tutorial §3.1).  The
# slides name what separates it from a VAE: "VAE regularizes/controls latent
# distribution, while AE does not" (Concept 11.3).  The tutorial draws the consequence:
# deterministic autoencoders "are still not generative", "the best we can do is to
# replicate the data points that we have trained the model with" (§3.1), while the VAE's
# "latent space is continuous by design, and we can easily sample" from it (§3.2).
#
# This section measures that.  It trains the VAE of section 7.1 and, from the same
# initial weights, data and seeds, the same two networks as an autoencoder: z = μ(x)
# (no sampling, the log σ² outputs unused) and the loss −log p(x | z = μ(x)) alone (no
# KL).  Then, for each model, (1) how far its codes are from the prior N(0, I) that we
# sample from, and (2) how digit-like its prior samples x ~ p(x | z), z ~ N(0, I), are,
# by measures first proven where the answer is known.

# %%
import time

import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.backend import get_backend, to_numpy
from vae_from_scratch.data import binarize_static, load_for_vae
from vae_from_scratch.models import VAE, mlp_vae
from vae_from_scratch.models.toy import gaussian_kl
from vae_from_scratch.objectives import elbo, log_mean_exp
from vae_from_scratch.optim import Adam
from vae_from_scratch.train import evaluate_elbo, fit
from vae_from_scratch.viz.latent_space import posterior_means
from vae_from_scratch.viz.plots import pyplot, save_figure, save_image_rows

sec = start_section("ch07_4", "Chapter 7.4: the deterministic autoencoder beside the VAE",
                    "30 epochs instead of 300", backend=True)
bk = get_backend(sec.backend)
seed = sec.seed                  # 7.1's seeds: + 1 weights, + 3 training; + 8 this section's
epochs = 30 if sec.quick else 300
splits, binary = load_for_vae("digits", rng=np.random.default_rng(seed))   # as in 7.1
x_test, grey_train = binary.test.images, splits.train.images
print(f"backend {bk.name}; {epochs} epochs; 8-D latent, Bernoulli decoder")

# %% [markdown]
# ## The same networks, trained two ways
#
# The autoencoder is the library's VAE with one method changed: its loss is the ELBO's
# estimator (thesis eq. 2.16) at ε = 0, so z = μ + σ ⊙ 0 = μ(x), with β = 0, so no KL.
# The gradient then reaches neither σ nor the KL: what remains is −log p(x | μ(x)), the
# Bernoulli reconstruction loss (thesis eq. 2.31).


# %%
class Autoencoder(VAE):
    """The VAE's networks trained without sampling and without the KL: z = μ(x)."""

    def loss_and_grads(self, x, rng=None, eps=None, *, beta=1.0, kl="analytic"):
        zero = self.xp.zeros((len(x), self.latent_dim), dtype=self.dtype)
        return elbo(self, x, eps=zero, beta=0.0)        # loss −log p(x | z = μ(x))


models = {}
for name in ("VAE", "autoencoder"):
    m = mlp_vae((1, 8, 8), latent_dim=8, hidden=(256,), likelihood="bernoulli",
                rng=np.random.default_rng(seed + 1), backend=bk)
    m.init_output_bias(grey_train.mean(axis=0))
    if name == "autoencoder":
        m = Autoencoder(m.encoder, m.decoder, 8, "bernoulli", x_shape=(1, 8, 8))
    t0 = time.perf_counter()
    fit(m, Adam(m.params, m.grads, lr=1e-3), grey_train, binary.val.images, epochs=epochs,
        rng=np.random.default_rng(seed + 3), batch_size=50, binarize="dynamic", quiet=True)
    models[name] = m
    print(f"{name}: {epochs} epochs in {time.perf_counter() - t0:.1f} s")

# %% [markdown]
# Both reconstruct; the autoencoder's log p(x | μ(x)) is the higher: no KL to pay, no
# noise in z.  The VAE's test ELBO is 7.1's.

# %%
vae, ae = models["VAE"], models["autoencoder"]
rec_ae = float(to_numpy(ae.decode(bk.asarray(posterior_means(ae, x_test)[0], dtype=ae.dtype))
                        .log_prob(bk.asarray(x_test, dtype=ae.dtype))).mean())
test = evaluate_elbo(vae, x_test, np.random.default_rng(seed + 4))
print(f"VAE: test ELBO {test['elbo']:.2f} = E log p(x|z) {test['reconstruction']:.2f} "
      f"− KL {test['kl']:.2f};  autoencoder: log p(x | z = μ(x)) {rec_ae:.2f} nats per image")
# the autoencoder's reconstruction above the VAE's E log p(x|z): no KL, no noise in z

# %% [markdown]
# ## 1. The codes against the prior
#
# The *aggregate posterior* q(z) = (1/N) Σᵢ q(z | xᵢ) is what the encoder makes of the
# data; sampling z ~ N(0, I) and decoding is sound only where q(z) is close to N(0, I).
# A number for "close": fit a Gaussian N(m, C) to q(z) by its mean and covariance, and
# take the closed-form KL(N(m, C) ‖ N(0, I)) = ½ (tr C + ‖m‖² − D − log det C) (slides
# Definition 11.17).  For the VAE, C = Cov(μ) + mean diag σ² (the law of total variance);
# for the autoencoder, whose q(z | x) is a point at μ(x), C = Cov(μ).
#
# The measure on codes whose answer is known — 359 draws from N(0, I) itself (the
# answer is 0, plus a small-sample bias of about D(D + 1)/(4N) = 0.05 nats) and 359
# draws from N(2·1, 9 I) (the answer is ½ (72 + 32 − 8 − 8 log 9) = 39.21):


# %%
def fitted_kl(mu, var=None):
    """KL(N(m, C) ‖ N(0, I)) of the Gaussian with the mean and covariance of the codes."""
    C = np.cov(mu, rowvar=False) + (0 if var is None else np.diag(var.mean(axis=0)))
    return float(gaussian_kl(mu.mean(axis=0), C, np.zeros(8), np.eye(8)))


rng_ref = np.random.default_rng(seed + 8)
oracle = {"N(0, I) draws": fitted_kl(rng_ref.standard_normal((359, 8))),
          "N(2, 9I) draws": fitted_kl(2 + 3 * rng_ref.standard_normal((359, 8)))}
print("  ".join(f"{k}: {v:.3f}" for k, v in oracle.items()))
# about 0.05 and about 39.2

# %%
(mu_v, lv_v), (mu_a, _) = posterior_means(vae, x_test), posterior_means(ae, x_test)
aggregate = {"VAE": fitted_kl(mu_v, np.exp(lv_v)), "autoencoder": fitted_kl(mu_a)}
spread = {"VAE": np.sqrt(mu_v.var(axis=0) + np.exp(lv_v).mean(axis=0)),
          "autoencoder": mu_a.std(axis=0)}
for name in aggregate:
    print(f"{name:>12}: KL(fitted q(z) ‖ N(0, I)) = {aggregate[name]:8.2f} nats; "
          f"standard deviation per dimension {np.array2string(spread[name], precision=2)}")
# VAE: at the level of the N(0, I) draws (about 0.05), standard deviations near 1;
# autoencoder: nothing pulls its codes to N(0, I): standard deviations near 3, about 30 nats

# %% [markdown]
# ## 2. Are the prior samples digits?
#
# Both decoders are Bernoulli, so we compare binary images with binary images, through a
# kernel density on a set of binary images cᵢ — itself a latent-variable model, a mixture
# of n product Bernoullis centred at the cᵢ, each pixel flipped with probability ε:
#
#   log p̂(x) = log (1/n) Σᵢ ε^Hᵢ (1 − ε)^(64 − Hᵢ),   Hᵢ the pixels where x and cᵢ differ,
#
# computed with log-sum-exp (`log_mean_exp`).  Two numbers for a set S of 1258 samples,
# in nats per image: **precision**, the mean log p̂(s) of the samples under the kernel
# density of the 1258 training digits (binarized once, as in 7.3): are the samples like
# digits?  And **coverage**, the mean log p̂(x) of the 359 test digits under the kernel
# density of the samples (the Parzen-window log-likelihood): are all the digits among
# them?  ε is chosen on the validation digits.


# %%
def kde(x, centres, flip):
    """Mean over the binary images x of the kernel mixture's log p̂(x), nats per image."""
    x, c = (np.asarray(a, np.float64).reshape(len(a), -1) for a in (x, centres))
    hamming = x.sum(axis=1)[:, None] + c.sum(axis=1)[None] - 2 * x @ c.T      # (x, n)
    log_k = hamming * np.log(flip) + (64 - hamming) * np.log1p(-flip)
    return float(log_mean_exp(log_k, axis=1).mean())


rng_img = np.random.default_rng(seed + 9)
ref = binarize_static(grey_train, np.random.default_rng(seed + 7))        # as in 7.3
h, scores = max([0.02, 0.05, 0.1, 0.2, 0.3], key=lambda w: kde(binary.val.images, ref, w)), {}


def score(name, samples):
    scores[name] = {"precision": kde(samples, ref, h), "coverage": kde(x_test, samples, h)}
    print(f"{name:>27}: precision {scores[name]['precision']:7.1f}, "
          f"coverage {scores[name]['coverage']:7.1f}")


def draw(p):
    return (rng_img.random(p.shape) < p).astype(np.float64)     # x ~ Bernoulli(p)

# %% [markdown]
# The measures where the answer is known: real digits (the test digits under the
# training digits' density, for both numbers), fair coins, and pixels drawn independently
# with the right means (draws from the mean image: what a decoder that ignores z makes).


# %%
print(f"flip probability ε = {h}")
scores["real digits"] = dict.fromkeys(("precision", "coverage"), kde(x_test, ref, h))
print(f"{'real digits':>27}: precision and coverage {scores['real digits']['coverage']:7.1f}")
score("fair coins", draw(np.full(ref.shape, 0.5)))
score("draws from the mean image", draw(np.broadcast_to(grey_train.mean(axis=0), ref.shape)))
# real digits far above both kinds of noise, in both numbers

# %% [markdown]
# Now 1258 binary draws x ~ p(x | z), z ~ N(0, I), from each decoder; and, as controls,
# the autoencoder's decoder at its own codes μ(x) of the training digits and at draws
# from the Gaussian N(m, C) fitted to those codes.

# %%
z = rng_img.standard_normal((len(ref), 8))
mu_t, _ = posterior_means(ae, ref)
m_a, C_a = mu_t.mean(axis=0), np.cov(mu_t, rowvar=False)
decoded = {"VAE, z ~ N(0, I)": z, "autoencoder, z ~ N(0, I)": z,
           "autoencoder, z = μ(x)": mu_t,
           "autoencoder, z ~ N(m, C)": m_a + z @ np.linalg.cholesky(C_a).T}
images = {}
for name, codes in decoded.items():
    model = vae if name.startswith("VAE") else ae
    images[name] = to_numpy(model.decode(bk.asarray(codes, dtype=model.dtype)).mean)
    score(name, draw(images[name]))
# the VAE's prior samples 1–2 nats below the real digits in both numbers; the
# autoencoder's N(0, I) samples cover the digits no better than the mean image's draws
# (300 epochs; a nat and a half better after 30): N(0, I) reaches only the centre of its
# codes, three times wider, and decodes to much the same digit every time (the figure).
# From the Gaussian fitted to its codes they cover the digits as well as the VAE's

# %%
fig_rows = save_image_rows([grey_train[:12]] + [images[k][:12] for k in decoded],
                           ["training digits"] + [k.replace("autoencoder", "AE") for k in decoded],
                           sec.out / "autoencoder_samples.png",
                           title="Decoded E[x|z]: the VAE's and the autoencoder's")
plt = pyplot()
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
t = np.linspace(-10, 10, 401)
for ax, name, codes in zip(axes, ("VAE", "autoencoder"),
                           (mu_v + np.exp(0.5 * lv_v) * rng_img.standard_normal(mu_v.shape),
                            mu_a)):
    ax.hist(codes.ravel(), bins=80, range=(-10, 10), density=True, alpha=0.6,
            label="codes, all 8 dimensions")
    ax.plot(t, np.exp(-t * t / 2) / np.sqrt(2 * np.pi), "k-", label="N(0, 1)")
    ax.set(title=f"{name}: KL(fitted q(z) ‖ N(0, I)) = {aggregate[name]:.1f}", xlabel="z")
    ax.legend(fontsize=8)
fig_codes = save_figure(fig, sec.out / "autoencoder_codes.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# Without the KL the codes spread to whatever scale reconstructs best: the Gaussian
# fitted to them lies about 30 nats from N(0, I), the VAE's at the sampling noise of a
# perfect fit.  Decoding z ~ N(0, I) then gives the VAE's decoder the codes it was
# trained on, and the autoencoder's decoder a small region at the centre of its codes:
# its prior samples are much the same blurred digit, and cover the test digits no better
# than pixels drawn from the mean image (300 epochs), while the VAE's come within 1–2
# nats of real digits.  The autoencoder's decoder is not the problem — fed its own codes,
# or draws from a Gaussian fitted to them, it draws digits — the unregularised codes are
# (slides Concept 11.3).  Figures:
# `autoencoder_samples.png`, `autoencoder_codes.png`; and `results.json`.

# %%
results = sec.finish(
    {"backend": bk.name, "epochs": epochs, "kde_flip": h, "vae_elbo": test["elbo"],
     "vae_reconstruction": test["reconstruction"], "ae_reconstruction": rec_ae,
     "aggregate_kl": aggregate, "aggregate_kl_oracle": oracle, "kde_scores": scores,
     "code_std": {k: v.tolist() for k, v in spread.items()},
     "figures": [fig_rows, fig_codes]},
    summary=f"codes' fitted KL to N(0, I): VAE {aggregate['VAE']:.2f}, autoencoder "
            f"{aggregate['autoencoder']:.1f} nats; prior samples' coverage: VAE "
            f"{scores['VAE, z ~ N(0, I)']['coverage']:.1f}, autoencoder "
            f"{scores['autoencoder, z ~ N(0, I)']['coverage']:.1f} (real digits "
            f"{scores['real digits']['coverage']:.1f}, mean-image draws "
            f"{scores['draws from the mean image']['coverage']:.1f})")
