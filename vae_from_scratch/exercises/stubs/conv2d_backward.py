"""Exercise conv2d_backward (chapter ch08, CNN): the backward pass of a convolution layer.

Copy this file, fill in the function, and grade it:

    python -m vae_from_scratch.exercises check conv2d_backward --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).
Stuck?  python -m vae_from_scratch.exercises hint conv2d_backward
"""

import numpy as np  # noqa: F401  (you will need it)


def conv2d_backward(dout, cache):
    """Gradients of the convolution  out = conv2d(x, w, b, stride, padding)  (thesis eq. 2.32).

    The forward pass (exercise conv2d_forward) computed, with x_pad the input padded by
    p zeros on every side and s the stride,

        out[n, f, i, j] = b[f] + Σ_{c,u,v} w[f, c, u, v] · x_pad[n, c, i·s + u, j·s + v].

    Arguments
        dout:  (N, F, Ho, Wo), the upstream gradient ∂L/∂out.
        cache: the tuple (x, w, b, stride, padding) of the forward pass's inputs:
               x (N, C, H, W), w (F, C, k, k), b (F,), ints stride ≥ 1, padding ≥ 0.

    Returns (dx, dw, db), shaped like x, w and b, in the dtype of dout:

        db[f]          = Σ_{n,i,j} dout[n, f, i, j]
        dw[f, c, u, v] = Σ_{n,i,j} dout[n, f, i, j] · x_pad[n, c, i·s + u, j·s + v]
        dx[n, c, y, z] = Σ over every (f, i, j, u, v) with i·s + u − p = y and
                         j·s + v − p = z of dout[n, f, i, j] · w[f, c, u, v]

    (each input pixel collects the gradient of every output it was read by; pixels
    that no window reaches get 0).  Do not change dout or the cache in place.
    """
    raise NotImplementedError("conv2d_backward: fill in the gradients")
