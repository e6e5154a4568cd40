"""Exercise max_pool2d_backward: the backward pass of max pooling (ch08).

Given dout and the forward pass's inputs (x, kernel, stride), the student routes each
window's gradient to the window's largest input.  Graded by central differences of the
package's max_pool2d_forward and against its backward pass.  The inputs are random
normals: no ties, and no entry within the finite-difference step of another, so the
check sits away from the kinks of max (gradcheck.py explains why that matters).  The
cases with overlapping windows (stride < kernel) catch a gradient that is assigned
where it must be added.
"""

import numpy as np

from ..backend import numpy_pool
from .grading import Case, compare, describe_shapes, gradient_check

NAME = "max_pool2d_backward"
CHAPTER = "ch08"
TITLE = "backward pass of max pooling"
EQUATIONS = "thesis §2.8.2, eq. 2.33"
FUNCTIONS = ("max_pool2d_backward",)


def _reference_max_pool2d_backward(dout, cache):
    """The package's kernels, behind this exercise's cache (x, kernel, stride)."""
    x, kernel, stride = cache
    _, package_cache = numpy_pool.max_pool2d_forward(x, kernel, stride)
    return numpy_pool.max_pool2d_backward(dout, package_cache)


REFERENCE = {"max_pool2d_backward": _reference_max_pool2d_backward}

HINT = """
max is a switch: out = x[a] for the window's argmax a, so ∂out/∂x[a] = 1 and the
other entries of the window get nothing from this output.

    dx = np.zeros_like(x)
    for n, c, i, j:
        window = x[n, c, i·s : i·s + k, j·s : j·s + k]
        u, v = np.unravel_index(np.argmax(window), window.shape)
        dx[n, c, i·s + u, j·s + v] += dout[n, c, i, j]

The `+=` matters: with stride < kernel the windows overlap and one pixel can be the
maximum of several windows; it receives the sum of their gradients.
"""


def _arrays(N, C, H, W, k, s, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    dout = rng.standard_normal((N, C, Ho, Wo)).astype(dtype)
    return x, dout


def _gradcheck_case(label, N, C, H, W, k, s, seed):
    x, dout = _arrays(N, C, H, W, k, s, seed)

    def run(student):
        dx = student.max_pool2d_backward(dout, (x, k, s))
        return gradient_check(lambda: numpy_pool.max_pool2d_forward(x, k, s)[0], {"x": x},
                              {"x": dx}, direction=dout)

    return Case(label, describe_shapes(x=x, k=k, s=s), run)


AVERAGE = ("the gradient is spread evenly over each window, as in average pooling; in max "
           "pooling all of dout[n, c, i, j] goes to the window's largest entry")


def _average_pool_backward(dout, k, s, shape):
    """dx of average pooling: each window's dout / k², added to every entry of the window."""
    dx = np.zeros(shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dx[:, :, i * s:i * s + k, j * s:j * s + k] += dout[:, :, i, j, None, None] / (k * k)
    return dx


def _reference_case(label, N, C, H, W, k, s, seed, dtype=np.float64):
    x, dout = _arrays(N, C, H, W, k, s, seed, dtype)
    expected = _reference_max_pool2d_backward(dout, (x, k, s))

    def run(student):
        return compare("dx", student.max_pool2d_backward(dout, (x, k, s)), expected,
                       mistakes=lambda: {AVERAGE: _average_pool_backward(dout, k, s, x.shape)})

    return Case(label, describe_shapes(x=x, k=k, s=s), run)


def cases():
    return [
        _reference_case("2x2, stride 2, batch 1", 1, 1, 4, 4, 2, 2, seed=0),
        _reference_case("2x2, stride 2, odd size", 2, 3, 5, 5, 2, 2, seed=1),
        _reference_case("3x3, stride 2: windows overlap", 2, 2, 7, 7, 3, 2, seed=2),
        _reference_case("3x3, stride 1: heavy overlap", 1, 2, 5, 6, 3, 1, seed=3),
        _reference_case("kernel = input: a global max", 3, 2, 4, 4, 4, 4, seed=4),
        _reference_case("stride 3 > kernel 2: gaps", 2, 1, 8, 8, 2, 3, seed=5),
        _reference_case("float32 stays float32", 2, 3, 6, 6, 2, 2, seed=6, dtype=np.float32),
        _gradcheck_case("gradient check, 2x2 stride 2", 2, 2, 4, 6, 2, 2, seed=7),
        _gradcheck_case("gradient check, overlapping", 1, 2, 5, 5, 3, 2, seed=8),
    ]
