# %% [markdown]
# # Chapter 8.1 — Convolution and pooling, one pixel by hand
#
# **Theory:** thesis §2.8 (eq. 2.32–2.34).  **Code:** `vae_from_scratch/backend/numpy_conv.py`
# (the convolution kernels, forward and backward), `backend/numpy_pool.py`,
# `backend/numpy_im2col.py`, the layers in `nn/conv.py` and `nn/pool.py`, `gradcheck.py`,
# and `models/vae.py` (`conv_vae`).
#
# The thesis's dual VAE (chapter 9) is built from convolutions: its encoders look at the
# image through windows of 6×6 and 30×30 pixels, and (in our reading: the thesis gives
# only the receptive fields 6 and 30, not the layers) its foreground decoder grows a
# 15×15 feature map back to 60×60 with transposed convolutions.  This chapter opens
# each of those layers: what the forward pass computes, why the backward pass of a
# convolution *is* a transposed convolution, the finite-difference proof of every
# backward pass, and finally a convolutional VAE trained on the digits of chapter 7.
# The chapter has three sections:
#
# 1. **this one**: convolution (eq. 2.32) and pooling (eq. 2.33) on one of the thesis's
#    60×60 images — the output-size rule, one output pixel recomputed from the
#    definition, and the 2×2 average that is the thesis's background target g(x), with
#    how much the disk raises it;
# 2. `ch08_2_backward_passes.py`: every window layer's backward pass against finite
#    differences, the transposed convolution as the adjoint of the convolution, eq.
#    2.34's unpool-and-convolve, and the gradient of a whole convolutional VAE;
# 3. `ch08_3_conv_vae.py`: a convolutional VAE trained on the digits next to chapter 7's
#    MLP VAE (and the chapter's exercises).
#
# Run it as a script (`python chapters/ch08_cnn/ch08_1_convolution.py [--quick]
# [--out DIR] [--seed S]`) or open it as a notebook; either way the numbers below are
# the same.

# %%
import math

import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.backend import get_backend, to_numpy
from vae_from_scratch.backend.numpy_im2col import conv_output_size
from vae_from_scratch.data import make_synthetic
from vae_from_scratch.nn import AvgPool2D, Conv2D, MaxPool2D
from vae_from_scratch.viz.plots import pyplot, save_figure

sec = start_section("ch08_1", "Chapter 8.1: convolution and pooling (thesis eq. 2.32–2.33)",
                    "the same run as without it (nothing here takes long)")
bk = get_backend("numpy")       # the layers run in NumPy here; section 8.3 takes --backend
plt = pyplot()

# %% [markdown]
# ## Convolution (thesis §2.8.1, eq. 2.32)
#
# A convolution layer slides each filter K_j (r × r) over the input feature map in
# steps of the stride s, multiplies it elementwise with the pixels under it, and sums
# up; one output map per filter (eq. 2.32).  With C input channels the sum also runs
# over the channels, and with zero padding p the window may hang over the border:
#
#   out[f, i, j] = b_f + Σ_{c,u,v} W[f, c, u, v] · x_pad[c, i·s + u, j·s + v],
#
# with ⌊(H + 2p − r)/s⌋ + 1 positions along each axis.  (Like every framework the
# project computes this cross-correlation; a "true" convolution flips the kernel, which
# makes no difference for learned filters.)  The kernel in `backend/numpy_conv.py`
# gathers all windows at once (`im2col`) and does the sum as one matrix product.
#
# The input is one of the thesis's 60×60 images (chapter 9's data set X90).  Four are
# kept: two with the bottom-left disk on, two with it off (p = 0.9: off is rare).

# %%
data = make_synthetic("X90", 40, rng=np.random.default_rng(sec.seed))
on, off = np.flatnonzero(data.background[:, 0]), np.flatnonzero(~data.background[:, 0])
data = data._replace(**{f: getattr(data, f)[np.r_[on[:2], off[:2]]]
                        for f in ("images", "grey", "foreground", "background")})
x = data.grey[:1].astype(np.float32)                        # (1, 1, 60, 60), grey values
print(f"kept {len(data.grey)} images; disk on: {data.background[:, 0].tolist()}; x {x.shape}")

# %% [markdown]
# Three hand-made filters: a 6×6 box filter — the receptive field of the thesis's
# foreground encoder, the size of a foreground cell — two 3×3 edge filters (Sobel,
# vertical and horizontal), and the box again with stride 2 and padding 2, the first
# layer of our dual VAE (the stride and padding are our reading, not the thesis's).
# Each layer's output size is printed next to the formula.

# %%
rng = np.random.default_rng(sec.seed)               # initial weights, overwritten below
box = Conv2D(1, 1, 6, stride=1, padding=0, rng=rng, backend=bk)
box.params["W"][...] = 1.0 / 36                            # the mean of each 6×6 window
edges = Conv2D(1, 2, 3, stride=1, padding=1, rng=rng, backend=bk)
sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
edges.params["W"][...] = bk.asarray(np.stack([sobel, sobel.T])[:, None])
strided = Conv2D(1, 1, 6, stride=2, padding=2, rng=rng, backend=bk)   # our dual VAE's first layer
strided.params["W"][...] = 1.0 / 36
for layer, name in ((box, "box"), (edges, "edges"), (strided, "strided")):
    formula = conv_output_size(x.shape[2], layer.kernel_size, layer.stride, layer.padding)
    print(f"{name:<8} {layer!r:<34} 60×60 → {layer.output_shape(x.shape)[2:]}, "
          f"⌊(60 + 2·{layer.padding} − {layer.kernel_size})/{layer.stride}⌋ + 1 = {formula}")
# theory: 55 (no padding eats k − 1 = 5 pixels), 60 (p = 1 keeps a 3×3's size), 30

# %% [markdown]
# One output pixel of the strided layer, recomputed from the definition above: pad the
# image, cut out the 6×6 window at (i·s, j·s), multiply with the kernel and sum.

# %%
maps = {"box 6×6, s=1": to_numpy(box.forward(bk.asarray(x)))[0, 0],
        "vertical edges 3×3": to_numpy(edges.forward(bk.asarray(x)))[0, 0],
        "horizontal edges 3×3": to_numpy(edges.forward(bk.asarray(x)))[0, 1],
        "box 6×6, s=2, p=2": to_numpy(strided.forward(bk.asarray(x)))[0, 0]}
i, j, s, p, k = 20, 7, 2, 2, 6
x_pad = np.pad(x[0, 0].astype(np.float64), p)
W = to_numpy(strided.params["W"])[0, 0].astype(np.float64)
by_hand = float(np.sum(W * x_pad[i * s:i * s + k, j * s:j * s + k]))
gap = abs(by_hand - float(maps["box 6×6, s=2, p=2"][i, j]))
print(f"output pixel ({i}, {j}) of the strided layer: Σ K ⊙ window = {by_hand:.6f}, "
      f"layer = {maps['box 6×6, s=2, p=2'][i, j]:.6f}, |difference| {gap:.1e}")
# should be float32 round-off: the layer sums in float32, well below 1e-5

# %% [markdown]
# The four output maps: the 6×6 box lights up the foreground cells and the disk; the
# edge filters outline them.

# %%
fig, axes = plt.subplots(1, 5, figsize=(14, 3.2))
axes[0].imshow(x[0, 0], cmap="gray", interpolation="nearest")
axes[0].set_title("X90 image (grey)", fontsize=9)
for ax, (name, m) in zip(axes[1:], maps.items()):
    ax.imshow(m, cmap="gray" if "box" in name else "RdBu", interpolation="nearest")
    ax.set_title(f"{name}: {m.shape[0]}×{m.shape[1]}", fontsize=9)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig_conv = save_figure(fig, sec.out / "convolution.png", fontsize=10,
                       title="Eq. 2.32: one output map per filter.  The 6×6 box lights up the "
                             "foreground cells and the disk; the edge filters outline them")

# %% [markdown]
# ## Pooling (thesis §2.8.2, eq. 2.33)
#
# A pooling layer applies a function h — the maximum or the average — to each window of
# each channel separately (no sum over channels), so it only shrinks the maps.  Two
# poolings matter for chapter 9: our foreground encoder's MaxPool2D(2) after its first
# convolution (our reading), and the thesis's background target g(x) (eq. 3.1), an
# average over each 30×30 quadrant followed by a sigmoid.  The cell prints that 2×2
# average for the images with the bottom-left disk on and off: the bottom-left entry
# carries the disk's state.
#
# Backward: average pooling hands every pixel of a window 1/r² of the window's
# gradient; max pooling hands the whole gradient to the window's maximum (one
# subgradient; ties go to the first maximum).  Section 8.2 checks both.

# %%
xs = bk.asarray(data.grey.astype(np.float32))
maxpool, avg30 = MaxPool2D(2, backend=bk), AvgPool2D(30, backend=bk)
pooled = to_numpy(maxpool.forward(xs))
quadrants = to_numpy(avg30.forward(xs))[:, 0]                # (n, 2, 2)
print(f"MaxPool2D(2): {tuple(xs.shape)} → {pooled.shape};  AvgPool2D(30): → "
      f"{to_numpy(avg30.forward(xs)).shape}")
disk_on = data.background[:, 0]
for n, q in enumerate(quadrants):
    print(f"image {n}: disk {'on ' if disk_on[n] else 'off'}  mean grey per quadrant "
          f"[[{q[0, 0]:.2f} {q[0, 1]:.2f}] [{q[1, 0]:.2f} {q[1, 1]:.2f}]]")
# should be: the bottom-left mean (third number) 0.78–0.92 with the disk on, 0.30–0.44
# off (0.3, + 0.477 from the disk (below), + 0.036 per active cell of the four in it),
# so a cut at 0.6 separates them

# %% [markdown]
# ## How much the disk raises the quadrant's mean
#
# The disk adds 0.6 to each of its pixels ("every pixel has a value of 0.6", thesis ch.
# 3), but it does not fill its quadrant: a disk of diameter 30 covers π · 15² of the
# 30 × 30 pixels, a share π/4, so the bottom-left mean rises by about π/4 · 0.6 ≈ 0.47
# when the disk turns on — not by 0.6.  On the pixel grid the generator's mask holds the
# pixels whose centres lie within 15 of the disk's centre, and the rise is exactly that
# share × 0.6 in expectation (the cells and the noise do not depend on the disk, so they
# cancel in the difference).  The cell measures it on the 2000 images of X90 (the seed of
# chapter 9's training set): the mean over the images with the disk on minus the mean
# over those with it off, with its standard error.

# %%
full = make_synthetic("X90", rng=np.random.default_rng(sec.seed), threshold=None)
bl = to_numpy(avg30.forward(bk.asarray(full.grey)))[:, 0, 1, 0]   # bottom-left means
bl_on, bl_off = bl[full.background[:, 0]], bl[~full.background[:, 0]]
share = float(full.disk_masks[0, 30:, :30].mean())   # disk pixels / 900 (thesis ch. 3: ⌀ 30)
rise = {"predicted_pi": math.pi / 4 * 0.6, "predicted_mask": share * 0.6,
        "measured": float(bl_on.mean() - bl_off.mean()),
        "standard_error": math.sqrt(bl_on.var(ddof=1) / len(bl_on)
                                    + bl_off.var(ddof=1) / len(bl_off)),
        "n_on": len(bl_on), "n_off": len(bl_off)}
print(f"predicted rise: π/4 · 0.6 = {rise['predicted_pi']:.4f}; the mask's share "
      f"{int(full.disk_masks[0, 30:, :30].sum())}/900 = {share:.4f}, × 0.6 = "
      f"{rise['predicted_mask']:.4f}")
print(f"measured rise on {len(bl)} images ({rise['n_on']} on, {rise['n_off']} off): "
      f"{rise['measured']:.4f} ± {rise['standard_error']:.4f}")
# should be: the measured rise within about two standard errors of 0.4773, far from 0.6

# %%
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
for ax, img, title in zip(axes, (to_numpy(xs)[0, 0], pooled[0, 0], quadrants[0]),
                          ("input 60×60", "MaxPool2D(2): 30×30", "AvgPool2D(30): 2×2")):
    ax.imshow(img, cmap="gray", interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig_pool = save_figure(fig, sec.out / "pooling.png", fontsize=10,
                       title="Eq. 2.33: pooling shrinks each map; the 2×2 average is the "
                             "thesis's g(x) before its sigmoid (eq. 3.1)")

# %% [markdown]
# ## What this section measured
#
# The output sizes follow ⌊(H + 2p − k)/s⌋ + 1, and one pixel recomputed from eq. 2.32
# matches the layer to float32 round-off (~1e-9); the bottom-left quadrant mean is above
# 0.6 when the disk is on (0.76 and 0.79 for seed 0) and below it when the disk is off
# (0.35 and 0.42): a 2×2 average pool sees the disk.  The disk raises that mean by
# 0.479 ± 0.003 over 2000 images (seed 0): its share of the quadrant times 0.6, 716/900 ·
# 0.6 = 0.477 (π/4 · 0.6 = 0.471 for a continuous disk), not 0.6.

# %%
results = sec.finish(
    {"backend": bk.name, "convolution": {"one_pixel_gap": gap},
     "pooling": {"quadrant_means": quadrants.tolist(), "disk_on": disk_on.tolist(),
                 "rise": rise},
     "figures": [fig_conv, fig_pool]},
    summary=f"one pixel of eq. 2.32 by hand: |difference| {gap:.1e}; bottom-left quadrant mean "
            f"{quadrants[disk_on, 1, 0].mean():.2f} with the disk on, "
            f"{quadrants[~disk_on, 1, 0].mean():.2f} off; the disk raises it by "
            f"{rise['measured']:.3f} (predicted {rise['predicted_mask']:.3f})")
