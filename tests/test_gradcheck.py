"""The gradient checker itself: exact on known derivatives, and it catches planted bugs."""

import numpy as np
import pytest

from vae_from_scratch.gradcheck import (compare_gradients, gradcheck, numerical_gradient,
                                        relative_error)
from vae_from_scratch.nn import Conv2D, Dense, MaxPool2D


def test_numerical_gradient_of_a_known_function(rng):
    a = rng.standard_normal((3, 4))
    grad = numerical_gradient(lambda: np.sum(np.sin(a) * a), a)
    np.testing.assert_allclose(grad, np.cos(a) * a + np.sin(a), rtol=1e-8, atol=1e-9)


def test_numerical_gradient_restores_the_array_and_needs_float64(rng):
    a = rng.standard_normal(5)
    before = a.copy()
    numerical_gradient(lambda: np.sum(a ** 3), a)
    np.testing.assert_array_equal(a, before)
    with pytest.raises(ValueError, match="float64"):
        numerical_gradient(lambda: 0.0, a.astype(np.float32))


def test_relative_error_is_normwise_and_scale_free():
    a = np.array([1.0, 0.0, -2.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(a, a + [0, 1e-3, 0]) == pytest.approx(1e-3 / 2)
    assert relative_error(1e6 * a, 1e6 * (a + [0, 1e-3, 0])) == pytest.approx(1e-3 / 2)
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(a, a[:2])


class _DenseMissingTranspose(Dense):
    """A planted bug: dW = x.T @ dy (shape-compatible when in = out) instead of dy.T @ x."""

    def _backward(self, dy, cache):
        x, W = cache
        self.grads["W"][...] = x.T @ dy
        self.grads["b"][...] = dy.sum(axis=0)
        return dy @ W


class _MaxPoolHalfGradient(MaxPool2D):
    def _backward(self, dy, cache):
        return 0.5 * super()._backward(dy, cache)


@pytest.mark.parametrize("layer,shape", [
    (_DenseMissingTranspose(4, 4, rng=np.random.default_rng(0)), (3, 4)),
    (_MaxPoolHalfGradient(2), (2, 1, 4, 4)),
])
def test_gradcheck_catches_planted_bugs(layer, shape, rng):
    result = gradcheck(layer, rng.standard_normal(shape), rng=rng)
    assert result.max_error > 0.1
    assert not result.passed()


def test_gradcheck_leaves_the_layer_untouched(rng):
    conv = Conv2D(2, 3, 3, rng=rng)
    W = conv.params["W"].copy()
    result = gradcheck(conv, rng.standard_normal((1, 2, 5, 5)), rng=rng)
    assert set(result.errors) == {"x", "W", "b"} and result.passed()
    assert conv.params["W"].dtype == np.float32
    np.testing.assert_array_equal(conv.params["W"], W)
    with pytest.raises(ValueError, match="before forward"):
        conv.backward(np.zeros((1, 3, 3, 3), dtype=np.float32))   # the copy ran, not conv


def test_sampled_coordinates_check_only_that_many_entries(rng):
    """n_coords=k perturbs k entries per large tensor (2 evaluations each), and still
    catches a bug that touches every entry."""
    W = rng.standard_normal((30, 20))
    calls = []

    def loss():
        calls.append(1)
        return np.sum(W ** 2)

    right, wrong = {"W": 2 * W}, {"W": 2 * W + 0.1}
    assert compare_gradients(loss, {"W": W}, right, n_coords=25, rng=rng).errors["W"] < 1e-6
    assert len(calls) == 2 * 25
    assert compare_gradients(loss, {"W": W}, wrong, n_coords=25, rng=rng).errors["W"] > 1e-2
    calls.clear()
    compare_gradients(loss, {"W": W}, right)
    assert len(calls) == 2 * W.size


def test_compare_gradients_on_a_closed_form():
    """L(W) = trace(W) has gradient I; one wrong entry of size 1 gives error 1."""
    W = np.zeros((2, 2))
    right = {"W": np.eye(2)}
    assert compare_gradients(lambda: np.trace(W), {"W": W}, right).errors["W"] < 1e-9
    wrong = {"W": np.array([[1.0, 1.0], [0.0, 1.0]])}
    assert compare_gradients(lambda: np.trace(W), {"W": W}, wrong).errors["W"] == \
        pytest.approx(1.0, abs=1e-9)


def test_a_kink_inside_the_step_is_resolved_by_a_smaller_step():
    """relu at a = 3e-7: the step ±1e-6 straddles the kink and the central difference is
    (3e-7 + 1e-6) / 2e-6 = 0.65 instead of 1; the step 1e-7 no longer straddles it."""
    a = np.array([3e-7, 0.5, -0.5])
    analytic = {"a": np.array([1.0, 1.0, 0.0])}
    numeric = numerical_gradient(lambda: np.sum(np.maximum(a, 0)), a)
    assert numeric[0] == pytest.approx(0.65, abs=1e-6)
    result = compare_gradients(lambda: np.sum(np.maximum(a, 0)), {"a": a}, analytic)
    assert result.errors["a"] < 1e-9 and result.refined == {"a": 1}
    # … but a wrong derivative stays wrong at every step
    analytic["a"][1] = 0.9
    result = compare_gradients(lambda: np.sum(np.maximum(a, 0)), {"a": a}, analytic)
    assert result.errors["a"] == pytest.approx(0.1, rel=1e-6) and not result.passed()
