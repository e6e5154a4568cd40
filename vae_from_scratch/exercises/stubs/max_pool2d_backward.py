"""Exercise max_pool2d_backward (chapter ch08, CNN): the backward pass of max pooling.

Copy this file, fill in the function, and grade it:

    python -m vae_from_scratch.exercises check max_pool2d_backward --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).
Stuck?  python -m vae_from_scratch.exercises hint max_pool2d_backward
"""

import numpy as np  # noqa: F401  (you will need it)


def max_pool2d_backward(dout, cache):
    """Gradient of max pooling (thesis §2.8.2 with the maximum as pooling function h;
    eq. 2.33 stacks such layers β after the convolutions α).

    The forward pass took the maximum of every k×k window of each channel separately
    (no padding; s = stride):

        out[n, c, i, j] = max_{0 ≤ u, v < k} x[n, c, i·s + u, j·s + v],
        Ho = ⌊(H − k) / s⌋ + 1,   Wo = ⌊(W − k) / s⌋ + 1.

    Arguments
        dout:  (N, C, Ho, Wo), the upstream gradient ∂L/∂out.
        cache: the tuple (x, kernel, stride) of the forward pass's inputs:
               x (N, C, H, W), ints kernel = k and stride = s.

    Returns dx = ∂L/∂x, shaped like x, in the dtype of dout: each window sends its
    dout entry to the position of its maximum; every other entry of the window gets
    nothing from that window.  Where windows overlap (s < k), a pixel that is the
    maximum of several windows collects the sum.  (Ties get the first maximum in
    row-major order; the grader's inputs have no ties.)
    Do not change dout or x in place.
    """
    raise NotImplementedError("max_pool2d_backward: route the gradient to the maxima")
