# %% [markdown]
# # Chapter 9.5 — What the thesis concluded, what we measure, and why they differ
#
# **What the thesis concluded.**  Judging by eye (figures 3.1–3.6), the thesis found that
# vae2 reconstructs its target "without any visible errors" (§3.2), that vae1 draws the
# disk with the foreground cells embedded in it, that the cells under the 50 % disk are
# reconstructed better than under the 90 % one (figure 3.3), and that the background is
# "spread across multiple dimensions" of z1 (§3.3) rather than held by z2 alone; it named
# the remedies of section 9.4 as what to try next.
#
# This section sets the thesis's run (section 9.3) and the remedy (section 9.4) side by
# side.  It reads their runs from the `results.json` those sections wrote beside its own
# folder (`python chapters/run_all.py` and `chapters/build_book.py` put them there) when
# they were made with the same options, and trains again only a run it does not find:
# in full mode that takes about a minute per run on two cores.

# %%
import json

from vae_from_scratch.apps.chapter_tools import dual_vae_options, exercise_commands, start_section
from vae_from_scratch.backend import get_backend
from vae_from_scratch.thesis.reproduction import (REMEDY, SIZES, format_table, remedy_options,
                                                  run_dataset, summary_rows)


sec = start_section("ch09_5", "Chapter 9.5: the thesis's run against the remedy",
                    "256 training images and 2 epochs per data set and run: seconds",
                    backend=True, extra=dual_vae_options(weight_on=True))
bk = get_backend(sec.backend)
datasets = sec.args.datasets
epochs = sec.args.epochs or (2 if sec.quick else 30)
n = SIZES["quick" if sec.quick else "full"]
# the remedy above: thesis.reproduction.REMEDY, and one z2 dimension per disk
# (remedy_options(name))

# %% [markdown]
# ## The two runs
#
# Each run of sections 9.3 and 9.4 is taken as it is when its options (seed, epochs,
# backend, image counts, the model's options) are this section's; a missing one is
# trained here with the same seeds, which gives the same numbers.

# %%
def runs_of(section, key, model_options):
    """Per data set, the run of `section` (ch09_3 or ch09_4) with these options: read from
    its results.json beside this section's folder, else trained here, into run_<section>/."""
    path = sec.out.parent / section / "results.json"
    found = json.loads(path.read_text()).get(key, {}) if path.is_file() else {}
    runs = []
    for name in datasets:
        wanted = dict(model_options(name), seed=sec.seed, epochs=epochs, backend=bk.name,
                      n_train=n["n_train"], n_test=n["n_test"])
        m = found.get(name)
        if m is not None and all(m.get(k) == v for k, v in wanted.items()):
            print(f"{name}: section {section}'s run, read from {path}")
        else:
            print(f"{name}: no run of section {section} with these options beside this "
                  f"folder; training it ({epochs} epochs) …", flush=True)
            m = run_dataset(name, sec.out / f"run_{section}" / name, epochs=epochs,
                            seed=sec.seed, backend=bk, quiet=True, **n, **model_options(name))
        runs.append(m)
    return runs


thesis_runs = runs_of("ch09_3", "separation", lambda name: dict(weight_on=sec.args.weight_on))
remedy_runs = runs_of("ch09_4", "remedy",
                      remedy_options)

# %% [markdown]
# ## Side by side
#
# Per data set, both runs: the cells under an active disk as vae1(x) shows them
# (accuracy, and AUC: 0.5 when it does not show them), and each disk's state read from
# z1 and from z2 by the kNN probe, beside the majority guess.  The last lines say
# whether the remedy's z1 still knows a disk's state (a probe more than 0.05 above the
# majority guess).  `summary.md` gets both tables of sections 9.3 and 9.4.

# %%
MARGIN = 0.05   # a probe within this of the majority guess knows nothing (docs/thesis.md#the-target)
rows, comparison = [], {}
for m, r in zip(thesis_runs, remedy_runs):
    name = m["data"]
    comparison[name] = {}
    for label, run in (("thesis run", m), ("remedy", r)):
        f = run["final"]
        on = f["cells"]["inside_bg_on"]
        disks = {d: {"z1": p["z1"]["knn"], "z2": p["z2"]["knn"], "majority": p["majority"]}
                 for d, p in f["probes"]["disks"].items()}
        comparison[name][label] = {"inside_bg_on": {"accuracy": on["accuracy"], "auc": on["auc"]},
                                   "disks": disks}
        rows.append((name if label == "thesis run" else "", label,
                     f"{on['accuracy']:.3f} ({on['auc']:.3f})",
                     "; ".join(f"{d} {v['z1']:.2f} / {v['z2']:.2f} ({v['majority']:.2f})"
                               for d, v in disks.items())))

# %%
print("in, bg on: accuracy (AUC) of vae1(x)'s cells under an active disk; disk from z1 / z2: "
      "kNN probe accuracy on held-out images (majority guess)")
print(f"{'data':<8} {'run':<11} {'in, bg on':<16} disk from z1 / z2 (majority)")
for row in rows:
    print(f"{row[0]:<8} {row[1]:<11} {row[2]:<16} {row[3]}")
for name, both in comparison.items():
    z1 = [d for d, v in both["remedy"]["disks"].items() if v["z1"] > v["majority"] + MARGIN]
    print(f"{name}: the remedy's z1 " +
          ("still knows the state of the " + " and ".join(z1)
           + (" disks" if len(z1) > 1 else " disk") + " (the open problem)"
           if z1 else "knows no disk's state"))
# full mode: the thesis run near 0.5 under the disk, the remedy near 1.00

# %%
(sec.out / "summary.md").write_text(
    f"## The thesis's run\n\n{format_table(summary_rows(thesis_runs))}\n\n## The remedy "
    f"({', '.join(f'{k}={v}' for k, v in REMEDY.items())})\n\n"
    f"{format_table(summary_rows(remedy_runs))}\n")

# %% [markdown]
# ## What we measure
#
# The numbers of the main job (docs/thesis.md; Numba, seed 0, 30 epochs).  This chapter's
# NumPy run computes the same model to float32 round-off, which 1900 steps of training
# amplify; the table above shows its own numbers (in our NumPy run: the thesis run 0.530 /
# 0.565 / 0.509 under the disks, the remedy 0.999 / 0.985 / 0.999, and the remedy's z1
# reads X90_20's top-right disk at 0.90 against 0.79 where Numba's gave 0.82):
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
# ## Why they differ
#
# 1. *The eye, and a blind metric.*  A vae1(x) that paints the disk at 0.646 with cells
#    embedded looks like a good reconstruction, and under the old 0.5 rule no
#    reconstruction could do better: it gives the oracle and the reconstruction blind
#    under the disk the same 0.487 on X90 (section 9.2, full mode).  Only a rule that
#    reads the disk first, and an AUC, tell them apart.
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
#
# Quick mode (256 images, 2 epochs) only shows that everything runs: the models have
# barely started and nothing in sections 9.3–9.5 should be read as a result.

# %%
results = sec.finish({"comparison": comparison},
                     summary="; ".join(f"{name}: thesis run in-bg-on "
                                       f"{c['thesis run']['inside_bg_on']['accuracy']:.2f}, "
                                       f"remedy {c['remedy']['inside_bg_on']['accuracy']:.2f}"
                                       for name, c in comparison.items()))

# %% [markdown]
# ## Exercise
#
# Write the dual VAE's loss — the two ELBOs and where the weight 450 sits (thesis
# eq. 2.36, §3.1) — and its gradients yourself; the autograder checks them against the
# library's `DualVAE` and finite differences:

# %%
print(exercise_commands("ch09"))
