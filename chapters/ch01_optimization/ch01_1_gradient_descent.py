# %% [markdown]
# # Chapter 1.1 — Gradient descent, the normal equations and the learning rate
#
# Training a VAE is an optimization problem (slides §1): find the parameters θ, φ that
# maximize the ELBO.  Before any probability enters, this chapter looks at the optimizer
# alone, on problems whose answer we know.  The chapter has three sections:
#
# 1. **this one**: **least squares** (slides Example 1.5): the closed-form solution, and
#    batch gradient descent (thesis §2.5.1, Algorithm 1) converging to it; then **the
#    learning rate** η: too small, good, too large (thesis §2.5.1: "If we choose η too
#    small, we will only move slowly … if we choose η too big … the algorithm cannot
#    converge"), with the exact convergence rate that theory predicts for a quadratic;
# 2. `ch01_2_minibatch_sgd.py`: **minibatch SGD** (thesis §2.5.3, eq. 2.21): the
#    minibatch gradient is an unbiased estimate of the full gradient, with a variance
#    that falls like 1/N_M; what that noise does to training;
# 3. `ch01_3_local_global_minima.py`: **local vs global minima** (slides Definition 1.7)
#    on a 1-D non-convex function, and the thesis's remark that minibatch noise helps
#    "to escape local maxima" (§2.5.3).
#
# Run it as a script (`python chapters/ch01_optimization/ch01_1_gradient_descent.py
# [--quick] [--out DIR] [--seed S]`) or open it as a notebook; either way the numbers
# below are the same.  The optimizer is the project's own `vae_from_scratch.optim.SGD`,
# the same class that trains the VAEs later.

# %%
import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.optim import SGD
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch01_1", "Chapter 1.1: gradient descent and the learning rate",
                    "the same run (it takes a second either way)")
# the chapter's five random streams: this section draws the data from the first; 1.2
# draws the same data and its minibatches from the next three, 1.3 from the fifth
rng_data = sec.rngs(5)[0]
steps = 300                                       # gradient descent steps per learning rate

# %% [markdown]
# ## Least squares (slides Example 1.5, Concept 1.6)
#
# Curve fitting (slides Example 1.4): data X_i and labels Y_i = f⋆(X_i) + error.  With
# f_θ(x) = xᵀθ, least squares solves
#
#     minimize_θ  ½ ‖Xθ − Y‖²  =  ½ Σ_i (X_iᵀθ − Y_i)².
#
# We fit a line, so each row is X_i = (x_i, 1) and θ = (slope, intercept): N = 200
# points, y = 1.5 x − 0.5 + noise.  We divide the sum by N — the same minimizer, and the
# loss becomes an average over examples, the form whose minibatch estimate is thesis
# eq. 2.21:
#
#     f(θ) = (1/2N) ‖Xθ − Y‖²,        ∇f(θ) = Xᵀ(Xθ − Y) / N.
#
# "Take gradient and set it to 0" (slides): XᵀX θ = XᵀY, the normal equations, whose
# solution θ̂ we compute with `np.linalg.solve`.

# %%
N = 200
x = rng_data.uniform(-1.0, 3.0, N)
X = np.stack([x, np.ones(N)], axis=1)                           # rows X_i = (x_i, 1)
Y = 1.5 * x + -0.5 + 0.5 * rng_data.standard_normal(N)


def loss(theta):
    """f(θ) = (1/2N) ‖Xθ − Y‖²."""
    return 0.5 * np.mean((X @ theta - Y) ** 2)


theta_hat = np.linalg.solve(X.T @ X, X.T @ Y)                   # the normal equations
f_star = loss(theta_hat)
print(f"least squares on N = {N} points, y = 1.5 x − 0.5 + noise: θ̂ (normal equations) "
      f"= ({theta_hat[0]:.6f}, {theta_hat[1]:.6f})")            # near (1.5, −0.5)

# %% [markdown]
# ## Batch gradient descent (thesis §2.5.1, Algorithm 1)
#
# Algorithm 1 on the loss f = −objective (maximize ⇔ minimize −f, slides Definition 1.1):
# θ ← θ − η ∇f(θ), here with the library's `SGD` optimizer on the full batch.  Gradient
# descent must arrive at θ̂.  The function returns the path θ_0 … θ_T, and stops early if
# θ runs off to infinity.

# %%
def gradient_descent(theta0, lr, steps):
    theta = theta0.copy()
    grads = {"theta": np.zeros_like(theta)}
    opt = SGD({"theta": theta}, grads, lr=lr)
    path = [theta.copy()]
    for _ in range(steps):
        grads["theta"][...] = X.T @ (X @ theta - Y) / N            # ∇f(θ) = Xᵀ(Xθ − Y) / N
        if not np.all(np.isfinite(grads["theta"])) or np.abs(theta).max() > 1e6:
            break                                              # diverged: stop before overflow
        opt.step()                                             # θ -= η g, in place
        path.append(theta.copy())
    return np.array(path)


# %% [markdown]
# ## The learning rate
#
# On a quadratic, gradient descent is linear: with H = XᵀX/N the Hessian (constant, since
# f is quadratic),
#
#     θ_{t+1} − θ̂ = (I − ηH)(θ_t − θ̂),
#
# so along the eigenvector of H with eigenvalue λ_i the error is multiplied by (1 − ηλ_i)
# at every step.  Gradient descent converges if and only if |1 − ηλ_i| < 1 for every i,
# i.e. **η < 2/λ_max**, and the error shrinks asymptotically by the factor
#
#     ρ(η) = max_i |1 − ηλ_i|   per step.

# %%
lam = np.linalg.eigvalsh(X.T @ X / N)                            # eigenvalues of H, ascending
lam_min, lam_max = lam[0], lam[-1]
print(f"Hessian eigenvalues λ_min = {lam_min:.4f}, λ_max = {lam_max:.4f}, "
      f"condition number κ = {lam_max / lam_min:.2f}; GD converges iff η < 2/λ_max = "
      f"{2 / lam_max:.4f}")

# %% [markdown]
# η = 1/λ_max gives ρ = 1 − λ_min/λ_max = 1 − 1/κ (κ the condition number); a tiny η
# gives ρ just below 1 (slow); η between 1/λ_max and 2/λ_max overshoots along the steep
# direction and oscillates, but converges; η > 2/λ_max diverges.  We run four learning
# rates, 300 steps each from θ₀ = (−1, 2), and compare the measured rate,
# (‖θ_{t₂} − θ̂‖ / ‖θ_{t₁} − θ̂‖)^{1/(t₂−t₁)}, with ρ(η).  The rate is measured late (the
# slowest direction dominates), but before the error reaches round-off: from t₂/2 to
# t₂, t₂ the last step with an error above 1e-9 · ‖θ₀ − θ̂‖.

# %%
theta0 = np.array([-1.0, 2.0])
factors = {"too small": 0.05, "good": 1.0, "oscillating": 1.9, "diverging": 2.05}
rows, paths = [], {}
for name, c in factors.items():
    lr = c / lam_max
    path = gradient_descent(theta0, lr, steps)
    err = np.linalg.norm(path - theta_hat, axis=1)
    above = np.flatnonzero(err > 1e-9 * err[0])
    t2 = int(above[-1]) if len(above) else len(err) - 1
    t1 = t2 // 2
    rows.append({"name": name, "lr": lr, "lr_times_lmax": c,
                 "rate_predicted": float(np.max(np.abs(1 - lr * lam))),
                 "rate_measured": float((err[t2] / err[t1]) ** (1 / (t2 - t1))),
                 "final_error": float(err[-1]), "final_loss_gap": float(loss(path[-1]) - f_star),
                 "steps_run": len(path) - 1})
    paths[name] = path

# %% [markdown]
# The table: per learning rate, ρ predicted and measured, and where θ stands after the
# last step.

# %%
print(f"{'η':>18} {'η·λ_max':>8} {'ρ predicted':>12} {'ρ measured':>11} "
      f"{'‖θ_T − θ̂‖':>11} {'f(θ_T) − f*':>12}")
for r in rows:
    print(f"{r['name']:>10} {r['lr']:7.4f} {r['lr_times_lmax']:8.2f} "
          f"{r['rate_predicted']:12.5f} {r['rate_measured']:11.5f} "
          f"{r['final_error']:11.3e} {r['final_loss_gap']:12.3e}")
# ρ measured should equal ρ predicted to 5 digits in every row: 0.99231 (too small: still
# far from θ̂ after 300 steps), 1 − 1/κ = 0.84626, 0.9 and 1.05 (diverging, stopped at 1e6)

# %% [markdown]
# With η = 1/λ_max, gradient descent lands on the normal equations' solution:

# %%
theta_gd = paths["good"][-1]
gd_vs_closed = float(np.linalg.norm(theta_gd - theta_hat))
print(f"GD with η = 1/λ_max after {steps} steps: θ = ({theta_gd[0]:.6f}, {theta_gd[1]:.6f}), "
      f"‖θ − θ̂‖ = {gd_vs_closed:.2e}")              # should be below 1e-10 (round-off)

# %% [markdown]
# The figure: the loss gap per step for the four learning rates (left), and their first
# 15 steps on the contours of f (right) — the oscillating run zig-zags across the steep
# direction, the diverging one leaves the picture.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
for name, path in paths.items():
    gaps = [loss(t) - f_star for t in path]
    ax1.semilogy(np.maximum(gaps, 1e-300), label=f"{name} (η·λ_max = {factors[name]})")
ax1.set(ylim=(1e-16, 1e4), xlabel="step t", ylabel="f(θ_t) − f(θ̂)",
        title="batch gradient descent, four learning rates")
ax1.legend(fontsize=8)
ax1.grid(alpha=0.3)
s, b = np.meshgrid(np.linspace(-1.5, 3.5, 200), np.linspace(-3.0, 3.0, 200))
thetas = np.stack([s.ravel(), b.ravel()], axis=1)
F = 0.5 * np.mean((thetas @ X.T - Y) ** 2, axis=1).reshape(s.shape)
ax2.contour(s, b, F, levels=np.geomspace(F.min() + 1e-3, F.max(), 18), colors="0.75",
            linewidths=0.7)
for name in ("too small", "good", "oscillating", "diverging"):
    p = paths[name][:15]
    ax2.plot(p[:, 0], p[:, 1], "o-", ms=2.5, lw=1, label=name)
ax2.plot(*theta_hat, "k*", ms=12, label="θ̂ (normal equations)")
ax2.set(xlim=(-1.5, 3.5), ylim=(-3, 3), xlabel="slope θ₁", ylabel="intercept θ₂",
        title="first 15 steps from θ₀ = (−1, 2) on the contours of f")
ax2.legend(fontsize=8, loc="lower left")
fig_rates = save_figure(fig, sec.out / "learning_rates.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# Gradient descent's final θ equals the normal-equation solution θ̂ to round-off; the
# measured rates match ρ(η) = max_i |1 − ηλ_i|, and η > 2/λ_max diverges.

# %%
lr_limit = float(2 / lam_max)
rate_gap = max(abs(r["rate_measured"] - r["rate_predicted"]) for r in rows)
results = sec.finish({"theta_hat": theta_hat.tolist(), "gd_vs_closed_form": gd_vs_closed,
                      "learning_rates": {"lambda_min": float(lam_min),
                                         "lambda_max": float(lam_max),
                                         "lr_limit": lr_limit, "runs": rows},
                      "figures": [fig_rates]},
                     summary=f"GD ‖θ − θ̂‖ = {gd_vs_closed:.1e}; |ρ measured − ρ(η)| ≤ "
                             f"{rate_gap:.0e}; "
                             f"GD diverges above η = 2/λ_max = {lr_limit:.3f}")
