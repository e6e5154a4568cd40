"""Chapter 10, beyond the ELBO: its five sections' quick runs say what the theory says.

Tolerances: the VQ-VAE's rate is M log K to pytest.approx's default (relative 1e-6), and
its ELBO is −distortion − rate to 1e-4 nats (float32 sums over the test set); the IWAE
bound's rise from L_1 to L_5 must exceed two paired standard errors; the β-VAE's rate
may rise with β by at most 0.01 nats (its noise once z has collapsed).  Section 10.5's
correlation-gap score, on N test images: a null correlation is about N(0, 1/N), so the
oracle code (the factors plus noise dimensions; second best |r| a null one, ≈ 2.05/√N)
must score within 4/√N of 1, random codes (best minus second best of null |r|'s) below
3/√N, the rotated oracle within 3/√N of the mean row gap of |Q| (r_jk = Q_kj for
independent factors), and a collapsed model (z pure prior noise) like a random code;
its ELBO is reconstruction − KL to 1e-6 relative (float32 sums over 3600 pixels).
The seeds are fixed, so each check either always passes or always fails.
"""

import math

import numpy as np
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


def _gap_score(abs_r):
    """Mean over factors (columns) of the best minus the second-best |r| (rows: latent
    dimensions), computed here with np.partition, apart from the section's np.sort."""
    a = np.asarray(abs_r, dtype=np.float64)
    top2 = np.partition(a, a.shape[0] - 2, axis=0)[-2:]          # the two largest per column
    return float((top2.max(axis=0) - top2.min(axis=0)).mean())


def test_ch10_5_disentanglement_score_known_answers_and_betas(run_section):
    res = run_section("ch10_5").check()
    n = res["n_test"]
    se = 1 / math.sqrt(n)                                   # a null correlation's size
    checks = {w: c["score"] for w, c in res["metric_checks"].items()}
    assert 1 - 4 * se <= checks["oracle"] <= 1              # one dimension per factor
    assert 0 <= checks["random"] <= 3 * se                  # a blind code: chance, ≈ 0
    rotated = res["metric_checks"]["rotated"]
    assert rotated["score"] == pytest.approx(rotated["expected"], abs=3 * se)
    assert checks["oracle"] - checks["rotated"] > 0.5 and checks["rotated"] > checks["random"]
    rows = res["rows"]
    betas = sorted(rows, key=float)
    for b in betas:
        r = rows[b]
        abs_r = np.asarray(r["abs_r"])
        assert abs_r.shape == (12, 11) and (abs_r >= 0).all() and (abs_r <= 1 + 1e-12).all()
        assert r["score"] == pytest.approx(_gap_score(abs_r), abs=1e-12)
        assert r["mean_best_r"] == pytest.approx(abs_r.max(axis=0).mean(), abs=1e-12)
        assert r["elbo"] == pytest.approx(r["reconstruction"] - r["kl"], rel=1e-6)
        if r["active_units"] == 0:                          # collapsed: z is prior noise
            assert r["score"] <= 3 * se and r["mean_best_r"] <= 4 * se
    kls = [rows[b]["kl"] for b in betas]
    assert all(a >= c - 0.01 for a, c in zip(kls[:-1], kls[1:]))     # rate falls with β
    assert rows["4.0"]["active_units"] == 0                 # quick run: β = 4 collapses
    _figures(res, ["disentanglement.png"])
