"""Chapter 10, beyond the ELBO: its four sections' quick runs say what the theory says.

Tolerances: the VQ-VAE's rate is M log K to pytest.approx's default (relative 1e-6), and
its ELBO is −distortion − rate to 1e-4 nats (float32 sums over the test set); the IWAE
bound's rise from L_1 to L_5 must exceed two paired standard errors; the β-VAE's rate
may rise with β by at most 0.01 nats (its noise once z has collapsed).  The seeds are
fixed, so each check either always passes or always fails.
"""

import math

import pytest

pytestmark = pytest.mark.slow


def _figures(res, names):
    assert {p.split("/")[-1] for p in res["figures"]} == set(names)


def test_ch10_1_iwae_bound_rises_with_K(run_section):
    res = run_section("ch10_1").check()
    iw = res["iwae"]
    assert iw["rising"]
    rows = iw["elbo_trained"]
    assert rows["5"]["gain_over_K1"] > 2 * rows["5"]["gain_se"]         # L_5 > L_1, paired
    assert rows["1"]["gain_over_K1"] == 0 and rows["1"]["ess"] == 1
    for table in (rows, iw["iwae5_trained"]):
        for K, r in table.items():
            assert 1 - 1e-9 <= r["ess"] <= int(K) + 1e-9                 # 1 ≤ ESS ≤ K
    _figures(res, ["iwae_bound.png"])


def test_ch10_2_beta_vae_trades_rate_for_distortion(run_section):
    res = run_section("ch10_2").check()
    beta = res["beta_vae"]
    assert beta["rate_never_rises_with_beta"]
    assert beta["best_elbo_beta"] == 1.0                # the ELBO is the β = 1 objective
    rows = beta["rows"]
    for r in rows.values():
        assert r["elbo"] == pytest.approx(-r["distortion"] - r["kl"], abs=1e-4)
    _figures(res, ["beta_vae.png", "traversal_beta1.png"])


def test_ch10_3_kl_annealing_rows_and_curves(run_section):
    res = run_section("ch10_3").check()
    ann = res["annealing"]
    for name in ("Bernoulli", "Gaussian σ² = 0.2", "Gaussian σ² = 1"):
        const, warm = ann["rows"][f"{name}, constant"], ann["rows"][f"{name}, warm-up"]
        assert len(const["elbo"]) == len(warm["elbo"]) == len(ann["seeds"])
        assert max(warm["peak_val_kl"]) > max(const["peak_val_kl"]), name   # KL shoots up
    _figures(res, ["kl_annealing.png"])


def test_ch10_4_vq_vae_rate_is_M_log_K(run_section):
    res = run_section("ch10_4").check()
    for row in res["vq_vae"]["rows"].values():
        assert row["rate"] == pytest.approx(row["M"] * math.log(row["K"]))
        assert row["elbo"] == pytest.approx(-row["distortion"] - row["rate"], abs=1e-4)
        assert row["codes_used"] <= row["K"] and row["perplexity"] <= row["K"] + 1e-9
    assert res["vq_vae"]["best"] in res["vq_vae"]["rows"]
    _figures(res, ["rate_distortion.png", "reconstructions_vq.png", "samples_vq.png"])
