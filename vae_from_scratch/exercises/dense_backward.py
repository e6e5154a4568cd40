"""Exercise dense_backward: the backward pass of a fully connected layer (ch06).

The layer is y = x wᵀ + b, one example per row (thesis eq. 2.24 writes one example as a
column, W x + b).  Given dy = ∂L/∂y, the student returns (dx, dw, db).  Graded by central
differences of the forward pass, and against vae_from_scratch.backend.numpy_dense.
Square shapes (in = out = N) are there on purpose: a missing transpose keeps the
shapes right there and only the values show it.
"""

import numpy as np

from ..backend import numpy_dense
from .grading import Case, compare_outputs, describe_shapes, gradient_check, outputs

NAME = "dense_backward"
CHAPTER = "ch06"
TITLE = "backward pass of a dense layer"
EQUATIONS = "thesis eq. 2.24, §2.6"
FUNCTIONS = ("dense_backward",)
REFERENCE = {"dense_backward": numpy_dense.dense_backward}

HINT = """
Write the forward pass with indices and differentiate one entry at a time:

    y[n, o] = Σ_i w[o, i] · x[n, i] + b[o]

so ∂y[n, o]/∂x[n, i] = w[o, i], ∂y[n, o]/∂w[o, i] = x[n, i], ∂y[n, o]/∂b[o] = 1.  By the
chain rule, sum dy over every output entry that the input touches:

    dx[n, i] = Σ_o dy[n, o] · w[o, i]      -> one matrix product
    dw[o, i] = Σ_n dy[n, o] · x[n, i]      -> one matrix product (which one is transposed?)
    db[o]    = Σ_n dy[n, o]                -> a sum over the batch axis

Check the shapes: each gradient has the shape of the thing it is the gradient of.
"""


def _arrays(N, n_in, n_out, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, n_in)).astype(dtype)
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    dy = rng.standard_normal((N, n_out)).astype(dtype)
    return x, w, b, dy


def _gradcheck_case(label, N, n_in, n_out, seed):
    x, w, b, dy = _arrays(N, n_in, n_out, seed)

    def run(student):
        dx, dw, db = outputs(student.dense_backward(dy, (x, w)), ("dx", "dw", "db"), NAME)
        # L = Σ y ⊙ dy, whose gradient is exactly what backward(dy) returns
        return gradient_check(lambda: numpy_dense.dense_forward(x, w, b)[0],
                              {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db}, direction=dy)

    return Case(label, describe_shapes(x=x, w=w), run)


def _reference_case(label, N, n_in, n_out, seed, dtype=np.float64):
    x, w, _, dy = _arrays(N, n_in, n_out, seed, dtype)
    dx, dw, db = numpy_dense.dense_backward(dy, (x, w))

    def run(student):
        return compare_outputs(student.dense_backward(dy, (x, w)), {"dx": dx, "dw": dw, "db": db},
                               NAME)

    return Case(label, describe_shapes(x=x, w=w), run)


def cases():
    return [
        _gradcheck_case("gradient check, batch 1, one unit", 1, 1, 1, seed=0),
        _gradcheck_case("gradient check", 4, 7, 3, seed=1),
        _gradcheck_case("gradient check, square", 5, 5, 5, seed=2),
        _reference_case("batch 1", 1, 10, 4, seed=3),
        _reference_case("one input feature", 7, 1, 9, seed=4),
        _reference_case("square: a transpose shows", 6, 6, 6, seed=5),
        _reference_case("a minibatch", 64, 32, 16, seed=6),
        _reference_case("float32 stays float32", 8, 5, 3, seed=7, dtype=np.float32),
    ]
