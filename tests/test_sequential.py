"""Sequential: the chain rule through stacks that mix every layer kind, the flat named
view of params and grads, and the reference dual-VAE encoders/decoder at full size."""

import numpy as np
import pytest

from vae_from_scratch.nn import (AvgPool2D, Conv2D, ConvTranspose2D, Dense, Flatten, Identity,
                                 LeakyReLU, MaxPool2D, ReLU, Reshape, Sequential, Sigmoid,
                                 Softplus, Tanh, Unpool2D)


def mixed_stack(rng):
    """Every layer kind once: (N, 2, 8, 8) -> (N, 1, 8, 8)."""
    return Sequential(
        Conv2D(2, 3, 3, padding=1, rng=rng),            # (N, 3, 8, 8)
        ReLU(),
        MaxPool2D(2),                                   # (N, 3, 4, 4)
        Conv2D(3, 4, 2, stride=2, rng=rng),             # (N, 4, 2, 2)
        LeakyReLU(0.2),
        AvgPool2D(2),                                   # (N, 4, 1, 1)
        Flatten(),                                      # (N, 4)
        Dense(4, 6, rng=rng),
        Tanh(),
        Dense(6, 8, rng=rng),
        Reshape((2, 2, 2)),                             # (N, 2, 2, 2)
        Unpool2D(2),                                    # (N, 2, 4, 4)
        ConvTranspose2D(2, 1, 3, stride=2, padding=1, output_padding=1, rng=rng),  # (N, 1, 8, 8)
        Sigmoid(),
        Softplus(),
        Identity(),
    )


@pytest.mark.parametrize("N", [1, 3])
def test_mixed_stack_gradcheck(N, rng, check_grads):
    net = mixed_stack(rng)
    x = rng.standard_normal((N, 2, 8, 8))
    assert net.forward(x.astype(np.float32)).shape == (N, 1, 8, 8)
    result = check_grads(net, x, rng=rng, label="Sequential (mixed)")
    assert set(result.errors) == {"x"} | set(net.params)


def test_small_autoencoder_stack_gradcheck(rng, check_grads):
    """Encoder and decoder as nested Sequentials, as a VAE will compose them."""
    encoder = Sequential(Conv2D(1, 2, 4, stride=2, padding=1, rng=rng), Softplus(),
                         Flatten(), Dense(2 * 4 * 4, 3, rng=rng))
    decoder = Sequential(Dense(3, 2 * 4 * 4, rng=rng), Tanh(), Reshape((2, 4, 4)),
                         ConvTranspose2D(2, 1, 4, stride=2, padding=1, rng=rng))
    net = Sequential(encoder, decoder)
    x = rng.standard_normal((2, 1, 8, 8))
    assert net.forward(x.astype(np.float32)).shape == x.shape
    result = check_grads(net, x, rng=rng, label="Sequential (nested)")
    assert "1.3.W" in result.errors and "0.0.b" in result.errors


def reference_foreground_encoder(rng):
    """docs/design.md, "Reference dual VAE": q_φ(z1|x), receptive field 6,
    1×60×60 -> (μ1, log σ1²) ∈ R⁴ × R⁴."""
    return Sequential(Conv2D(1, 16, 6, stride=2, padding=2, rng=rng), ReLU(), MaxPool2D(2),
                      Conv2D(16, 32, 3, stride=2, padding=1, rng=rng), ReLU(), Flatten(),
                      Dense(2048, 64, rng=rng), ReLU(), Dense(64, 8, rng=rng))


def reference_background_encoder(rng):
    """docs/design.md, "Reference dual VAE": s_χ(z2|x), receptive field 30 -> (μ2, log σ2²)."""
    return Sequential(Conv2D(1, 4, 30, stride=30, rng=rng), ReLU(), Flatten(),
                      Dense(16, 2, rng=rng))


def reference_foreground_decoder(rng):
    """docs/design.md, "Reference dual VAE": p_θ(x|z̃1), R⁴ -> Bernoulli logits 1×60×60."""
    return Sequential(Dense(4, 3600, rng=rng), ReLU(), Reshape((16, 15, 15)),
                      ConvTranspose2D(16, 8, 4, stride=2, padding=1, rng=rng), ReLU(),
                      ConvTranspose2D(8, 1, 4, stride=2, padding=1, rng=rng))


@pytest.mark.parametrize("build,in_shape,out_shape", [
    (reference_foreground_encoder, (2, 1, 60, 60), (2, 8)),
    (reference_background_encoder, (2, 1, 60, 60), (2, 2)),
    (reference_foreground_decoder, (2, 4), (2, 1, 60, 60)),
])
def test_reference_dual_vae_parts_have_the_design_shapes_and_gradients(build, in_shape, out_shape,
                                                                       rng, check_grads):
    """The architecture of docs/design.md ("Reference dual VAE") at full size; large
    tensors are checked on 40 random entries each.

    Finite differences are only valid where the function is differentiable.  Binary
    images with zero biases are not such a point: an all-zero window gives a
    pre-activation of exactly 0, on the ReLU's kink, and windows with the same pattern
    give exact ties in max pooling.  So the check runs at a generic point (continuous
    input, random biases); the shapes are checked on binary images too.
    """
    net = build(rng)
    binary = (rng.random(in_shape) > 0.5).astype(np.float32)
    assert net.forward(binary).shape == out_shape
    for name, b in net.params.items():
        if name.endswith(".b"):
            b[...] = 0.1 * rng.standard_normal(b.shape)
    check_grads(net, rng.standard_normal(in_shape), rng=rng, n_coords=40,
                label="Sequential (reference)")


def test_params_and_grads_are_flat_named_views_of_the_layers(rng):
    net = Sequential(Dense(3, 4, rng=rng), ReLU(), Sequential(Dense(4, 2, rng=rng), Tanh()))
    assert list(net.params) == ["0.W", "0.b", "2.0.W", "2.0.b"]
    assert list(net.grads) == list(net.params)
    assert net.params["2.0.W"] is net[2][0].params["W"]       # the same array, not a copy
    params, grads = net.params, net.grads                     # held as an optimizer would
    x = rng.standard_normal((5, 3)).astype(np.float32)
    y = net.forward(x)
    net.backward(np.ones_like(y))
    assert all(np.any(g != 0) for g in grads.values())        # filled in place
    before = net.forward(x)
    params["0.b"] += 1.0                                      # an update through the view …
    assert not np.allclose(net.forward(x), before)            # … changes the network
    assert net.n_params == 3 * 4 + 4 + 4 * 2 + 2


def test_backward_is_the_chain_rule_in_closed_form(rng):
    """y = W2 tanh(W1 x + b1) + b2 (rows as examples), so by the chain rule
    dL/dx = ((dy W2) ⊙ (1 − h²)) W1 with h = tanh(x W1ᵀ + b1)."""
    net = Sequential(Dense(3, 5, rng=rng), Tanh(), Dense(5, 2, rng=rng)).astype(np.float64)
    W1, b1, W2 = net.params["0.W"], net.params["0.b"], net.params["2.W"]
    b1 += rng.standard_normal(5)
    x, dy = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    net.forward(x)
    dx = net.backward(dy)
    h = np.tanh(x @ W1.T + b1)
    np.testing.assert_allclose(dx, ((dy @ W2) * (1 - h ** 2)) @ W1, rtol=1e-12)
    np.testing.assert_allclose(net.grads["2.W"], dy.T @ h, rtol=1e-12)
    np.testing.assert_allclose(net.grads["0.W"], ((dy @ W2) * (1 - h ** 2)).T @ x, rtol=1e-12)


def test_summary_lists_output_shapes_and_parameter_count(rng):
    net = reference_background_encoder(rng)
    text = net.summary((32, 1, 60, 60))
    assert "(32, 4, 2, 2)" in text and "(32, 16)" in text and "(32, 2)" in text
    assert f"parameters: {4 * 900 + 4 + 16 * 2 + 2:,}" in text


def test_astype_converts_every_layer(rng):
    net = mixed_stack(rng).astype(np.float64)
    assert all(p.dtype == np.float64 for p in net.params.values())
    assert all(g.dtype == np.float64 for g in net.grads.values())


def test_skipping_the_input_gradient_keeps_every_parameter_gradient():
    """need_input_grad=False (the network sees the data) returns None for dL/dx and
    leaves each parameter gradient exactly as the full backward pass computes it."""
    from vae_from_scratch.nn import Conv2D, Dense, Flatten, ReLU, Sequential
    rng = np.random.default_rng(0)
    net = Sequential(Conv2D(2, 3, 3, stride=2, padding=1, rng=rng, dtype=np.float64),
                     ReLU(), Flatten(), Dense(3 * 3 * 3, 4, rng=rng, dtype=np.float64))
    x = rng.standard_normal((2, 2, 5, 5))
    dy = rng.standard_normal((2, 4))
    net.forward(x)
    dx = net.backward(dy)
    full = {k: v.copy() for k, v in net.grads.items()}
    assert dx.shape == x.shape
    net.forward(x)
    assert net.backward(dy, need_input_grad=False) is None
    for k in full:
        np.testing.assert_array_equal(net.grads[k], full[k])
    dense = Dense(3, 2, rng=rng, dtype=np.float64)
    dense.forward(x[:, 0, 0, :3])
    assert dense.backward(np.ones((2, 2)), need_input_grad=False) is None
    dense.forward(x[:, 0, 0, :3])
    assert dense.backward(np.ones((2, 2))).shape == (2, 3)     # the hint does not stick


def test_a_leading_flatten_passes_the_hint_on_to_the_first_dense():
    """mlp_vae's encoder starts with Flatten: with need_input_grad=False its Dense must
    skip dx (the Flatten's backward is not run at all), and the gradients stay exact."""
    from vae_from_scratch.nn import Dense, Flatten, ReLU, Sequential
    rng = np.random.default_rng(1)
    net = Sequential(Flatten(), Dense(12, 5, rng=rng, dtype=np.float64), ReLU(),
                     Dense(5, 2, rng=rng, dtype=np.float64))
    x, dy = rng.standard_normal((3, 1, 3, 4)), rng.standard_normal((3, 2))
    net.forward(x)
    assert net.backward(dy).shape == x.shape
    full = {k: v.copy() for k, v in net.grads.items()}
    calls = []
    dense = net.layers[1]
    original = dense._backward
    dense._backward = lambda d, c: calls.append(dense._need_input_grad) or original(d, c)
    net.forward(x)
    assert net.backward(dy, need_input_grad=False) is None
    assert calls == [False]
    for k in full:
        np.testing.assert_array_equal(net.grads[k], full[k])
