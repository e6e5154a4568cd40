# %% [markdown]
# # Chapter 9.3 — The thesis's run on X90, X50, X90_20
#
# Section 9.1 set up the data and the model (thesis §2.9, eq. 2.35, 2.36; §3.1, eq. 3.1),
# section 9.2 the rule that measures the cells under the disk.  Here the thesis's model is
# trained on the three data sets and measured, in our reading (section 9.1: the layer
# shapes, Adam, learning rate 1e-3 and batch 32 are ours; the thesis gives only the
# receptive fields, the latent sizes, g, the weight 450 and 30 epochs).  `run_dataset`
# (`thesis/reproduction.py`) trains one dual VAE per data set and measures it on 500
# held-out images (quick mode: 128) drawn from the same distribution with another seed.
# The columns of the table:
#
# - **ELBO1, ELBO2, KL2** (nats per image);
# - **g MAE (blind)**: vae2's mean absolute error on g(x), and in brackets that of the
#   best guess that never looks at the image — with a disk on in 90 % of the images, a
#   low error alone proves nothing;
# - **cells out / in, bg on / in, bg off**, each "accuracy (AUC)": vae1's foreground cells
#   under section 9.2's rule, outside the disks, inside them with the disk on, inside them
#   with the disk off;
# - **disk read**: how often each disk's state read off vae1(x) is right;
# - **disk from z1 / z2 (majority)**: a k-nearest-neighbour probe, fitted on the training
#   images' posterior means and scored on the held-out ones, predicts each disk's state
#   from z1 alone and from z2 alone, next to always guessing the majority state.  This
#   says *where* the background lives;
# - **cells under the disk from z1 / z2 (majority)**: the same probe for the cells under
#   an active disk — can their states be read from the codes, even where vae1(x) hides
#   them?

# %%
import shutil

from vae_from_scratch.apps.chapter_tools import dual_vae_options, start_section
from vae_from_scratch.backend import get_backend
from vae_from_scratch.thesis.reproduction import SIZES, format_table, run_dataset, summary_rows


sec = start_section("ch09_3", "Chapter 9.3: the thesis's run on X90, X50, X90_20",
                    "256 training images and 2 epochs per data set: seconds, not minutes",
                    backend=True, extra=dual_vae_options(weight_on=True))
bk = get_backend(sec.backend)
datasets, weight_on = sec.args.datasets, sec.args.weight_on
epochs = sec.args.epochs or (2 if sec.quick else 30)
n = SIZES["quick" if sec.quick else "full"]

# %% [markdown]
# ## Training, and the thesis's figures
#
# `run_dataset` writes its figures per data set, into one folder each; the cell copies
# them here under the thesis's numbers: `fig3_1_X90_reconstructions.png` (x, vae1(x),
# g(x), vae2(x), the true cells and disks outlined) … `fig3_6_X50_latent.png` (vae1's
# decoder at the one-hot states ±5 of (z1, z2)), and the probes as
# `probes_<data set>.png`.  Each folder also keeps `elbo.png`, `convergence.png`,
# `metrics.json`, `heldout.npz` and `checkpoint.npz`.

# %%
def keep(src, name):
    """Copy one of run_dataset's figures here as `name` (a notebook shows it already)."""
    return shutil.copyfile(src, sec.out / name)


# the thesis's figure numbers: reconstructions 3.1–3.3 and latent explorations 3.4–3.6
FIGURES = {"X90": ("3_1", "3_4"), "X90_20": ("3_2", "3_5"), "X50": ("3_3", "3_6")}
runs, figures = [], []
for name in datasets:
    print(f"\n-- {name}: {epochs} epochs, {n['n_train']} training / {n['n_test']} held-out images")
    if not sec.quick:
        print("   training (about a minute on two cores) …", flush=True)
    m = run_dataset(name, sec.out / name, epochs=epochs, seed=sec.seed, backend=bk, quiet=True,
                    weight_on=weight_on, **n)
    print(f"   trained in {m['train_seconds']:.1f} s")
    recon, latent = FIGURES[name]
    figures += [keep(sec.out / name / "reconstructions.png", f"fig{recon}_{name}_reconstructions.png"),
                keep(sec.out / name / "latent.png", f"fig{latent}_{name}_latent.png"),
                keep(sec.out / name / "probes.png", f"probes_{name}.png")]
    runs.append(m)

# %% [markdown]
# ## The table
#
# The full mode with its defaults (seed 0, NumPy, one BLAS thread) is the main job's run
# (docs/thesis.md).  Outside the disks the new rule is the old one (threshold 0.5), so its
# "cells out" accuracies are those of docs/thesis.md (0.711, 0.734 and 0.621 on X90, X50
# and X90_20); KL2 = 0.00 on all three.  docs/thesis.md ("The remedies over three seeds")
# reports the run with three seeds and 100 epochs: after 30 epochs the model is mid-climb
# (the cells outside the disks keep improving until about epoch 80), z2's KL falls to 0
# on every data set and the disk's state is read from z1.

# %%
table = format_table(summary_rows(runs))
(sec.out / "summary.md").write_text(f"## The thesis's run\n\n{table}\n")
print(table)
if sec.quick:
    print("\n(quick mode: 2 epochs on 256 images, the model has barely started; the lines "
          "below show what is checked, not a result)")

# %% [markdown]
# ## The thesis's statements against the measurement
#
# The statements of the thesis's chapter 3 the cell checks against the measurement:
#
# - "all three algorithms reconstruct the scaled target for vae2 without any visible
#   errors" (§3.2) — compared with the blind guess;
# - does z2, vae2's latent variable, carry the background?  Its KL and its probe against
#   the majority guess say (a probe more than 0.05 above the majority guess knows the
#   disk's state, the latent-separation target of docs/thesis.md);
# - the thesis found the cells under the 50 % disk reconstructed better than under the
#   90 % one (figure 3.3): the accuracy inside the disk with the disk off, X50 against X90.

# %%
MARGIN = 0.05   # a probe within this of the majority guess knows nothing (docs/thesis.md#the-target)
notes = {}
by_name = {m["data"]: m["final"] for m in runs}
for name, f in by_name.items():
    g_ratio = f["target_mae"] / f["target_mae_constant"]
    g_verdict = ("clearly better than" if g_ratio < 0.8 else
                 "barely better than" if g_ratio < 1 else "no better than")
    verdicts = {disk: {z: p[z]["knn"] > p["majority"] + MARGIN for z in ("z1", "z2")}
                for disk, p in f["probes"]["disks"].items()}
    text = "; ".join(f"{disk}: {'in z1' if v['z1'] else 'not in z1'}, "
                     f"{'in z2' if v['z2'] else 'not in z2'}" for disk, v in verdicts.items())
    on = f["cells"]["inside_bg_on"]
    notes[name] = {"g_mae_over_blind": g_ratio, "kl2": f["kl2"],
                   "z1_carries_disk": {d: v["z1"] for d, v in verdicts.items()},
                   "z2_carries_disk": {d: v["z2"] for d, v in verdicts.items()},
                   "inside_bg_on": [on["accuracy"], on["auc"]]}
    print(f"{name}: vae2's error on g is {g_ratio:.2f} × the blind guess's "
          f"({g_verdict} not looking); KL2 = {f['kl2']:.2f} nats; cells under the "
          f"active disk {on['accuracy']:.3f}, AUC {on['auc']:.3f} (0.5: vae1(x) does not "
          f"show them, 1: it does); the disk state is {text}")
# full mode: KL2 0.00 everywhere, every disk in z1 and none in z2, the cells under the
# active disk at chance (about 0.5)

# %% [markdown]
# And figure 3.3's observation: the cells under the disk while it is off, X50 against X90.

# %%
if "X50" in by_name and "X90" in by_name:
    a50 = by_name["X50"]["cells"]["inside_bg_off"]["accuracy"]
    a90 = by_name["X90"]["cells"]["inside_bg_off"]["accuracy"]
    verdict = "as the thesis saw (figure 3.3)" if a50 > a90 else "unlike the thesis (figure 3.3)"
    print(f"cells under the disk, disk off: accuracy {a50:.3f} on X50 vs {a90:.3f} on X90, "
          f"{verdict}")
    notes["x50_vs_x90_inside_bg_off"] = [a50, a90]

# %% [markdown]
# ## What this section measured
#
# In full mode (the chapter's NumPy run, seed 0, 30 epochs): the thesis's run does not
# show the cells under an active disk — "in, bg on" 0.530 / 0.565 / 0.509 on X90 / X50 /
# X90_20, AUC 0.552 / 0.618 / 0.535, chance — its z2 carries nothing (KL2 0.00) and every
# disk's state is in z1 (probe 1.00).  vae2's error on g is 0.99 / 0.37 / 0.49 × the
# blind guess's: on X90, where the disk is on in 90 % of the images, "without any visible
# errors" is what not looking achieves too.  With the disk off, the cells under it are
# shown better on X50 than on X90 (0.668 against 0.480), as the thesis saw (figure 3.3).
# Section 9.4 trains the remedy on the same data, section 9.5 sets the two side by side.
# The runs' metrics, without their per-epoch histories, go to `results.json` (section
# 9.5 reads them from there rather than train again).

# %%
kept = {m["data"]: {k: v for k, v in m.items() if k not in ("history", "convergence")}
        for m in runs}
results = sec.finish({"backend": bk.name, "weight_on": weight_on, "separation": kept,
                      "notes": {"thesis_run": notes}, "figures": figures},
                     summary="; ".join(f"{name}: in-bg-on {f['cells']['inside_bg_on']['accuracy']:.2f}"
                                       f" (AUC {f['cells']['inside_bg_on']['auc']:.2f}), "
                                       f"KL2 {f['kl2']:.2f}" for name, f in by_name.items()))
