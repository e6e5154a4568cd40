"""Chapter 8, convolution, pooling and a convolutional VAE: its three sections' quick
runs say what the theory says.

Tolerances: one output pixel recomputed from eq. 2.32 within 1e-5 of the float32 layer;
every gradient check (the window layers, and the whole conv VAE's ELBO at h = 1e-5)
below 1e-6 relative error, the project's tolerance for float64 finite differences; the
adjoint identity ⟨conv x, y⟩ = ⟨x, convT y⟩ and unpool → conv = convT (eq. 2.34) to
1e-12, float64 round-off with room; the bottom-left quadrant mean above 0.6 exactly when
the disk is on; the quick run's conv VAE ELBO finite and negative (30 epochs decide no
comparison with the MLP VAE).

The disk's rise of the bottom-left quadrant mean, measured on 2000 X90 images, within
4 standard errors of 0.6 × (the quadrant's pixels whose centres lie within 15 of the
disk's centre) / 900, the share counted here on the grid.  The standard error comes
from the generator's constants, not from the run: given the disk, an image's quadrant
mean varies only through its four cells (each on with p = 1/2, adding 0.9 · 36/900) and
the noise (0.4² / 900), σ² = 4 · ¼ · 0.036² + 0.4²/900 ≈ 0.038², and the difference of
two means has σ · √(1/n_on + 1/n_off) ≈ 0.003 for 1800 and 200 images: 4 of them leave
a correct generator failing once in about 16,000 seeds, while 0.6 itself (a disk that
filled the quadrant) is 40 of them away.  π/4 · 0.6, the continuous disk's rise, lies
within 0.01 of the grid's.
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
    rise = res["pooling"]["rise"]
    inside = sum((r + 0.5 - 15) ** 2 + (c + 0.5 - 15) ** 2 <= 15 ** 2   # pixel centres in
                 for r in range(30) for c in range(30))                # the disk, by hand
    predicted = 0.6 * inside / 900
    sigma = math.sqrt(4 * 0.25 * (0.9 * 36 / 900) ** 2 + 0.4 ** 2 / 900)
    se = sigma * math.sqrt(1 / rise["n_on"] + 1 / rise["n_off"])
    assert rise["n_on"] + rise["n_off"] == 2000 and rise["n_off"] > 100
    assert abs(rise["measured"] - predicted) < 4 * se
    assert rise["predicted_mask"] == pytest.approx(predicted, abs=1e-6)
    assert rise["predicted_pi"] == pytest.approx(math.pi / 4 * 0.6, abs=1e-12)
    assert abs(predicted - math.pi / 4 * 0.6) < 0.01
    assert abs(rise["standard_error"] - se) < 0.2 * se      # the run's SE is the theory's
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
