"""Exercise conv2d_backward: the backward pass of a 2-D convolution layer (ch08).

Given dout = ∂L/∂out and the forward pass's inputs, the student returns (dx, dw, db).
Graded by central differences of the package's forward pass (conv2d_forward), and
against the package's backward pass, over strides that skip pixels, padding, kernels
as large as the input and a batch of one.
"""

import numpy as np

from ..backend import numpy_conv
from .grading import Case, compare_outputs, describe_shapes, gradient_check, outputs

NAME = "conv2d_backward"
CHAPTER = "ch08"
TITLE = "backward pass of a convolution"
EQUATIONS = "thesis eq. 2.32, §2.8.1"
FUNCTIONS = ("conv2d_backward",)


def _reference_conv2d_backward(dout, cache):
    """The package's kernels, behind this exercise's cache (x, w, b, stride, padding)."""
    x, w, b, stride, padding = cache
    _, package_cache = numpy_conv.conv2d_forward(x, w, b, stride, padding)
    return numpy_conv.conv2d_backward(dout, package_cache)


REFERENCE = {"conv2d_backward": _reference_conv2d_backward}

HINT = """
Walk the forward loops again, and where the forward pass *reads* a value, the backward
pass *adds* into its gradient.  The forward pass did, for every n, f, i, j:

    window = x_pad[n, :, i·s : i·s + k, j·s : j·s + k]        # (C, k, k)
    out[n, f, i, j] = Σ window ⊙ w[f] + b[f]

so with g = dout[n, f, i, j]:

    db[f]                                        += g
    dw[f]                                        += g · window
    dx_pad[n, :, i·s : i·s + k, j·s : j·s + k]   += g · w[f]     # windows overlap: add!

Start from zeros shaped like b, w and x_pad, then cut the padding off dx_pad:
dx = dx_pad[:, :, p : p + H, p : p + W].  Pixels that no window covers get 0.
db is a sum of dout over every axis but the filter axis.
"""


def _arrays(N, C, H, W, F, k, s, p, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, k, k)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    dout = rng.standard_normal((N, F, Ho, Wo)).astype(dtype)
    return x, w, b, dout


def _gradcheck_case(label, N, C, H, W, F, k, s, p, seed):
    x, w, b, dout = _arrays(N, C, H, W, F, k, s, p, seed)

    def run(student):
        result = student.conv2d_backward(dout, (x, w, b, s, p))
        dx, dw, db = outputs(result, ("dx", "dw", "db"), NAME)
        # L = Σ out ⊙ dout: its gradient is exactly what backward(dout) returns
        return gradient_check(lambda: numpy_conv.conv2d_forward(x, w, b, s, p)[0],
                              {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db},
                              direction=dout)

    return Case(label, describe_shapes(x=x, w=w, s=s, p=p), run)


def _reference_case(label, N, C, H, W, F, k, s, p, seed, dtype=np.float64):
    x, w, b, dout = _arrays(N, C, H, W, F, k, s, p, seed, dtype)
    dx, dw, db = _reference_conv2d_backward(dout, (x, w, b, s, p))

    def run(student):
        return compare_outputs(student.conv2d_backward(dout, (x, w, b, s, p)),
                               {"dx": dx, "dw": dw, "db": db}, NAME)

    return Case(label, describe_shapes(x=x, w=w, s=s, p=p), run)


def cases():
    return [
        _gradcheck_case("gradient check, batch 1, one channel", 1, 1, 4, 4, 1, 3, 1, 0, seed=0),
        _gradcheck_case("gradient check, stride 2, padding 1", 2, 2, 5, 5, 3, 3, 2, 1, seed=1),
        _gradcheck_case("gradient check, stride 3 skips pixels", 1, 2, 7, 7, 2, 2, 3, 0, seed=2),
        _gradcheck_case("gradient check, kernel = input", 2, 2, 3, 3, 2, 3, 1, 0, seed=3),
        _reference_case("channels, padding 1", 2, 3, 6, 6, 4, 3, 1, 1, seed=4),
        _reference_case("stride 2, padding, not square", 3, 2, 7, 5, 2, 3, 2, 1, seed=5),
        _reference_case("5x5 kernel, padding 2", 2, 3, 6, 6, 4, 5, 1, 2, seed=6),
        _reference_case("the encoder's first layer", 2, 1, 12, 12, 4, 6, 2, 2, seed=7),
        _reference_case("float32 stays float32", 2, 3, 6, 6, 4, 3, 2, 1, seed=8, dtype=np.float32),
    ]
