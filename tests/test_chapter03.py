"""Chapter 3, the KL divergence: its three sections' quick runs say what the theory says.

Tolerances: closed forms and identities to 1e-9; Monte Carlo estimates within MC_SE
standard errors of the exact value (at 4.5 SE a correct section fails one comparison
with probability ≈ 7e-6, and the seeds are fixed anyway); grid searches to the grid's
spacing (0.1 in μ, 5 % in σ in quick mode).  KL ≥ 0 (3.3): every minimum over random pairs
≥ −1e-15 (round-off where q ≈ p), KL(p ‖ p) and the bound Σ q (1 − p/q) of eq. 2.4 zero to
1e-12; along q_t → p the ratio KL / (½ χ²) within 2 % of 1 at the smallest t, its error
shrinking at least fivefold per decade of t; the VQ-VAE's eq. 2.3 rate equal to M log K
(computed here) to 1e-12.
"""

import math

import numpy as np
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


def test_ch03_3_kl_nonnegative_and_the_vq_vae_rate(run_section):
    res = run_section("ch03_3").check()
    assert len(res["discrete"]) == 8 and len(res["gaussian"]) == 4
    for r in res["discrete"] + res["gaussian"]:                       # thesis eq. 2.4
        assert r["min"] >= -1e-15 and r["self_max"] < 1e-12, r
    for r in res["discrete"]:
        assert r["term_gap_min"] >= -1e-15, r                          # −log r ≥ 1 − r
    for r in res["gaussian"]:
        assert r["diag_min"] >= 0, r
    line = res["perturbation"]
    t, kl, half_chi2 = (np.array(line[k]) for k in ("t", "kl", "half_chi2"))
    assert np.all(kl > 0) and np.all(np.diff(kl) > 0)                  # 0 only at q = p
    err = np.abs(kl / half_chi2 - 1)
    i3 = int(np.argmin(np.abs(t - 1e-3)))
    assert t[0] == 1e-4 and err[0] < 0.02 and err[0] < err[i3] / 5     # error ∝ t
    for r in res["vq_vae"]:                                            # eq. 2.3, one-hot q
        rate = r["M"] * math.log(r["K"])
        for k in ("kl_eq_2_3_min", "kl_eq_2_3_max", "model_kl", "reported_kl"):
            assert abs(r[k] - rate) < 1e-12, (k, r)
        assert abs(r["elbo_minus_rec_plus_kl"]) < 1e-9               # ELBO = rec − M log K
    soft = res["soft_assignment"]
    kls = np.array([s["kl"] for s in soft])
    assert soft[0]["beta"] == 0 and abs(kls[0]) < 1e-12               # q uniform = p
    assert np.all(np.diff(kls) > 0) and kls.max() <= math.log(16) + 1e-12
    assert kls[-1] > 0.95 * math.log(16)                              # → the one-hot log K
    for s in soft:
        assert abs(s["kl"] - s["log_K_minus_H"]) < 1e-12, s
    assert {p.split("/")[-1] for p in res["figures"]} == {"kl_discrete.png"}
