"""Exercise conv_transpose2d (chapter ch08, CNN): transposed convolution, the adjoint of
convolution, which decoders use to upsample.

Copy this file, fill in the function, and grade it:

    python -m vae_from_scratch.exercises check conv_transpose2d --file THIS_FILE.py

Use NumPy only (the grader compares your answer with the package's own).
Stuck?  python -m vae_from_scratch.exercises hint conv_transpose2d
"""

import numpy as np  # noqa: F401  (you will need it)


def conv_transpose2d_forward(x, w, b, stride, padding, output_padding=(0, 0)):
    """Transposed convolution ("deconvolution", thesis §2.8.3, eq. 2.34).

    It is defined as the adjoint of conv2d (exercise conv2d_forward) with the same
    weights: for every u of the output's shape and y of the input's shape,

        ⟨conv2d(u, w, 0, s, p), y⟩ = ⟨u, conv_transpose2d(y, w, 0, s, p)⟩,

    which is why it is also conv2d's input gradient.  Written out: every input pixel
    x[n, c, i, j] adds x[n, c, i, j] · w[c, f] into the k×k block of output channel f
    whose top-left corner is at (i·s − p, j·s − p); blocks that overlap add up, and
    the parts of a block that fall outside the output are dropped:

        out[n, f, y, z] = b[f] + Σ over (c, i, j, u, v) with i·s + u − p = y and
                          j·s + v − p = z of x[n, c, i, j] · w[c, f, u, v].

    Arguments
        x:       (N, C, H, W) input batch.
        w:       (C, F, k, k) weights: note the axes, input channels first.
        b:       (F,) biases.
        stride:  int s ≥ 1.
        padding: int p ≥ 0 (crops p rows/columns from each border of the output).
        output_padding: (op_h, op_w), each < s: extra rows at the bottom and columns
                 at the right, so that the output can have any size a stride-s
                 convolution could have started from.

    Returns (out, cache): out of shape (N, F, Ho, Wo) in the dtype of x, with
        Ho = s·(H − 1) − 2p + k + op_h,   Wo = s·(W − 1) − 2p + k + op_w;
    cache is anything a backward pass would need, e.g. (x, w, stride, padding).
    Do not change x, w or b in place.
    """
    raise NotImplementedError("conv_transpose2d_forward: scatter the input into the output")
