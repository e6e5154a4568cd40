"""Chapters 6–10 in quick mode: beyond "it runs", the numbers each chapter prints must say
what its text says (gradient checks pass, identities hold to round-off, bounds rise, …).

Each chapter is imported from its file and its `main(argv)` called in a temporary folder;
main returns the measured numbers.  About 40 s for the five on two cores.
"""

import importlib.util
import math
from pathlib import Path

import pytest

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"


def run_chapter(name, tmp_path, *extra):
    path = CHAPTERS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"chapter_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / name
    results = module.main(["--quick", "--out", str(out), "--backend", "numpy", *extra])
    assert list(out.glob("*.png")), f"{name} wrote no figure"
    assert (out / "results.json").exists()
    return results, out


def test_ch06_neural_networks(tmp_path):
    r, out = run_chapter("ch06_neural_networks", tmp_path)
    assert r["composition"]["eq_2_24_gap"] < 1e-12
    assert r["composition"]["linear_deflation_gap"] < 1e-12
    assert r["activations"]["relu_derivative_at_0"] == 0
    assert r["activations"]["sigmoid_derivative_max"] == pytest.approx(0.25)
    assert r["backprop"]["reverse_loop_gap"] == 0
    assert r["gradcheck"]["max_error_correct"] < 1e-6
    assert r["gradcheck"]["min_error_bug"] > 0.1
    for name, run in r["training"].items():
        losses = run["loss"][0]
        assert losses[-1] < 0.5 * losses[0], name
    figures = {p.name for p in out.iterdir()}
    assert {"activations.png", "gradient_checks.png", "training.png"} <= figures


def test_ch07_vae(tmp_path):
    r, _ = run_chapter("ch07_vae", tmp_path)
    b = r["bernoulli"]
    assert b["elbo_parts_gap"] < 1e-4 and b["change_of_variables_gap"] < 1e-4
    assert b["elbo"] > b["untrained_elbo"] + 2
    assert b["elbo"] == pytest.approx(b["reconstruction"] - b["kl"], abs=1e-4)
    assert b["log_px_iwae50"] > b["elbo"]
    g = r["gaussian"]
    kls = [g[k]["kl"] for k in ("σ² = 1", "σ² = 0.1", "σ² = 0.01")]
    errors = [g[k]["squared_error"] for k in ("σ² = 1", "σ² = 0.1", "σ² = 0.01")]
    assert kls[0] < kls[1] < kls[2] and errors[0] > errors[1] > errors[2]
    assert g["σ² = 1"]["active_units"] == 0                 # the collapse the text describes
    assert all(g[k]["squared_error_form_gap"] < 1e-5 for k in ("σ² = 1", "σ² = 0.1", "σ² = 0.01"))
    assert r["latent_2d"]["nearest_neighbour_label_agreement"] > 0.25


def test_ch08_cnn(tmp_path):
    r, _ = run_chapter("ch08_cnn", tmp_path)
    assert r["convolution"]["one_pixel_gap"] < 1e-5
    assert r["gradcheck"]["max_error"] < 1e-6
    assert r["transposed"]["max_adjoint_gap"] < 1e-12
    assert r["transposed"]["unpool_conv_gap"] < 1e-12
    assert r["vae"]["gradient_check"]["max_error"] < 1e-6
    quadrants, on = r["pooling"]["quadrant_means"], r["pooling"]["disk_on"]
    for q, disk in zip(quadrants, on):                      # bottom-left carries the disk
        assert (q[1][0] > 0.6) == disk
    assert math.isfinite(r["vae"]["conv"]["elbo"]) and r["vae"]["conv"]["elbo"] < 0


def test_ch09_dual_vae(tmp_path):
    r, out = run_chapter("ch09_dual_vae", tmp_path)
    for kind, rates in r["data"]["on_rates"].items():
        for name in ("X90", "X50", "X90_20"):
            assert rates[name] == pytest.approx(rates["theory"], abs=0.02), (kind, name)
    assert set(r["separation"]) == {"X90", "X50", "X90_20"}
    for m in r["separation"].values():
        f = m["final"]
        assert 0 <= f["cells"]["outside"]["accuracy"] <= 1
        assert f["target_mae_constant"] > 0
    figures = {p.name for p in out.glob("fig3_*.png")}
    assert len(figures) == 6 and "fig3_4_X90_latent.png" in figures


def test_ch10_beyond(tmp_path):
    r, _ = run_chapter("ch10_beyond", tmp_path)
    iw = r["iwae"]
    assert iw["rising"]
    rows = iw["elbo_trained"]
    assert rows[5]["gain_over_K1"] > 2 * rows[5]["gain_se"]  # L_5 > L_1, paired
    assert r["beta_vae"]["rate_never_rises_with_beta"]
    for row in r["vq_vae"]["rows"].values():
        assert row["rate"] == pytest.approx(row["M"] * math.log(row["K"]))
        assert row["elbo"] == pytest.approx(-row["distortion"] - row["rate"], abs=1e-4)
