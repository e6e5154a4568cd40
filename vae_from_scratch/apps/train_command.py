"""`python -m vae_from_scratch train`: data -> model -> AEVB -> test ELBO and log p(x).

One function, `train_vae`, that a reader can follow top to bottom: load and split the
digits, build the VAE, train it with Adam, then report on the test set
    the ELBO              (one sampled z per image, thesis eq. 2.10)
    the IWAE_K estimate   of log p(x) (slides Concept 11.7, K = 50 by default)
in nats per image, and draw reconstructions, samples and the ELBO curves.

Bernoulli models train on dynamically binarized images (a fresh Bernoulli draw per
minibatch) and are evaluated on one fixed, seeded binarization of the validation and
test images, so numbers from different runs are comparable.  Gaussian models train on
the grey values.
"""

import time
from pathlib import Path

import numpy as np

from ..backend import describe, get_backend
from ..data import load_for_vae
from ..models import conv_vae, mlp_vae
from ..optim import Adam
from ..schedules import linear_beta_schedule
from ..run_folder import RunFolderError, claim
from ..train import evaluate_elbo, evaluate_log_likelihood, fit
from ..utils import check_choice, write_json
from ..viz.plots import plot_elbo_curves, save_image_grid, save_image_rows

# Defaults per data set: the 8×8 digits want a smaller network than 28×28 MNIST.
DEFAULTS = {
    "digits": dict(latent_dim=8, hidden=(256,), epochs=300, batch_size=50, lr=1e-3),
    "mnist": dict(latent_dim=20, hidden=(400,), epochs=30, batch_size=100, lr=1e-3),
}


def train_vae(data="digits", model="mlp", likelihood="bernoulli", *, latent_dim=None,
              hidden=None, epochs=None, batch_size=None, lr=None, anneal_steps=0, seed=0,
              iwae_k=50, out_dir="runs/vae", data_dir=None, download=False, resume=False,
              force=False, backend="auto", quiet=False, decoder_var=0.1):
    """Train a VAE and return its results (a dict, also written to out_dir/results.json).

    out_dir is claimed first (run_folder.claim): a folder that holds a finished run of
    other options, or an unfinished one, is refused unless resume (continue it) or force
    (write over it).  quiet: no progress and no description of the data and model; the
    backend line, the results and where they went are printed all the same."""
    check_choice(data, tuple(DEFAULTS), "data set")
    cfg = dict(DEFAULTS[data])
    for key, value in dict(latent_dim=latent_dim, hidden=hidden, epochs=epochs,
                           batch_size=batch_size, lr=lr).items():
        if value is not None:
            cfg[key] = value
    options = {"--data": data, "--model": model, "--likelihood": likelihood,
               "--decoder-var": decoder_var if likelihood == "gaussian" else None,
               "--latent-dim": cfg["latent_dim"],
               "--hidden": list(cfg["hidden"]) if model == "mlp" else None,
               "--epochs": cfg["epochs"], "--batch-size": cfg["batch_size"], "--lr": cfg["lr"],
               "--anneal-steps": anneal_steps, "--iwae-k": iwae_k, "--seed": seed}
    out = Path(out_dir)
    run = claim(out, "train", options, resume=resume, force=force)
    checkpoint = out / "checkpoint.npz"
    if resume and not checkpoint.is_file():
        raise RunFolderError(f"--resume: {out} holds no checkpoint to continue from (the run "
                             f"stopped before its first epoch ended); leave out --resume to "
                             f"start it afresh")
    bk = get_backend(backend)
    say = (lambda *a: None) if quiet else print
    print(describe(bk))

    # Data: one Generator for the split and the fixed binarizations, another for training.
    grey, binary = load_for_vae(data, rng=np.random.default_rng(seed), data_dir=data_dir,
                                download=download)
    bernoulli = likelihood == "bernoulli"
    x_train, x_val, x_test = (s.images for s in (binary if bernoulli else grey))
    say(f"data: {data}, {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test "
        f"images of {x_train.shape[1:]}")

    rng = np.random.default_rng(seed + 1)
    build = dict(rng=rng, backend=bk, decoder_var=decoder_var)
    if model == "mlp":
        vae = mlp_vae(x_train.shape[1:], cfg["latent_dim"], tuple(cfg["hidden"]), likelihood,
                      **build)
    elif model == "conv":
        vae = conv_vae(x_train.shape[1:], cfg["latent_dim"], likelihood=likelihood, **build)
    else:
        raise ValueError(f"unknown model {model!r}; expected mlp or conv")
    if bernoulli:
        vae.init_output_bias(x_train.mean(axis=0))
    say(f"model: {model} VAE, latent_dim {cfg['latent_dim']}, {likelihood} decoder, "
        f"{vae.n_params:,} parameters")

    untrained = evaluate_elbo(vae, x_val, np.random.default_rng(0))["elbo"]
    optimizer = Adam(vae.params, vae.grads, lr=cfg["lr"], backend=bk)
    beta = linear_beta_schedule(anneal_steps) if anneal_steps else 1.0
    t0 = time.perf_counter()
    history = fit(vae, optimizer, x_train, x_val, epochs=cfg["epochs"], rng=rng,
                  batch_size=cfg["batch_size"], binarize="dynamic" if bernoulli else None,
                  beta=beta, checkpoint=checkpoint, resume=resume, quiet=quiet,
                  callbacks=[lambda epoch, record, model: run.progress("train", epoch)])
    seconds = time.perf_counter() - t0

    eval_rng = np.random.default_rng(seed + 2)
    test = evaluate_elbo(vae, x_test, eval_rng)
    log_px = evaluate_log_likelihood(vae, x_test, eval_rng, K=iwae_k)
    results = dict(data=data, model=model, likelihood=likelihood, backend=bk.name, seed=seed,
                   **{k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
                   untrained_val_elbo=untrained,
                   val_elbo=history["val_elbo"][-1], test_elbo=test["elbo"],
                   test_reconstruction=test["reconstruction"], test_kl=test["kl"],
                   test_log_px_iwae=log_px, iwae_k=iwae_k, train_seconds=seconds)
    write_json(out / "results.json", results, indent=2)
    write_json(out / "history.json", history)

    # Figures: test images and their reconstructions, samples, and the curves.
    fig_rng = np.random.default_rng(seed + 3)
    shown = x_test[:12]
    rec = bk.to_numpy(vae.reconstruct(bk.asarray(shown), fig_rng))
    save_image_rows([shown, rec], ["test", "recon."], out / "reconstructions.png",
                    title=f"{data}: test images and E[x|z], z ~ q(z|x)")
    samples = bk.to_numpy(vae.sample(40, fig_rng))
    save_image_grid(samples, out / "samples.png", ncols=10,
                    title="E[x|z] for z ~ N(0, I)")
    plot_elbo_curves(history, out / "elbo.png",
                     title=f"{model} VAE on {data} ({likelihood})")

    run.finish_part("train")
    run.finish()
    print(f"trained {len(history['epoch'])} epochs in {sum(history['seconds']):.1f} s")
    print(f"validation ELBO: untrained {untrained:.2f}, trained {results['val_elbo']:.2f} nats")
    print(f"test ELBO {test['elbo']:.2f} nats (reconstruction {test['reconstruction']:.2f}, "
          f"KL {test['kl']:.2f}); IWAE (K = {iwae_k}) log p(x) ≥ {log_px:.2f} nats")
    print(f"wrote {out}/results.json, checkpoint.npz, reconstructions.png, samples.png, elbo.png")
    return results


__all__ = ["train_vae", "DEFAULTS"]
