# %% [markdown]
# # Chapter 1.3 — Local and global minima (slides Definition 1.7; thesis §2.5.3)
#
# Sections 1.1 and 1.2 optimized a convex function: one minimum, found by any descent
# that converges.  The ELBO of a neural network is not convex.  Here a 1-D non-convex
# finite sum shows where gradient descent ends, and what minibatch noise changes.
#
# θ⋆ is a *local* minimum if f(θ) ≥ f(θ⋆) in a neighbourhood, a *global* one if
# f(θ) ≥ f(θ⋆) everywhere (slides Definition 1.7).  Gradient descent only sees the slope
# where it stands, so it ends in the minimum whose basin it starts in.

# %%
import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.optim import SGD
from vae_from_scratch.schedules import exponential_decay
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch01_3", "Chapter 1.3: local and global minima",
                    "300 runs of 1500 steps instead of 1000 of 3000, seconds")
rng = sec.rngs(5)[4]            # the chapter's fifth stream (1.1 and 1.2 draw from the others)
chains = 300 if sec.quick else 1000                 # runs from the local basin, per N_M
steps = 1500 if sec.quick else 3000                 # updates per run

# %% [markdown]
# ## A tilted double well
#
# Take the average
#
#     f(θ) = (1/N) Σ_i (θ⁴ − 4θ² + a_i θ),   a_i with mean 1 and standard deviation 8,
#
# i.e. f(θ) = θ⁴ − 4θ² + θ: a global minimum near θ = −1.47 and a local one near
# θ = 1.35, separated by a local maximum near 0.13 (the roots of f'(θ) = 4θ³ − 8θ + 1).
# N = 100 terms; the a_i are standard normal draws, shifted and scaled to mean exactly 1
# and standard deviation exactly 8.

# %%
a = rng.standard_normal(100)
a = 1.0 + 8.0 * (a - a.mean()) / a.std()               # mean exactly 1, std 8


def f(theta):
    """f(θ) = θ⁴ − 4θ² + ā θ."""
    return theta ** 4 - 4 * theta ** 2 + a.mean() * theta


def grad(theta, idx=None):
    """Full gradient (idx None), or one minibatch per entry of θ: idx (len(θ), N_M)."""
    tilt = a.mean() if idx is None else a[idx].mean(axis=-1)
    return 4 * theta ** 3 - 8 * theta + tilt


# roots of f'(θ) = 4θ³ − 8θ + ā, sorted: global min, local max, local min
glob, peak, loc = np.sort(np.roots([4.0, 0.0, -8.0, a.mean()]).real)
print(f"f(θ) = θ⁴ − 4θ² + θ: global minimum θ = {glob:.4f} (f = {f(glob):.4f}), "
      f"local maximum θ = {peak:.4f}, local minimum θ = {loc:.4f} (f = {f(loc):.4f})")
# theory: −1.47, 0.13 and 1.35

# %% [markdown]
# ## Gradient descent ends in the basin it starts in
#
# Batch gradient descent (η = 0.01, 2000 steps) from 51 starting points spread over
# [−2.5, 2.5], all at once (θ is a vector of 51 independent runs): the runs that start
# left of the local maximum should reach the global minimum, the others the local one.

# %%
starts = np.linspace(-2.5, 2.5, 51)
theta = starts.copy()
grads = {"theta": np.zeros_like(theta)}
opt = SGD({"theta": theta}, grads, lr=0.01)
for _ in range(2000):
    grads["theta"][...] = grad(theta)
    opt.step()
to_global = float(np.mean(np.abs(theta - glob) < 1e-6))
wrong = int(np.sum((np.abs(theta - glob) < 1e-6) != (starts < peak)))
print(f"GD (η = 0.01, 2000 steps) from 51 starts in [−2.5, 2.5]: {to_global:.0%} reach the "
      f"global minimum, exactly those starting left of the local maximum "
      f"({wrong} exceptions)")                           # should be 0 exceptions

# %% [markdown]
# ## Minibatch noise lets SGD escape
#
# The minibatch gradient 4θ³ − 8θ + mean(a_M) is exact in its θ-dependence and noisy in
# its tilt: a small N_M makes big random kicks (the a_i have standard deviation 8).
# Thesis §2.5.3: minibatch noise lets the algorithm "escape local maxima [of the ELBO,
# minima of the loss] by taking globally non-optimal steps".  We start many runs at
# θ₀ = 1.5, in the local basin, and count where they end, with a learning rate that
# decays from 0.05 to 1 % of it over the run: GD (N_M = N = 100), and SGD with N_M = 10
# and 1 (minibatches drawn with replacement, one per run and step).

# %%
minima_runs, finals = [], {}
lr0 = 0.05
for B in (100, 10, 1):
    theta = np.full(chains, 1.5)
    grads = {"theta": np.zeros_like(theta)}
    opt = SGD({"theta": theta}, grads, lr=exponential_decay(lr0, 0.01, every=steps))
    for _ in range(steps):
        idx = None if B == len(a) else rng.integers(0, len(a), (chains, B))
        grads["theta"][...] = grad(theta, idx)
        opt.step()
    minima_runs.append({"batch": B, "share_global": float(np.mean(theta < peak)),
                        "mean_final_loss": float(np.mean(f(theta)))})
    finals[B] = theta.copy()

# %%
print(f"{chains} runs from θ₀ = 1.5, {steps} steps, η from {lr0} down to {lr0 / 100}:")
for r in minima_runs:
    label = "GD (N_M = N = 100)" if r["batch"] == 100 else f"SGD, N_M = {r['batch']}"
    print(f"  {label:>20}: {r['share_global']:6.1%} end in the global basin, "
          f"mean final f = {r['mean_final_loss']:.3f}")
# GD and N_M = 10 should stay in the local basin (0 %, f ≈ −2.62); N_M = 1 mostly
# escapes: 80 % with --quick, 91 % in full mode (mean f toward −5.44)

# %% [markdown]
# The figure: f with its three stationary points and the two basins of gradient descent
# (left), and where the runs from θ₀ = 1.5 end (right).

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
grid = np.linspace(-2.3, 2.3, 400)
ax1.plot(grid, f(grid), "k-", lw=1.5)
for th, name, c in [(glob, "global minimum", "tab:green"), (loc, "local minimum", "tab:red"),
                    (peak, "local maximum", "tab:gray")]:
    ax1.plot(th, f(th), "o", color=c, ms=8, label=f"{name} θ = {th:.2f}")
ax1.axvspan(-2.3, peak, color="tab:green", alpha=0.08)
ax1.axvspan(peak, 2.3, color="tab:red", alpha=0.08)
ax1.set(xlabel="θ", ylabel="f(θ)", title="f(θ) = θ⁴ − 4θ² + θ and the basins of GD")
ax1.legend(fontsize=8)
bins = np.linspace(-2.0, 2.0, 81)
for B, th in finals.items():
    ax2.hist(th, bins=bins, alpha=0.6, label="GD" if B == 100 else f"SGD N_M = {B}")
ax2.axvline(glob, color="tab:green", ls="--", lw=1)
ax2.axvline(loc, color="tab:red", ls="--", lw=1)
ax2.set(xlabel="final θ", ylabel="runs", title=f"where {chains} runs from θ₀ = 1.5 end")
ax2.legend(fontsize=8)
fig_minima = save_figure(fig, sec.out / "local_global_minima.png", dpi=110)

# %% [markdown]
# ## What this section measured
#
# Gradient descent from the local basin always stays there; SGD with N_M = 10 has too
# little noise to cross the local maximum; SGD with N_M = 1 mostly escapes to the global
# minimum.

# %%
share = {r["batch"]: r["share_global"] for r in minima_runs}
results = sec.finish({"minima": {"global_min": float(glob), "local_min": float(loc),
                                 "local_max": float(peak), "gd_grid_share_global": to_global,
                                 "gd_grid_exceptions": wrong,
                                 "runs_from_local_basin": minima_runs},
                      "figures": [fig_minima]},
                     summary=f"GD ends in the basin it starts in ({wrong} exceptions); SGD "
                             f"N_M = 1 escapes the local minimum in "
                             f"{share[1]:.0%} of runs (GD {share[100]:.0%})")
