"""A first network trained by hand-written backpropagation: a small MLP fits a noisy curve.

    python -m vae_from_scratch demo

Data: y = sin(3x) + 0.1·noise on x ∈ [−1, 1].  Model: 1 → 32 → 32 → 1 with tanh.
Loss: mean squared error, L = (1/N) Σ (ŷ − y)², whose gradient is dL/dŷ = 2(ŷ − y)/N.
Training: minibatch SGD with momentum written out in three lines (thesis §2.5;
the project's optimizers come in `optim.py` later), on the flat `params`/`grads`
view of the Sequential.
"""

from pathlib import Path

import numpy as np

from ..backend import describe, get_backend, to_numpy
from ..nn import Dense, Sequential, Tanh
from ..viz.plots import pyplot, save_figure


def make_data(n, rng):
    """x: (n, 1) uniform on [−1, 1], y: (n, 1) = sin(3x) + 0.1·N(0, 1)."""
    x = rng.uniform(-1, 1, size=(n, 1))
    y = np.sin(3 * x) + 0.1 * rng.standard_normal((n, 1))
    return x.astype(np.float32), y.astype(np.float32)


def run(steps=3000, batch=64, lr=0.02, momentum=0.9, seed=0, out_dir="runs/demo",
        log_every=300, backend=None, plot=True):
    """Train the MLP; print the loss as it falls; return the history of (step, loss)."""
    bk = get_backend(backend)
    print(describe(bk))
    rng = np.random.default_rng(seed)
    x_train, y_train = make_data(512, rng)
    x_test, y_test = make_data(256, rng)
    net = Sequential(Dense(1, 32, rng=rng, backend=bk), Tanh(backend=bk),
                     Dense(32, 32, rng=rng, backend=bk), Tanh(backend=bk),
                     Dense(32, 1, rng=rng, backend=bk))
    params, grads = net.params, net.grads          # flat views, valid for the whole run
    velocity = {name: bk.xp.zeros_like(p) for name, p in params.items()}
    print(f"demo: fitting y = sin(3x) + noise with {net.n_params} parameters, "
          f"backend {net.backend.name}")

    def mse(x, y):
        return float(bk.xp.mean((net.forward(bk.asarray(x)) - bk.asarray(y)) ** 2))

    history = [(0, mse(x_test, y_test))]
    print(f"  step {0:>5}  test MSE {history[-1][1]:.4f}")
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(x_train), size=batch)
        x, y = bk.asarray(x_train[idx]), bk.asarray(y_train[idx])
        y_hat = net.forward(x)
        net.backward(2 * (y_hat - y) / len(x))            # dL/dŷ of the mean squared error
        for name in params:                               # SGD with momentum, in place
            velocity[name] = momentum * velocity[name] - lr * grads[name]
            params[name] += velocity[name]
        if step % 50 == 0 or step == steps:
            history.append((step, mse(x_test, y_test)))
        if step % log_every == 0 or step == steps:
            print(f"  step {step:>5}  test MSE {history[-1][1]:.4f}")
    print(f"  noise floor (variance of the noise): {0.1 ** 2:.4f}")
    if plot:
        path = _plot(net, x_train, y_train, history, out_dir)
        print(f"  figure: {path}")
    return history


def _plot(net, x_train, y_train, history, out_dir):
    plt = pyplot()
    grid = np.linspace(-1, 1, 200, dtype=np.float32)[:, None]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.scatter(x_train[:, 0], y_train[:, 0], s=4, alpha=0.4, label="training data")
    ax1.plot(grid[:, 0], np.sin(3 * grid[:, 0]), "k--", lw=1, label="sin(3x)")
    ax1.plot(grid[:, 0], to_numpy(net.forward(net.backend.asarray(grid)))[:, 0], "C3", lw=2,
             label="MLP")
    ax1.set(xlabel="x", ylabel="y", title="fit")
    ax1.legend(fontsize=8)
    steps, losses = zip(*history)
    ax2.semilogy(steps, losses)
    ax2.axhline(0.01, color="gray", ls=":", label="noise variance")
    ax2.set(xlabel="SGD step", ylabel="test MSE", title="loss")
    ax2.legend(fontsize=8)
    return save_figure(fig, Path(out_dir) / "fit.png", dpi=100)
