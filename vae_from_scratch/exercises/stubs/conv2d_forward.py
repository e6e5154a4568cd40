"""Exercise conv2d_forward (chapter ch08, CNN): the forward pass of a convolution layer.

Copy this file, fill in the function, and grade it:

    python -m vae_from_scratch.exercises check conv2d_forward --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).
Stuck?  python -m vae_from_scratch.exercises hint conv2d_forward
"""

import numpy as np  # noqa: F401  (you will need it)


def conv2d_forward(x, w, b, stride, padding):
    """2-D convolution (cross-correlation) with zero padding: thesis eq. 2.32, §2.8.1.

    Every filter f slides over the zero-padded input in steps of `stride`; at each
    position it multiplies the window elementwise with its weights, sums over the
    window and over all input channels, and adds its bias:

        out[n, f, i, j] = b[f] + Σ_{c,u,v} w[f, c, u, v] · x_pad[n, c, i·s + u, j·s + v],

    where x_pad is x with `padding` rows and columns of zeros on every side and
    s = stride.  (Cross-correlation, as in most frameworks: the kernel is not flipped.)

    Arguments
        x:       (N, C, H, W) input batch (NCHW).
        w:       (F, C, k, k) filters.
        b:       (F,) biases.
        stride:  int s ≥ 1.
        padding: int p ≥ 0.

    Returns (out, cache): out of shape (N, F, Ho, Wo) in the dtype of x, with
        Ho = ⌊(H + 2p − k) / s⌋ + 1,   Wo = ⌊(W + 2p − k) / s⌋ + 1;
    cache is anything your backward pass needs; (x, w, b, stride, padding) is what
    the exercise conv2d_backward receives.
    Do not change x, w or b in place.
    """
    raise NotImplementedError("conv2d_forward: compute the convolution")
