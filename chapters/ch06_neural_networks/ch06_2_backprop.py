# %% [markdown]
# # Chapter 6.2 — Backpropagation by hand, and gradient checks
#
# Section 6.1 ran the layers forwards: `Dense` is eq. 2.24, `Sequential` composes
# layers as in eq. 2.23, and each activation's backward pass multiplies by g′.  Here
# the whole network runs backwards (thesis §2.6), and every backward pass is checked
# against the definition of the derivative — including two wrong ones, to see what a
# failed check looks like.

# %%
import numpy as np

from vae_from_scratch.apps.chapter_tools import start_section
from vae_from_scratch.gradcheck import gradcheck
from vae_from_scratch.nn import Dense, LeakyReLU, ReLU, Sequential, Sigmoid, Softplus, Tanh
from vae_from_scratch.viz.plots import plot_gradient_checks

sec = start_section("ch06_2", "Chapter 6.2: backpropagation by hand and gradient checks",
                    "the same as the full run (nothing here takes long)")
# The chapter's one stream for its layers (see 6.1).  Section 6.1 drew from it first —
# an input x and three Dense layers — so the same draws are made here, and thrown away,
# to go on where 6.1 stopped: the numbers below are then the chapter's.
rng = np.random.default_rng(sec.seed)
rng.standard_normal((5, 6))
for n_in, n_out in ((6, 4), (4, 3)):
    Dense(n_in, n_out, rng=rng, dtype=np.float64)
    rng.standard_normal(n_out)
Dense(6, 3, rng=rng, dtype=np.float64)

# %% [markdown]
# The networks of this section are MLPs built by one small function:

# %%
def make_mlp(rng, sizes=(64, 32, 10), act=ReLU, dtype=np.float32):
    """Dense → act → … → Dense; the last layer stays linear (it gives logits)."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(a, b, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(act())
    return Sequential(layers)


# %% [markdown]
# ## Backpropagation is the chain rule, one layer at a time
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
# layers' backward passes in reverse order.  First the library's way, on a 6-5-4-3 MLP
# with relu, for a random ∂L/∂y:

# %%
net = make_mlp(rng, sizes=(6, 5, 4, 3), dtype=np.float64)
x = rng.standard_normal((7, 6))
dy = rng.standard_normal((7, 3))                      # ∂L/∂y, any loss
net.forward(x)
dx_sequential = net.backward(dy)
grads_sequential = {k: v.copy() for k, v in net.grads.items()}
print(net.summary(x.shape))
print("gradients filled:", ", ".join(f"{k} {v.shape}" for k, v in grads_sequential.items()))

# %% [markdown]
# Then the same by hand: the loop below *is* backpropagation.  It should give the same
# numbers, bit for bit.

# %%
net.forward(x)
g = dy
for layer in reversed(net.layers):                    # the chain rule, output to input
    g = layer.backward(g)
reverse_loop_gap = max(float(np.abs(g - dx_sequential).max()),
                       max(float(np.abs(net.grads[k] - v).max())
                           for k, v in grads_sequential.items()))
print(f"hand-written reverse loop vs Sequential.backward: max |difference| = "
      f"{reverse_loop_gap:.1e}")                      # should be exactly 0
backprop = {"reverse_loop_gap": reverse_loop_gap}

# %% [markdown]
# ## Gradient checking
#
# A backward pass is only trusted once it agrees with the definition of the derivative.
# `gradcheck(layer, x)` converts a copy of the layer to float64, takes a random direction
# G of the output's shape and compares `backward(G)` with central differences
# (L(a + h) − L(a − h)) / 2h of L = Σ layer(x) ⊙ G, for the input and every parameter
# (details and the handling of ReLU's kink in `gradcheck.py`).  The error per tensor is
# ‖analytic − numeric‖∞ / max(‖analytic‖∞, ‖numeric‖∞): about 1e-9 or less when the
# backward pass is right, of order one when it is wrong.
#
# To see what a wrong backward pass looks like, the section also checks two classic
# bugs: a Dense layer that *averages* the bias gradient over the minibatch instead of
# summing it, and a sigmoid that evaluates g·(1 − g) at the input x instead of at g(x).

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


# %% [markdown]
# The layers to check: a Dense layer (with random biases), every activation, two small
# MLPs, and the two bugs.  The input is a generic point: no entry exactly at a kink.

# %%
ACTIVATIONS = {"sigmoid": Sigmoid, "relu": ReLU, "tanh": Tanh,
               "leaky relu": LeakyReLU, "softplus": Softplus}
x = rng.standard_normal((4, 6))
cases = {"Dense(6→5)": Dense(6, 5, rng=rng)}
cases["Dense(6→5)"].params["b"][...] = rng.standard_normal(5)
for name, cls in ACTIVATIONS.items():
    cases[name] = cls()
cases["MLP 6-8-8-3 (tanh)"] = make_mlp(rng, sizes=(6, 8, 8, 3), act=Tanh)
cases["MLP 6-8-8-3 (relu)"] = make_mlp(rng, sizes=(6, 8, 8, 3), act=ReLU)
bugs = {"bug: bias gradient averaged": MeanBiasDense(6, 5, rng=rng),
        "bug: sigmoid′ at the input": SigmoidAtInput()}

# %% [markdown]
# The largest relative error, per layer and tensor (x, and each parameter: "2.W" is
# the W of the MLP's layer 2):

# %%
errors = {}
print(f"{'layer':<30} {'tensor':<6} relative error")
for name, layer in {**cases, **bugs}.items():
    errors[name] = dict(gradcheck(layer, x, rng=rng).errors)
    for tensor, err in errors[name].items():
        flag = "" if err < 1e-6 else "   <-- wrong backward pass"
        print(f"{name:<30} {tensor:<6} {err:.1e}{flag}")
worst_correct = max(max(e.values()) for n, e in errors.items() if n in cases)
best_bug = min(max(e.values()) for n, e in errors.items() if n in bugs)
print(f"largest error of a correct layer: {worst_correct:.1e}; "
      f"smallest error of a buggy one: {best_bug:.2f}")
# should be: correct layers ~1e-9 or better; the bugs of order one — 0.75 for the
# averaged bias with a minibatch of 4 (it returns 1/4 of the right gradient)
gradcheck_results = {"errors": errors, "max_error_correct": worst_correct,
                     "min_error_bug": best_bug}

# %% [markdown]
# The same as a bar chart: the largest error of each layer over x, W and b, on a log
# scale, with the tolerance 1e-6 between the right and the wrong ones.

# %%
fig_gradcheck = plot_gradient_checks(
    errors, sec.out / "gradient_checks.png", bugs=[n for n in errors if n.startswith("bug")],
    xlabel="largest relative error over x, W, b (float64, h = 1e-6)",
    title="Gradient checks: hand-written backward passes vs central differences")

# %% [markdown]
# ## What this section measured
#
# The reverse loop over the layers is `Sequential.backward`, to the last bit.  Every
# correct backward pass agrees with finite differences to ~1e-9 or better; the two bugs
# are off by order one (0.75 for the averaged bias with a minibatch of 4), so the
# tolerance 1e-6 separates them by orders of magnitude.  Section 6.3 uses these
# gradients to train.

# %%
results = sec.finish({"backprop": backprop, "gradcheck": gradcheck_results,
                      "figures": [fig_gradcheck]},
                     summary=f"reverse loop = Sequential.backward to {reverse_loop_gap:.1e}; "
                             f"gradient checks: correct layers ≤ {worst_correct:.1e}, "
                             f"bugs ≥ {best_bug:.2f}")
