"""`python -m vae_from_scratch thesis`: the thesis's chapter 3, reproduced and measured.

For each data set (X90, X50, X90_20; data/synthetic.py) it trains the reference dual
VAE (models/dual_vae.py) — 30 epochs as in the thesis (§3.1); batch 32, Adam with
learning rate 1e-3 and the layer shapes are our reading — and writes to OUT/<data set>/:

    reconstructions.png   figures 3.1–3.3: x, vae1(x), g(x), vae2(x), with the true cells
                          and disks outlined (and, for the structured decoder 1, its
                          foreground and background parts)
    latent.png            figures 3.4–3.6: vae1's decoder at one-hot states ±5 of (z1, z2)
    probes.png            who knows what: disks and cells from z1 and from z2
    elbo.png              ELBO1 and ELBO2 per epoch, training and held-out images
    convergence.png       the separation figures every few epochs
    checkpoint.npz        the trained model
    metrics.json          everything measured (separation.py), at the end and on the way
    heldout.npz           the held-out images and what the model made of them: x, vae1,
                          vae2, mu1, mu2 and the ground truth foreground, background

The separation is measured on held-out images drawn from the same distribution
(another seed), against the ground truth the generator returns; the probes are fitted
on the training images' posterior means and scored on the held-out ones.

The options are the thesis's remedies (§3.3) and ours: `data_mode="grey"` (no
binarization, a Gaussian decoder 1), `latent1`, `latent2`, `decoder1="structured"`,
`interaction`, `weight_on`, `oversample`, `free_bits2`, `decorrelate`.
"""

import json
import time
from pathlib import Path

import numpy as np

from ..backend import describe, get_backend
from ..data.synthetic import DATASETS, SYNTHETIC_NAMES, make_synthetic, pixel_levels
from ..models.dual_vae import DualVAE
from ..nn.functional import sigmoid
from ..optim import Adam
from ..train import fit
from ..run_folder import claim, option_names
from ..utils import atomic_write, check_int, write_json
from ..viz.plots import (plot_probe_summary, plot_series, save_latent_exploration,
                         save_reconstruction_plot)
from .separation import (cell_detection, constant_target_error, disk_probe_summary,
                         latent_probes, target_error)

INTERACTIONS = {"both": (True, True), "fg-only": (True, False), "bg-only": (False, True),
                "none": (False, False)}
# run_dataset's sizes: the thesis's 2000 training and 500 held-out images, or, for a
# check that everything runs in seconds (--quick), 256 and 128, measured every epoch
SIZES = {"full": dict(n_train=2000, n_test=500), "quick": dict(n_train=256, n_test=128,
                                                               eval_every=1)}
# the remedy of docs/thesis.md ("Pushing past the thesis"): grey data with a Gaussian
# decoder 1, z1 ∈ R¹⁶, the structured decoder 1, the weight 450 on ELBO2's reconstruction
# term, learning rate 3e-3; z2 gets one dimension per disk (remedy_options)
REMEDY = dict(data_mode="grey", latent1=16, decoder1="structured", weight_on="reconstruction",
              lr=3e-3)


def remedy_options(name):
    """run_dataset's options for the remedy on the data set `name`: REMEDY and latent2 =
    the number of its disks."""
    return dict(REMEDY, latent2=len(DATASETS[name]))
DATA_MODES = ("binary", "grey")


# Evaluated 100 images at a time: the transposed convolutions' columns take 0.46 MB
# per image (C·k·k = 128 values per output pixel), and fresh arrays of hundreds of MB
# made a held-out pass of 500 images twice as slow as five of 100 (docs/performance.md).
EVAL_BATCH = 100


def _batches(model, images, batch_size=EVAL_BATCH):
    for start in range(0, len(images), batch_size):
        yield model.backend.asarray(images[start:start + batch_size])


def posterior_means(model, images):
    """(mu1 (N, latent1), mu2 (N, latent2)): the posterior means of images (N, 1, S, S)."""
    bk, mu1, mu2 = model.backend, [], []
    for x in _batches(model, images):
        q1, q2 = model.encode(x)
        mu1.append(bk.to_numpy(q1.mu))
        mu2.append(bk.to_numpy(q2.mu))
    return np.concatenate(mu1), np.concatenate(mu2)


def outputs(model, images, rng):
    """What the model makes of `images`, on the host: {"vae1", "vae2", "g", "mu1", "mu2"}
    (vae1 and vae2 the decoders' means for one sampled (z1, z2) per image, g the target),
    and for a structured decoder 1 its two parts "vae1_foreground", "vae1_background"
    (probabilities for a Bernoulli, means for a Gaussian)."""
    bk = model.backend
    link = sigmoid if model.noise is None else (lambda a: a)   # logits -> probabilities
    out = {k: [] for k in ("vae1", "vae2", "g", "mu1", "mu2", "vae1_foreground", "vae1_background")}
    for x in _batches(model, images):
        q1, q2 = model.encode(x)
        z1, z2 = q1.sample(rng), q2.sample(rng)
        p1, p2 = model.decode(z1, z2)                                 # vae1(x), vae2(x)
        for key, value in (("vae1", p1.mean), ("vae2", p2.mean), ("g", model.target(x)),
                           ("mu1", q1.mu), ("mu2", q2.mu)):
            out[key].append(bk.to_numpy(value))
        if model.bg_map is not None:
            fg, bg = model.decoder1_parts(z1, z2)
            out["vae1_foreground"].append(link(bk.to_numpy(fg).astype(np.float64)))
            out["vae1_background"].append(link(bk.to_numpy(bg).astype(np.float64)))
    return {k: np.concatenate(v) for k, v in out.items() if v}


def measure(model, train, test, rng):
    """The separation figures of `model` on the Synthetic data `test` (host arrays):
    vae2's error on g, vae1's foreground cells against the ground truth, and the probes
    (fitted on the posterior means of the `train` images).  Returns (figures, outputs on
    the test images).  (The ELBOs on the same images come from the training loop's
    validation pass.)"""
    made = outputs(model, test.images, rng)
    mu1_train, mu2_train = posterior_means(model, train.images)
    names = [d.name for d in test.disks]
    probes = latent_probes(mu1_train, mu2_train, train.foreground, train.background,
                           made["mu1"], made["mu2"], test.foreground, test.background,
                           test.inside, names)
    figures = {
        "target_mae": target_error(made["vae2"], made["g"]),
        "cells": cell_detection(made["vae1"], test.foreground, test.background, test.cell_masks,
                                test.inside, test.disk_masks, pixel_levels(test.threshold)),
        "probe": disk_probe_summary(probes),
        "probes": probes,
    }
    return figures, made


def latent_states(latent1, latent2, a=5.0):
    """The thesis's exploration states: zero, then one hot dimension at +a, then at −a."""
    D = latent1 + latent2
    states = [np.zeros(D)]
    for sign in (1, -1):
        for d in range(D):
            s = np.zeros(D)
            s[d] = sign * a
            states.append(s)
    return np.array(states, dtype=np.float32)


def run_dataset(name, out, *, epochs=30, batch_size=32, lr=1e-3, seed=0, n_train=2000,
                n_test=500, interaction="both", weight_on="elbo", elbo2_weight=450.0,
                oversample=1, data_mode="binary", latent1=4, latent2=1, decoder1="plain",
                free_bits2=0.0, decorrelate=0.0, eval_every=5, backend="numpy", quiet=False,
                resume=False, run=None):
    """Train the dual VAE on one data set; write its figures, metrics.json and heldout.npz;
    return the metrics.

    resume: continue from out/checkpoint.npz where there is one (the separation figures
    measured on the way are kept in out/convergence.json for it).  run: the claimed
    run_folder.RunFolder whose run.json records each epoch under the data set's name."""
    if data_mode not in DATA_MODES:
        raise ValueError(f"run_dataset: data_mode must be one of {', '.join(DATA_MODES)}, "
                         f"got {data_mode!r}")
    bk = get_backend(backend)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # grey: the raw images, no binarization (thesis §3.3), and a Gaussian decoder 1
    threshold = {} if data_mode == "binary" else {"threshold": None}
    data = make_synthetic(name, n_train, rng=np.random.default_rng(seed), **threshold)
    test = make_synthetic(name, n_test, rng=np.random.default_rng(seed + 1000), **threshold)
    x_train = data.images
    if oversample > 1:      # the thesis's §3.3 suggestion: more images without background
        quiet_bg = np.flatnonzero(~data.background.any(axis=1))
        x_train = np.concatenate([x_train] + [x_train[quiet_bg]] * (oversample - 1))
    model = DualVAE(rng=np.random.default_rng(seed + 1), interaction=INTERACTIONS[interaction],
                    weight_on=weight_on, elbo2_weight=elbo2_weight, latent1=latent1,
                    latent2=latent2, decoder1=decoder1, free_bits2=free_bits2,
                    decorrelate=decorrelate,
                    likelihood1="bernoulli" if data_mode == "binary" else "gaussian",
                    noise_var0=float(np.var(x_train)), backend=bk)   # grey: σ² starts at the data's
    optimizer = Adam(model.params, model.grads, lr=lr, backend=bk)
    eval_seed = seed + 2000
    saved = out / "convergence.json"
    convergence = json.loads(saved.read_text()) if resume and saved.is_file() else []
    last = {}

    def record(epoch, epoch_record, model):
        if run is not None:                  # the checkpoint of this epoch is on disk
            run.progress(name, epoch)
        if epoch % eval_every == 0 or epoch == epochs:
            elbos = {k: epoch_record[f"val_{k}"] for k in ("elbo1", "elbo2", "kl1", "kl2")}
            figures, last["made"] = measure(model, data, test, np.random.default_rng(eval_seed))
            convergence[:] = [c for c in convergence if c["epoch"] < epoch]   # resumed: redo
            convergence.append({"epoch": epoch, **elbos, **figures})
            write_json(saved, convergence)

    t0 = time.perf_counter()
    history = fit(model, optimizer, x_train, test.images, epochs=epochs, batch_size=batch_size,
                  rng=np.random.default_rng(seed + 2), binarize=None,
                  checkpoint=out / "checkpoint.npz", resume=resume, callbacks=[record],
                  quiet=quiet, log_every=max(1, epochs // 10), val_batch_size=EVAL_BATCH)
    seconds = time.perf_counter() - t0
    if "made" not in last:      # resumed after the last epoch: nothing trained, measure again
        record(history["epoch"][-1], {k: v[-1] for k, v in history.items()}, model)
    final, made = convergence[-1], last["made"]     # the last evaluation is the final model's
    g_train = np.concatenate([bk.to_numpy(model.target(x)) for x in _batches(model, data.images)])
    final["target_mae_constant"] = constant_target_error(g_train, made["g"])

    # every number and figure can be recomputed from these (no pickle: plain arrays)
    heldout = {"x": test.images, "vae1": made["vae1"], "vae2": made["vae2"], "mu1": made["mu1"],
               "mu2": made["mu2"], "foreground": test.foreground, "background": test.background}
    heldout.update({k: made[k] for k in ("vae1_foreground", "vae1_background") if k in made})
    atomic_write(out / "heldout.npz", lambda f: np.savez_compressed(f, **heldout))
    _figures(name, out, model, test, made, history, convergence, data_mode)

    metrics = {"data": name, "seed": seed, "epochs": len(history["epoch"]),
               "batch_size": batch_size, "lr": lr, "n_train": int(len(x_train)), "n_test": n_test,
               "interaction": interaction, "weight_on": weight_on, "elbo2_weight": elbo2_weight,
               "oversample": oversample, "data_mode": data_mode, "latent1": latent1,
               "latent2": latent2, "decoder1": decoder1, "free_bits2": free_bits2,
               "decorrelate": decorrelate, "train_seconds": seconds, "backend": bk.name,
               "final": final, "convergence": convergence, "history": history}
    write_json(out / "metrics.json", metrics)
    return metrics


def _figures(name, out, model, test, made, history, convergence, data_mode):
    """reconstructions.png, latent.png, probes.png, elbo.png and convergence.png."""
    bk = model.backend
    final = convergence[-1]
    image_range = (0.0, 1.0) if data_mode == "binary" else (0.0, 1.8)   # grey: cell + disk = 1.8
    # figures 3.1–3.3: eight held-out images, x | vae1(x) [| its two parts] | g(x) | vae2(x)
    columns = [test.images[:8], made["vae1"][:8]]
    titles = ["x", "vae1(x)"]
    if "vae1_foreground" in made:
        columns += [made["vae1_foreground"][:8], made["vae1_background"][:8]]
        titles += ["foreground part", "background part"]
    columns += [made["g"][:8], made["vae2"][:8]]
    titles += ["g(x)", "vae2(x)"]
    ranges = [image_range] * (len(columns) - 2) + [(0.0, 1.0)] * 2
    outlines = dict(cell_masks=test.cell_masks, foreground=test.foreground[:8],
                    disk_masks=test.disk_masks, background=test.background[:8])
    save_reconstruction_plot(columns, titles, out / "reconstructions.png",
                             title=f"{name}: reconstructions of held-out images", outlines=outlines,
                             ranges=ranges)
    # figures 3.4–3.6: decoder 1 at one-hot states ±5 of (z1, z2)
    states = latent_states(model.latent1, model.latent2)
    z = bk.asarray(states)
    images = bk.to_numpy(model.decode(z[:, :model.latent1], z[:, model.latent1:])[0].mean)
    D = model.latent1 + model.latent2
    grid = [images[0]] + list(images[1:D + 1]) + [None] + list(images[D + 1:])
    names = ([f"z1,{i + 1}" for i in range(model.latent1)]
             + [f"z2,{i + 1}" if model.latent2 > 1 else "z2" for i in range(model.latent2)])
    if D <= 5:      # the thesis's labels: the whole state, "[5, 0, 0, 0, 0]"
        labels = [f"[{', '.join(f'{v:g}' for v in s)}]" for s in states]
    else:           # a wide code: only the dimension that is on
        labels = ["0"] + [f"{names[int(np.flatnonzero(s)[0])]} = {s[np.flatnonzero(s)[0]]:g}"
                          for s in states[1:]]
    labels = [labels[0]] + labels[1:D + 1] + [""] + labels[D + 1:]
    names = ", ".join(names)
    save_latent_exploration(grid, labels, out / "latent.png", ncols=D + 1,
                            title=f"{name}: vae1's decoder at [{names}]", value_range=image_range)
    plot_probe_summary(final["probes"], out / "probes.png",
                       title=f"{name}: who knows what (probes on the posterior means)")
    ep = history["epoch"]
    plot_series({"ELBO1 train": (ep, history["train_elbo1"]), "ELBO1 held-out": (ep, history["val_elbo1"]),
                 "ELBO2 train": (ep, history["train_elbo2"]), "ELBO2 held-out": (ep, history["val_elbo2"])},
                out / "elbo.png", ylabel="nats per image", title=f"{name}: the two ELBOs",
                panels={"ELBO1 (foreground, 3600 pixels)": ["ELBO1 train", "ELBO1 held-out"],
                        "ELBO2 (background target, 4 pixels)": ["ELBO2 train", "ELBO2 held-out"]})
    ce = [c["epoch"] for c in convergence]
    series = {f"cells {part}": (ce, [c["cells"][part]["accuracy"] for c in convergence])
              for part in ("all", "outside", "inside_bg_on", "inside_bg_off")}
    for disk in final["probe"]:
        for space in ("z1", "z2"):
            series[f"{disk} from {space}"] = (ce, [c["probe"][disk][space] for c in convergence])
    plot_series(series, out / "convergence.png", ylabel="accuracy",
                title=f"{name}: separation during training",
                panels={"foreground cells from vae1(x)": [k for k in series if k.startswith("cells")],
                        "background state from the posterior means": [k for k in series
                                                                      if " from " in k]})


def summary_rows(results):
    """One table row per data set: the headline separation figures."""
    rows = []
    for m in results:
        f = m["final"]
        c, probes = f["cells"], f["probes"]
        group = lambda part: f"{c[part]['accuracy']:.3f} ({c[part]['auc']:.3f})"   # noqa: E731
        disks = "; ".join(f"{d} {p['z1']['knn']:.2f} / {p['z2']['knn']:.2f} ({p['majority']:.2f})"
                          for d, p in probes["disks"].items())
        under = probes["cells"]["inside_bg_on"]
        rows.append([m["data"], f"{f['elbo1']:.1f}", f"{f['elbo2']:.3f}", f"{f['kl2']:.2f}",
                     f"{f['target_mae']:.3f} ({f['target_mae_constant']:.3f})", group("outside"),
                     group("inside_bg_on"), group("inside_bg_off"),
                     " / ".join(f"{a:.2f}" for a in c["disk_reading"]["accuracy"]), disks,
                     f"{under['z1']['knn']:.2f} / {under['z2']['knn']:.2f} ({under['majority']:.2f})"])
    return rows


HEADER = ["data", "ELBO1", "ELBO2", "KL2", "g MAE (blind)", "cells out (AUC)", "in, bg on (AUC)",
          "in, bg off (AUC)", "disk read", "disk from z1 / z2 (majority)",
          "cells under the disk from z1 / z2 (majority)"]


def format_table(rows, header=HEADER):
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def run_thesis(datasets=SYNTHETIC_NAMES, out_dir="runs/thesis", *, quick=False, epochs=None,
               seed=0, backend="auto", quiet=False, resume=False, force=False, **options):
    """All data sets; prints the separation table and writes OUT/summary.md and .json.

    epochs: per data set (default 30; quick runs 2 and refuses another number).
    out_dir is claimed first (run_folder.claim): a folder that holds a finished run of
    other options, or an unfinished one, is refused unless resume (continue it: data sets
    already finished are read back, the interrupted one continues from its checkpoint) or
    force (write over it).  quiet: no progress; the backend line and the table are printed
    all the same.  options: run_dataset's."""
    if quick and epochs not in (None, 2):
        raise ValueError(f"run_thesis: quick runs 2 epochs, got epochs={epochs!r} too")
    epochs = 2 if quick else 30 if epochs is None else check_int("run_thesis", "epochs", epochs, 1)
    out = Path(out_dir)
    run = claim(out, "thesis", option_names(dict(datasets=list(datasets), epochs=epochs, seed=seed,
                                                 quick=quick, **options)),
                resume=resume, force=force, extendable=("--epochs", "--datasets"))
    bk = get_backend(backend)
    say = (lambda *a: None) if quiet else print
    print(describe(bk))
    sizes = SIZES["quick"] if quick else {}
    results = []
    t0 = time.perf_counter()
    for name in datasets:
        if resume and run.part_finished(name) and run.epoch(name) == epochs:
            say(f"\n== {name}: finished before ({epochs} epochs), read from {out / name}/metrics.json")
            results.append(json.loads((out / name / "metrics.json").read_text()))
            continue
        say(f"\n== {name}: {epochs} epochs" + (" (quick: 256 images)" if quick else ""))
        try:
            results.append(run_dataset(name, out / name, epochs=epochs, seed=seed, backend=bk,
                                       quiet=quiet, resume=resume, run=run, **sizes, **options))
        except KeyboardInterrupt as error:       # the command line says where it stopped
            error.part = name
            raise
        run.finish_part(name)
    table = format_table(summary_rows(results))
    seconds = time.perf_counter() - t0
    atomic_write(out / "summary.md", lambda f: f.write((table + "\n").encode()))
    write_json(out / "summary.json", {"seconds": seconds, "results": [
        {k: v for k, v in r.items() if k not in ("history", "convergence")} for r in results]})
    run.finish()
    print("\nSeparation on held-out images (cells: accuracy of vae1(x)'s foreground cells, AUC "
          "in brackets; disk read: each disk's state read off vae1(x); from z1 / z2: a "
          "k-nearest-neighbour probe on the posterior means, fitted on the training images)\n")
    print(table)
    print(f"\n{len(results)} data sets in {seconds:.0f} s; figures and metrics.json in {out}/<data set>/")
    return results


__all__ = ["run_thesis", "run_dataset", "measure", "latent_states", "remedy_options",
           "INTERACTIONS", "REMEDY", "SIZES"]
