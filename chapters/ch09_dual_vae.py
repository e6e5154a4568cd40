# %% [markdown]
# # Chapter 9 — The dual VAE: separating foreground from background
#
# **Theory:** thesis §2.9 (eq. 2.35, 2.36) and chapter 3 (§3.1 eq. 3.1, §3.2 figures
# 3.1–3.6, §3.3).  **Code:** `vae_from_scratch/data/synthetic.py` (the data sets, their
# ground truth and the pixel levels), `models/dual_vae.py` (the model, its options and its
# hand-written gradient), `thesis/reproduction.py` (`run_dataset`: training, figures, measurements) and
# `thesis/separation.py` (what is measured, and why).
#
# Images of neurons under a 2-photon microscope mix a sharp *foreground* (cells in the
# focal plane) with a blurred *background* (the glow of cells in other planes).  The
# thesis trains two VAEs side by side on such images: vae1, with a small receptive field
# (6 pixels), models the whole image x; vae2, with a large one (30 pixels), models only a
# coarse, pooled version g(x) of it; a layer lets their latent spaces talk (eq. 2.35).
# The hope is that the background ends up in vae2's latent z2 and the foreground in
# vae1's z1.
#
# The thesis judged the separation by eye (figures 3.1–3.6).  Our data generator also
# returns the ground truth — which cells and which background disks are active in every
# image — so this chapter *measures* it.  Measuring needs care: the first metric we wrote
# could not see the cells under an active disk at all, whatever the model did.
#
# 1. the three data sets and what binarization does to them;
# 2. the model and its objective — which parts are the thesis's, which are our reading;
# 3. measuring the cells under the disk: the metric checked on reconstructions whose
#    score is known (no model involved);
# 4. the thesis's run on X90, X50, X90_20, measured;
# 5. the thesis's remedies (§3.3) and a model of ours that separates the cells;
# 6. what the thesis concluded, what we measure, and why they differ.
#
# It reuses the project's reproduction of chapter 3 (`thesis.run_dataset`, also
# `python -m vae_from_scratch thesis`): nothing of the model or the measurements is
# re-implemented here.
#
# Run: `python chapters/ch09_dual_vae.py [--quick] [--out DIR] [--datasets X90 X50]
# [--epochs 30] [--weight-on reconstruction]`, or open it as a notebook.  The full mode is
# the thesis's setting (2000 images, 30 epochs, all three data sets) for the thesis's run
# and for the remedy: about six minutes on two cores.  The quick mode (256 images, 2
# epochs) only shows that everything runs.

# %%
import math
import os
import shutil
import time
from pathlib import Path

# One BLAS thread: fast and reproducible on a shared 2-core machine (see chapter 6); the
# thesis tables (docs/thesis.md) were made with the same setting.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib
matplotlib.use("Agg")                       # figures go to files, no screen needed
import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import (parse_chapter_args, run_as_script,
                                                 write_results)
from vae_from_scratch.apps.options import whole
from vae_from_scratch.viz.plots import save_figure
from vae_from_scratch.backend import get_backend, to_numpy
from vae_from_scratch.data.synthetic import (SYNTHETIC_NAMES, ascii_map,
                                             expected_images, make_synthetic, on_rate,
                                             pixel_levels)
from vae_from_scratch.models.dual_vae import DualVAE
from vae_from_scratch.thesis.separation import cell_detection, cell_means
from vae_from_scratch.thesis.reproduction import format_table, run_dataset, summary_rows

# The thesis's figure numbers: reconstructions 3.1–3.3 and latent explorations 3.4–3.6.
FIGURES = {"X90": ("3_1", "3_4"), "X90_20": ("3_2", "3_5"), "X50": ("3_3", "3_6")}
# Section 5's model: the thesis's remedies (raw data, more latent dimensions, the weight on
# the reconstruction term) and ours (the structured decoder 1); z2 gets one dimension per disk.
REMEDY = dict(data_mode="grey", latent1=16, decoder1="structured", weight_on="reconstruction",
              lr=3e-3)
REMEDY_LATENT2 = {"X90_20": 2}
# A probe within this much of the majority guess counts as knowing nothing (the
# latent-separation target, docs/thesis.md#the-target).
MARGIN = 0.05


def parse_args(argv=None):
    """The shared options (chapter_tools.parse_chapter_args) and this chapter's own."""

    def options(p):
        p.add_argument("--datasets", nargs="+", default=list(SYNTHETIC_NAMES),
                       choices=SYNTHETIC_NAMES, help="the data sets (default all three)")
        p.add_argument("--epochs", type=whole(1), default=None,
                       help="epochs per run (default 30, 2 with --quick)")
        p.add_argument("--weight-on", default="elbo", choices=("elbo", "reconstruction"),
                       help="for section 4's run: the 450 multiplies all of ELBO2 (thesis) "
                            "or only its reconstruction term (section 5's remedy always "
                            "uses the latter) (default %(default)s)")

    return parse_chapter_args(argv, "ch09", "Chapter 9: the dual VAE (thesis §2.9, ch. 3)",
                              "256 training images and 2 epochs per data set and run: "
                              "seconds, not minutes", backend=True, extra=options)


def sizes(args):
    """Epochs and image counts of one run, shared by sections 3, 4 and 5."""
    epochs = args.epochs or (2 if args.quick else 30)
    if args.quick:
        return epochs, dict(n_train=256, n_test=128, eval_every=1)
    return epochs, dict(n_train=2000, n_test=500)


# %% [markdown]
# ## 1. The three data sets (thesis chapter 3)
#
# 2000 images of 60×60 pixels.  Ten 6×6 foreground cells, each active with p = 0.5
# (value 0.9); a round background cell ("disk") of diameter 30 (value 0.6); pixel-wise
# noise N(0.3, 0.4²).  X90: one disk, bottom left, active with p = 0.9, over four cells.
# X50: the same disk with p = 0.5.  X90_20: the bottom-left disk moved left so that it
# covers three cells, plus a top-right disk over two cells, active with p = 0.2.
#
# The thesis gives neither the positions nor its binarization threshold; ours are
# documented in `data/synthetic.py` (threshold 0.75, the midpoint between an empty
# pixel's mean 0.3 and an active cell's 1.2).  After binarization "most of the noise is
# retained in the background activity, while the foreground cells and the regions
# without activity are denoised nearly completely" (thesis ch. 3).  How much, follows
# from the normal distribution: a pixel of mean m is on with probability
# P(N(m, 0.4²) > 0.75) (`on_rate`).  The cell compares that with the generated images.

# %%
def datasets(args, out, bk):
    n = 256 if args.quick else 2000
    model = DualVAE(rng=np.random.default_rng(0), backend=bk)      # only for g(x), eq. 3.1
    print(ascii_map("X90_20"))
    kinds = {"empty": 0.3, "foreground cell only": 1.2, "disk only": 0.9,
             "cell and disk": 1.8}
    rates = {}
    print(f"\n{'pixel kind':<22} {'mean grey':>9} {'P(on), theory':>14} " +
          " ".join(f"{name:>8}" for name in args.datasets))
    measured = {}
    for name in args.datasets:
        d = make_synthetic(name, n, rng=np.random.default_rng(args.seed))
        fg = np.einsum("nc,chw->nhw", d.foreground.astype(float), d.cell_masks.astype(float)) > 0
        bg = np.einsum("nk,khw->nhw", d.background.astype(float), d.disk_masks.astype(float)) > 0
        x = d.images[:, 0] > 0.5
        measured[name] = {"empty": x[~fg & ~bg].mean(), "foreground cell only": x[fg & ~bg].mean(),
                          "disk only": x[~fg & bg].mean(), "cell and disk": x[fg & bg].mean(),
                          "disk activity": d.background.mean(axis=0).round(3).tolist(),
                          "cell activity": float(d.foreground.mean())}
    for kind, m in kinds.items():
        rates[kind] = {"theory": on_rate(m), **{name: float(measured[name][kind])
                                                 for name in args.datasets}}
        print(f"{kind:<22} {m:>9.1f} {on_rate(m):>14.3f} " +
              " ".join(f"{measured[name][kind]:>8.3f}" for name in args.datasets))
    for name in args.datasets:
        print(f"{name}: share of active cells {measured[name]['cell activity']:.3f} (p = 0.5), "
              f"disks active {measured[name]['disk activity']}")
    _data_figure(args, out, model, bk)
    return {"on_rates": rates, "n_images": n}


def _show(ax, image):
    """One grey image on [0, 1], black to white, without ticks."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _data_figure(args, out, model, bk):
    """Per data set: an image with every disk on and one with every disk off — grey,
    binarized, and the target g(x) (eq. 3.1)."""
    fig, axes = plt.subplots(len(args.datasets), 6, figsize=(11, 2.1 * len(args.datasets) + 0.6),
                             squeeze=False)
    for row, name in zip(axes, args.datasets):
        d = make_synthetic(name, 200, rng=np.random.default_rng(args.seed + 99))
        picks = [int(np.flatnonzero(d.background.all(axis=1))[0]),
                 int(np.flatnonzero(~d.background.any(axis=1))[0])]
        for j, i in enumerate(picks):
            g = to_numpy(model.target(bk.asarray(d.images[i:i + 1])))[0, 0]
            state = "disk(s) on" if j == 0 else "disk(s) off"
            for k, (img, what) in enumerate(((np.clip(d.grey[i, 0] / 1.8, 0, 1), "grey"),
                                             (d.images[i, 0], "binary x"), (g, "g(x)"))):
                ax = row[3 * j + k]
                _show(ax, img)
                ax.set_title(f"{name}, {state}\n{what}" if k == 0 else what, fontsize=8)
    save_figure(fig, out / "datasets.png", fontsize=10,
                title="The thesis's data sets: grey image, binarized input x, and the background "
                      "target g(x) (eq. 3.1)")


# %% [markdown]
# ## 2. The model and its objective (thesis §2.9, eq. 2.35, 2.36; §3.1, eq. 3.1)
#
# - vae1: foreground encoder q_φ(z1|x), receptive field 6, z1 ∈ R⁴; decoder p_θ(x|z̃1), a
#   Bernoulli over the 60×60 image (two transposed convolutions, chapter 8).
# - vae2: background encoder s_χ(z2|x), one 30×30 window per quadrant, z2 ∈ R¹; decoder
#   r_ι(g(x)|z̃2), a Bernoulli over the 2×2 target g(x) = sigmoid(12 · (AvgPool₃₀(x) − 0.5))
#   (eq. 3.1).
# - interaction: (z̃1, z̃2) = NeuralNet((z1, z2)) (eq. 2.35), here one linear layer that
#   starts at the identity.
# - loss per image: −(ELBO1 + 450 · ELBO2) (eq. 2.36 with the thesis's weight, §3.1), each
#   ELBO with one sample and the closed-form KL.
#
# **What is the thesis's and what is ours.**  The thesis gives the receptive fields (6 and
# 30), the latent sizes (4 and 1), the target g (eq. 3.1), the weight 450 and "30 epochs".
# Everything else is our reading, documented where it is made: the optimizer (Adam), the
# learning rate (1e-3), the batch size (32), the layer shapes (`models/dual_vae.py`, the
# interaction layer's form and start included), and, for the data, the binarization
# threshold 0.75 and the positions of the cells and disks (`data/synthetic.py`).
#
# Every layer's backward pass and the whole model's gradient are checked by finite
# differences in the test suite (`tests/test_dual_vae.py`).

# %%
def describe_model(bk):
    model = DualVAE(rng=np.random.default_rng(1), backend=bk)
    print(model)
    print("foreground encoder:\n" + model.fg_encoder.summary((1, 1, 60, 60)))
    print("background encoder:\n" + model.bg_encoder.summary((1, 1, 60, 60)))
    return {"parameters": model.n_params}


# %% [markdown]
# ## 3. Measuring the cells under the disk
#
# **The levels.**  A pixel of mean grey value m is on with probability
# P(N(m, 0.4²) > 0.75) = 1 − Φ((0.75 − m)/0.4), Φ the standard normal CDF.  The four
# kinds of pixel (`synthetic.pixel_levels`):
#
# | pixel | mean grey m | (0.75 − m)/0.4 | P(on) |
# |---|---|---|---|
# | empty | 0.3 | 1.125 | 0.130 |
# | in an active cell | 1.2 | −1.125 | 0.870 |
# | in an active disk | 0.9 | −0.375 | 0.646 |
# | in an active cell in an active disk | 1.8 | −2.625 | 0.996 |
#
# The best any vae1 can do is to show these expectations given the truth — the *oracle*
# reconstruction (`synthetic.expected_images`).
#
# **Why the 0.5 rule is blind.**  Our first metric called a cell active when vae1(x)'s
# mean over its 6×6 block exceeded 0.5.  Outside the disks that is the midpoint of 0.130
# and 0.870.  Under an active disk an *inactive* cell sits at 0.646 > 0.5: every cell
# there is called active, by every reconstruction, the oracle included.  Its
# false-positive rate is 1.0 and its accuracy the share of active cells, ≈ 0.5 — a model
# that shows the cells perfectly scores what one that paints a uniform disk scores.
#
# **The new rule** (`separation.cell_detection`) reads each disk's state off the
# reconstruction first — its mean over the disk's pixels that lie in no cell, against
# (0.130 + 0.646)/2 = 0.388 — and then calls a cell active when its block mean exceeds
# the level halfway between the cell's off and on levels *given that reading*: 0.5 outside
# the disks and under a disk read as off, (0.646 + 0.996)/2 = 0.821 under a disk read as
# on.  Beside each accuracy it reports an AUC: the probability that an active instance of
# a cell shows a higher block mean than an inactive instance of the same cell (ties ½),
# 1 when some threshold per cell is never wrong, 0.5 when the block means say nothing.
#
# **The check.**  This is a check of the metric, not of a model: the cell scores four
# reconstructions of X90's held-out images whose scores are known in advance, on the
# group that matters, "inside, bg on" (cells under the disk while it is active):
#
# - the *oracle*: 1.000 and AUC 1.000 (the old rule: the share of active cells, FP 1.00);
# - the *binarized input* x itself: a cell's block holds 36 independent pixels, so its
#   count of on pixels is Binomial(36, 0.996) when active and Binomial(36, 0.646) when
#   not; the cell prints the accuracy and AUC that follow (≥ 0.99), and the old rule's
#   false-positive rate P(Binomial(36, 0.646) ≥ 19) ≈ 0.95;
# - *blind under the disk*: the oracle with every covered cell replaced by the mean of its
#   off and on level given the disk — it knows the disk, not the cell: chance accuracy
#   (the share of one of the two states) and AUC 0.500 exactly (each cell shows one value);
# - the per-pixel *training mean*, the same image for every test image: chance and AUC
#   0.500 exactly.  Its cells under the disk show p · 0.821 + (1 − p) · 0.5 ≈ 0.789 < 0.821
#   (p = 0.9, the disk's activity), so they are all called off.

# %%
def _binomial_pmf(n, p):
    """P(Binomial(n, p) = k) for k = 0 … n."""
    return np.array([math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)])


def check_metric(args):
    """The metric on four reconstructions with known scores, X90's held-out images."""
    name = "X90"
    _, n = sizes(args)
    # run_dataset's held-out images (seed + 1000) and its training images (seed)
    test = make_synthetic(name, n["n_test"], rng=np.random.default_rng(args.seed + 1000))
    train = make_synthetic(name, n["n_train"], rng=np.random.default_rng(args.seed))
    lv = pixel_levels(test.threshold)
    off_mid, on_mid = (lv.empty + lv.cell) / 2, (lv.disk + lv.both) / 2
    print(f"levels: empty {lv.empty:.3f}, cell {lv.cell:.3f}, disk {lv.disk:.3f}, "
          f"cell and disk {lv.both:.3f}; disk read on above {(lv.empty + lv.disk) / 2:.3f}; "
          f"a cell is on above {off_mid:.3f} (no disk or disk off) or {on_mid:.3f} (disk on)")

    oracle = expected_images(test.foreground, test.background, test.cell_masks,
                             test.disk_masks, threshold=test.threshold)
    in_any, disk_of = test.inside.any(axis=0), test.inside.argmax(axis=0)
    disk_on = test.background[:, disk_of]                   # (N, C): the disk over cell c is on
    blind = oracle.copy()
    for c in np.flatnonzero(in_any):                        # knows the disk, not the cell
        blind[:, 0][:, test.cell_masks[c]] = np.where(disk_on[:, c], on_mid, off_mid)[:, None]
    mean_image = np.broadcast_to(train.images.mean(axis=0, dtype=np.float64), test.images.shape)
    recons = {"oracle": oracle, "binarized input": test.images, "blind under the disk": blind,
              "training mean": mean_image}

    group = in_any[None, :] & disk_on                       # "inside, bg on"
    truth = test.foreground[group]
    s = float(truth.mean())                                 # share of active cells there
    # the input: block counts Binomial(36, both) when active, Binomial(36, disk) when not
    size = int(test.cell_masks[0].sum())
    on_pmf, off_pmf = _binomial_pmf(size, lv.both), _binomial_pmf(size, lv.disk)
    k_new, k_old = math.floor(size * on_mid) + 1, math.floor(size * 0.5) + 1   # counts called on
    auc_input = float(sum(on_pmf[a] * off_pmf[b] * (1.0 if a > b else 0.5 if a == b else 0.0)
                          for a in range(size + 1) for b in range(size + 1)))
    fp_old_input = float(off_pmf[k_old:].sum())
    p = test.disks[0].p
    mean_under = p * on_mid + (1 - p) * off_mid             # the training mean under the disk
    theory = {   # (accuracy, AUC, old accuracy, old FP rate) that theory predicts
        "oracle": (1.0, 1.0, s, 1.0),
        "binarized input": (s * on_pmf[k_new:].sum() + (1 - s) * off_pmf[:k_new].sum(), auc_input,
                            s * on_pmf[k_old:].sum() + (1 - s) * (1 - fp_old_input), fp_old_input),
        "blind under the disk": (f"{min(s, 1 - s):.3f}|{max(s, 1 - s):.3f}", 0.5, s, 1.0),
        "training mean": ((1 - s) if mean_under < on_mid else s, 0.5, s, 1.0),
    }

    print(f"\n{name}, {len(test.images)} held-out images; \"inside, bg on\": {int(group.sum())} "
          f"cell-images ({int(in_any.sum())} cells under the disk, {int(disk_on[:, 0].sum())} "
          f"images with it on), {100 * s:.1f} % of them active")
    print(f"{'':<30} {'new rule, disk read first':>23}   {'old rule, mean > 0.5':>20}")
    print(f"{'reconstruction':<30} {'accuracy':>14} {'AUC':>8}   {'accuracy':>11} {'FP rate':>8}")
    rows = {}
    for what, recon in recons.items():
        new = cell_detection(recon, test.foreground, test.background, test.cell_masks,
                             test.inside, test.disk_masks, lv)["inside_bg_on"]
        old = cell_means(recon, test.cell_masks)[group] > 0.5            # the old rule
        row = {"accuracy": new["accuracy"], "auc": new["auc"],
               "old_accuracy": float((old == truth).mean()),
               "old_false_positive_rate": float(old[~truth].mean())}
        predicted = dict(zip(("accuracy", "auc", "old_accuracy", "old_false_positive_rate"),
                             theory[what]))
        rows[what] = {**row, "theory": predicted}
        print(f"{what:<20} {'measured':<9} {row['accuracy']:>14.3f} {row['auc']:>8.3f}   "
              f"{row['old_accuracy']:>11.3f} {row['old_false_positive_rate']:>8.2f}")
        t = predicted
        acc = (t["accuracy"].replace("|", " or ") if isinstance(t["accuracy"], str)
               else f"{t['accuracy']:.3f}")
        print(f"{'':<20} {'theory':<9} {acc:>14} {t['auc']:>8.3f}   "
              f"{t['old_accuracy']:>11.3f} {t['old_false_positive_rate']:>8.2f}")
    print("(theory: the oracle is perfect; the input's block counts are binomial; the blind "
          "and the training mean show one value per cell: chance, AUC 0.5; the old rule calls "
          "every cell under an active disk on)")
    return {"data": name, "n_images": len(test.images), "n_cell_images": int(group.sum()),
            "share_active": s, "levels": list(lv), "rows": rows}


# %% [markdown]
# ## 4. The thesis's run on X90, X50, X90_20
#
# `run_dataset` trains one dual VAE per data set and measures it on 500 held-out images
# (quick mode: 128) drawn from the same distribution with another seed.  The columns of
# the table:
#
# - **ELBO1, ELBO2, KL2** (nats per image);
# - **g MAE (blind)**: vae2's mean absolute error on g(x), and in brackets that of the
#   best guess that never looks at the image — with a disk on in 90 % of the images, a
#   low error alone proves nothing;
# - **cells out / in, bg on / in, bg off**, each "accuracy (AUC)": vae1's foreground cells
#   under section 3's rule, outside the disks, inside them with the disk on, inside them
#   with the disk off;
# - **disk read**: how often each disk's state read off vae1(x) is right;
# - **disk from z1 / z2 (majority)**: a k-nearest-neighbour probe, fitted on the training
#   images' posterior means and scored on the held-out ones, predicts each disk's state
#   from z1 alone and from z2 alone, next to always guessing the majority state.  This
#   says *where* the background lives;
# - **cells under the disk from z1 / z2 (majority)**: the same probe for the cells under
#   an active disk — can their states be read from the codes, even where vae1(x) hides
#   them?
#
# It writes the thesis's figures per data set; the cell copies them here under the
# thesis's numbers: `fig3_1_X90_reconstructions.png` (x, vae1(x), g(x), vae2(x), the true
# cells and disks outlined) … `fig3_6_X50_latent.png` (vae1's decoder at the one-hot
# states ±5 of (z1, z2)), and the probes as `probes_<data set>.png`.
#
# The statements of the thesis's chapter 3 the cell checks against the measurement:
#
# - "all three algorithms reconstruct the scaled target for vae2 without any visible
#   errors" (§3.2) — compared with the blind guess;
# - does z2, vae2's latent variable, carry the background?  Its KL and its probe against
#   the majority guess say;
# - the thesis found the cells under the 50 % disk reconstructed better than under the
#   90 % one (figure 3.3): the accuracy inside the disk with the disk off, X50 against X90.
#
# The full mode with its defaults (seed 0, NumPy, one BLAS thread) is the main job's run (docs/thesis.md).
# Outside the disks the new rule is the old one (threshold 0.5), so its "cells out"
# accuracies are those of docs/thesis.md (0.711, 0.734 and 0.621 on X90, X50 and X90_20); KL2 = 0.00
# on all three.  docs/thesis.md ("The remedies over three seeds") reports the run with three
# seeds and 100 epochs: after 30 epochs the model is mid-climb (the cells outside the
# disks keep improving until about epoch 80), z2's KL falls to 0 on every data set and
# the disk's state is read from z1.

# %%
def train_runs(args, out, bk, remedy=False):
    """Section 4's runs (the thesis's model) or, with remedy=True, section 5's."""
    epochs, n = sizes(args)
    results = []
    for name in args.datasets:
        if remedy:
            options = dict(REMEDY, latent2=REMEDY_LATENT2.get(name, 1))
            folder = out / "remedy" / name
        else:
            options = dict(weight_on=args.weight_on)
            folder = out / name
        print(f"\n-- {name}{' (remedy)' if remedy else ''}: {epochs} epochs, "
              f"{n['n_train']} training / {n['n_test']} held-out images")
        if not args.quick:
            print("   training (about a minute on two cores) …", flush=True)
        m = run_dataset(name, folder, epochs=epochs, seed=args.seed, backend=bk, quiet=True,
                        **n, **options)
        print(f"   trained in {m['train_seconds']:.1f} s")
        if remedy:
            shutil.copyfile(folder / "reconstructions.png",
                            out / f"remedy_{name}_reconstructions.png")
            shutil.copyfile(folder / "probes.png", out / f"remedy_{name}_probes.png")
        else:
            recon, latent = FIGURES[name]
            shutil.copyfile(folder / "reconstructions.png",
                            out / f"fig{recon}_{name}_reconstructions.png")
            shutil.copyfile(folder / "latent.png", out / f"fig{latent}_{name}_latent.png")
            shutil.copyfile(folder / "probes.png", out / f"probes_{name}.png")
        results.append(m)
    return results


def _disk_lines(f):
    """Per disk: is its state in z1, in z2 (kNN probe more than MARGIN above the majority)?"""
    verdicts = {}
    for disk, p in f["probes"]["disks"].items():
        verdicts[disk] = {"z1": p["z1"]["knn"] > p["majority"] + MARGIN,
                          "z2": p["z2"]["knn"] > p["majority"] + MARGIN}
    text = "; ".join(f"{disk}: {'in z1' if v['z1'] else 'not in z1'}, "
                     f"{'in z2' if v['z2'] else 'not in z2'}" for disk, v in verdicts.items())
    return verdicts, text


def discuss(results, quick=False):
    table = format_table(summary_rows(results))
    print(table)
    print()
    if quick:
        print("(quick mode: 2 epochs on 256 images, the model has barely started; the lines "
              "below show what is checked, not a result)")
    notes = {}
    by_name = {m["data"]: m["final"] for m in results}
    for name, f in by_name.items():
        g_ratio = f["target_mae"] / f["target_mae_constant"]
        g_verdict = ("clearly better than" if g_ratio < 0.8 else
                     "barely better than" if g_ratio < 1 else "no better than")
        verdicts, text = _disk_lines(f)
        on = f["cells"]["inside_bg_on"]
        notes[name] = {"g_mae_over_blind": g_ratio, "kl2": f["kl2"],
                       "z1_carries_disk": {d: v["z1"] for d, v in verdicts.items()},
                       "z2_carries_disk": {d: v["z2"] for d, v in verdicts.items()},
                       "inside_bg_on": [on["accuracy"], on["auc"]]}
        print(f"{name}: vae2's error on g is {g_ratio:.2f} × the blind guess's "
              f"({g_verdict} not looking); KL2 = {f['kl2']:.2f} nats; cells under the "
              f"active disk {on['accuracy']:.3f}, AUC {on['auc']:.3f} (0.5: vae1(x) does not "
              f"show them, 1: it does); the disk state is {text}")
    if "X50" in by_name and "X90" in by_name:
        a50 = by_name["X50"]["cells"]["inside_bg_off"]["accuracy"]
        a90 = by_name["X90"]["cells"]["inside_bg_off"]["accuracy"]
        verdict = ("as the thesis saw (figure 3.3)" if a50 > a90
                   else "unlike the thesis (figure 3.3)")
        print(f"cells under the disk, disk off: accuracy {a50:.3f} on X50 vs {a90:.3f} on X90, "
              f"{verdict}")
        notes["x50_vs_x90_inside_bg_off"] = [a50, a90]
    return table, notes


# %% [markdown]
# ## 5. The thesis's remedies, and a model that separates the cells
#
# The thesis (§3.3) suggests what might help the separation: use the raw data instead of
# binarizing it, give the model more latent dimensions, cut interactions between the two
# VAEs, weight the objective differently (and show the model more images without
# background).  Section 3's levels say why the first matters: on binary data an active
# disk leaves a cell under it only the gap 0.646 → 0.996 between off and on, against
# 0.130 → 0.870 outside, and a Bernoulli pixel at 0.646 is as noisy as a pixel gets; on
# grey data the contributions add, and the gap is 0.9 (0.9 → 1.8, against 0.3 → 1.2)
# everywhere.
#
# We add one remedy of our own, the structure the thesis's picture of the data suggests:
# x = f(x1, x2), foreground plus background.  The *structured* decoder 1 is the
# foreground decoder (from z̃1) plus a full-resolution background map decoded from z̃2;
# vae1's image is their sum.  The variant trained here combines:
#
# - `data_mode="grey"`: the raw images, no binarization, and a Gaussian decoder 1 with one
#   learned noise level;
# - `latent1=16` (more dimensions for the foreground), and `latent2=2` on X90_20 (one per
#   disk; 1 on X90 and X50);
# - `decoder1="structured"`;
# - `weight_on="reconstruction"`: the 450 multiplies only ELBO2's reconstruction term (with
#   it on the whole ELBO2, every nat z2 carries costs 450 nats, and z2 collapses);
# - `lr=3e-3`: Adam's learning rate (ours, like the thesis run's 1e-3: the thesis gives
#   none).  At 1e-3 thirty epochs leave the model mid-climb (section 6); at 3e-3 they
#   reach the plateau.
#
# Same data sets, image counts, epochs and seed as section 4; the table has the same
# columns, and the cells are measured with the grey levels (0.3, 1.2, 0.9, 1.8: a cell is
# on above 0.75, or 1.35 under a disk read as on).  One column does not compare: **ELBO1
# is here a Gaussian log density of grey images, in nats, and not comparable with the
# Bernoulli ELBO1 of binary images in section 4** (a density can even be positive).  The
# figures are copied as `remedy_<data set>_reconstructions.png` (x, vae1(x), its
# foreground and background parts, g(x), vae2(x)) and `remedy_<data set>_probes.png`.

# %%
def discuss_remedy(results, quick=False):
    table = format_table(summary_rows(results))
    print(table)
    print("(ELBO1: a Gaussian log density of the grey images, not comparable with section 4's "
          "Bernoulli ELBO1)")
    if quick:
        print("(quick mode: 2 epochs on 256 images — what is checked, not a result)")
    notes = {}
    for m in results:
        f = m["final"]
        verdicts, text = _disk_lines(f)
        on = f["cells"]["inside_bg_on"]
        notes[m["data"]] = {"kl2": f["kl2"], "inside_bg_on": [on["accuracy"], on["auc"]],
                            "z1_carries_disk": {d: v["z1"] for d, v in verdicts.items()},
                            "z2_carries_disk": {d: v["z2"] for d, v in verdicts.items()}}
        print(f"{m['data']} (remedy, latent2 = {m['latent2']}): KL2 = {f['kl2']:.2f} nats; "
              f"cells under the active disk {on['accuracy']:.3f}, AUC {on['auc']:.3f}; "
              f"the disk state is {text}")
    return table, notes


# %% [markdown]
# ## 6. What the thesis concluded, what we measure, and why they differ
#
# **What the thesis concluded.**  Judging by eye (figures 3.1–3.6), the thesis found that
# vae2 reconstructs its target "without any visible errors" (§3.2), that vae1 draws the
# disk with the foreground cells embedded in it, that the cells under the 50 % disk are
# reconstructed better than under the 90 % one (figure 3.3), and that the background is
# "spread across multiple dimensions" of z1 (§3.3) rather than held by z2 alone; it named
# the remedies of section 5 as what to try next.
#
# **What we measure.**  The numbers of the main job (docs/thesis.md; Numba, seed 0, 30 epochs).  This
# chapter's NumPy run computes the same model to float32 round-off, which 1900 steps of
# training amplify; the cell below prints its own numbers (in our NumPy run: the thesis
# run 0.530 / 0.565 / 0.509 under the disks, the remedy 0.999 / 0.985 / 0.999, and the
# remedy's z1 reads X90_20's top-right disk at 0.90 against 0.79 where Numba's gave 0.82):
#
# - The thesis's run does not show the cells under an active disk: "in, bg on" is
#   0.522 / 0.544 / 0.508 on X90 / X50 / X90_20, AUC 0.551 / 0.603 / 0.534 — chance —
#   while outside the disks it reaches 0.741 / 0.692 / 0.622 (and is still climbing).
#   This is what the thesis saw: "when the background is active, we can not identify,
#   whether the foreground cell is reconstructed as active or if we just see the
#   background cell with embedded portions of the foreground cell" (§3.3).
# - Its z2 carries nothing (KL2 0.00; the disk from z2 0.90 against the majority guess
#   0.90 on X90); every disk's state is in z1 (1.00).
# - The remedy shows the cells: "in, bg on" 0.982 / 0.972 / 1.000, AUC 0.998 / 0.999 /
#   1.000.  Its z2 carries the disks (1.00 against the majority 0.90 on X90, 1.00 and
#   1.00 for X90_20's two disks against 0.90 and 0.79; KL2 3.8–5.7 nats).
# - And z1 no longer draws them: no z1 direction of the remedy's latent plot shows a
#   disk, z2's does, and the kNN probe on z1 is at the majority guess: 0.90 on X90
#   (majority 0.90), 0.55 on X50 (0.53), 0.90 and 0.82 on X90_20 (0.90 and 0.79).  The
#   posterior means still hold the disk *linearly*, though: the logistic probe reads
#   X90_20's disks from z1 at 0.98 and 0.99 — a small shift of z1's means, too small
#   for the decoder to draw a disk from it.  Over seeds 0–2 the kNN target
#   holds for X90 in every seed but for X50 and X90_20 in one of three.  docs/thesis.md
#   ("A latent separation") reports the attempts to close the rest
#   (`scripts/separation_study.py`: no interaction, free bits for z2, a decorrelation
#   penalty); for both probes, one X90_20 run in 21 has z1 blind to its disks.
#
# **Why they differ.**
#
# 1. *The eye, and a blind metric.*  A vae1(x) that paints the disk at 0.646 with cells
#    embedded looks like a good reconstruction, and under the old 0.5 rule no
#    reconstruction could do better: it gives the oracle and the reconstruction blind
#    under the disk the same 0.487 on X90 (section 3, full mode).  Only a rule that reads
#    the disk first, and an AUC, tell them apart.
# 2. *Binarization.*  Under an active disk the binary data leave a cell a gap of 0.35
#    between off and on in a pixel at its noisiest; grey data leave 0.9.
# 3. *The weight 450 on all of ELBO2.*  It makes every nat of z2 cost 450: z2 collapses
#    (KL2 = 0) and the background goes where it is cheap, into z1, and from there through
#    the interaction layer into vae2.
# 4. *No place for the background in vae1's image.*  The plain decoder 1 must draw
#    everything from z̃1, so z1 must hold the disk: on grey data with z1 ∈ R¹⁶ and the
#    plain decoder (learning rate 3e-3, seeds 0–2) the cells are shown (0.96–1.00) but
#    the disk is read from z1 at 1.00.
#    The structured one gives the background its own map from z2, and z1 can let it go.
# 5. *30 epochs at learning rate 1e-3 are not the plateau* under our reading (the thesis
#    gives no learning rate): the cells outside the disks are still climbing at epoch 30;
#    at 3e-3 thirty epochs reach it (docs/thesis.md, "Learning rate 3e-3").

# %%
def compare(thesis_runs, remedy_runs):
    """Side by side, per data set: the thesis's run and the remedy."""
    rows, out = [], {}
    for m, r in zip(thesis_runs, remedy_runs):
        name = m["data"]
        out[name] = {}
        for label, run in (("thesis run", m), ("remedy", r)):
            f = run["final"]
            on = f["cells"]["inside_bg_on"]
            disks = {d: {"z1": p["z1"]["knn"], "z2": p["z2"]["knn"], "majority": p["majority"]}
                     for d, p in f["probes"]["disks"].items()}
            out[name][label] = {"inside_bg_on": {"accuracy": on["accuracy"], "auc": on["auc"]},
                                "disks": disks}
            rows.append((name if label == "thesis run" else "", label,
                         f"{on['accuracy']:.3f} ({on['auc']:.3f})",
                         "; ".join(f"{d} {v['z1']:.2f} / {v['z2']:.2f} ({v['majority']:.2f})"
                                   for d, v in disks.items())))
    print("in, bg on: accuracy (AUC) of vae1(x)'s cells under an active disk; disk from z1 / z2: "
          "kNN probe accuracy on held-out images (majority guess)")
    print(f"{'data':<8} {'run':<11} {'in, bg on':<16} disk from z1 / z2 (majority)")
    for row in rows:
        print(f"{row[0]:<8} {row[1]:<11} {row[2]:<16} {row[3]}")
    for name, runs in out.items():
        z1 = [d for d, v in runs["remedy"]["disks"].items() if v["z1"] > v["majority"] + MARGIN]
        print(f"{name}: the remedy's z1 " +
              ("still knows the state of the " + " and ".join(z1)
               + (" disks" if len(z1) > 1 else " disk") + " (the open problem)"
               if z1 else "knows no disk's state"))
    return out


# %% [markdown]
# ## Run everything
#
# Writes `datasets.png`; for the thesis's run the six thesis figures `fig3_*.png`,
# `probes_<data set>.png` and per data set a folder with `reconstructions.png`,
# `latent.png`, `probes.png`, `elbo.png`, `convergence.png`, `metrics.json`,
# `heldout.npz` and `checkpoint.npz`; for the remedy `remedy_<data set>_*.png` and the
# same folders under `remedy/`; and `summary.md` (both tables) and `results.json`.
#
# Quick mode (256 images, 2 epochs) only shows that everything runs: the models have
# barely started and nothing in sections 4–6 should be read as a result.  Section 3 does
# not train anything: its numbers are the same in both modes, up to the sample size.

# %%
def main(argv=None):
    args = parse_args(argv)
    bk = get_backend(args.backend)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"chapter 9 ({'quick' if args.quick else 'full'} mode), backend {bk.name}; "
          f"figures go to {out}/")
    t0 = time.perf_counter()
    results = {"quick": bool(args.quick), "backend": bk.name, "weight_on": args.weight_on,
               "remedy_options": REMEDY}
    print("\n== 1. the data sets")
    results["data"] = datasets(args, out, bk)
    print("\n== 2. the model")
    results["model"] = describe_model(bk)
    print("\n== 3. measuring the cells under the disk (a check of the metric, no model)")
    results["metric_check"] = check_metric(args)
    print("\n== 4. the thesis's run")
    runs = train_runs(args, out, bk)
    print()
    table, notes = discuss(runs, quick=args.quick)
    print("\n== 5. the remedies: grey data, latent1 = 16, structured decoder 1, "
          "450 on ELBO2's reconstruction term")
    remedies = train_runs(args, out, bk, remedy=True)
    print()
    remedy_table, remedy_notes = discuss_remedy(remedies, quick=args.quick)
    print("\n== 6. the thesis's run against the remedy")
    results["comparison"] = compare(runs, remedies)
    (out / "summary.md").write_text(f"## The thesis's run\n\n{table}\n\n## The remedy "
                                    f"({', '.join(f'{k}={v}' for k, v in REMEDY.items())})"
                                    f"\n\n{remedy_table}\n")

    def kept(ms):
        return {m["data"]: {k: v for k, v in m.items() if k not in ("history", "convergence")}
                for m in ms}

    results["separation"] = kept(runs)
    results["remedy"] = kept(remedies)
    results["notes"] = {"thesis_run": notes, "remedy": remedy_notes}
    results["seconds"] = time.perf_counter() - t0
    results["summary"] = "; ".join(
        f"{name}: thesis run in-bg-on {c['thesis run']['inside_bg_on']['accuracy']:.2f}, "
        f"remedy {c['remedy']['inside_bg_on']['accuracy']:.2f}"
        for name, c in results["comparison"].items())
    print(f"\nchapter 9 done in {results['seconds']:.1f} s; figures and results.json in {out}/")
    write_results(results, out)
    return results


if __name__ == "__main__":
    run_as_script(main)
