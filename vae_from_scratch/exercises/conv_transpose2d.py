"""Exercise conv_transpose2d: transposed convolution as the adjoint of convolution (ch08).

The decoder upsamples with transposed convolutions (thesis §2.8.3, eq. 2.34).  The
package defines one as the exact adjoint of conv2d with the same weights, and so does
this exercise:  ⟨conv2d(u), y⟩ = ⟨u, convT(y)⟩  for every u and y.  Graded by that
identity (with the package's conv2d, zero bias, random u and y: a map that is not the
adjoint fails it for almost every draw) and against the package's kernel, including
stride larger than the kernel, output_padding, and a 1×1 input.
"""

import numpy as np

from ..backend import numpy_conv
from .grading import TOL_FLOAT64, Case, Fail, compare, describe_shapes, forward_output, inner, name_mistake

NAME = "conv_transpose2d"
CHAPTER = "ch08"
TITLE = "transposed convolution, the adjoint of convolution"
EQUATIONS = "thesis §2.8.3, eq. 2.34"
FUNCTIONS = ("conv_transpose2d_forward",)
REFERENCE = {"conv_transpose2d_forward": numpy_conv.conv_transpose2d_forward}

HINT = """
Run conv2d's backward pass for the input, and call it a forward pass.  conv2d *reads*
the window of x_pad at (i·s, j·s) for output pixel (i, j); its adjoint *writes* there:

    out_pad = zeros((N, F, Ho + 2p, Wo + 2p))          # Ho from the formula in the stub
    for n, c, i, j:
        out_pad[n, :, i·s : i·s + k, j·s : j·s + k] += x[n, c, i, j] · w[c]    # w[c]: (F, k, k)
    out = out_pad[:, :, p : p + Ho, p : p + Wo] + b[None, :, None, None]

Overlapping blocks add up (stride < kernel); with stride > kernel some output pixels
get nothing but the bias.  Padding crops the border instead of adding zeros, and
output_padding only makes the output (and hence out_pad) bigger at the bottom/right.
Note the axes of w: (C_in, F_out, k, k), the transpose of conv2d's (F_out, C_in, k, k).
"""


NOT_FLIPPED = ("that is what the kernel not flipped gives: spreading x out by the stride and "
               "correlating needs w[:, :, ::-1, ::-1], since the adjoint of a cross-correlation "
               "is a true convolution")


def _mistakes(x, w, b, s, p, op):
    """{hint: what the mistake outputs}: the transposed convolution with w flipped is what
    the recipe "spread, pad, correlate" gives when it forgets to flip w."""
    return {NOT_FLIPPED: numpy_conv.conv_transpose2d_forward(x, w[:, :, ::-1, ::-1], b, s, p, op)[0]}


def _out_size(size, k, s, p, op):
    return s * (size - 1) - 2 * p + k + op


def _arrays(N, C, H, W, F, k, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((C, F, k, k)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    return rng, x, w, b


def _adjoint_case(label, N, C, H, W, F, k, s, p, seed):
    rng, y, w, _ = _arrays(N, C, H, W, F, k, seed)
    zero_bias = np.zeros(F)
    u = rng.standard_normal((N, F, _out_size(H, k, s, p, 0), _out_size(W, k, s, p, 0)))
    # conv2d with w read as a conv2d weight (C out of F channels) maps u back to y's shape
    conv_u = numpy_conv.conv2d_forward(u, w, np.zeros(C), s, p)[0]
    lhs = inner(conv_u, y)

    def run(student):
        out = forward_output(student.conv_transpose2d_forward(y, w, zero_bias, s, p, (0, 0)), NAME)
        if not isinstance(out, np.ndarray) or out.shape != u.shape:
            raise Fail(f"out has shape {getattr(out, 'shape', type(out).__name__)}, "
                       f"expected {u.shape}")
        rhs = inner(u, out)
        error = abs(lhs - rhs) / max(abs(lhs), abs(rhs), 1e-300)
        if not error < 1e-10:
            mistake = name_mistake(out, lambda: _mistakes(y, w, zero_bias, s, p, (0, 0)), TOL_FLOAT64)
            raise Fail(f"⟨conv2d(u), y⟩ = {lhs:.6g} but ⟨u, convT(y)⟩ = {rhs:.6g}: "
                       f"not the adjoint of conv2d (relative error {error:.1e}){mistake}", error)
        return error

    return Case(label, describe_shapes(x=y, w=w, s=s, p=p), run)


def _reference_case(label, N, C, H, W, F, k, s, p, op=(0, 0), seed=0, dtype=np.float64):
    _, x, w, b = _arrays(N, C, H, W, F, k, seed, dtype)
    expected, _ = numpy_conv.conv_transpose2d_forward(x, w, b, s, p, op)

    def run(student):
        out = student.conv_transpose2d_forward(x, w, b, s, p, op)
        return compare("out", forward_output(out, NAME), expected,
                       mistakes=lambda: _mistakes(x, w, b, s, p, op))

    shape = describe_shapes(x=x, w=w, s=s, p=p) + (f", output_padding={op}" if any(op) else "")
    return Case(label, shape, run)


def cases():
    return [
        _adjoint_case("adjoint: the decoder's k4 s2 p1", 2, 3, 4, 5, 2, 4, 2, 1, seed=0),
        _adjoint_case("adjoint: stride 3 > kernel 2", 1, 2, 3, 3, 3, 2, 3, 0, seed=1),
        _adjoint_case("adjoint: k3 s2, odd size", 2, 2, 3, 4, 2, 3, 2, 0, seed=2),
        _reference_case("batch 1, stride 1", 1, 1, 3, 3, 1, 3, 1, 0, seed=3),
        _reference_case("the decoder's layer, k4 s2 p1", 2, 4, 5, 5, 3, 4, 2, 1, seed=4),
        _reference_case("stride 3 > kernel 2: gaps", 2, 2, 3, 3, 3, 2, 3, 0, seed=5),
        _reference_case("output_padding (1, 0)", 1, 2, 3, 4, 2, 3, 2, 1, op=(1, 0), seed=6),
        _reference_case("1x1 input, kernel 4", 3, 2, 1, 1, 5, 4, 1, 0, seed=7),
        _reference_case("padding 2 crops a 5x5 kernel", 2, 1, 4, 4, 2, 5, 1, 2, seed=8),
        _reference_case("float32 stays float32", 2, 3, 4, 4, 2, 4, 2, 1, seed=9, dtype=np.float32),
    ]
