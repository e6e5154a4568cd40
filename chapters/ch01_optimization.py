# %% [markdown]
# # Chapter 1 — Optimization: gradient descent, minibatches, learning rates, minima
#
# Training a VAE is an optimization problem: find the parameters θ, φ that maximize the
# ELBO.  Before any probability enters, this chapter looks at the optimizer alone, on
# problems whose answer we know:
#
# 1. **Least squares** (slides Example 1.5): the closed-form solution, and batch gradient
#    descent (thesis §2.5.1, Algorithm 1) converging to it.
# 2. **The learning rate** η: too small, good, too large (thesis §2.5.1: "If we choose η
#    too small, we will only move slowly … if we choose η too big … the algorithm cannot
#    converge"), with the exact convergence rate that theory predicts for a quadratic.
# 3. **Minibatch SGD** (thesis §2.5.3, eq. 2.21): the minibatch gradient is an unbiased
#    estimate of the full gradient, with a variance that falls like 1/N_M; what that noise
#    does to training.
# 4. **Local vs global minima** (slides Definition 1.7) on a 1-D non-convex function, and
#    the thesis's remark that minibatch noise helps "to escape local maxima" (§2.5.3).
#
# Run it as a script (`python chapters/ch01_optimization.py [--quick] [--out DIR]`) or
# open it as a notebook (Jupytext "percent" format).  The optimizer is the project's own
# `vae_from_scratch.optim.SGD`, the same class that trains the VAEs later.

# %%
import os
import time
from pathlib import Path

# One BLAS thread, as in the other chapters: on a shared 2-core machine spinning BLAS
# threads slow small problems down, and the thread count can move the last digits.
# (It must be set before NumPy is imported; set OPENBLAS_NUM_THREADS to override.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import matplotlib
matplotlib.use("Agg")                       # figures go to files, no screen needed
import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import (parse_chapter_args, run_as_script,
                                                 write_results)
from vae_from_scratch.viz.plots import save_figure
from vae_from_scratch.optim import SGD
from vae_from_scratch.schedules import exponential_decay

CHAPTER = "ch01"


def parse_args(argv=None):
    return parse_chapter_args(argv, "ch01", "Chapter 1: optimization",
                              "smaller runs, a few seconds")


# %% [markdown]
# ## 1. Least squares (slides Example 1.5, Concept 1.6)
#
# Curve fitting (slides Example 1.4): data X_i and labels Y_i = f⋆(X_i) + error.  With
# f_θ(x) = xᵀθ, least squares solves
#
#     minimize_θ  ½ ‖Xθ − Y‖²  =  ½ Σ_i (X_iᵀθ − Y_i)².
#
# We fit a line, so each row is X_i = (x_i, 1) and θ = (slope, intercept).  We divide the
# sum by N — the same minimizer, and the loss becomes an average over examples, the form
# whose minibatch estimate is thesis eq. 2.21:
#
#     f(θ) = (1/2N) ‖Xθ − Y‖²,        ∇f(θ) = Xᵀ(Xθ − Y) / N.
#
# "Take gradient and set it to 0" (slides): XᵀX θ = XᵀY, the normal equations, whose
# solution θ̂ we compute with `np.linalg.solve`.  Gradient descent must arrive there.

# %%
class LeastSquares:
    """f(θ) = (1/2N) ‖Xθ − Y‖² and its gradient, on all the data or on a minibatch."""

    def __init__(self, X, Y):
        self.X, self.Y = X, Y

    def loss(self, theta, idx=slice(None)):
        r = self.X[idx] @ theta - self.Y[idx]
        return 0.5 * np.mean(r ** 2)

    def grad(self, theta, idx=slice(None)):
        """∇f on the rows idx: Xᵀ(Xθ − Y) / |idx|   (thesis eq. 2.21 for a minibatch)."""
        X = self.X[idx]
        return X.T @ (X @ theta - self.Y[idx]) / len(X)

    def per_example_grads(self, theta):
        """The N gradients ∇f_i(θ) = X_i (X_iᵀθ − Y_i), one row each."""
        return self.X * (self.X @ theta - self.Y)[:, None]

    def solution(self):
        """θ̂ from the normal equations XᵀX θ = XᵀY."""
        return np.linalg.solve(self.X.T @ self.X, self.X.T @ self.Y)

    def hessian(self):
        """∇²f = XᵀX / N (constant: f is quadratic)."""
        return self.X.T @ self.X / len(self.X)


def make_line_data(n, rng, slope=1.5, intercept=-0.5, noise=0.5):
    x = rng.uniform(-1.0, 3.0, n)
    y = slope * x + intercept + noise * rng.standard_normal(n)
    return np.stack([x, np.ones(n)], axis=1), y


def gradient_descent(problem, theta0, lr, steps):
    """Thesis Algorithm 1 on the loss f = −objective: θ ← θ − η ∇f(θ), with the library's SGD
    optimizer on the full batch.  Returns the path θ_0 … θ_T, shape (T + 1, p)."""
    theta = theta0.copy()
    grads = {"theta": np.zeros_like(theta)}
    opt = SGD({"theta": theta}, grads, lr=lr)
    path = [theta.copy()]
    for _ in range(steps):
        grads["theta"][...] = problem.grad(theta)
        if not np.all(np.isfinite(grads["theta"])) or np.abs(theta).max() > 1e6:
            break                                          # diverged: stop before overflow
        opt.step()                                         # θ -= η g, in place
        path.append(theta.copy())
    return np.array(path)


# %% [markdown]
# ## 2. The learning rate
#
# On a quadratic, gradient descent is linear: with H = XᵀX/N the Hessian,
#
#     θ_{t+1} − θ̂ = (I − ηH)(θ_t − θ̂),
#
# so along the eigenvector of H with eigenvalue λ_i the error is multiplied by (1 − ηλ_i)
# at every step.  Gradient descent converges if and only if |1 − ηλ_i| < 1 for every i,
# i.e. **η < 2/λ_max**, and the error shrinks asymptotically by the factor
#
#     ρ(η) = max_i |1 − ηλ_i|   per step.
#
# η = 1/λ_max gives ρ = 1 − λ_min/λ_max = 1 − 1/κ (κ the condition number); a tiny η
# gives ρ just below 1 (slow); η between 1/λ_max and 2/λ_max overshoots along the steep
# direction and oscillates, but converges; η > 2/λ_max diverges.  We run four learning
# rates and compare the measured rate, (‖θ_{t₂} − θ̂‖ / ‖θ_{t₁} − θ̂‖)^{1/(t₂−t₁)}, with ρ(η).

# %%
def learning_rates(problem, steps, out):
    theta_hat = problem.solution()
    lam = np.linalg.eigvalsh(problem.hessian())
    lam_min, lam_max = lam[0], lam[-1]
    f_star = problem.loss(theta_hat)
    theta0 = np.array([-1.0, 2.0])
    factors = {"too small": 0.05, "good": 1.0, "oscillating": 1.9, "diverging": 2.05}
    rows, paths = [], {}
    for name, c in factors.items():
        lr = c / lam_max
        path = gradient_descent(problem, theta0, lr, steps)
        err = np.linalg.norm(path - theta_hat, axis=1)
        predicted = float(np.max(np.abs(1 - lr * lam)))
        # measure the rate late (the slowest direction dominates), but before the error
        # reaches round-off: from t₂/2 to t₂, t₂ the last step with error > 1e-9 · err₀
        above = np.flatnonzero(err > 1e-9 * err[0])
        t2 = int(above[-1]) if len(above) else len(err) - 1
        t1 = t2 // 2
        measured = float((err[t2] / err[t1]) ** (1 / (t2 - t1)))
        rows.append({"name": name, "lr": lr, "lr_times_lmax": c, "rate_predicted": predicted,
                     "rate_measured": measured, "final_error": float(err[-1]),
                     "final_loss_gap": float(problem.loss(path[-1]) - f_star),
                     "steps_run": len(path) - 1})
        paths[name] = path

    print(f"Hessian eigenvalues λ_min = {lam_min:.4f}, λ_max = {lam_max:.4f}, "
          f"condition number κ = {lam_max / lam_min:.2f}; GD converges iff η < 2/λ_max = "
          f"{2 / lam_max:.4f}")
    print(f"{'η':>18} {'η·λ_max':>8} {'ρ predicted':>12} {'ρ measured':>11} "
          f"{'‖θ_T − θ̂‖':>11} {'f(θ_T) − f*':>12}")
    for r in rows:
        print(f"{r['name']:>10} {r['lr']:7.4f} {r['lr_times_lmax']:8.2f} "
              f"{r['rate_predicted']:12.5f} {r['rate_measured']:11.5f} "
              f"{r['final_error']:11.3e} {r['final_loss_gap']:12.3e}")

    # figure: loss gap per step, and the paths on the loss contours
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, path in paths.items():
        gaps = [problem.loss(t) - f_star for t in path]
        ax1.semilogy(np.maximum(gaps, 1e-300), label=f"{name} (η·λ_max = {factors[name]})")
    ax1.set_ylim(1e-16, 1e4)
    ax1.set_xlabel("step t")
    ax1.set_ylabel("f(θ_t) − f(θ̂)")
    ax1.set_title("batch gradient descent, four learning rates")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    s, b = np.meshgrid(np.linspace(-1.5, 3.5, 200), np.linspace(-3.0, 3.0, 200))
    thetas = np.stack([s.ravel(), b.ravel()], axis=1)
    res = thetas @ problem.X.T - problem.Y
    F = 0.5 * np.mean(res ** 2, axis=1).reshape(s.shape)
    ax2.contour(s, b, F, levels=np.geomspace(F.min() + 1e-3, F.max(), 18), colors="0.75",
                linewidths=0.7)
    for name in ("too small", "good", "oscillating", "diverging"):
        p = paths[name][:15]
        ax2.plot(p[:, 0], p[:, 1], "o-", ms=2.5, lw=1, label=name)
    ax2.plot(*theta_hat, "k*", ms=12, label="θ̂ (normal equations)")
    ax2.set_xlim(-1.5, 3.5)
    ax2.set_ylim(-3, 3)
    ax2.set_xlabel("slope θ₁")
    ax2.set_ylabel("intercept θ₂")
    ax2.set_title("first 15 steps from θ₀ = (−1, 2) on the contours of f")
    ax2.legend(fontsize=8, loc="lower left")
    fig_path = save_figure(fig, out / "learning_rates.png", dpi=110)
    return {"lambda_min": float(lam_min), "lambda_max": float(lam_max),
            "lr_limit": float(2 / lam_max), "runs": rows}, fig_path, paths["good"][-1]


# %% [markdown]
# ## 3. Minibatch stochastic gradient descent (thesis §2.5.3, eq. 2.21)
#
# The gradient on a minibatch M drawn at random,
#
#     ∇f_M(θ) = (1/N_M) Σ_{i∈M} ∇f_i(θ),
#
# is an unbiased estimate of the full gradient ∇f(θ) (eq. 2.21's "≃").  Drawn without
# replacement from N examples whose per-example gradients have covariance Σ, its covariance
# is (Σ / N_M) · (N − N_M)/(N − 1): noise that falls like 1/N_M and vanishes for the full
# batch.  We check both by drawing many minibatches, then train with N_M = 1, 10 and N
# (= batch gradient descent) for the same number of passes over the data (epochs).
#
# Per epoch, SGD with N_M = 1 makes N updates where batch gradient descent makes one, so
# it gets close to θ̂ much sooner.  But with a constant learning rate SGD does not converge
# to θ̂: it hovers in a cloud whose size grows with η and with the gradient noise, i.e.
# shrinks with N_M — and given enough epochs, batch gradient descent overtakes it.  A
# decaying learning rate (here η_t = η₀ · 0.01^{t/T}, `optim.exponential_decay`) gets
# both: the fast start and a shrinking cloud.
#
# The size of the cloud can be predicted.  Near θ̂ the error e_t = θ_t − θ̂ evolves as
# e_{t+1} = (I − ηH) e_t − η ξ_t, with ξ_t the minibatch gradient's noise, of covariance
# C_{N_M} = (C / N_M) · (N − N_M)/(N − 1), C the covariance of the per-example gradients at
# θ̂.  At stationarity the covariance P of e_t then solves P = A P A + η² C_{N_M}, with
# A = I − ηH, and E[f(θ) − f*] = ½ E[eᵀHe] = ½ tr(HP).  For small η this is about
# η tr(C_{N_M}) / 4: the floor is proportional to η and to 1/N_M.  (The prediction
# treats ξ_t as independent of e_t; for least squares the noise also grows a little with
# e_t, which the measurement includes.)

# %%
def minibatch_gradients(problem, rng, draws):
    """Mean and covariance of minibatch gradients at θ = 0 against the theory."""
    N = len(problem.Y)
    theta = np.zeros(2)
    full = problem.grad(theta)
    G = problem.per_example_grads(theta)
    Sigma = np.cov(G.T, ddof=0)                  # the population covariance of ∇f_i
    rows = []
    for B in (1, 10, 50):
        g = np.array([problem.grad(theta, rng.choice(N, B, replace=False)) for _ in range(draws)])
        se = g.std(axis=0, ddof=1) / np.sqrt(draws)
        predicted = np.trace(Sigma) / B * (N - B) / (N - 1)
        measured = float(np.trace(np.cov(g.T)))
        rows.append({"batch": B, "max_bias_in_se": float(np.max(np.abs(g.mean(0) - full) / se)),
                     "var_predicted": float(predicted), "var_measured": measured,
                     "var_ratio": measured / predicted})
    print(f"\nminibatch gradients at θ = 0 ({draws} draws each): full gradient = "
          f"({full[0]:.4f}, {full[1]:.4f})")
    print(f"{'N_M':>5} {'|mean − ∇f| / SE (max)':>24} {'tr Cov predicted':>17} "
          f"{'tr Cov measured':>16} {'ratio':>6}")
    for r in rows:
        print(f"{r['batch']:>5} {r['max_bias_in_se']:24.2f} {r['var_predicted']:17.4f} "
              f"{r['var_measured']:16.4f} {r['var_ratio']:6.3f}")
    return rows


def sgd_run(problem, theta0, batch, lr, steps, rng):
    """Minibatch SGD (thesis Algorithm 2's loop with eq. 2.21's gradient, the library's
    SGD): every step draws a fresh minibatch of `batch` distinct examples at random.
    Returns f(θ_t) − f* for t = 0 … steps, and the final θ."""
    N = len(problem.Y)
    theta = theta0.copy()
    grads = {"theta": np.zeros_like(theta)}
    opt = SGD({"theta": theta}, grads, lr=lr)
    f_star = problem.loss(problem.solution())
    gaps = [problem.loss(theta) - f_star]
    for _ in range(steps):
        idx = slice(None) if batch == N else rng.choice(N, batch, replace=False)
        grads["theta"][...] = problem.grad(theta, idx)
        opt.step()
        gaps.append(problem.loss(theta) - f_star)
    return np.array(gaps), theta


def noise_floor(problem, rng, steps):
    """SGD started at θ̂ with a constant η = 0.1/λ_max: the average of f(θ_t) − f* against
    the prediction ½ tr(H P), P the stationary covariance of θ_t − θ̂ (see the text)."""
    N = len(problem.Y)
    H = problem.hessian()
    lr = 0.1 / np.linalg.eigvalsh(H)[-1]
    theta_hat = problem.solution()
    C = np.cov(problem.per_example_grads(theta_hat).T, ddof=0)   # per-example ∇f_i at θ̂
    A = np.eye(2) - lr * H
    rows = []
    for B in (1, 10):
        C_B = C / B * (N - B) / (N - 1)                     # the minibatch gradient's covariance
        # P = A P A + η² C_B, solved as a linear system in the 4 entries of P
        P = np.linalg.solve(np.eye(4) - np.kron(A, A), (lr ** 2 * C_B).ravel()).reshape(2, 2)
        gaps, _ = sgd_run(problem, theta_hat, B, lr, steps[B], rng)
        blocks = gaps[1:].reshape(20, -1).mean(axis=1)      # batch means: the draws are correlated
        rows.append({"batch": B, "lr": lr, "steps": steps[B],
                     "floor_measured": float(gaps[1:].mean()),
                     "floor_se": float(blocks.std(ddof=1) / np.sqrt(20)),
                     "floor_predicted": float(0.5 * np.trace(H @ P))})
    print(f"noise floor of SGD started at θ̂, constant η = 0.1/λ_max = {lr:.4f}:")
    print(f"{'N_M':>5} {'updates':>8} {'measured mean f − f*':>21} {'predicted ½ tr(HP)':>19}")
    for r in rows:
        print(f"{r['batch']:>5} {r['steps']:8d} {r['floor_measured']:12.3e} ± {r['floor_se']:.1e} "
              f"{r['floor_predicted']:19.3e}")
    return rows


def minibatch_sgd(problem, rng, epochs, out):
    N = len(problem.Y)
    lam_max = np.linalg.eigvalsh(problem.hessian())[-1]
    lr = 0.5 / lam_max
    theta0 = np.array([-1.0, 2.0])
    theta_hat = problem.solution()
    runs = {f"N_M = {B}, constant η": (B, lr) for B in (1, 10)}
    runs[f"N_M = N = {N} (batch GD)"] = (N, lr)
    steps10 = epochs * N // 10
    runs["N_M = 10, decaying η"] = (10, exponential_decay(lr, 0.01, every=steps10))
    results, curves = [], {}
    print(f"\nSGD for {epochs} epochs (N/N_M updates each) from θ₀ = (−1, 2), "
          f"η = 0.5/λ_max = {lr:.4f}:")
    print(f"{'run':>24} {'updates':>8} {'final f − f*':>13} {'‖θ − θ̂‖':>10}")
    for name, (B, sched) in runs.items():
        steps = epochs * N // B
        gaps, theta = sgd_run(problem, theta0, B, sched, steps, rng)
        results.append({"run": name, "batch": B, "updates": steps,
                        "final_loss_gap": float(gaps[-1]),
                        "final_error": float(np.linalg.norm(theta - theta_hat))})
        curves[name] = (np.arange(steps + 1) * B / N, gaps)
        r = results[-1]
        print(f"{name:>24} {steps:8d} {r['final_loss_gap']:13.3e} {r['final_error']:10.3e}")

    fig, ax = plt.subplots(figsize=(6.8, 4.3))
    for name, (ep, gaps) in curves.items():
        ax.semilogy(ep, np.maximum(gaps, 1e-300), lw=0.7 if "= 1," in name else 1.4,
                    label=name)
    ax.set_xlabel(f"epochs (passes over the N = {N} examples)")
    ax.set_ylabel("f(θ_t) − f(θ̂)")
    ax.set_title("minibatch SGD: more updates per epoch, then a noise floor")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return results, save_figure(fig, out / "minibatch_sgd.png", dpi=110)


# %% [markdown]
# ## 4. Local and global minima (slides Definition 1.7; thesis §2.5.3)
#
# θ⋆ is a *local* minimum if f(θ) ≥ f(θ⋆) in a neighbourhood, a *global* one if
# f(θ) ≥ f(θ⋆) everywhere.  Gradient descent only sees the slope where it stands, so it
# ends in the minimum whose basin it starts in.  Take the average
#
#     f(θ) = (1/N) Σ_i (θ⁴ − 4θ² + a_i θ),   a_i with mean 1 and standard deviation 8,
#
# i.e. f(θ) = θ⁴ − 4θ² + θ: a global minimum near θ = −1.47 and a local one near
# θ = 1.35, separated by a local maximum near 0.13 (the roots of f'(θ) = 4θ³ − 8θ + 1).
# The minibatch gradient 4θ³ − 8θ + mean(a_M) is exact in its θ-dependence and noisy in
# its tilt: a small N_M makes big random kicks.  Thesis §2.5.3: minibatch noise lets the
# algorithm "escape local maxima [of the ELBO, minima of the loss] by taking globally
# non-optimal steps".  We start many runs at θ₀ = 1.5, in the local basin, and count
# where they end, with a learning rate that decays to 1 % over the run.

# %%
class TiltedDoubleWell:
    """f(θ) = (1/N) Σ_i (θ⁴ − 4θ² + a_i θ): a non-convex finite sum."""

    def __init__(self, a):
        self.a = a

    def loss(self, theta):
        return theta ** 4 - 4 * theta ** 2 + self.a.mean() * theta

    def grad(self, theta, idx=None):
        """Full gradient (idx None), or one minibatch per entry of θ: idx (len(θ), N_M)."""
        tilt = self.a.mean() if idx is None else self.a[idx].mean(axis=-1)
        return 4 * theta ** 3 - 8 * theta + tilt

    def stationary_points(self):
        """Roots of f'(θ) = 4θ³ − 8θ + ā, sorted: global min, local max, local min."""
        return np.sort(np.roots([4.0, 0.0, -8.0, self.a.mean()]).real)


def local_and_global(rng, chains, steps, out):
    a = rng.standard_normal(100)
    a = 1.0 + 8.0 * (a - a.mean()) / a.std()               # mean exactly 1, std 8
    f = TiltedDoubleWell(a)
    glob, peak, loc = f.stationary_points()
    print(f"\nf(θ) = θ⁴ − 4θ² + θ: global minimum θ = {glob:.4f} (f = {f.loss(glob):.4f}), "
          f"local maximum θ = {peak:.4f}, local minimum θ = {loc:.4f} (f = {f.loss(loc):.4f})")

    # batch gradient descent from a grid of starting points: each ends in its own basin
    starts = np.linspace(-2.5, 2.5, 51)
    theta = starts.copy()
    grads = {"theta": np.zeros_like(theta)}
    opt = SGD({"theta": theta}, grads, lr=0.01)
    for _ in range(2000):
        grads["theta"][...] = f.grad(theta)
        opt.step()
    to_global = float(np.mean(np.abs(theta - glob) < 1e-6))
    wrong = int(np.sum((np.abs(theta - glob) < 1e-6) != (starts < peak)))
    print(f"GD (η = 0.01, 2000 steps) from 51 starts in [−2.5, 2.5]: {to_global:.0%} reach the "
          f"global minimum, exactly those starting left of the local maximum "
          f"({wrong} exceptions)")

    # many runs from θ₀ = 1.5 (local basin): GD vs minibatch SGD
    rows, finals = [], {}
    lr0 = 0.05
    for B in (100, 10, 1):
        theta = np.full(chains, 1.5)
        grads = {"theta": np.zeros_like(theta)}
        opt = SGD({"theta": theta}, grads, lr=exponential_decay(lr0, 0.01, every=steps))
        for _ in range(steps):
            idx = None if B == len(a) else rng.integers(0, len(a), (chains, B))
            grads["theta"][...] = f.grad(theta, idx)
            opt.step()
        share = float(np.mean(theta < peak))
        rows.append({"batch": B, "share_global": share,
                     "mean_final_loss": float(np.mean(f.loss(theta)))})
        finals[B] = theta.copy()
    print(f"{chains} runs from θ₀ = 1.5, {steps} steps, η from {lr0} down to {lr0 / 100}:")
    for r in rows:
        label = "GD (N_M = N = 100)" if r["batch"] == 100 else f"SGD, N_M = {r['batch']}"
        print(f"  {label:>20}: {r['share_global']:6.1%} end in the global basin, "
              f"mean final f = {r['mean_final_loss']:.3f}")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    grid = np.linspace(-2.3, 2.3, 400)
    ax1.plot(grid, f.loss(grid), "k-", lw=1.5)
    for th, name, c in [(glob, "global minimum", "tab:green"), (loc, "local minimum", "tab:red"),
                        (peak, "local maximum", "tab:gray")]:
        ax1.plot(th, f.loss(th), "o", color=c, ms=8, label=f"{name} θ = {th:.2f}")
    ax1.axvspan(-2.3, peak, color="tab:green", alpha=0.08)
    ax1.axvspan(peak, 2.3, color="tab:red", alpha=0.08)
    ax1.set_xlabel("θ")
    ax1.set_ylabel("f(θ)")
    ax1.set_title("f(θ) = θ⁴ − 4θ² + θ and the basins of GD")
    ax1.legend(fontsize=8)
    bins = np.linspace(-2.0, 2.0, 81)
    for B, th in finals.items():
        label = "GD" if B == 100 else f"SGD N_M = {B}"
        ax2.hist(th, bins=bins, alpha=0.6, label=label)
    ax2.axvline(glob, color="tab:green", ls="--", lw=1)
    ax2.axvline(loc, color="tab:red", ls="--", lw=1)
    ax2.set_xlabel("final θ")
    ax2.set_ylabel("runs")
    ax2.set_title(f"where {chains} runs from θ₀ = 1.5 end")
    ax2.legend(fontsize=8)
    path = save_figure(fig, out / "local_global_minima.png", dpi=110)
    return {"global_min": float(glob), "local_min": float(loc), "local_max": float(peak),
            "gd_grid_share_global": to_global, "gd_grid_exceptions": wrong,
            "runs_from_local_basin": rows}, path


# %% [markdown]
# ## Run everything
#
# `main` runs the four sections and returns what they measured (the tests read it from
# `results.json` in the output folder).  What to look for:
#
# - GD's final θ equals the normal-equation solution θ̂ to round-off;
# - the measured rates match ρ(η) = max_i |1 − ηλ_i|, and η > 2/λ_max diverges;
# - minibatch gradients are unbiased with the predicted variance; with a constant η SGD
#   stalls at the predicted noise floor, higher for smaller minibatches; a decaying η goes
#   below it;
# - GD from the local basin always stays there; SGD with N_M = 1 mostly escapes.

# %%
def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # one independent stream per section, so that --quick changes sizes, not draws
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(5)]
    t0 = time.perf_counter()
    print(f"Chapter 1 — optimization ({'quick' if args.quick else 'full'} run, seed {args.seed}); "
          f"figures go to {out}/")

    X, Y = make_line_data(200, rngs[0])
    problem = LeastSquares(X, Y)
    theta_hat = problem.solution()
    print(f"\nleast squares on N = {len(Y)} points, y = 1.5 x − 0.5 + noise: θ̂ (normal equations) "
          f"= ({theta_hat[0]:.6f}, {theta_hat[1]:.6f})")
    lr_results, fig1, theta_gd = learning_rates(problem, steps=300, out=out)
    gd_vs_closed = float(np.linalg.norm(theta_gd - theta_hat))
    print(f"GD with η = 1/λ_max after 300 steps: θ = ({theta_gd[0]:.6f}, {theta_gd[1]:.6f}), "
          f"‖θ − θ̂‖ = {gd_vs_closed:.2e}")

    mb = minibatch_gradients(problem, rngs[1], draws=500 if args.quick else 4000)
    floors = noise_floor(problem, rngs[2], steps={1: 4000, 10: 3000} if args.quick
                         else {1: 20000, 10: 10000})
    sgd, fig2 = minibatch_sgd(problem, rngs[3], epochs=20 if args.quick else 80, out=out)
    minima, fig3 = local_and_global(rngs[4], chains=300 if args.quick else 1000,
                                    steps=1500 if args.quick else 3000, out=out)

    results = {"chapter": CHAPTER, "quick": args.quick, "seed": args.seed,
               "theta_hat": theta_hat.tolist(), "gd_vs_closed_form": gd_vs_closed,
               "learning_rates": lr_results, "minibatch_gradients": mb, "noise_floor": floors,
               "sgd": sgd,
               "minima": minima, "figures": [fig1, fig2, fig3],
               "seconds": time.perf_counter() - t0}
    sgd1 = next(r for r in minima["runs_from_local_basin"] if r["batch"] == 1)
    results["summary"] = (f"GD ‖θ − θ̂‖ = {gd_vs_closed:.1e}; GD diverges above η = 2/λ_max = "
                          f"{lr_results['lr_limit']:.3f}; SGD N_M = 1 escapes the local minimum "
                          f"in {sgd1['share_global']:.0%} of runs (GD 0%)")
    print(f"\nfigures: {', '.join(map(str, results['figures']))}")
    write_results(results, out)
    return results


if __name__ == "__main__":
    run_as_script(main)
