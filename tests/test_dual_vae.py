"""The dual VAE (thesis §2.9; docs/design.md, "Reference dual VAE"): the reference sizes,
the target g (eq. 3.1), the interaction layer and its flags, the ELBO2 weighting, and a whole-model gradient
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
    flat = [layer for layer in model.fg_encoder.layers if type(layer).__name__ == "Dense"][0]
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


def _generic(model, rng):
    """Every parameter at a generic point (no zero biases, no identity interaction)."""
    for p in model.params.values():
        p[...] = rng.normal(0.0, 0.3, p.shape)
    return model


def _check_whole_model(model, x, eps, rng, beta=0.7):
    model.loss_and_grads(x, eps=eps, beta=beta)
    analytic = {k: v.copy() for k, v in model.grads.items()}
    result = compare_gradients(lambda: model.loss_and_grads(x, eps=eps, grads=False, beta=beta).loss,
                               model.params, analytic, h=1e-5, n_coords=8, rng=rng)
    assert result.passed(1e-6), str(result)
    return analytic


@pytest.mark.slow
@pytest.mark.parametrize("interaction", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("likelihood1, decoder1", [("gaussian", "plain"), ("bernoulli", "structured"),
                                                   ("gaussian", "structured")])
def test_whole_model_gradient_with_the_remedies(interaction, likelihood1, decoder1, rng):
    """The grey-data decoder (a Gaussian with one learned σ²) and the structured decoder 1
    (foreground + background map), under every interaction, against finite differences."""
    latent2 = 2
    model = _generic(DualVAE(rng=rng, interaction=interaction, likelihood1=likelihood1,
                             decoder1=decoder1, latent1=3, latent2=latent2, elbo2_weight=7.0,
                             weight_on="reconstruction", **SMALL).astype(np.float64), rng)
    if likelihood1 == "gaussian":       # grey values around the data's, σ² near the floor's scale
        x = rng.normal(0.6, 0.5, (3, 1, 16, 16))
        model.params["noise.raw_logvar"][...] = -1.3
    else:
        x = _binary(rng, 3, 16).astype(np.float64)
    eps = (rng.standard_normal((3, 3)), rng.standard_normal((3, latent2)))
    analytic = _check_whole_model(model, x, eps, rng)
    new_parts = [k for k in analytic if k.startswith(("noise.", "bg_map."))]
    assert new_parts and all(np.abs(analytic[k]).max() > 0 for k in new_parts)   # they learn


def test_gradient_with_free_bits_and_decorrelation(rng):
    """Free bits switch off the KL gradient of the z2 dimensions still under λ; the
    decorrelation penalty adds γ ‖Cov(mu1, mu2)‖²; both against finite differences."""
    model = _generic(DualVAE(rng=rng, latent1=3, latent2=3, elbo2_weight=5.0, decorrelate=2.5,
                             **SMALL).astype(np.float64), rng)
    x = _binary(rng, 4, 16).astype(np.float64)
    eps = (rng.standard_normal((4, 3)), rng.standard_normal((4, 3)))
    q2 = model.encode(x)[1]
    kl_d = (0.5 * (q2.var + q2.mu ** 2 - 1 - q2.logvar)).mean(axis=0)
    model.free_bits2 = float(np.sort(kl_d)[1] - 1e-3)   # one dimension under λ, two above
    assert (kl_d < model.free_bits2).sum() == 1
    _check_whole_model(model, x, eps, rng)
    # the loss is the ELBOs' plus the two terms, computed here from their definitions
    r = model.loss_and_grads(x, eps=eps, grads=False, beta=1.0)
    q1 = model.encode(x)[0]
    c1, c2 = q1.mu - q1.mu.mean(0), q2.mu - q2.mu.mean(0)
    cov = c1.T @ c2 / 4
    expected = (-(r.reconstruction1 - r.kl1 + 5.0 * r.reconstruction2)
                + 5.0 * np.maximum(kl_d, model.free_bits2).sum() + 2.5 * (cov ** 2).sum())
    assert r.loss == pytest.approx(expected, rel=1e-10)


def test_gaussian_decoder_1_is_a_density_with_one_learned_noise_level(rng):
    """log p(x|z) of the grey-data decoder is Σ log N(x; mean, σ²) with one σ² for every
    pixel, σ² = min_var + exp(raw) (computed here from the normal density)."""
    model = DualVAE(rng=rng, likelihood1="gaussian", **SMALL).astype(np.float64)
    model.params["noise.raw_logvar"][...] = np.log(0.2)
    z1, z2 = rng.standard_normal((2, 4)), rng.standard_normal((2, 1))
    p1, _ = model.decode(z1, z2)
    x = rng.normal(0.5, 0.4, (2, 1, 16, 16))
    var = 1e-3 + 0.2
    expected = (-0.5 * np.log(2 * np.pi * var) - (x - p1.mean) ** 2 / (2 * var)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(p1.log_prob(x), expected, rtol=1e-12)
    assert model.n_params == DualVAE(rng=rng, **SMALL).n_params + 1


def test_structured_decoder_1_adds_a_background_map_of_z2(rng):
    """decoder 1 = foreground(z̃1) + background map(z̃2): without interaction into decoder 1,
    changing z2 changes decoder 1's output by exactly the change of the background part."""
    model = _generic(DualVAE(rng=rng, decoder1="structured", interaction=(False, True), **SMALL), rng)
    z1 = rng.standard_normal((2, 4)).astype(np.float32)
    a, b = (rng.standard_normal((2, 1)).astype(np.float32) for _ in range(2))
    fg_a, bg_a = model.decoder1_parts(z1, a)
    fg_b, bg_b = model.decoder1_parts(z1, b)
    np.testing.assert_array_equal(fg_a, fg_b)                        # z1 alone drives the fg part
    assert not np.allclose(bg_a, bg_b)
    logits = np.log(model.decode(z1, a)[0].mean) - np.log1p(-model.decode(z1, a)[0].mean)
    np.testing.assert_allclose(logits, fg_a + bg_a, atol=1e-3)       # added as logits
    assert bg_a.shape == (2, 1, 16, 16)


def test_the_options_leave_the_reference_model_unchanged(rng):
    """Without the options the parameters are drawn exactly as before: same names, same
    values; the options only add parts (and their own config keys)."""
    ref = DualVAE(rng=np.random.default_rng(5), **SMALL)
    opt = DualVAE(rng=np.random.default_rng(5), decoder1="structured", likelihood1="gaussian", **SMALL)
    for k, v in ref.params.items():
        np.testing.assert_array_equal(opt.params[k], v)
    assert set(opt.params) - set(ref.params) == {"bg_map.0.W", "bg_map.0.b", "bg_map.2.W",
                                                  "bg_map.2.b", "noise.raw_logvar"}
    assert "decoder1" not in ref.config() and opt.config()["decoder1"] == "structured"


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
    with pytest.raises(ValueError, match="decoder1 must be one of plain, structured, got 'fancy'"):
        DualVAE(rng=rng, decoder1="fancy", **SMALL)
    with pytest.raises(ValueError, match="likelihood1 must be one of bernoulli, gaussian"):
        DualVAE(rng=rng, likelihood1="poisson", **SMALL)
    with pytest.raises(ValueError, match="latent1 must be a whole number >= 1, got 0"):
        DualVAE(rng=rng, latent1=0, **SMALL)
    with pytest.raises(ValueError, match="free_bits2 must be a finite number >= 0"):
        DualVAE(rng=rng, free_bits2=-1.0, **SMALL)
