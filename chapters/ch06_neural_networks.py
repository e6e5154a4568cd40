# %% [markdown]
# # Chapter 6 — Neural networks, backpropagation and gradient checking
#
# **Theory:** thesis §2.6 (eq. 2.23, 2.24).  **Code:** `vae_from_scratch/nn/`
# (`dense.py`, `activations.py`, `sequential.py`), `vae_from_scratch/gradcheck.py`,
# `vae_from_scratch/optim.py`.
#
# A VAE's encoder and decoder are neural networks (thesis §2.7.2), and training them
# needs the gradient of the ELBO with respect to every weight.  This chapter builds a
# small multilayer perceptron (MLP) from the project's layers, follows backpropagation
# one layer at a time, proves every backward pass by finite differences, and trains
# the MLP with minibatch SGD (thesis eq. 2.21) to show the loss falling.
#
# Run it as a script (`python chapters/ch06_neural_networks.py [--quick] [--out DIR]`)
# or open it as a notebook (the `# %%` lines are cells).

# %%
import os
import time
from pathlib import Path

# The layers here are small.  On a shared 2-core machine spinning OpenBLAS threads slow
# the project's training down, and the thread count moves results by round-off
# (docs/performance.md); one thread keeps runs fast and reproducible.  Set
# OPENBLAS_NUM_THREADS yourself to override.  (It must be set before NumPy is imported;
# in a notebook whose kernel already imported NumPy it does nothing.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from vae_from_scratch.apps.chapter_tools import (parse_chapter_args, run_as_script,
                                                 write_results)
from vae_from_scratch.backend import get_backend, to_numpy
from vae_from_scratch.data import load_dataset
from vae_from_scratch.gradcheck import gradcheck
from vae_from_scratch.nn import (Dense, Identity, LeakyReLU, ReLU,
                                 Sequential, Sigmoid, Softplus, Tanh)
from vae_from_scratch.objectives import softmax
from vae_from_scratch.optim import SGD
from vae_from_scratch.viz.plots import pyplot, save_figure


def parse_args(argv=None):
    return parse_chapter_args(argv, "ch06", "Chapter 6: neural networks, backpropagation, "
                                            "gradient checking (thesis §2.6)",
                              "fewer epochs: seconds, not a minute", backend=True)


# %% [markdown]
# ## 1. A network is a composition of layers (thesis eq. 2.23, 2.24)
#
# The thesis defines a neural network as a composition of layers,
# NeuralNet = α⁽ᴸ⁾ ∘ … ∘ α⁽¹⁾ (eq. 2.23), each of them
# α⁽ⁱ⁾(x) = g⁽ⁱ⁾(W⁽ⁱ⁾ x + b⁽ⁱ⁾) (eq. 2.24): an affine map followed by an activation g
# applied elementwise.  In the project the affine map and the activation are two layers,
# `Dense` and e.g. `ReLU`, and `Sequential` composes them.  Examples are the *rows* of x,
# so `Dense` computes x Wᵀ + b for a whole minibatch at once, with `params["W"]` of shape
# (out, in) as in eq. 2.24.
#
# The thesis also says why g must be non-linear: otherwise "the ANN would deflate into
# a single linear transformation".  With the identity as activation, two Dense layers
# are one Dense layer with W = W₂W₁ and b = W₂b₁ + b₂; the cell checks it.

# %%
def composition(bk, rng):
    """Eq. 2.24 is what Dense computes; without a non-linearity two layers are one."""
    x = rng.standard_normal((5, 6))
    d1 = Dense(6, 4, rng=rng, backend=bk, dtype=np.float64)
    d1.params["b"][...] = bk.asarray(rng.standard_normal(4))
    d2 = Dense(4, 3, rng=rng, backend=bk, dtype=np.float64)
    d2.params["b"][...] = bk.asarray(rng.standard_normal(3))
    W1, b1, W2, b2 = (to_numpy(a) for a in (d1.params["W"], d1.params["b"],
                                             d2.params["W"], d2.params["b"]))
    y1 = to_numpy(d1.forward(bk.asarray(x)))
    eq_2_24_gap = float(np.abs(y1 - np.array([W1 @ xi + b1 for xi in x])).max())

    linear_net = Sequential(d1, Identity(backend=bk), d2)
    merged = Dense(6, 3, rng=rng, backend=bk, dtype=np.float64)
    merged.params["W"][...] = bk.asarray(W2 @ W1)
    merged.params["b"][...] = bk.asarray(W2 @ b1 + b2)
    deflation_gap = float(np.abs(to_numpy(linear_net.forward(bk.asarray(x)))
                                 - to_numpy(merged.forward(bk.asarray(x)))).max())
    print(f"Dense(x) vs W x + b per example (eq. 2.24):          "
          f"max |difference| = {eq_2_24_gap:.1e}")
    print(f"Dense∘Identity∘Dense vs one Dense(W2 W1, W2 b1 + b2): "
          f"max |difference| = {deflation_gap:.1e}")
    return {"eq_2_24_gap": eq_2_24_gap, "linear_deflation_gap": deflation_gap}


# %% [markdown]
# ## 2. Activation functions and their derivatives (thesis §2.6)
#
# The thesis lists the sigmoid 1/(1 + e^{−kx}), the rectifier relu(x) = max(0, x) with
# relu′(0) := 0, and tanh.  Backpropagation needs g′: an activation layer's backward
# pass multiplies the incoming gradient by g′(x) elementwise, so `backward(ones)`
# returns g′ itself.  The figure draws g and g′ from the layers' own forward and
# backward passes.  The layer `Sigmoid` is k = 1; a slope k is a scaling of the input
# (the thesis's target g(x), eq. 3.1, uses k = 12).
#
# One number to remember from the figure: the sigmoid's derivative is at most 1/4 (at
# x = 0), while relu′ is 1 wherever the unit is on and tanh′(0) = 1.  Every sigmoid layer
# a gradient passes through shrinks it at least fourfold — section 5 measures what that
# does to training.

# %%
ACTIVATIONS = {"sigmoid": Sigmoid, "relu": ReLU, "tanh": Tanh,
               "leaky relu": LeakyReLU, "softplus": Softplus}


def activation_curves(bk, out):
    """g and g′ of each activation, from forward and backward(ones)."""
    x = np.linspace(-4, 4, 401)
    x[200] = 0.0                                 # exactly 0, to show relu′(0) := 0
    curves = {}
    for name, cls in ACTIVATIONS.items():
        # a leaky slope of 0.1 (the layer's default is 0.01) so that it does not hide relu
        layer = cls(0.1, backend=bk) if cls is LeakyReLU else cls(backend=bk)
        g = to_numpy(layer.forward(bk.asarray(x)))
        dg = to_numpy(layer.backward(bk.asarray(np.ones_like(x))))
        curves[name + (" (slope 0.1)" if cls is LeakyReLU else "")] = (g, dg)
    relu_at_0 = float(curves["relu"][1][200])
    sigmoid_max = float(curves["sigmoid"][1].max())
    print(f"largest sigmoid′: {sigmoid_max:.4f} (= 1/4 at x = 0)")
    print(f"relu′(0) from ReLU.backward: {relu_at_0:g}  (thesis §2.6: relu′(0) := 0)")
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    styles = ["-", "-", "-", "--", "-."]
    for (name, (g, dg)), ls in zip(curves.items(), styles):
        axes[0].plot(x, g, ls, label=name)
        axes[1].plot(x, dg, ls, label=name)
    for ax, t in zip(axes, ("g(x): forward", "g′(x): backward(ones)")):
        ax.set(xlabel="x", title=t)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylim(-1.5, 4)
    save_figure(fig, out / "activations.png", fontsize=11,
                title="Activation functions of thesis §2.6 and their derivatives")
    return {"relu_derivative_at_0": relu_at_0, "sigmoid_derivative_max": sigmoid_max}


# %% [markdown]
# ## 3. Backpropagation is the chain rule, one layer at a time
#
# For a scalar loss L of the output y = α⁽ᴸ⁾(…α⁽¹⁾(x)), the chain rule gives
# ∂L/∂h⁽ⁱ⁻¹⁾ = (∂h⁽ⁱ⁾/∂h⁽ⁱ⁻¹⁾)ᵀ ∂L/∂h⁽ⁱ⁾: each layer turns the gradient with respect to
# its output into the gradient with respect to its input, and on the way fills the
# gradient of its own parameters.  For a Dense layer y = x Wᵀ + b on a minibatch:
#
# - ∂L/∂x = (∂L/∂y) W,  ∂L/∂W = (∂L/∂y)ᵀ x,  ∂L/∂b = Σ over the minibatch of ∂L/∂y;
#
# for an activation: ∂L/∂x = ∂L/∂y ⊙ g′(x).  (The thesis skips the formal treatment
# and points to its reference [6]; this is all of it.)  `Sequential.backward` runs the
# layers' backward passes in reverse order; the cell does the same by hand and gets
# the same numbers.

# %%
def make_mlp(bk, rng, sizes=(64, 32, 10), act=ReLU, dtype=np.float32):
    """Dense → act → … → Dense; the last layer stays linear (it gives logits)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(a, b, rng=rng, backend=bk, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(act(backend=bk))
    return Sequential(layers)


def backprop_by_hand(bk, rng):
    """The reverse loop over layers equals Sequential.backward."""
    net = make_mlp(bk, rng, sizes=(6, 5, 4, 3), dtype=np.float64)
    x = bk.asarray(rng.standard_normal((7, 6)))
    dy = bk.asarray(rng.standard_normal((7, 3)))
    net.forward(x)
    dx_sequential = to_numpy(net.backward(dy))
    grads_sequential = {k: to_numpy(v).copy() for k, v in net.grads.items()}
    net.forward(x)
    g = dy
    for layer in reversed(net.layers):               # the chain rule, output to input
        g = layer.backward(g)
    gap = max(float(np.abs(to_numpy(g) - dx_sequential).max()),
              max(float(np.abs(to_numpy(net.grads[k]) - v).max())
                  for k, v in grads_sequential.items()))
    print(f"hand-written reverse loop vs Sequential.backward: max |difference| = {gap:.1e}")
    return {"reverse_loop_gap": gap}


# %% [markdown]
# ## 4. Gradient checking
#
# A backward pass is only trusted once it agrees with the definition of the derivative.
# `gradcheck(layer, x)` converts a copy of the layer to float64, takes a random direction
# G of the output's shape and compares `backward(G)` with central differences
# (L(a + h) − L(a − h)) / 2h of L = Σ layer(x) ⊙ G, for the input and every parameter
# (details and the handling of ReLU's kink in `gradcheck.py`).  The error per tensor is
# ‖analytic − numeric‖∞ / max(‖analytic‖∞, ‖numeric‖∞): about 1e-9 or less when the
# backward pass is right, of order one when it is wrong.
#
# To see what a wrong backward pass looks like, the cell also checks two classic bugs:
# a Dense layer that *averages* the bias gradient over the minibatch instead of summing
# it, and a sigmoid that evaluates g·(1 − g) at the input x instead of at g(x).

# %%
class MeanBiasDense(Dense):
    """Bug: ∂L/∂b averaged over the minibatch (the loss is then divided by N twice)."""

    def _backward(self, dy, cache):
        dx = super()._backward(dy, cache)
        self._set_grad("b", dy.mean(axis=0))
        return dx


class SigmoidAtInput(Sigmoid):
    """Bug: g′ written as x(1 − x) instead of g(x)(1 − g(x))."""

    def _forward(self, x):
        y, _ = super()._forward(x)
        return y, x

    def _backward(self, dy, x):
        return dy * x * (1 - x)


def gradient_checks(bk, rng):
    """Max relative error per tensor, for every layer kind, an MLP, and two bugs."""
    x = rng.standard_normal((4, 6))            # a generic point: no input exactly at a kink
    cases = {"Dense(6→5)": Dense(6, 5, rng=rng, backend=bk)}
    cases["Dense(6→5)"].params["b"][...] = bk.asarray(rng.standard_normal(5))
    for name, cls in ACTIVATIONS.items():
        cases[name] = cls(backend=bk)
    cases["MLP 6-8-8-3 (tanh)"] = make_mlp(bk, rng, sizes=(6, 8, 8, 3), act=Tanh)
    cases["MLP 6-8-8-3 (relu)"] = make_mlp(bk, rng, sizes=(6, 8, 8, 3), act=ReLU)
    bugs = {"bug: bias gradient averaged": MeanBiasDense(6, 5, rng=rng, backend=bk),
            "bug: sigmoid′ at the input": SigmoidAtInput(backend=bk)}
    errors = {}
    print(f"{'layer':<30} {'tensor':<6} relative error")
    for name, layer in {**cases, **bugs}.items():
        result = gradcheck(layer, x, rng=rng)
        errors[name] = dict(result.errors)
        for tensor, err in result.errors.items():
            flag = "" if err < 1e-6 else "   <-- wrong backward pass"
            print(f"{name:<30} {tensor:<6} {err:.1e}{flag}")
    worst_correct = max(max(e.values()) for n, e in errors.items() if n in cases)
    best_bug = min(max(e.values()) for n, e in errors.items() if n in bugs)
    print(f"largest error of a correct layer: {worst_correct:.1e}; "
          f"smallest error of a buggy one: {best_bug:.2f}")
    return {"errors": errors, "max_error_correct": worst_correct, "min_error_bug": best_bug}


def plot_gradient_checks(errors, path):
    plt = pyplot()
    names = list(errors)
    worst = [max(max(errors[n].values()), 1e-17) for n in names]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    colors = ["C3" if n.startswith("bug") else "C0" for n in names]
    ax.barh(names, worst, color=colors)
    ax.set_xscale("log")
    ax.axvline(1e-6, color="k", ls=":", lw=1, label="tolerance 1e-6")
    ax.invert_yaxis()
    ax.set_xlabel("largest relative error over x, W, b (float64, h = 1e-6)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Gradient checks: hand-written backward passes vs central differences",
                 fontsize=10)
    save_figure(fig, path)


# %% [markdown]
# ## 5. Training: the loss falls (thesis §2.5.3 and §2.6)
#
# With the gradients in hand, minibatch SGD (thesis eq. 2.21, `optim.SGD`: θ ← θ − η ∇L)
# trains the MLP.  The task is a plain classifier on scikit-learn's 8×8 digits (the
# images the VAEs of chapters 7 and 8 model): 64 → 64 → 10, the softmax cross-entropy
# L = −(1/N) Σᵢ log softmax(fᵢ)[yᵢ], whose gradient with respect to the logits f is
# (softmax(f) − onehot(y)) / N.
#
# The thesis remarks that "a big advantage of relu is the faster convergence of
# optimization tasks".  The cell trains the same network three times, with relu, tanh
# and sigmoid, from the same initial weights, the same minibatches and the same
# learning rate, and measures how fast the training loss falls (full mode: five seeds,
# mean ± standard deviation).
#
# What it finds: relu and tanh fall about equally fast on this one-hidden-layer network
# (tanh reaches 0.5 nats a fraction of an epoch earlier, relu ends a little lower), and
# both far faster than the sigmoid, which needs about five times as many epochs.  So the
# measurable part of the thesis's remark is relu (and tanh) against the sigmoid, whose
# derivative of at most 1/4 (section 2) slows every gradient step; relu's advantage
# over tanh is known from deeper networks and does not show on a network this shallow.

# %%
def cross_entropy(logits, labels, xp):
    """Mean softmax cross-entropy and its gradient with respect to the logits."""
    p = softmax(logits, axis=1)                                      # (N, 10)
    N = len(labels)
    picked = p[xp.arange(N), labels]
    loss = -float(xp.log(xp.maximum(picked, 1e-300)).mean())
    dlogits = p.copy()
    dlogits[xp.arange(N), labels] -= 1.0
    return loss, dlogits / N


def train_classifier(bk, act, splits, epochs, seed, lr=0.1, batch=32):
    """SGD on the digits; returns per-epoch training loss and test accuracy."""
    init_rng = np.random.default_rng(seed)                # the same weights for every act
    net = make_mlp(bk, init_rng, sizes=(64, 64, 10), act=act)
    opt = SGD(net.params, net.grads, lr=lr)
    train, _, test = splits
    x_train = train.images.reshape(len(train.images), -1)
    x_test = bk.asarray(test.images.reshape(len(test.images), -1))
    y_train, y_test = train.labels, test.labels
    batch_rng = np.random.default_rng(seed + 1)           # the same minibatches for every act
    losses, accuracies = [], []

    def epoch_metrics():
        logits = net.forward(bk.asarray(x_train))
        loss, _ = cross_entropy(logits, bk.asarray(y_train), bk.xp)
        acc = float((to_numpy(net.forward(x_test)).argmax(axis=1) == y_test).mean())
        return loss, acc

    loss, acc = epoch_metrics()
    losses.append(loss)
    accuracies.append(acc)
    for _ in range(epochs):
        order = batch_rng.permutation(len(x_train))
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            logits = net.forward(bk.asarray(x_train[idx]))
            _, dlogits = cross_entropy(logits, bk.asarray(y_train[idx]), bk.xp)
            net.backward(dlogits)                          # fills net.grads
            opt.step()                                     # θ ← θ − η ∇L   (eq. 2.21)
        loss, acc = epoch_metrics()
        losses.append(loss)
        accuracies.append(acc)
    return losses, accuracies


def training(bk, args, out):
    splits = load_dataset("digits", rng=np.random.default_rng(args.seed))
    epochs = 15 if args.quick else 60
    seeds = [args.seed] if args.quick else [args.seed + i for i in range(5)]
    threshold = 0.5
    runs = {}
    print(f"MLP 64-64-10 on {len(splits.train.images)} digits, SGD lr 0.1, batch 32, "
          f"{epochs} epochs, {len(seeds)} seed(s) of weights and minibatches; "
          f"test on {len(splits.test.images)}")
    print(f"{'activation':<10} {'loss at start':>13} {'after 1 epoch':>13} {'at the end':>15} "
          f"{'epochs to loss < 0.5':>21} {'test accuracy':>15}")
    for name in ("relu", "tanh", "sigmoid"):
        per_seed = [train_classifier(bk, ACTIVATIONS[name], splits, epochs, s) for s in seeds]
        losses = np.array([loss for loss, _ in per_seed])                # (seeds, epochs + 1)
        acc = np.array([a for _, a in per_seed])
        # first epoch below the threshold, per seed (epochs + 1 when never)
        reach = [int(np.argmax(loss < threshold)) if (loss < threshold).any() else epochs + 1
                 for loss in losses]
        runs[name] = {"loss": losses.tolist(), "test_accuracy": acc.tolist(),
                      "epochs_to_loss_0.5": reach}
        print(f"{name:<10} {losses[:, 0].mean():>13.3f} {losses[:, 1].mean():>13.3f} "
              f"{_mean_sd(losses[:, -1]):>15} {_mean_sd(reach, '.1f'):>21} "
              f"{_mean_sd(acc[:, -1]):>15}")
    if len(seeds) > 1:
        print("(mean ± standard deviation over the seeds; "
              f"'{epochs + 1}' counts a run that never got below 0.5)")
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    for name, r in runs.items():
        for ax, key in zip(axes, ("loss", "test_accuracy")):
            a = np.array(r[key])
            line, = ax.plot(a.mean(axis=0), label=name)
            if len(a) > 1:
                ax.fill_between(np.arange(a.shape[1]), a.min(axis=0), a.max(axis=0),
                                color=line.get_color(), alpha=0.2)
    axes[0].axhline(threshold, color="k", ls=":", lw=1)
    axes[0].set(xlabel="epoch", ylabel="training cross-entropy (nats)", yscale="log",
                title="the loss falls")
    axes[1].set(xlabel="epoch", ylabel="test accuracy", title="held-out digits", ylim=(0, 1))
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    band = f" (mean, band: min–max over {len(seeds)} seeds)" if len(seeds) > 1 else ""
    save_figure(fig, out / "training.png", fontsize=10,
                title="MLP 64-64-10 trained by backpropagation and minibatch SGD" + band)
    return runs


def _mean_sd(values, fmt=".3f"):
    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(values.mean(), fmt)} ± {format(values.std(ddof=1), fmt)}"


# %% [markdown]
# ## Run everything
#
# `main` runs the sections in order, prints what it measures, writes the figures
# (`activations.png`, `gradient_checks.png`, `training.png`) and `results.json` to the
# output folder, and returns the numbers.  What to look for:
#
# - the two identities of §1 hold to float64 round-off (~1e-16);
# - relu′(0) is 0, as the thesis defines it;
# - every correct backward pass agrees with finite differences to ~1e-9 or better, the
#   two bugs are off by order one (0.75 for the averaged bias with a minibatch of 4);
# - the training loss falls from about log 10 ≈ 2.30 nats (a uniform guess over ten
#   digits); relu and tanh reach 0.5 nats within about 4 epochs, the sigmoid after
#   about 18; test accuracies end near 0.98 (relu, tanh) and 0.97 (sigmoid).

# %%
def main(argv=None):
    args = parse_args(argv)
    bk = get_backend(args.backend)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"chapter 6 ({'quick' if args.quick else 'full'} mode), backend {bk.name}; "
          f"figures go to {out}/")
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    results = {"quick": bool(args.quick), "backend": bk.name}
    print("\n== 1. composition (eq. 2.23, 2.24)")
    results["composition"] = composition(bk, rng)
    print("\n== 2. activations")
    results["activations"] = activation_curves(bk, out)
    print("\n== 3. backpropagation by hand")
    results["backprop"] = backprop_by_hand(bk, rng)
    print("\n== 4. gradient checks")
    results["gradcheck"] = gradient_checks(bk, rng)
    plot_gradient_checks(results["gradcheck"]["errors"], out / "gradient_checks.png")
    print("\n== 5. training")
    results["training"] = training(bk, args, out)
    results["seconds"] = time.perf_counter() - t0
    tr = results["training"]
    reach = {a: np.mean(tr[a]["epochs_to_loss_0.5"]) for a in tr}
    results["summary"] = (
        f"gradient checks: correct layers ≤ {results['gradcheck']['max_error_correct']:.1e}, "
        f"bugs ≥ {results['gradcheck']['min_error_bug']:.2f}; training loss "
        f"{np.mean([run[0] for run in tr['relu']['loss']]):.2f} → "
        f"{np.mean([run[-1] for run in tr['relu']['loss']]):.3f} nats (relu); epochs to 0.5 nats: "
        + ", ".join(f"{a} {reach[a]:.1f}" for a in tr))
    print(f"\nchapter 6 done in {results['seconds']:.1f} s; figures and results.json in {out}/")
    write_results(results, out)
    return results


if __name__ == "__main__":
    run_as_script(main)
