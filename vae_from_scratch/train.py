"""Training: the AEVB loop (thesis Algorithm 2), checkpoints, and evaluation.

The loop works for any model that offers
    loss_and_grads(x, rng=…, beta=…) -> estimate    one minibatch: fills the gradients
    evaluate(x, rng) -> estimate                     the same without gradients
    params, grads, config(), backend, dtype
where an estimate has `.loss` and `.metrics()` (a dict of named means, in nats per
example: elbo, reconstruction, kl for the VAE; elbo1, elbo2, … for the dual VAE).

    for each epoch:                                        fit
        shuffle the training set with the run's Generator  run_epoch
        for each minibatch M:                              thesis eq. 2.21
            (dynamically binarize M)
            estimate the ELBO of M and its gradient        eq. 2.16–2.17, objectives.elbo
            update the parameters                          optim.py
        validation ELBO; checkpoint; callbacks

A run is reproducible from its seed: every random draw (shuffling, binarization, ε)
comes from the one `numpy.random.Generator` passed in.  A checkpoint holds everything
the next epoch depends on (parameters, optimizer state, the Generator's state and the
history), so a run resumed from it continues bit for bit as if never interrupted.

Checkpoints are single `.npz` files of plain arrays (loaded with allow_pickle=False),
written to a temporary file and renamed, so a crash mid-write never leaves a broken
checkpoint behind.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
# the text bar: tqdm.auto would pick the notebook widget in a Jupyter kernel, which needs
# ipywidgets (no dependency of ours) and warns without it
from tqdm import tqdm

from .data.transforms import binarize_dynamic
from .utils import atomic_write, check_rng
from .objectives import log_likelihood

FORMAT = "vae_from_scratch.checkpoint/1"
RUN_KEYS = ("epoch", "step", "beta", "lr", "seconds")     # then train_<metric>, val_<metric>


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: corrupt, truncated, or another architecture."""


class DivergenceError(FloatingPointError):
    """The loss or a gradient became NaN or infinite."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during `fit`.  epoch: the last epoch whose checkpoint is on disk (None when
    no checkpoint is written or none was yet); checkpoint: its path."""

    def __init__(self, epoch, checkpoint):
        super().__init__(f"interrupted after epoch {epoch}" if epoch else "interrupted")
        self.epoch, self.checkpoint = epoch, checkpoint


# --- checkpoints ------------------------------------------------------------------------

def _architecture(model):
    """Parameter names and shapes, and the model's hyperparameters: what must match."""
    return {"params": {k: list(v.shape) for k, v in model.params.items()},
            "config": model.config()}


def save_checkpoint(path, model, optimizer, rng, history, epoch):
    """Write model parameters, optimizer state, RNG state and history to one .npz file.

    Keys: "param.<name>", "optim.<key>", "history.<key>", and "meta.*" (format, epoch,
    the architecture as JSON, the Generator's state as JSON: no pickled objects).
    """
    to_host = model.backend.to_numpy
    arrays = {f"param.{k}": to_host(v) for k, v in model.params.items()}
    arrays.update({f"optim.{k}": np.asarray(v) for k, v in optimizer.state_dict().items()})
    arrays.update({f"history.{k}": np.asarray(v, dtype=np.float64) for k, v in history.items()})
    arrays["meta.format"] = np.array(FORMAT)
    arrays["meta.epoch"] = np.array(int(epoch))
    arrays["meta.architecture"] = np.array(json.dumps(_architecture(model)))
    arrays["meta.rng"] = np.array(json.dumps(rng.bit_generator.state))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _read_npz(path):
    """Every array of an .npz file, or a CheckpointError saying why it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    with open(path, "rb") as f:
        head = f.read(4)
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):       # an .npz is a zip archive
        raise CheckpointError(f"{path} is not a checkpoint: a checkpoint is an .npz (zip) file, "
                              f"this one starts with the bytes {head!r}")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as error:          # BadZipFile, EOFError, CRC errors, pickled content
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt and cannot be read "
                              f"({type(error).__name__}: {error})") from error


def load_checkpoint(path, model, optimizer=None, rng=None):
    """Restore a checkpoint into `model` (in place) and, if given, `optimizer` and `rng`.

    Returns {"epoch": int, "history": dict of lists}.  Raises CheckpointError naming
    the problem: not a checkpoint of this project, truncated or corrupt, or saved from
    another architecture (listing the parameters that differ).
    """
    data = _read_npz(path)
    if str(data.get("meta.format", "")) != FORMAT:
        raise CheckpointError(f"{path} is not a vae_from_scratch checkpoint (expected "
                              f"meta.format = {FORMAT!r}, got {data.get('meta.format')!r})")
    saved = json.loads(str(data["meta.architecture"]))
    mine = _architecture(model)
    problems = _differences(saved, mine)
    if problems:
        raise CheckpointError(f"checkpoint {path} was saved from another architecture:\n  "
                              + "\n  ".join(problems))
    for name, p in model.params.items():
        p[...] = model.backend.asarray(data[f"param.{name}"], dtype=p.dtype)
    if optimizer is not None:
        state = {k[len("optim."):]: v for k, v in data.items() if k.startswith("optim.")}
        try:
            optimizer.load_state_dict(state)
        except ValueError as error:
            raise CheckpointError(f"checkpoint {path}: the optimizer state does not fit: "
                                  f"{error}") from error
    if rng is not None:
        rng.bit_generator.state = json.loads(str(data["meta.rng"]))
    history = {k[len("history."):]: v.tolist() for k, v in data.items() if k.startswith("history.")}
    return {"epoch": int(data["meta.epoch"]), "history": history}


def _differences(saved, mine, most=8):
    out = []
    for key in sorted(set(saved["config"]) | set(mine["config"])):
        a, b = saved["config"].get(key), mine["config"].get(key)
        if a != b:
            out.append(f"{key}: checkpoint {a!r}, model {b!r}")
    sp, mp = saved["params"], mine["params"]
    for name in sorted(set(sp) - set(mp)):
        out.append(f"{name}: in the checkpoint, not in the model")
    for name in sorted(set(mp) - set(sp)):
        out.append(f"{name}: in the model, not in the checkpoint")
    for name in sorted(set(sp) & set(mp)):
        if sp[name] != mp[name]:
            out.append(f"{name}: checkpoint shape {tuple(sp[name])}, model shape {tuple(mp[name])}")
    return out[:most] + ([f"… and {len(out) - most} more"] if len(out) > most else [])


# --- evaluation ---------------------------------------------------------------------------

def evaluate_elbo(model, x, rng, batch_size=500):
    """The model's metrics (mean ELBO, reconstruction, KL, …) over a dataset, one sampled
    z per example.  x: (N, *x_shape), already binarized if the model expects binary data.
    Returns {metric: mean over the N examples}."""
    sums, n = {}, 0
    for start in range(0, len(x), batch_size):
        xb = model.backend.asarray(x[start:start + batch_size])
        for k, v in model.evaluate(xb, rng).metrics().items():
            sums[k] = sums.get(k, 0.0) + len(xb) * v
        n += len(xb)
    return {k: v / n for k, v in sums.items()}


def evaluate_log_likelihood(model, x, rng, K=50, batch_size=100):
    """Mean importance-sampled log p(x) estimate with K samples (the IWAE_K bound)."""
    total = 0.0
    for start in range(0, len(x), batch_size):
        xb = model.backend.asarray(x[start:start + batch_size])
        total += float(log_likelihood(model, xb, K, rng=rng, chunk=K).sum())
    return total / len(x)


# --- the loop ----------------------------------------------------------------------------

def run_epoch(model, optimizer, x, *, rng, batch_size, beta=1.0, binarize=None, on_batch=None):
    """One epoch: shuffle x, then one estimate and one optimizer step per minibatch
    (thesis eq. 2.21; the last minibatch may be smaller).  The inner loop of `fit`, and
    what `python -m vae_from_scratch bench` times.

    x: (N, *x_shape), values in [0, 1]: a host array, or one already on the model's
        backend (then it is indexed there, and binarize must be None).
    rng: draws, in this order, the permutation of the N examples, then per minibatch
        its binary image (binarize="dynamic") and the model's ε.
    beta: a number, or a function step -> β, read at the optimizer's step count.
    on_batch: None, or f(b, estimate) called after the step of minibatch b.

    Returns (train, β): {metric: mean over the N examples} and the β of the last step.
    Raises DivergenceError("batch <b>: …") when the loss or a gradient is NaN or
    infinite; that minibatch's step is not taken.
    """
    beta_at = beta if callable(beta) else (lambda step: float(beta))
    n = len(x)
    order = rng.permutation(n)
    if not isinstance(x, np.ndarray):           # x lives on the device: index it there
        order = model.backend.asarray(order)
    sums = {}
    for b, start in enumerate(range(0, n, batch_size)):
        idx = order[start:start + batch_size]
        xb = x[idx]
        if binarize == "dynamic":
            xb = binarize_dynamic(xb, rng)
        xb = model.backend.xp.asarray(xb, dtype=model.dtype)
        beta_now = beta_at(optimizer.step_count)
        r = model.loss_and_grads(xb, rng=rng, beta=beta_now)
        if not np.isfinite(r.loss):
            raise DivergenceError(f"batch {b}: the loss is {r.loss}")
        try:
            optimizer.step()
        except FloatingPointError as error:
            raise DivergenceError(f"batch {b}: {error}") from error
        for k, v in r.metrics().items():
            sums[k] = sums.get(k, 0.0) + len(idx) * v
        if on_batch is not None:
            on_batch(b, r)
    return {k: v / n for k, v in sums.items()}, beta_now


def fit(model, optimizer, x_train, x_val=None, *, epochs, rng, batch_size=100,
        binarize="dynamic", beta=1.0, checkpoint=None, resume=False,
        callbacks=(), quiet=False, progress=None, log_every=None, val_seed=0,
        val_batch_size=500):
    """Train `model` by minibatch AEVB (thesis Algorithm 2) and return the history.

    x_train: (N, *x_shape) host array, values in [0, 1].  x_val: validation set,
        already in its final form (statically binarized when the model is Bernoulli).
    rng: numpy.random.Generator for shuffling, binarization and ε; it is advanced in
        place (and restored from the checkpoint when resuming).
    binarize: "dynamic" draws a fresh binary image x ~ Bernoulli(x_train) for every
        minibatch (less overfitting than one fixed draw); None uses x_train as it is.
    beta: a number, or a function step -> β (schedules.linear_beta_schedule for KL
        annealing).
    checkpoint: path of an .npz written atomically after every epoch; resume=True
        continues from it when it exists.
    callbacks: functions f(epoch, record, model) called after each epoch with that
        epoch's history record (a dict); one that returns True stops the run.
    quiet: no progress bar and no per-epoch line.
    progress: show a progress bar over each epoch's minibatches: True, False, or None
        (default) for "only when standard error is a terminal", so that a log file gets
        lines, not thousands of carriage-return updates.
    log_every: beside a progress bar, print the epoch line every this many epochs
        (default: about 20 lines per run, and always the first and the last epoch);
        without a bar, every epoch's line is printed, so that a log shows each one.

    val_seed, val_batch_size: the validation pass's ε (a fresh Generator of this seed each
        epoch, so that epochs are compared on the same ε) and its batches (evaluate_elbo).

    Returns the history: a dict of lists, one entry per epoch: RUN_KEYS, then
    "train_<metric>" and "val_<metric>" for each of the model's metrics (nan for val_
    without a validation set).
    Raises DivergenceError naming the epoch and batch when the loss or a gradient is
    NaN or infinite; the last good checkpoint is left as it was.  Raises Interrupted
    (a KeyboardInterrupt) on Ctrl-C, saying the last epoch whose checkpoint is on disk
    (a checkpoint being written when it came is abandoned; the previous one stays).
    """
    if binarize not in ("dynamic", None):
        raise ValueError(f"fit: binarize must be \"dynamic\" or None, got {binarize!r}")
    check_rng(rng, "fit")
    history = {}
    start_epoch = 1
    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, model, optimizer, rng)
        history, start_epoch = state["history"], state["epoch"] + 1
        if not quiet:
            tqdm.write(f"resumed from {checkpoint} after epoch {state['epoch']}")
    bar_on = not quiet and (sys.stderr.isatty() if progress is None else bool(progress))
    log_every = (log_every or max(1, epochs // 20)) if bar_on else 1
    saved_epoch = start_epoch - 1 if checkpoint is not None and start_epoch > 1 else None
    bar = None
    try:
        for epoch in range(start_epoch, epochs + 1):
            t0 = time.perf_counter()
            bar = tqdm(total=-(-len(x_train) // batch_size), desc=f"epoch {epoch}/{epochs}",
                       leave=False, disable=not bar_on, unit="batch")

            def on_batch(b, r):
                bar.update()
                if b % 10 == 0:
                    bar.set_postfix(loss=f"{r.loss:.2f}")

            try:
                train, beta_now = run_epoch(model, optimizer, x_train, rng=rng,
                                            batch_size=batch_size, beta=beta, binarize=binarize,
                                            on_batch=on_batch)
            except DivergenceError as error:
                raise DivergenceError(_diverged(error, epoch, checkpoint)) from error
            bar.close()
            val = (evaluate_elbo(model, x_val, np.random.default_rng(val_seed), val_batch_size)
                   if x_val is not None else dict.fromkeys(train, np.nan))
            record = dict(epoch=epoch, step=optimizer.step_count, beta=beta_now,
                          lr=optimizer.current_lr(), seconds=time.perf_counter() - t0,
                          **{f"train_{k}": v for k, v in train.items()},
                          **{f"val_{k}": v for k, v in val.items()})
            for k, v in record.items():
                history.setdefault(k, []).append(float(v))
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, optimizer, rng, history, epoch)
                saved_epoch = epoch
            if not quiet and (epoch % log_every == 0 or epoch in (start_epoch, epochs)):
                tqdm.write(f"epoch {epoch:>3}  train {_fmt(train)}  |  val {_fmt(val)}  "
                           f"β {beta_now:.2f}  {record['seconds']:.2f} s")
            if any(callback(epoch, record, model) for callback in callbacks):
                break
    except KeyboardInterrupt as error:
        if bar is not None:
            bar.close()
        raise Interrupted(saved_epoch, checkpoint) from error
    return history


def _fmt(metrics):
    return "  ".join(f"{k} {v:.3f}" for k, v in metrics.items())


def _diverged(what, epoch, checkpoint):
    """what: "batch <b>: <the problem>", from run_epoch."""
    kept = (f"the last good checkpoint {checkpoint} is kept; "
            if checkpoint is not None and Path(checkpoint).is_file() else "")
    return (f"training diverged at epoch {epoch}, {what}; {kept}"
            f"lower the learning rate or clip the gradient norm (clip_norm).")


__all__ = ["fit", "run_epoch", "save_checkpoint", "load_checkpoint", "evaluate_elbo",
           "evaluate_log_likelihood", "CheckpointError", "DivergenceError", "Interrupted", "RUN_KEYS"]
