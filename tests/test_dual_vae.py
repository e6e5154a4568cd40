"""The dual VAE (thesis §2.9, DESIGN.md): the reference sizes, the target g (eq. 3.1),
the interaction layer and its flags, the ELBO2 weighting, and a whole-model gradient
check on a small copy in float64 for every combination of the options."""

import itertools

import numpy as np
import pytest

from vae_from_scratch.gradcheck import compare_gradients
from vae_from_scratch.models.dual_vae import DualVAE

SMALL = dict(image_size=16, fg_kernel=4, bg_kernel=8, fg_channels=(3, 4), fg_hidden=5,
             bg_channels=2, bg_hidden=3, dec_channels=(3, 2))


def _binary(rng, n, size):
    return (rng.random((n, 1, size, size)) > 0.5).astype(np.float32)


def test_reference_sizes_match_the_design(rng):
    model = DualVAE(rng=rng)
    x = _binary(rng, 2, 60)
    assert model.fg_encoder.output_shape(x.shape) == (2, 8)            # (mu1, logvar1), z1 ∈ R⁴
    assert model.bg_encoder.output_shape(x.shape) == (2, 2)            # (mu2, logvar2), z2 ∈ R¹
    assert model.fg_encoder.layers[0].kernel_size == 6                 # receptive field 6
    assert model.bg_encoder.layers[0].kernel_size == model.bg_encoder.layers[0].stride == 30
    assert model.fg_decoder.output_shape((2, 4)) == (2, 1, 60, 60)
    assert model.bg_decoder.output_shape((2, 1)) == (2, 1, 2, 2)
    assert model.fg_encoder.output_shape((2, 1, 60, 60)) == (2, 8)
    flat = [l for l in model.fg_encoder.layers if type(l).__name__ == "Dense"][0]
    assert flat.in_features == 2048                                    # Flatten(2048)
    np.testing.assert_array_equal(model.interaction.params["W"], np.eye(5))   # identity start
    np.testing.assert_array_equal(model.interaction.params["b"], np.zeros(5))
    assert model.vae1(x, rng).shape == (2, 1, 60, 60)
    assert model.vae2(x, rng).shape == (2, 1, 2, 2)
    assert 0 <= model.vae1(x, rng).min() and model.vae1(x, rng).max() <= 1


def test_target_is_thesis_equation_3_1(rng):
    """g(x) = sigmoid(12 (Σ_block x / 30² − 0.5)), computed here block by block."""
    model = DualVAE(rng=rng)
    x = _binary(rng, 3, 60)
    x[0, 0, 30:, :30] = 1.0                                            # a full block
    g = model.target(x)
    for n, i, j in itertools.product(range(3), range(2), range(2)):
        block = x[n, 0, 30 * i:30 * (i + 1), 30 * j:30 * (j + 1)].astype(np.float64)
        expected = 1 / (1 + np.exp(-12 * (block.sum() / 30 ** 2 - 0.5)))
        assert g[n, 0, i, j] == pytest.approx(expected, rel=1e-5)
    assert g[0, 0, 1, 0] == pytest.approx(1 / (1 + np.exp(-6)), rel=1e-5)


@pytest.mark.parametrize("interaction", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("weight_on", ["elbo", "reconstruction"])
def test_whole_model_gradient(interaction, weight_on, rng):
    model = DualVAE(rng=rng, interaction=interaction, weight_on=weight_on, elbo2_weight=7.0,
                    **SMALL).astype(np.float64)
    for p in model.params.values():                # a generic point: no zero biases
        p[...] = rng.normal(0.0, 0.3, p.shape)
    x = _binary(rng, 3, 16).astype(np.float64)
    eps = (rng.standard_normal((3, 4)), rng.standard_normal((3, 1)))
    model.loss_and_grads(x, eps=eps, beta=0.7)
    analytic = {k: v.copy() for k, v in model.grads.items()}
    if not any(interaction):
        assert all(not g.any() for k, g in analytic.items() if k.startswith("interaction"))
    result = compare_gradients(lambda: model.loss_and_grads(x, eps=eps, grads=False, beta=0.7).loss,
                               model.params, analytic, h=1e-5, n_coords=8, rng=rng)
    assert result.passed(1e-6), str(result)


def test_loss_is_the_weighted_sum_of_the_two_elbos(rng):
    x = _binary(rng, 4, 16)
    eps = (rng.standard_normal((4, 4)).astype(np.float32), rng.standard_normal((4, 1)).astype(np.float32))
    for weight_on in ("elbo", "reconstruction"):
        model = DualVAE(rng=np.random.default_rng(0), elbo2_weight=450.0, weight_on=weight_on,
                        **SMALL)
        r = model.loss_and_grads(x, eps=eps, grads=False)
        assert r.elbo1 == pytest.approx(r.reconstruction1 - r.kl1, rel=1e-5)
        assert r.elbo2 == pytest.approx(r.reconstruction2 - r.kl2, rel=1e-5)
        expected = (-(r.elbo1 + 450 * r.elbo2) if weight_on == "elbo"
                    else -(r.elbo1 + 450 * r.reconstruction2 - r.kl2))
        assert r.loss == pytest.approx(expected, rel=1e-4)


def test_cutting_the_interaction_makes_the_decoders_independent(rng):
    """With interaction (True, False), the background decoder sees z2 only: changing z1
    leaves vae2's output unchanged, and changes vae1's."""
    model = DualVAE(rng=rng, interaction=(True, False), **SMALL)
    model.interaction.params["W"][...] = rng.normal(size=(5, 5))     # a real mixing
    z2 = rng.standard_normal((2, 1)).astype(np.float32)
    a1, a2 = model.decode(np.zeros((2, 4), np.float32), z2)
    b1, b2 = model.decode(np.ones((2, 4), np.float32), z2)
    np.testing.assert_array_equal(a2.mean, b2.mean)
    assert not np.allclose(a1.mean, b1.mean)
    both = DualVAE(rng=rng, interaction=(True, True), **SMALL)
    both.interaction.params["W"][...] = rng.normal(size=(5, 5))
    c2 = both.decode(np.zeros((2, 4), np.float32), z2)[1].mean
    d2 = both.decode(np.ones((2, 4), np.float32), z2)[1].mean
    assert not np.allclose(c2, d2)


def test_bad_input_and_options(rng):
    model = DualVAE(rng=rng, **SMALL)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 16, 16\), got \(2, 1, 8, 8\)"):
        model.loss_and_grads(np.zeros((2, 1, 8, 8), np.float32), rng)
    with pytest.raises(ValueError, match="divisible by 4 and by bg_kernel"):
        DualVAE(rng=rng, image_size=60, bg_kernel=7)
    with pytest.raises(ValueError, match="weight_on"):
        DualVAE(rng=rng, weight_on="kl", **SMALL)
    with pytest.raises(ValueError, match="fg_kernel must be even"):
        DualVAE(rng=rng, **{**SMALL, "fg_kernel": 5})
