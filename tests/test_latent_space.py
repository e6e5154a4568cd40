"""viz/latent_space.py: posterior means in batches, active units, grids, traversals, figures.

The checks are independent of the code under test: posterior means against one
unbatched encoder pass, activities against a loop over the data, and decoded grids
against a linear decoder whose output we can write down.
"""

import numpy as np
import pytest

from vae_from_scratch.viz.latent_space import (active_units, decode_mean, latent_grid,
                                           latent_traversal, posterior_means,
                                           save_latent_grid, save_latent_scatter,
                                           save_traversal)
from vae_from_scratch.models import mlp_vae
from vae_from_scratch.models.vae import VAE
from vae_from_scratch.nn import Dense, Flatten, Reshape, Sequential


def linear_vae(rng, D=3, H=4, W=5):
    """Encoder: Flatten → Dense; decoder: Dense → Reshape, Gaussian, so E[x|z] = A z + c."""
    enc = Sequential(Flatten(backend="numpy"),
                     Dense(H * W, 2 * D, rng=rng, backend="numpy", dtype=np.float64))
    dec = Sequential(Dense(D, H * W, rng=rng, backend="numpy", dtype=np.float64),
                     Reshape((1, H, W), backend="numpy"))
    dec.params["0.b"][...] = rng.standard_normal(H * W)
    return VAE(enc, dec, D, "gaussian", decoder_var=1.0)


def test_posterior_means_batched_equal_one_pass(rng):
    vae = mlp_vae((1, 4, 4), 3, (8,), rng=rng, backend="numpy")
    x = rng.random((23, 1, 4, 4)).astype(np.float32)
    mu, logvar = posterior_means(vae, x, batch_size=5)
    q = vae.encode(x)
    assert mu.shape == logvar.shape == (23, 3) and mu.dtype == np.float64
    np.testing.assert_allclose(mu, q.mu, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(logvar, q.logvar, rtol=1e-6, atol=1e-6)


def test_active_units_against_a_loop(rng):
    N = 50
    mu = np.stack([rng.normal(0, 1.0, N),           # clearly active
                   np.full(N, 0.7),                  # constant: inactive
                   rng.normal(3, 0.05, N),           # variance 0.0025: inactive
                   rng.normal(0, 0.2, N)], axis=1)   # variance 0.04: active
    count, activity = active_units(mu)
    for u in range(4):
        m = sum(mu[n, u] for n in range(N)) / N
        expected = sum((mu[n, u] - m) ** 2 for n in range(N)) / N
        assert activity[u] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert count == int(sum(a > 0.01 for a in activity)) == 2
    assert active_units(mu, threshold=0.001)[0] == 3


def test_active_units_needs_a_matrix():
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        active_units(np.zeros(5))
    with pytest.raises(ValueError, match="N ≥ 2"):
        active_units(np.zeros((1, 3)))


def test_latent_grid_layout():
    z = latent_grid(3, 2.0, latent_dim=4, dims=(2, 0), base=[9, 9, 9, 9])
    assert z.shape == (9, 4)
    # row r, column c: dims[0] = values[c] (rightwards), dims[1] = values[2 − r] (upwards)
    values = [-2.0, 0.0, 2.0]
    for r in range(3):
        for c in range(3):
            assert list(z[3 * r + c]) == [values[2 - r], 9, values[c], 9]
    with pytest.raises(ValueError, match="two different dimensions"):
        latent_grid(3, 1.0, latent_dim=2, dims=(1, 1))


def test_latent_traversal_moves_one_dimension_at_a_time():
    base = np.array([0.5, -1.0, 2.0])
    z = latent_traversal(3, [-5, 5], base=base)
    assert z.shape == (6, 3)
    for i in range(3):
        for j, v in enumerate([-5, 5]):
            expected = base.copy()
            expected[i] = v
            np.testing.assert_array_equal(z[2 * i + j], expected)
    assert latent_traversal(3, [1.0], dims=[2]).tolist() == [[0.0, 0.0, 1.0]]


def test_decoded_grid_is_the_linear_map(rng):
    vae = linear_vae(rng)
    z = latent_grid(4, 1.5, latent_dim=3, dims=(0, 2))
    images = decode_mean(vae, z, batch_size=3)
    A, c = vae.decoder.params["0.W"], vae.decoder.params["0.b"]
    expected = (np.array([A @ code + c for code in z])).reshape(len(z), 1, 4, 5)
    np.testing.assert_allclose(images, expected, rtol=1e-12, atol=1e-12)


def test_figures_are_written(rng, tmp_path):
    vae = linear_vae(rng, D=2, H=6, W=6)
    x = rng.random((40, 1, 6, 6))
    mu, _ = posterior_means(vae, x)
    labels = rng.integers(0, 3, 40)
    images = 1 / (1 + np.exp(-decode_mean(vae, latent_grid(5, 2.0))))
    trav = 1 / (1 + np.exp(-decode_mean(vae, latent_traversal(2, [-2, 0, 2]))))
    paths = [save_latent_scatter(mu, labels, tmp_path / "a" / "scatter.png", title="t"),
             save_latent_grid(images, 5, tmp_path / "grid.png", 2.0),
             save_traversal(trav, [-2, 0, 2], tmp_path / "trav.png")]
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000
    with pytest.raises(ValueError, match="labels"):
        save_latent_scatter(mu, labels[:3], tmp_path / "bad.png")
