"""Dense and the activation functions: forward against closed forms, backward by finite
differences, stability of sigmoid and softplus for large |x|.

Shape grid (Dense): (N, in, out) ∈ {(1, 1, 1), (1, 7, 3), (4, 5, 6), (3, 16, 2)}.
Shape grid (activations): (1, 1), (3, 7), (2, 3, 5, 4).
"""

import math

import numpy as np
import pytest

from vae_from_scratch.nn import Dense, Identity, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from vae_from_scratch.nn.functional import sigmoid, softplus


@pytest.mark.parametrize("N,n_in,n_out", [(1, 1, 1), (1, 7, 3), (4, 5, 6), (3, 16, 2)])
def test_dense_forward_and_gradcheck(N, n_in, n_out, rng, check_grads):
    layer = Dense(n_in, n_out, rng=rng, dtype=np.float64)
    layer.params["b"][...] = rng.standard_normal(n_out)
    x = rng.standard_normal((N, n_in))
    W, b = layer.params["W"], layer.params["b"]
    expected = np.array([[sum(W[o, i] * x[n, i] for i in range(n_in)) + b[o]   # thesis eq. 2.24
                          for o in range(n_out)] for n in range(N)])
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)
    check_grads(layer, x, rng=rng)


ACTIVATIONS = [
    (Identity(), lambda x: x),
    (ReLU(), lambda x: max(x, 0.0)),
    (LeakyReLU(0.1), lambda x: x if x > 0 else 0.1 * x),
    (Sigmoid(), lambda x: 1 / (1 + math.exp(-x))),
    (Tanh(), math.tanh),
    (Softplus(), lambda x: math.log1p(math.exp(x))),
]


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 3, 5, 4)])
@pytest.mark.parametrize("layer,g", ACTIVATIONS, ids=[type(a[0]).__name__ for a in ACTIVATIONS])
def test_activation_forward_and_gradcheck(layer, g, shape, rng, check_grads):
    x = rng.standard_normal(shape)
    expected = np.vectorize(g)(x)
    np.testing.assert_allclose(layer.astype(np.float64).forward(x), expected, rtol=1e-13)
    check_grads(layer, x, rng=rng)


def test_relu_derivative_at_zero_is_zero():
    """thesis §2.6: relu′(0) := 0."""
    relu = ReLU()
    relu.forward(np.zeros((1, 3)))
    np.testing.assert_array_equal(relu.backward(np.ones((1, 3))), 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softplus_are_finite_and_accurate_for_large_inputs(dtype):
    x = np.array([-1e4, -800.0, -50.0, -20.0, 0.0, 20.0, 50.0, 800.0, 1e4], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow to 0 is fine
        s, sp = sigmoid(x), softplus(x)
    assert s.dtype == dtype
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(sp))
    # independent references in Python floats, each written in the form that cannot
    # overflow for its sign of x (math.exp underflows quietly to 0.0)
    ref_s = [math.exp(v) / (1 + math.exp(v)) if v < 0 else 1 / (1 + math.exp(-v))
             for v in x.astype(float)]
    ref_sp = [v + math.log1p(math.exp(-v)) if v > 0 else math.log1p(math.exp(v))
              for v in x.astype(float)]
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    atol = np.finfo(dtype).tiny                             # below that the true value underflows
    np.testing.assert_allclose(s, ref_s, rtol=rtol, atol=atol)
    np.testing.assert_allclose(sp, ref_sp, rtol=rtol, atol=atol)
    assert sigmoid(np.array([-1e4]))[0] == 0.0 and sigmoid(np.array([1e4]))[0] == 1.0


def test_sigmoid_layer_gradient_is_finite_for_large_inputs():
    layer = Sigmoid().astype(np.float64)
    x = np.array([[-1e4, -30.0, 0.0, 30.0, 1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        layer.forward(x)
        dx = layer.backward(np.ones_like(x))
    assert np.all(np.isfinite(dx)) and dx[0, 2] == 0.25
