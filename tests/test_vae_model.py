"""The VAE model: shapes, the parameter view, the output-bias start, sampling at
evaluation, and bad input.  The whole-model gradient checks (both instances, both
likelihoods, fixed ε, float64) are in test_objectives.py, next to the objectives whose
gradients they check: `VAE.loss_and_grads` is `objectives.elbo`."""

import numpy as np
import pytest

from vae_from_scratch.models import VAE, conv_vae, mlp_vae
from vae_from_scratch.nn import Dense, Sequential

INSTANCES = {
    "mlp": lambda rng, **kw: mlp_vae((1, 4, 4), latent_dim=2, hidden=(5,), rng=rng, **kw),
    "conv": lambda rng, **kw: conv_vae((1, 8, 8), latent_dim=3, channels=(3, 4), hidden=6,
                                       rng=rng, **kw),
}


def _data(instance, likelihood, rng, n=3):
    shape = (n, 1, 4, 4) if instance == "mlp" else (n, 1, 8, 8)
    x = rng.random(shape)
    return (x > 0.5).astype(np.float64) if likelihood == "bernoulli" else x


@pytest.mark.parametrize("instance", INSTANCES)
def test_shapes_and_parameter_view(instance, rng):
    model = INSTANCES[instance](rng)
    x = _data(instance, "bernoulli", rng, n=5).astype(np.float32)
    q = model.encode(x)
    assert q.mu.shape == q.logvar.shape == (5, model.latent_dim)
    assert model.reconstruct(x, rng).shape == x.shape
    assert model.sample(7, rng).shape == (7,) + x.shape[1:]
    binary = model.sample(7, rng, mean=False)
    assert set(np.unique(binary)) <= {0.0, 1.0}
    # the flat view is the layers' own arrays, not copies
    names = list(model.params)
    assert all(n.startswith(("encoder.", "decoder.")) for n in names)
    assert model.params[names[0]] is model.encoder.params[names[0][len("encoder."):]]
    assert model.n_params == sum(p.size for p in model.params.values())


def test_learned_variance_decoder_outputs_mean_and_log_variance(rng):
    model = mlp_vae((1, 4, 4), latent_dim=2, hidden=(5,), likelihood="gaussian",
                    decoder_var="learned", min_var=1e-2, rng=rng)
    p = model.decode(rng.standard_normal((3, 2)).astype(np.float32))
    assert p.mu.shape == (3, 1, 4, 4)
    assert np.all(np.exp(p.logvar) > 1e-2)            # the documented floor


def test_output_bias_starts_at_the_pixel_mean(rng):
    model = mlp_vae((1, 4, 4), latent_dim=2, hidden=(5,), rng=rng)
    mean = rng.uniform(0.05, 0.95, size=(1, 4, 4))
    model.init_output_bias(mean)
    last = model.decoder.layers[-2]                  # Dense before the Reshape
    last.params["W"][...] = 0.0                      # so the output is the bias alone
    p = model.decode(rng.standard_normal((2, 2)).astype(np.float32))
    np.testing.assert_allclose(p.mean, np.broadcast_to(mean, (2, 1, 4, 4)), rtol=1e-5)


def test_output_bias_of_a_convolutional_decoder_is_per_channel(rng):
    model = conv_vae((1, 8, 8), latent_dim=3, channels=(3, 4), hidden=6, rng=rng)
    mean = np.full((1, 8, 8), 0.2)
    model.init_output_bias(mean)
    b = model.decoder.layers[-1].params["b"]
    np.testing.assert_allclose(1 / (1 + np.exp(-b)), [0.2], rtol=1e-5)


def test_evaluation_samples_z(rng):
    """Evaluation uses z ~ q(z|x), not z = mu: two generators give two answers."""
    model = mlp_vae((1, 4, 4), latent_dim=2, hidden=(5,), rng=rng)
    x = _data("mlp", "bernoulli", rng, n=4).astype(np.float32)
    a = model.evaluate(x, np.random.default_rng(1)).per_example
    b = model.evaluate(x, np.random.default_rng(2)).per_example
    c = model.evaluate(x, np.random.default_rng(1)).per_example
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, c)
    r1 = model.reconstruct(x, np.random.default_rng(1))
    r2 = model.reconstruct(x, np.random.default_rng(2))
    assert not np.allclose(r1, r2)


def test_bad_input(rng):
    enc = Sequential(Dense(16, 4, rng=rng))
    dec = Sequential(Dense(2, 16, rng=rng))
    with pytest.raises(ValueError, match="unknown likelihood 'poisson'"):
        VAE(enc, dec, 2, "poisson")
    with pytest.raises(ValueError, match="decoder_var"):
        VAE(enc, dec, 2, "gaussian", decoder_var=-1.0)
    model = VAE(Sequential(Dense(16, 5, rng=rng)), dec, 2)
    with pytest.raises(ValueError, match=r"\(N, 2·latent_dim\) = \(3, 4\).*got \(3, 5\)"):
        model.encoder_forward(np.zeros((3, 16), np.float32))
    with pytest.raises(ValueError, match=r"z of shape \(N, 2\), got \(3, 5\)"):
        model.decode(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="divisible by 4, got 10×10"):
        conv_vae((1, 10, 10), rng=rng)
    with pytest.raises(ValueError, match="unknown activation"):
        mlp_vae((1, 4, 4), activation="swish", rng=rng)
    with pytest.raises(ValueError, match="Bernoulli likelihood"):
        mlp_vae((1, 4, 4), likelihood="gaussian", rng=rng).init_output_bias(np.zeros((1, 4, 4)))
