"""Chapter 3, the KL divergence: its two sections' quick runs say what the theory says.

Tolerances: closed forms and identities to 1e-9; Monte Carlo estimates within MC_SE
standard errors of the exact value (at 4.5 SE a correct section fails one comparison
with probability ≈ 7e-6, and the seeds are fixed anyway); grid searches to the grid's
spacing (0.1 in μ, 5 % in σ in quick mode).
"""

import math

import pytest

pytestmark = pytest.mark.slow
MC_SE = 4.5


def test_ch03_1_closed_form_against_monte_carlo(run_section):
    res = run_section("ch03_1").check()
    for r in res["closed_form_vs_mc"]:
        assert r["z"] < MC_SE, r
        assert abs(r["eq20_minus_eq17"] - r["kl_closed"]) < 1e-9, r       # eq. 22 = eq. 20 − eq. 17
        for k in ("eq17", "eq20"):
            assert abs(r[f"{k}_mc"] - r[k]) <= MC_SE * r[f"{k}_se"] + 1e-12, (k, r)
        assert r["kl_closed"] >= 0                                       # eq. 2.4
    q_is_p = res["closed_form_vs_mc"][0]
    assert q_is_p["kl_closed"] == 0 and q_is_p["kl_mc"] == 0
    mix = res["log_sigma_mixup"]
    assert mix["z_right"] < MC_SE and mix["z_wrong"] > 20


def test_ch03_2_asymmetry_and_mode_seeking(run_section):
    res = run_section("ch03_2").check()
    asym = res["asymmetry"]
    for r in asym:
        assert abs(r["kl_qp_mc"] - r["kl_qp"]) < MC_SE * r["kl_qp_se"], r
        assert abs(r["kl_pq_mc"] - r["kl_pq"]) < MC_SE * r["kl_pq_se"], r
    assert any(abs(r["kl_qp"] - r["kl_pq"]) > 1 for r in asym)            # not symmetric
    equal_var = next(r for r in asym if r["sigma"] == 1.0)                 # equal variances:
    assert abs(equal_var["kl_qp"] - equal_var["kl_pq"]) < 1e-12            # ½ μ² both ways
    modes = res["mode_seeking"]
    m_mean, m_std = modes["moment_matching"]
    mu, sigma, _ = modes["argmin_kl_pq"]
    assert abs(mu - m_mean) < 0.11 and abs(sigma / m_std - 1) < 0.05       # grid resolution
    (mu_l, s_l, kl_l), (mu_r, s_r, kl_r) = modes["local_minima_kl_qp"]
    assert abs(mu_l + 2.5) < 0.11 and abs(mu_r - 2.5) < 0.11
    assert abs(s_l / 0.6 - 1) < 0.05 and abs(s_r / 0.6 - 1) < 0.05
    assert abs(kl_l - math.log(1 / 0.6)) < 0.01 and abs(kl_r - math.log(1 / 0.4)) < 0.01
    assert {p.split("/")[-1] for p in res["figures"]} == {"asymmetry.png", "mode_seeking.png"}
