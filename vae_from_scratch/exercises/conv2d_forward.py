"""Exercise conv2d_forward: the forward pass of a 2-D convolution layer (ch08).

Cross-correlation with zero padding and a stride, NCHW, as in the package's Conv2D
(thesis eq. 2.32).  Graded against the package's kernel over shapes that break the
usual mistakes (stride that does not divide the size, padding, kernel as large as the
input, non-square images, a batch of one), and once against the definition computed
pixel by pixel here, so that the reference itself is checked too.
"""

import numpy as np

from ..backend import numpy_conv
from .grading import Case, compare, describe_shapes, forward_output

NAME = "conv2d_forward"
CHAPTER = "ch08"
TITLE = "forward pass of a convolution"
EQUATIONS = "thesis eq. 2.32, §2.8.1"
FUNCTIONS = ("conv2d_forward",)
REFERENCE = {"conv2d_forward": numpy_conv.conv2d_forward}

HINT = """
Start with loops; make them fast later (or never: the grader's cases are small).

1. Output size: Ho = (H + 2p − k) // s + 1, Wo likewise.  Allocate
   out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)   (keep the dtype!).
2. Pad once: x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))).
3. Output pixel (i, j) looks at the window x_pad[n, :, i·s : i·s + k, j·s : j·s + k]
   (all C channels at once) and is Σ (window ⊙ w[f]) + b[f].  The stride moves the
   window's corner, i·s, not i.
4. Cross-correlation, not the textbook convolution: do not flip the kernel.

Vectorising: for fixed (i, j) the window has shape (N, C, k, k); np.tensordot(window,
w, axes=([1, 2, 3], [1, 2, 3])) gives (N, F) for all examples and filters at once.
The cache can be (x, w, b, stride, padding): what conv2d_backward will need.
"""


def _arrays(N, C, H, W, F, k, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, k, k)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    return x, w, b


FLIPPED = ("that is the textbook convolution, with the kernel flipped; the layer computes a "
           "cross-correlation, Σ w[f, c, u, v] · x_pad[n, c, i·s + u, j·s + v], with w as it is")
_UP_DOWN = {-1: "up", 0: "", 1: "down"}
_LEFT_RIGHT = {-1: "left", 0: "", 1: "right"}


def _mistakes(x, w, b, s, p):
    """{hint: what the mistake outputs}: the kernel flipped, and every window moved by one
    pixel (up, down, left, right or diagonally), which is what a padding off by one gives."""
    mistakes = {FLIPPED: numpy_conv.conv2d_forward(x, w[:, :, ::-1, ::-1], b, s, p)[0]}
    # x padded by one more pixel all round, then cut so that row r + 1 + du of it is row
    # r + du of x_pad: the window at (i·s, j·s) of `moved` is x_pad's at (i·s + du, j·s + dv)
    big = np.pad(x, ((0, 0), (0, 0), (p + 1, p + 1), (p + 1, p + 1)))
    H, W = x.shape[2] + 2 * p, x.shape[3] + 2 * p
    for du in (-1, 0, 1):
        for dv in (-1, 0, 1):
            if (du, dv) != (0, 0):
                moved = big[:, :, 1 + du:1 + du + H, 1 + dv:1 + dv + W]
                where = " and ".join(filter(None, (_UP_DOWN[du], _LEFT_RIGHT[dv])))
                hint = f"every window is one pixel too far {where}: is the padding off by one?"
                mistakes[hint] = numpy_conv.conv2d_forward(moved, w, b, s, 0)[0]
    return mistakes


def _compare_case(label, x, w, b, s, p, expected):
    """The student's output against `expected`, naming the mistake it reproduces."""

    def run(student):
        return compare("out", forward_output(student.conv2d_forward(x, w, b, s, p), NAME), expected,
                       mistakes=lambda: _mistakes(x, w, b, s, p))

    return Case(label, describe_shapes(x=x, w=w, s=s, p=p), run)


def _reference_case(label, N, C, H, W, F, k, s, p, seed, dtype=np.float64):
    x, w, b = _arrays(N, C, H, W, F, k, seed, dtype)
    return _compare_case(label, x, w, b, s, p, numpy_conv.conv2d_forward(x, w, b, s, p)[0])


def _definition(x, w, b, s, p):
    """out[n, f, i, j] = b[f] + Σ_{c,u,v} w[f, c, u, v] · x_pad[n, c, i·s + u, j·s + v]."""
    N, C, H, W = x.shape
    F, _, k, _ = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    out = np.empty((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, f, i, j] = b[f] + np.sum(w[f] * x_pad[n, :, i * s:i * s + k, j * s:j * s + k])
    return out


def _definition_case(label, N, C, H, W, F, k, s, p, seed):
    x, w, b = _arrays(N, C, H, W, F, k, seed)
    return _compare_case(label, x, w, b, s, p, _definition(x, w, b, s, p))


def cases():
    return [
        _reference_case("batch 1, one channel", 1, 1, 5, 5, 1, 3, 1, 0, seed=0),
        _reference_case("channels, padding 1", 2, 3, 6, 6, 4, 3, 1, 1, seed=1),
        _reference_case("stride 2, odd size", 2, 2, 7, 7, 3, 3, 2, 0, seed=2),
        _reference_case("stride 2, padding, not square", 3, 2, 7, 5, 2, 3, 2, 1, seed=3),
        _reference_case("stride 3 leaves a row out", 1, 2, 8, 8, 2, 2, 3, 0, seed=4),
        _reference_case("kernel as large as the input", 2, 3, 4, 4, 5, 4, 1, 0, seed=5),
        _reference_case("5x5 kernel, padding 2", 2, 1, 6, 6, 2, 5, 1, 2, seed=6),
        _reference_case("the encoder's first layer", 1, 1, 12, 12, 4, 6, 2, 2, seed=7),
        _reference_case("float32 stays float32", 2, 3, 6, 6, 4, 3, 2, 1, seed=8, dtype=np.float32),
        _definition_case("by the definition, pixel by pixel", 2, 2, 5, 6, 3, 3, 2, 1, seed=9),
    ]
