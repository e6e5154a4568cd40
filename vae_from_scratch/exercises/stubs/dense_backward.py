"""Exercise dense_backward (chapter ch06, neural networks): the backward pass of a
fully connected layer.

Copy this file, fill in the function, and grade it:

    python -m vae_from_scratch.exercises check dense_backward --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).
Stuck?  python -m vae_from_scratch.exercises hint dense_backward
"""

import numpy as np  # noqa: F401  (you will need it)


def dense_backward(dy, cache):
    """Gradients of the dense layer  y = x wᵀ + b  (thesis eq. 2.24, one example per row).

    The forward pass maps a batch x of shape (N, in) with weights w of shape (out, in)
    and bias b of shape (out,) to y of shape (N, out):

        y[n, o] = Σ_i w[o, i] · x[n, i] + b[o].

    Arguments
        dy:    (N, out), the upstream gradient ∂L/∂y.
        cache: the tuple (x, w) saved by the forward pass.

    Returns (dx, dw, db) = (∂L/∂x, ∂L/∂w, ∂L/∂b), shaped like x (N, in), w (out, in)
    and b (out,), in the dtype of dy.  Backpropagation (thesis §2.6) is the chain rule:
    ∂L/∂a = Σ over the outputs y[n, o] of dy[n, o] · ∂y[n, o]/∂a.
    Do not change dy, x or w in place.
    """
    raise NotImplementedError("dense_backward: fill in the gradients")
