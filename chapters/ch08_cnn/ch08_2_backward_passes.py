# %% [markdown]
# # Chapter 8.2 — Backward passes, and the transposed convolution as their adjoint
#
# Section 8.1 ran the window layers forward.  This one proves every backward pass by
# finite differences, shows that the backward pass of a convolution *is* a transposed
# convolution (thesis §2.8.3, eq. 2.34), and ends with the gradient of a whole
# convolutional VAE.  **Code:** `backend/numpy_conv.py`, `backend/numpy_pool.py`,
# `nn/conv.py`, `nn/pool.py`, `gradcheck.py`.
#
# ## Backward passes, proven by finite differences
#
# For out = conv(x; W) + b and a loss L, with δ = ∂L/∂out:
#
# - ∂L/∂b_f = Σ_{n,i,j} δ[n, f, i, j];
# - ∂L/∂W[f, c, u, v] = Σ_{n,i,j} δ[n, f, i, j] · x_pad[n, c, i·s + u, j·s + v] — a
#   correlation of the input with δ;
# - ∂L/∂x: every output pixel (i, j) read the window at (i·s, j·s) with the weights W,
#   so it sends δ[f, i, j] · W[f] back onto that window, and overlapping windows add up.
#   That "scatter" is the *transposed convolution* of δ (below).
#
# `gradcheck` compares each layer's backward pass with central differences in float64
# (chapter 6): correct passes agree to about 1e-9 or better.  The cases include the
# dual VAE's layer shapes — the 6×6 stride-2 encoder convolution, the 30×30 stride-30
# background convolution, the 4×4 stride-2 decoder transposed convolution (our reading:
# the thesis gives only the receptive fields 6 and 30) — and a small CNN stacked from
# all kinds.  Large tensors are checked on a random sample of entries.

# %%
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.backend import get_backend, to_numpy
from vae_from_scratch.gradcheck import compare_gradients, gradcheck
from vae_from_scratch.models import conv_vae
from vae_from_scratch.nn import (AvgPool2D, Conv2D, ConvTranspose2D, Dense, Flatten,
                                 MaxPool2D, ReLU, Reshape, Sequential, Unpool2D)
from vae_from_scratch.objectives import elbo
from vae_from_scratch.viz.plots import plot_gradient_checks, pyplot, save_figure

sec = start_section("ch08_2", "Chapter 8.2: backward passes and the transposed convolution",
                    "the same run as without it (nothing here takes long)")
bk = get_backend("numpy")       # the layers run in NumPy here; section 8.3 takes --backend
plt = pyplot()
rng = np.random.default_rng(sec.seed)   # one stream, drawn by the cells in reading order
kw = dict(rng=rng, backend=bk)


def with_bias(layer):
    """The layer with a random bias, so that a bias that is dropped shows up."""
    layer.params["b"][...] = bk.asarray(rng.standard_normal(layer.params["b"].shape))
    return layer


# %%
cases = {
    "Conv2D 3→4, k3 s1 p1": (with_bias(Conv2D(3, 4, 3, padding=1, **kw)), (2, 3, 7, 7)),
    "Conv2D 1→16, k6 s2 p2 (fg encoder)": (
        with_bias(Conv2D(1, 16, 6, stride=2, padding=2, **kw)), (2, 1, 60, 60)),
    "Conv2D 1→4, k30 s30 (bg encoder)": (with_bias(Conv2D(1, 4, 30, stride=30, **kw)),
                                        (2, 1, 60, 60)),
    "ConvTranspose2D 16→8, k4 s2 p1 (decoder)": (
        with_bias(ConvTranspose2D(16, 8, 4, stride=2, padding=1, **kw)), (2, 16, 8, 8)),
    "ConvTranspose2D 2→3, k3 s2 p1 op1": (
        with_bias(ConvTranspose2D(2, 3, 3, stride=2, padding=1, output_padding=1, **kw)),
        (2, 2, 5, 5)),
    "MaxPool2D(2)": (MaxPool2D(2, backend=bk), (2, 3, 8, 8)),
    "MaxPool2D(3, stride 2) (overlapping)": (MaxPool2D(3, stride=2, backend=bk), (2, 2, 9, 9)),
    "AvgPool2D(30) (target g)": (AvgPool2D(30, backend=bk), (2, 1, 60, 60)),
    "Unpool2D(2)": (Unpool2D(2, backend=bk), (2, 3, 4, 4)),
    "CNN: conv-relu-maxpool-conv-relu-flatten-dense": (Sequential(
        with_bias(Conv2D(1, 4, 3, padding=1, **kw)), ReLU(backend=bk), MaxPool2D(2, backend=bk),
        with_bias(Conv2D(4, 6, 3, stride=2, padding=1, **kw)), ReLU(backend=bk),
        Flatten(backend=bk), Dense(6 * 2 * 2, 5, **kw)), (3, 1, 8, 8)),
    "decoder: dense-reshape-convT-relu-convT": (Sequential(
        Dense(3, 4 * 4 * 4, **kw), Reshape((4, 4, 4), backend=bk),
        with_bias(ConvTranspose2D(4, 3, 4, stride=2, padding=1, **kw)), ReLU(backend=bk),
        with_bias(ConvTranspose2D(3, 1, 4, stride=2, padding=1, **kw))), (2, 3)),
}

# %%
errors = {}
print(f"{'layer':<46} {'input':<16} {'x':>8} {'W':>8} {'b':>8}  (parameters of a stack: worst)")
for name, (layer, shape) in cases.items():
    e = errors[name] = dict(gradcheck(layer, rng.standard_normal(shape), rng=rng,
                                      n_coords=150).errors)
    if any("." in k for k in e):                                   # a Sequential
        cols = (e["x"], max(v for k, v in e.items() if k.endswith("W")),
                max(v for k, v in e.items() if k.endswith("b")))
    else:
        cols = (e["x"], e.get("W"), e.get("b"))
    text = " ".join(f"{v:>8.1e}" if v is not None else f"{'—':>8}" for v in cols)
    print(f"{name:<46} {str(shape):<16} {text}")
worst = max(max(e.values()) for e in errors.values())
print(f"largest relative error: {worst:.1e} (tolerance 1e-6)")   # typically 1e-9 to 1e-11

# %%
fig_checks = plot_gradient_checks(
    errors, sec.out / "gradient_checks.png", figsize=(8.5, 4.2),
    xlabel="largest relative error over x and the parameters (float64, h = 1e-6)",
    title="Gradient checks of the window layers")

# %% [markdown]
# ## Transposed convolution (thesis §2.8.3, eq. 2.34)
#
# A decoder must go from a small map to a large one.  The thesis builds the upsampling
# from an *unpooling* layer β₋₁ — each value becomes an r × r block of zeros with the
# value in one corner (r = s) — followed by a convolution, and calls the composition a
# transposed convolution (eq. 2.34).  The project defines `ConvTranspose2D` directly as
# the **adjoint** of `Conv2D`: it is the map that sends δ to ∂L/∂x above.  For every x
# and y, with the same weights and no bias,
#
#   ⟨conv(x), y⟩ = ⟨x, convT(y)⟩,
#
# which is what "transposed" means: conv is a (huge, sparse) matrix A, and convT is Aᵀ.
# Its output size is s·(H − 1) − 2p + k (+ output_padding), the inverse of conv's size
# rule.  The cell measures both sides in float64 for the project's layer shapes.

# %%
adjoint_cases = [  # (N, C, F, H, W, k, s, p): conv maps C → F channels
    (2, 3, 4, 7, 7, 3, 1, 1),
    (2, 1, 16, 60, 60, 6, 2, 2),     # the dual VAE's foreground encoder, first layer
    (2, 16, 32, 15, 15, 3, 2, 1),    # its second convolution
    (2, 1, 4, 60, 60, 30, 30, 0),    # the background encoder
    (2, 8, 16, 30, 30, 4, 2, 1),     # adjoint of the decoder's ConvTranspose2D(16→8)
    (1, 2, 3, 9, 8, 5, 3, 2),        # odd sizes: output_padding needed
]
gaps = []
print(f"{'conv (C→F, k, s, p) on input':<36} {'⟨conv x, y⟩':>14} {'⟨x, convT y⟩':>14} "
      f"{'relative gap':>12}")
for N, C, F, H, W, k, s, p in adjoint_cases:
    conv = Conv2D(C, F, k, stride=s, padding=p, dtype=np.float64, allow_uncovered=True, **kw)
    op = ((H + 2 * p - k) % s, (W + 2 * p - k) % s)         # rows and columns conv skipped
    convT = ConvTranspose2D(F, C, k, stride=s, padding=p, output_padding=op, dtype=np.float64,
                            **kw)
    convT.params["W"][...] = conv.params["W"]               # the same weights, (F, C, k, k)
    x = bk.asarray(rng.standard_normal((N, C, H, W)))
    y = bk.asarray(rng.standard_normal(conv.output_shape(x.shape)))
    lhs, rhs = float(bk.xp.sum(conv.forward(x) * y)), float(bk.xp.sum(x * convT.forward(y)))
    gaps.append(abs(lhs - rhs) / max(abs(lhs), abs(rhs)))
    print(f"{f'{C}→{F}, k{k} s{s} p{p} on {H}×{W}':<36} {lhs:>14.6f} {rhs:>14.6f} {gaps[-1]:>12.1e}")
print(f"largest relative gap: {max(gaps):.1e} (float64 round-off is ~1e-16)")

# %% [markdown]
# Now the thesis's version: Unpool2D(2) followed by a stride-1 convolution with the
# flipped kernel and zero padding k − 1 − p = 2 before and k − s − p = 1 after, for the
# dual VAE decoder's k = 4, s = 2, p = 1 (ours).  It must equal ConvTranspose2D exactly.

# %%
k, s, p = 4, 2, 1
convT = ConvTranspose2D(3, 2, k, stride=s, padding=p, dtype=np.float64, **kw)
x = bk.asarray(rng.standard_normal((2, 3, 5, 5)))
z = to_numpy(Unpool2D(s, backend=bk, dtype=np.float64).forward(x))        # (2, 3, 10, 10)
z = np.pad(z, ((0, 0), (0, 0), (k - 1 - p, k - s - p), (k - 1 - p, k - s - p)))
conv = Conv2D(3, 2, k, stride=1, dtype=np.float64, **kw)
conv.params["W"][...] = convT.params["W"].transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
via_unpool, direct = to_numpy(conv.forward(bk.asarray(z))), to_numpy(convT.forward(x))
unpool_gap = float(np.abs(via_unpool - direct).max())
print(f"eq. 2.34: Unpool2D(2) → pad → Conv2D(flipped kernel) vs ConvTranspose2D(k4 s2 p1): "
      f"{tuple(x.shape)} → {direct.shape}, max |difference| {unpool_gap:.1e}")
# should be round-off, ~1e-16: the two are the same linear map

# %% [markdown]
# What convT does to a single input pixel: it stamps the kernel into the output at
# stride s — every input pixel adds a copy of the kernel, s pixels apart, and overlaps
# add up.  That is why k = 4, s = 2 is the usual choice: with k = 3, s = 2 the stamps
# overlap unevenly, and an all-ones input gives a checkerboard.


# %%
def convT_of(x, k, s, p, W):
    layer = ConvTranspose2D(1, 1, k, stride=s, padding=p, dtype=np.float64, **kw)
    layer.params["W"][...] = W
    return to_numpy(layer.forward(bk.asarray(x)))[0, 0]


one = np.zeros((1, 1, 4, 4))
one[0, 0, 1, 2] = 1.0
ones = np.ones((1, 1, 6, 6))
panels = [(one[0, 0], "input 4×4: one pixel"),
          (convT_of(one, 4, 2, 1, np.arange(1, 17).reshape(4, 4) / 16),
           "convT k4 s2 p1: the kernel, stamped"),
          (convT_of(ones, 4, 2, 1, np.ones((4, 4))), "all ones, k4 s2 p1: even overlap"),
          (convT_of(ones, 3, 2, 1, np.ones((3, 3))), "all ones, k3 s2 p1: checkerboard")]
fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
for ax, (img, title) in zip(axes, panels):
    im = ax.imshow(img, cmap="viridis", interpolation="nearest")
    ax.set_title(f"{title}\n{img.shape[0]}×{img.shape[1]}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
fig_stamp = save_figure(fig, sec.out / "transposed_convolution.png", fontsize=10,
                        title="Transposed convolution (§2.8.3): every input pixel adds a copy "
                              "of the kernel into the output, s pixels apart; overlaps add up")

# %% [markdown]
# ## All of it at once: a convolutional VAE's gradient
#
# Section 8.3 trains `conv_vae`.  Its ELBO's gradient runs through a Bernoulli
# likelihood, the closed-form KL, the reparameterized sample and every convolution and
# transposed convolution; here it is checked against finite differences at a fixed ε
# (a small model, in float64).  The loss is one number of about 20 nats, differenced
# directly: its rounding error ε·|L|/h is ~2e-9 for h = 1e-6 (relative errors ~1e-7 on
# small gradients), ten times less for h = 1e-5.  (A layer check differences outputs
# instead; see gradcheck.py.)

# %%
vae = conv_vae((1, 8, 8), latent_dim=4, channels=(4, 8), hidden=16,
               rng=np.random.default_rng(1), backend=bk)
vae.astype(np.float64)                                  # checks run in float64
xb = bk.asarray((rng.random((3, 1, 8, 8)) < 0.4).astype(np.float64))
eps = bk.asarray(rng.standard_normal((3, 4)))
elbo(vae, xb, eps=eps)                                  # fills vae.grads
analytic = {k: to_numpy(v).copy() for k, v in vae.grads.items()}
model_check = compare_gradients(lambda: elbo(vae, xb, eps=eps, grads=False).loss, vae.params,
                                analytic, n_coords=12, rng=rng, h=1e-5)
print(f"conv VAE (1×8×8, z ∈ R⁴), −ELBO at fixed ε, h = 1e-5: largest relative error over "
      f"{len(model_check.errors)} parameter tensors (12 entries each) = {model_check.max_error:.1e}")
# should be ~1e-8 (the rounding error above), far below 1e-6

# %% [markdown]
# ## What this section measured
#
# Every gradient check is below 1e-6 (typically 1e-9 to 1e-11); ⟨conv x, y⟩ =
# ⟨x, convT y⟩ to ~1e-16 (a few 1e-15 at most), and unpool → conv equals convT exactly
# up to round-off; the whole conv VAE's ELBO gradient agrees with finite differences
# (~1e-8 at h = 1e-5).

# %%
results = sec.finish(
    {"backend": bk.name, "gradcheck": {"errors": errors, "max_error": worst},
     "transposed": {"adjoint_gaps": gaps, "max_adjoint_gap": max(gaps),
                    "unpool_conv_gap": unpool_gap},
     "vae": {"gradient_check": {"max_error": model_check.max_error}},
     "figures": [fig_checks, fig_stamp]},
    summary=f"gradient checks ≤ {worst:.1e}; ⟨conv x, y⟩ − ⟨x, convT y⟩ ≤ {max(gaps):.1e} "
            f"(relative); unpool → conv vs convT {unpool_gap:.1e}; conv VAE's ELBO gradient "
            f"{model_check.max_error:.1e}")
