"""`python -m vae_from_scratch thesis`: the thesis's chapter 3, reproduced and measured.

For each data set (X90, X50, X90_20; data/synthetic.py) it trains the reference dual
VAE (models/dual_vae.py) as the thesis did — 30 epochs, batch 32, Adam with learning
rate 1e-3 (thesis §3.1) — and writes to OUT/<data set>/:

    reconstructions.png   figures 3.1–3.3: rows of x, vae1(x), g(x), vae2(x)
    latent.png            figures 3.4–3.6: vae1's decoder at one-hot states ±5 of (z1, z2)
    elbo.png              ELBO1 and ELBO2 per epoch, training and held-out images
    convergence.png       the separation figures every few epochs
    checkpoint.npz        the trained model
    metrics.json          everything measured (separation.py), at the end and on the way

The separation is measured on held-out images drawn from the same distribution
(another seed), against the ground truth the generator returns.
"""

import json
import time
from pathlib import Path

import numpy as np

from .backend import describe, get_backend
from .data.synthetic import SYNTHETIC_NAMES, make_synthetic
from .models.dual_vae import DualVAE
from .optim import Adam
from .plots import plot_series, save_latent_exploration, save_reconstruction_plot
from .separation import background_probe, cell_detection, constant_target_error, target_error
from .train import fit

INTERACTIONS = {"both": (True, True), "fg-only": (True, False), "bg-only": (False, True),
                "none": (False, False)}


def measure(model, test, rng, batch_size=250):
    """The separation figures of `model` on the Synthetic data `test` (host arrays):
    vae2's error on g, vae1's foreground cells, and the background probes.  (The ELBOs
    on the same images come from the training loop's validation pass.)"""
    bk = model.backend
    recon, g_hat, g, mu1, mu2 = [], [], [], [], []
    for start in range(0, len(test.images), batch_size):
        x = bk.asarray(test.images[start:start + batch_size])
        q1, q2 = model.encode(x)
        mu1.append(bk.to_numpy(q1.mu))
        mu2.append(bk.to_numpy(q2.mu))
        p1, p2 = model.decode(q1.sample(rng), q2.sample(rng))      # vae1(x), vae2(x)
        recon.append(bk.to_numpy(p1.mean))
        g_hat.append(bk.to_numpy(p2.mean))
        g.append(bk.to_numpy(model.target(x)))
    recon, g_hat, g = (np.concatenate(a) for a in (recon, g_hat, g))
    return {
        "target_mae": target_error(g_hat, g),
        "cells": cell_detection(recon, test.foreground, test.background, test.cell_masks,
                                test.inside),
        "probe": background_probe(np.concatenate(mu1), np.concatenate(mu2), test.background,
                                  [d.name for d in test.disks]),
    }


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
                oversample=1, eval_every=5, backend="numpy", quiet=False):
    """Train the dual VAE on one data set; write its figures and metrics.json; return them."""
    bk = get_backend(backend)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = make_synthetic(name, n_train, rng=np.random.default_rng(seed))
    test = make_synthetic(name, n_test, rng=np.random.default_rng(seed + 1000))
    x_train = data.images
    if oversample > 1:      # the thesis's §3.3 suggestion: more images without background
        quiet_bg = np.flatnonzero(~data.background.any(axis=1))
        x_train = np.concatenate([x_train] + [x_train[quiet_bg]] * (oversample - 1))
    model = DualVAE(rng=np.random.default_rng(seed + 1), interaction=INTERACTIONS[interaction],
                    weight_on=weight_on, elbo2_weight=elbo2_weight, backend=bk)
    optimizer = Adam(model.params, model.grads, lr=lr)
    eval_seed = seed + 2000
    convergence = []

    def record(epoch, epoch_record, model):
        if epoch % eval_every == 0 or epoch == epochs:
            elbos = {k: epoch_record[f"val_{k}"] for k in ("elbo1", "elbo2", "kl1", "kl2")}
            convergence.append({"epoch": epoch, **elbos,
                                **measure(model, test, np.random.default_rng(eval_seed))})

    t0 = time.perf_counter()
    history = fit(model, optimizer, x_train, test.images, epochs=epochs, batch_size=batch_size,
                  rng=np.random.default_rng(seed + 2), binarize=None,
                  checkpoint=out / "checkpoint.npz", callbacks=[record], quiet=quiet,
                  log_every=max(1, epochs // 10))
    seconds = time.perf_counter() - t0
    final = convergence[-1]

    def targets(images):
        return np.concatenate([bk.to_numpy(model.target(bk.asarray(images[i:i + 250])))
                               for i in range(0, len(images), 250)])

    final["target_mae_constant"] = constant_target_error(targets(data.images), targets(test.images))

    # figures 3.1–3.3: eight held-out images, x | vae1(x) | g(x) | vae2(x)
    fig_rng = np.random.default_rng(seed + 3)
    x8 = bk.asarray(test.images[:8])
    q1, q2 = model.encode(x8)
    p1, p2 = model.decode(q1.sample(fig_rng), q2.sample(fig_rng))
    save_reconstruction_plot([test.images[:8], bk.to_numpy(p1.mean), bk.to_numpy(model.target(x8)),
                              bk.to_numpy(p2.mean)], ["x", "vae1(x)", "g(x)", "vae2(x)"],
                             out / "reconstructions.png",
                             title=f"{name}: reconstructions of held-out images")
    # figures 3.4–3.6: decoder 1 at one-hot states ±5 of (z1, z2)
    states = latent_states(model.latent1, model.latent2)
    z = bk.asarray(states)
    images = bk.to_numpy(model.decode(z[:, :model.latent1], z[:, model.latent1:])[0].mean)
    D = model.latent1 + model.latent2
    grid = [images[0]] + list(images[1:D + 1]) + [None] + list(images[D + 1:])
    labels = [f"[{', '.join(f'{v:g}' for v in s)}]" for s in states]
    labels = [labels[0]] + labels[1:D + 1] + [""] + labels[D + 1:]
    save_latent_exploration(grid, labels, out / "latent.png", ncols=D + 1,
                            title=f"{name}: vae1's decoder at [z1,1, z1,2, z1,3, z1,4, z2]")
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
    metrics = {"data": name, "seed": seed, "epochs": len(ep), "batch_size": batch_size, "lr": lr,
               "n_train": int(len(x_train)), "n_test": n_test, "interaction": interaction,
               "weight_on": weight_on, "elbo2_weight": elbo2_weight, "oversample": oversample,
               "train_seconds": seconds, "backend": bk.name, "final": final,
               "convergence": convergence, "history": history}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics


def summary_rows(results):
    """One table row per data set: the headline separation figures."""
    rows = []
    for m in results:
        f = m["final"]
        c = f["cells"]
        probe = "; ".join(f"{d} z1 {p['z1']:.2f} / z2 {p['z2']:.2f} (maj. {p['majority']:.2f})"
                          for d, p in f["probe"].items())
        rows.append([m["data"], f"{f['elbo1']:.1f}", f"{f['elbo2']:.3f}", f"{f['kl2']:.2f}",
                     f"{f['target_mae']:.3f} ({f['target_mae_constant']:.3f})", f"{c['outside']['accuracy']:.3f}",
                     f"{c['inside_bg_on']['accuracy']:.3f}", f"{c['inside_bg_off']['accuracy']:.3f}",
                     f"{c['inside']['false_positive_rate']:.2f}/{c['inside']['false_negative_rate']:.2f}",
                     probe])
    return rows


HEADER = ["data", "ELBO1", "ELBO2", "KL2", "g MAE (blind)", "cells out", "in, bg on", "in, bg off",
          "in FP/FN", "background probe accuracy"]


def format_table(rows, header=HEADER):
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def run_thesis(datasets=SYNTHETIC_NAMES, out_dir="runs/thesis", *, quick=False, epochs=30,
               seed=0, backend="auto", quiet=False, **options):
    """All data sets; prints the separation table and writes OUT/summary.md and .json."""
    bk = get_backend(backend)
    out = Path(out_dir)
    say = (lambda *a: None) if quiet else print
    say(describe(bk))
    sizes = dict(n_train=256, n_test=128, eval_every=1) if quick else {}
    epochs = 2 if quick else epochs
    results = []
    t0 = time.perf_counter()
    for name in datasets:
        say(f"\n== {name}: {epochs} epochs" + (" (quick: 256 images)" if quick else ""))
        results.append(run_dataset(name, out / name, epochs=epochs, seed=seed, backend=bk,
                                   quiet=quiet, **sizes, **options))
    table = format_table(summary_rows(results))
    seconds = time.perf_counter() - t0
    (out / "summary.md").write_text(table + "\n")
    (out / "summary.json").write_text(json.dumps({"seconds": seconds, "results": [
        {k: v for k, v in r.items() if k not in ("history", "convergence")} for r in results]},
        indent=1))
    say("\nSeparation on held-out images (cells: accuracy of vae1's foreground cells; "
        "probe: a logistic regression from posterior means to each disk's state)\n")
    say(table)
    say(f"\n{len(results)} data sets in {seconds:.0f} s; figures and metrics.json in {out}/<data set>/")
    return results


__all__ = ["run_thesis", "run_dataset", "measure", "latent_states", "INTERACTIONS"]
