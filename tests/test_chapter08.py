"""Chapter 8, convolution, pooling and a convolutional VAE: its three sections' quick
runs say what the theory says.

Tolerances: one output pixel recomputed from eq. 2.32 within 1e-5 of the float32 layer;
every gradient check (the window layers, and the whole conv VAE's ELBO at h = 1e-5)
below 1e-6 relative error, the project's tolerance for float64 finite differences; the
adjoint identity ⟨conv x, y⟩ = ⟨x, convT y⟩ and unpool → conv = convT (eq. 2.34) to
1e-12, float64 round-off with room; the bottom-left quadrant mean above 0.6 exactly when
the disk is on; the quick run's conv VAE ELBO finite and negative (30 epochs decide no
comparison with the MLP VAE).
"""

import math

import pytest

pytestmark = pytest.mark.slow


def figure_names(res):
    return {p.split("/")[-1] for p in res["figures"]}


def test_ch08_1_convolution_and_pooling(run_section):
    res = run_section("ch08_1").check()
    assert res["convolution"]["one_pixel_gap"] < 1e-5
    quadrants, on = res["pooling"]["quadrant_means"], res["pooling"]["disk_on"]
    for q, disk in zip(quadrants, on):                      # bottom-left carries the disk
        assert (q[1][0] > 0.6) == disk
    assert figure_names(res) == {"convolution.png", "pooling.png"}


def test_ch08_2_backward_passes_and_adjoint(run_section):
    res = run_section("ch08_2").check()
    assert res["gradcheck"]["max_error"] < 1e-6
    assert res["transposed"]["max_adjoint_gap"] < 1e-12
    assert res["transposed"]["unpool_conv_gap"] < 1e-12
    assert res["vae"]["gradient_check"]["max_error"] < 1e-6
    assert figure_names(res) == {"gradient_checks.png", "transposed_convolution.png"}


def test_ch08_3_conv_vae(run_section):
    res = run_section("ch08_3").check()
    conv = res["vae"]["conv"]
    assert math.isfinite(conv["elbo"]) and conv["elbo"] < 0
    assert res["vae"]["epochs"] == 30 and res["backend"] == "numpy"
    assert figure_names(res) == {"elbo_conv.png", "reconstructions_conv.png", "samples_conv.png"}
