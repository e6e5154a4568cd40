"""models/vq_vae.py: nearest-code search, the straight-through backward pass, the codebook gradient,
and the VQ-VAE's loss, each checked against an independent computation (loops, finite
differences of the losses written out here)."""

import math

import numpy as np
import pytest

from vae_from_scratch.distributions import Bernoulli
from vae_from_scratch.gradcheck import compare_gradients, numerical_gradient
from vae_from_scratch.models.vq_vae import VectorQuantizer, mlp_vqvae, perplexity


def quantizer(rng, K=5, D=3):
    return VectorQuantizer(K, D, rng=rng, backend="numpy", dtype=np.float64)


def test_quantize_picks_the_nearest_code(rng):
    vq = quantizer(rng)
    z_e = rng.standard_normal((4, 6, 3))
    z_q, idx = vq.quantize(z_e)
    e = vq.params["codebook"]
    for n in range(4):
        for m in range(6):
            dists = [sum((z_e[n, m, d] - e[k, d]) ** 2 for d in range(3)) for k in range(5)]
            assert idx[n, m] == int(np.argmin(dists))
            np.testing.assert_array_equal(z_q[n, m], e[idx[n, m]])
    assert vq.distances(z_e, z_q) == pytest.approx(((z_e - z_q) ** 2).sum(axis=(1, 2)))


def test_quantize_checks_the_shape(rng):
    with pytest.raises(ValueError, match=r"\(N, M, 3\)"):
        quantizer(rng).quantize(np.zeros((2, 3)))


def test_backward_against_finite_differences(rng):
    """With the assignment fixed (a small step does not change the argmin), the codebook
    gradient is that of Σ_n c_n ‖sg[z_e] − e_k‖², and the encoder gradient is dz_q (the
    straight-through copy) plus that of Σ_n b_n ‖z_e − sg[e_k]‖²."""
    vq = quantizer(rng)
    z_e = rng.standard_normal((3, 4, 3))
    z_q, idx = vq.quantize(z_e)
    dz_q = rng.standard_normal(z_e.shape)
    c, b = rng.random(3), rng.random(3)
    dz_e = vq.backward(dz_q, z_e, z_q, idx, c, b)
    codebook = vq.params["codebook"]

    def codebook_loss():
        return sum(c[n] * ((z_e[n] - codebook[idx[n]]) ** 2).sum() for n in range(3))

    frozen = z_q.copy()

    def commitment_loss():
        return sum(b[n] * ((z_e[n] - frozen[n]) ** 2).sum() for n in range(3))

    np.testing.assert_allclose(vq.grads["codebook"], numerical_gradient(codebook_loss, codebook),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dz_e - dz_q, numerical_gradient(commitment_loss, z_e),
                               rtol=1e-6, atol=1e-8)
    unused = np.setdiff1d(np.arange(5), idx)
    assert np.all(vq.grads["codebook"][unused] == 0)


def test_perplexity():
    assert perplexity(np.arange(8) % 4, 4) == pytest.approx(4.0)
    assert perplexity(np.zeros(10, dtype=int), 4) == pytest.approx(1.0)
    p = np.array([0.5, 0.25, 0.25])
    assert perplexity(np.array([0, 0, 1, 2]), 3) == pytest.approx(math.exp(-(p * np.log(p)).sum()))


def small_model(rng):
    return mlp_vqvae((1, 3, 3), num_latents=2, code_dim=2, num_codes=4, hidden=(5,), rng=rng,
                     backend="numpy", dtype=np.float64)


def test_loss_and_elbo_values(rng):
    model = small_model(rng)
    x = (rng.random((6, 1, 3, 3)) < 0.5).astype(np.float64)
    r = model.evaluate(x)
    z_e, z_q, idx = model.encode(x)
    logits = model.decoder.forward(z_q.reshape(6, -1))
    rec = (x * logits - np.log1p(np.exp(logits))).reshape(6, -1).sum(axis=1)
    dist = ((z_e - z_q) ** 2).sum(axis=(1, 2))
    assert r.reconstruction == pytest.approx(rec.mean())
    assert r.kl == pytest.approx(2 * math.log(4))
    assert r.elbo == pytest.approx(rec.mean() - 2 * math.log(4))
    assert r.loss == pytest.approx((-rec + 1.25 * dist).mean())
    assert set(r.metrics()) >= {"elbo", "reconstruction", "kl"}


def test_model_gradients_are_the_straight_through_surrogate(rng):
    """The decoder's gradient is that of the loss; the encoder's is that of the loss with
    z_q replaced by z_e + (z_q − z_e) frozen (straight-through); the codebook's is that of
    the codebook loss alone.  All three by finite differences."""
    model = small_model(rng)
    x = (rng.random((5, 1, 3, 3)) < 0.5).astype(np.float64)
    model.loss_and_grads(x)
    analytic = {k: v.copy() for k, v in model.grads.items()}
    z_e0, z_q0, idx = model.encode(x)
    offset = z_q0 - z_e0
    beta, N = model.commitment, len(x)

    def decoder_loss():
        return model.evaluate(x).loss

    def surrogate():
        z_e = model.encoder.forward(x).reshape(z_e0.shape)
        rec = Bernoulli(model.decoder.forward((z_e + offset).reshape(N, -1))).log_prob(x)
        return float((-rec + beta * ((z_e - z_q0) ** 2).sum(axis=(1, 2))).mean())

    def codebook_loss():
        e = model.quantizer.params["codebook"]
        return float(((z_e0 - e[idx]) ** 2).sum(axis=(1, 2)).mean())

    dec = {k: v for k, v in model.params.items() if k.startswith("decoder")}
    enc = {k: v for k, v in model.params.items() if k.startswith("encoder")}
    for loss, arrays in ((decoder_loss, dec), (surrogate, enc),
                         (codebook_loss, {"codebook": model.params["codebook"]})):
        result = compare_gradients(loss, arrays, analytic, h=1e-6)
        assert result.max_error < 1e-6, result


def test_training_lowers_the_loss(rng):
    from vae_from_scratch.optim import Adam
    from vae_from_scratch.train import fit

    model = mlp_vqvae((1, 4, 4), num_latents=2, code_dim=2, num_codes=8, hidden=(32,), rng=rng,
                      backend="numpy")
    x = (rng.random((64, 1, 4, 4)) < 0.3).astype(np.float32)
    x[:32, :, :2] = 1.0                               # two kinds of image
    model.init_output_bias(x.mean(axis=0))
    before = model.evaluate(x).loss
    fit(model, Adam(model.params, model.grads, lr=1e-2), x, x, epochs=30, batch_size=16,
        rng=rng, binarize=None, quiet=True)
    assert model.evaluate(x).loss < before - 1.0
    samples = model.sample(3, rng)
    assert samples.shape == (3, 1, 4, 4)
