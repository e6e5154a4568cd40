"""Initialisation: the right spread (Monte Carlo against the stated variance), zero biases,
and randomness only from the Generator passed in."""

import numpy as np
import pytest

from vae_from_scratch.nn import Conv2D, ConvTranspose2D, Dense
from vae_from_scratch.nn.init import glorot_uniform, he_normal, he_uniform


def _check_variance(w, var, n_se=5):
    """The sample variance of n draws has standard error √((μ4 − σ⁴) / n); accept n_se of them."""
    w = np.asarray(w, dtype=np.float64).ravel()
    mu4 = np.mean(w ** 4)
    se = np.sqrt((mu4 - var ** 2) / w.size)
    assert abs(np.mean(w ** 2) - var) < n_se * se, (np.mean(w ** 2), var, se)


def test_glorot_uniform_dense(rng):
    layer = Dense(300, 200, rng=rng)
    limit = np.sqrt(6 / (300 + 200))
    W = layer.params["W"]
    assert W.shape == (200, 300) and W.dtype == np.float32
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.99 * limit
    _check_variance(W, 2 / (300 + 200))
    np.testing.assert_array_equal(layer.params["b"], 0)


def test_glorot_uniform_conv_and_convT_fans(rng):
    conv = Conv2D(16, 32, 3, rng=rng)
    convT = ConvTranspose2D(32, 16, 3, rng=rng)
    limit = np.sqrt(6 / ((16 + 32) * 9))
    for w in (conv.params["W"], convT.params["W"]):
        assert np.abs(w).max() <= limit
        _check_variance(w, 2 / ((16 + 32) * 9))


@pytest.mark.parametrize("init", ["he_normal", "he_uniform"])
def test_he_variance_is_2_over_fan_in(init, rng):
    conv = Conv2D(64, 128, 3, rng=rng, init=init)
    _check_variance(conv.params["W"], 2 / (64 * 9))
    assert abs(float(conv.params["W"].mean())) < 5 * np.sqrt(2 / (64 * 9) / conv.params["W"].size)


def test_same_seed_same_weights_and_no_global_state():
    state = np.random.get_state()
    a = Dense(5, 4, rng=np.random.default_rng(7))
    np.random.seed(123)                                    # global state must not matter
    b = Dense(5, 4, rng=np.random.default_rng(7))
    assert np.random.get_state()[1].tolist() == np.random.RandomState(123).get_state()[1].tolist()
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    np.random.set_state(state)


def test_successive_layers_from_one_generator_differ():
    rng = np.random.default_rng(0)
    a, b = Dense(5, 4, rng=rng), Dense(5, 4, rng=rng)
    assert not np.array_equal(a.params["W"], b.params["W"])


def test_init_functions_reject_missing_or_legacy_rng():
    for f in (glorot_uniform, he_normal, he_uniform):
        with pytest.raises(TypeError, match="numpy.random.Generator"):
            f((2, 2), 2, 2, np.random.RandomState(0))
    with pytest.raises(TypeError, match="Generator"):
        Dense(3, 2, rng=None)
    with pytest.raises(TypeError, match="Generator"):
        Conv2D(1, 1, 3, rng=0)
    with pytest.raises(TypeError):
        Dense(3, 2)                                        # rng is a required keyword


def test_unknown_init_name(rng):
    with pytest.raises(ValueError, match="glorot_uniform, he_normal, he_uniform"):
        Dense(3, 2, rng=rng, init="xavier")

