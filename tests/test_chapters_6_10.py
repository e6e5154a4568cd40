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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_ch09_dual_vae(tmp_path, capsys):
    r, out = run_chapter("ch09_dual_vae", tmp_path)
    printed = capsys.readouterr().out
    for kind, rates in r["data"]["on_rates"].items():
        for name in ("X90", "X50", "X90_20"):
            assert rates[name] == pytest.approx(rates["theory"], abs=0.02), (kind, name)
    # section 3, the metric on reconstructions whose scores are known (X90, inside, bg on)
    check = r["metric_check"]["rows"]
    share = r["metric_check"]["share_active"]
    oracle, blind, mean = check["oracle"], check["blind under the disk"], check["training mean"]
    assert oracle["accuracy"] == 1.0 and oracle["auc"] == 1.0
    assert oracle["old_false_positive_rate"] == 1.0                 # the old rule's blindness
    assert oracle["old_accuracy"] == pytest.approx(share)
    assert check["binarized input"]["accuracy"] >= 0.99 and check["binarized input"]["auc"] >= 0.99
    assert blind["auc"] == 0.5 and mean["auc"] == 0.5
    assert blind["accuracy"] in (pytest.approx(share), pytest.approx(1 - share))
    for row in check.values():                                      # measured next to theory
        if not isinstance(row["theory"]["accuracy"], str):
            assert row["accuracy"] == pytest.approx(row["theory"]["accuracy"], abs=0.02)
        assert row["old_false_positive_rate"] == pytest.approx(
            row["theory"]["old_false_positive_rate"], abs=0.05)
    lines = printed.splitlines()
    oracle_line = next(line for line in lines if line.startswith("oracle ") and "measured" in line)
    assert oracle_line.split()[2:4] == ["1.000", "1.000"] and oracle_line.split()[-1] == "1.00"
    blind_line = next(line for line in lines if line.startswith("blind under the disk"))
    assert blind_line.split()[-3] == "0.500"
    # sections 4 and 5: both runs on every data set, and the comparison of section 6
    for key in ("separation", "remedy"):
        assert set(r[key]) == {"X90", "X50", "X90_20"}
        for m in r[key].values():
            f = m["final"]
            assert 0 <= f["cells"]["outside"]["accuracy"] <= 1
            assert 0 <= f["cells"]["inside_bg_on"]["auc"] <= 1
            assert f["target_mae_constant"] > 0
    assert {m["data_mode"] for m in r["remedy"].values()} == {"grey"}
    assert r["remedy"]["X90_20"]["latent2"] == 2 and r["remedy"]["X90"]["latent1"] == 16
    assert set(r["comparison"]) == {"X90", "X50", "X90_20"}
    assert set(r["comparison"]["X90_20"]["remedy"]["disks"]) == {"bottom-left", "top-right"}
    assert "remedy" in r["summary"] and r["summary"].count("thesis run in-bg-on") == 3
    assert "== 6. the thesis's run against the remedy" in printed
    figures = {p.name for p in out.glob("fig3_*.png")}
    assert len(figures) == 6 and "fig3_4_X90_latent.png" in figures
    for name in ("X90", "X50", "X90_20"):
        for figure in (f"probes_{name}.png", f"remedy_{name}_reconstructions.png",
                       f"remedy_{name}_probes.png"):
            assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
        assert (out / "remedy" / name / "heldout.npz").exists()


@pytest.mark.slow
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
