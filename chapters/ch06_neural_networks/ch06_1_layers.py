# %% [markdown]
# # Chapter 6.1 — Dense layers, composition and activations
#
# **Theory:** thesis §2.6 (eq. 2.23, 2.24).  **Code:** `vae_from_scratch/nn/`
# (`dense.py`, `activations.py`, `sequential.py`), `vae_from_scratch/gradcheck.py`,
# `vae_from_scratch/optim.py`.
#
# A VAE's encoder and decoder are neural networks (thesis §2.7.2), and training them
# needs the gradient of the ELBO with respect to every weight.  This chapter builds a
# small multilayer perceptron (MLP) from the project's layers, follows backpropagation
# one layer at a time, proves every backward pass by finite differences, and trains
# the MLP with minibatch SGD (thesis eq. 2.21) to show the loss falling.  It has three
# sections:
#
# 1. **this one**: what a layer computes (eq. 2.24), why a network without
#    non-linearities is one linear map (eq. 2.23), and the activations with their
#    derivatives;
# 2. `ch06_2_backprop.py`: backpropagation as the chain rule, one layer at a time, and
#    gradient checks of every layer — and of two classic bugs;
# 3. `ch06_3_training.py`: a digit classifier trained by backpropagation and SGD, with
#    relu, tanh and sigmoid.
#
# Run it as a script (`python chapters/ch06_neural_networks/ch06_1_layers.py [--quick]
# [--out DIR] [--seed S]`) or open it as a notebook; either way the numbers below are
# the same.

# %%
import matplotlib.pyplot as plt
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.nn import Dense, Identity, LeakyReLU, ReLU, Sequential, Sigmoid, Softplus, Tanh
from vae_from_scratch.viz.plots import save_figure

sec = start_section("ch06_1", "Chapter 6.1: dense layers, composition and activations",
                    "the same as the full run (nothing here takes long)")
# the chapter's one random stream for its layers: this section draws from it first,
# section 6.2 goes on where this one stops
rng = np.random.default_rng(sec.seed)

# %% [markdown]
# ## A network is a composition of layers (thesis eq. 2.23, 2.24)
#
# The thesis defines a neural network as a composition of layers,
# NeuralNet = α⁽ᴸ⁾ ∘ … ∘ α⁽¹⁾ (eq. 2.23), each of them
# α⁽ⁱ⁾(x) = g⁽ⁱ⁾(W⁽ⁱ⁾ x + b⁽ⁱ⁾) (eq. 2.24): an affine map followed by an activation g
# applied elementwise.  In the project the affine map and the activation are two layers,
# `Dense` and e.g. `ReLU`, and `Sequential` composes them.  Examples are the *rows* of x,
# so `Dense` computes x Wᵀ + b for a whole minibatch at once, with `params["W"]` of shape
# (out, in) as in eq. 2.24.  The cell compares it with W x + b, one example at a time.

# %%
x = rng.standard_normal((5, 6))                           # 5 examples, 6 features
d1 = Dense(6, 4, rng=rng, dtype=np.float64)
d1.params["b"][...] = rng.standard_normal(4)              # biases start at 0: make them count
d2 = Dense(4, 3, rng=rng, dtype=np.float64)
d2.params["b"][...] = rng.standard_normal(3)
W1, b1, W2, b2 = d1.params["W"], d1.params["b"], d2.params["W"], d2.params["b"]
eq_2_24_gap = float(np.abs(d1.forward(x) - np.array([W1 @ xi + b1 for xi in x])).max())
print(f"Dense(x) vs W x + b per example (eq. 2.24): max |difference| = {eq_2_24_gap:.1e}")
# should be float64 round-off, ~1e-16

# %% [markdown]
# The thesis also says why g must be non-linear: otherwise "the ANN would deflate into
# a single linear transformation".  With the identity as activation, two Dense layers
# are one Dense layer with W = W₂W₁ and b = W₂b₁ + b₂; the cell checks it.

# %%
linear_net = Sequential(d1, Identity(), d2)
merged = Dense(6, 3, rng=rng, dtype=np.float64)           # its weights are overwritten
merged.params["W"][...] = W2 @ W1
merged.params["b"][...] = W2 @ b1 + b2
deflation_gap = float(np.abs(linear_net.forward(x) - merged.forward(x)).max())
print(f"Dense∘Identity∘Dense vs one Dense(W2 W1, W2 b1 + b2): "
      f"max |difference| = {deflation_gap:.1e}")
# should be float64 round-off, ~1e-16: without g, two layers are one
composition = {"eq_2_24_gap": eq_2_24_gap, "linear_deflation_gap": deflation_gap}

# %% [markdown]
# ## Activation functions and their derivatives (thesis §2.6)
#
# The thesis lists the sigmoid 1/(1 + e^{−kx}), the rectifier relu(x) = max(0, x) with
# relu′(0) := 0, and tanh.  Backpropagation needs g′: an activation layer's backward
# pass multiplies the incoming gradient by g′(x) elementwise, so `backward(ones)`
# returns g′ itself.  The cell takes g and g′ from the layers' own forward and backward
# passes, for these three and for two more the library has (leaky relu, softplus).  The
# layer `Sigmoid` is k = 1; a slope k is a scaling of the input (the thesis's target
# g(x), eq. 3.1, uses k = 12).

# %%
ACTIVATIONS = {"sigmoid": Sigmoid, "relu": ReLU, "tanh": Tanh,
               "leaky relu": LeakyReLU, "softplus": Softplus}
xs = np.linspace(-4, 4, 401)
xs[200] = 0.0                                  # exactly 0, to show relu′(0) := 0
curves = {}
for name, cls in ACTIVATIONS.items():
    # a leaky slope of 0.1 (the layer's default is 0.01) so that it does not hide relu
    layer = cls(0.1) if cls is LeakyReLU else cls()
    g = layer.forward(xs)
    dg = layer.backward(np.ones_like(xs))      # g′(x), elementwise
    curves[name + (" (slope 0.1)" if cls is LeakyReLU else "")] = (g, dg)

# %% [markdown]
# One number to remember: the sigmoid's derivative is at most 1/4 (at x = 0), while
# relu′ is 1 wherever the unit is on and tanh′(0) = 1.  Every sigmoid layer a gradient
# passes through shrinks it at least fourfold — section 6.3 measures what that does to
# training.

# %%
relu_at_0 = float(curves["relu"][1][200])
sigmoid_max = float(curves["sigmoid"][1].max())
print(f"largest sigmoid′: {sigmoid_max:.4f}        # theory: 1/4 at x = 0")
print(f"relu′(0) from ReLU.backward: {relu_at_0:g}   # thesis §2.6: relu′(0) := 0")
activations = {"relu_derivative_at_0": relu_at_0, "sigmoid_derivative_max": sigmoid_max}

# %% [markdown]
# The figure draws g (left) and g′ (right) for all five.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
for (name, (g, dg)), ls in zip(curves.items(), ["-", "-", "-", "--", "-."]):
    axes[0].plot(xs, g, ls, label=name)
    axes[1].plot(xs, dg, ls, label=name)
for ax, t in zip(axes, ("g(x): forward", "g′(x): backward(ones)")):
    ax.set(xlabel="x", title=t)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
axes[0].set_ylim(-1.5, 4)
fig_activations = save_figure(fig, sec.out / "activations.png", fontsize=11,
                              title="Activation functions of thesis §2.6 and their derivatives")

# %% [markdown]
# ## What this section measured
#
# The two identities hold to float64 round-off (~1e-16): `Dense` is eq. 2.24, and two
# Dense layers without a non-linearity between them are one.  relu′(0) is 0, as the
# thesis defines it, and the sigmoid's derivative never exceeds 1/4.  Section 6.2 runs
# these layers backwards.

# %%
results = sec.finish({"composition": composition, "activations": activations,
                      "figures": [fig_activations]},
                     summary=f"Dense = W x + b to {eq_2_24_gap:.1e}, two linear layers = one "
                             f"to {deflation_gap:.1e}; relu′(0) = {relu_at_0:g}, "
                             f"max sigmoid′ = {sigmoid_max:.4f}")
