"""Chapter 4, the ELBO: its two sections' quick runs say what the theory says.

Tolerances: closed forms and identities (the floor −½ log(1 − ρ²), log p(x) = ELBO + KL,
the tight bound's zero variance) to 1e-9 or tighter; Monte Carlo estimates of the gap
within MC_SE standard errors of the exact KL (at 4.5 SE a correct section fails one
comparison with probability ≈ 7e-6, and the seeds are fixed anyway); the trained
encoder, which theory bounds but does not pin down: its KL never below the floor, below a
tenth of its initial value, and below twice the floor (1.4 × the floor measured in quick
mode).  Section 4.3's joint training, which the theory pins down (the ELBO's maximum
is the closed-form maximum of log p_θ(x)): never above it (1e-9), within 0.01 nats of
it at the end (3e-4 measured in quick mode), the gap below 0.01 nats, C_θ within 0.1 of
the maximum's (relative Frobenius norm).
"""

import math

import pytest

pytestmark = pytest.mark.slow
MC_SE = 4.5


def test_ch04_1_gap_is_kl_and_tight_bound(run_section):
    res = run_section("ch04_1").check()
    info = res["model"]
    assert abs(info["kl_floor"] + 0.5 * math.log(1 - info["rho"] ** 2)) < 1e-10
    for r in res["gap_vs_kl"]:                             # thesis eq. 2.8, by Monte Carlo
        assert r["z_mc"] < MC_SE and r["z_analytic"] < MC_SE, r
        assert abs(info["log_p_x"] - r["elbo_exact"] - r["kl_to_posterior"]) < 1e-9, r
    best = next(r for r in res["gap_vs_kl"] if r["q"] == "best diagonal")
    assert abs(best["kl_to_posterior"] - info["kl_floor"]) < 1e-12
    assert all(r["kl_to_posterior"] >= best["kl_to_posterior"] for r in res["gap_vs_kl"])
    tight = res["tight_bound"]                             # slides Concept 11.15
    assert tight["kl"] < 1e-12 and tight["elbo_std"] < 1e-10 and tight["max_abs_error"] < 1e-10
    assert {p.split("/")[-1] for p in res["figures"]} == {"posterior_and_q.png"}


def test_ch04_2_training_drives_the_kl_to_its_floor(run_section):
    res = run_section("ch04_2").check()
    tr = res["training"]
    assert tr["max_sum_drift"] < 1e-9                      # ELBO + KL = log p(x) at every step
    assert tr["final_kl"] >= tr["kl_floor_mean"] - 1e-9    # no diagonal q beats the floor
    assert tr["final_kl"] < tr["initial_kl"] / 10
    assert tr["final_kl"] < 2 * tr["kl_floor_mean"]        # 1.4 × the floor in quick mode
    assert {p.split("/")[-1] for p in res["figures"]} == {"training.png"}


def test_ch04_3_encoder_and_decoder_reach_the_maximum(run_section):
    res = run_section("ch04_3").check()
    j = res["joint"]
    assert j["ll_max"] >= j["ll_true"] - 1e-12                # the maximum beats the truth
    assert j["final_elbo"] <= j["final_log_p"] + 1e-9         # thesis eq. 2.8
    assert j["final_log_p"] <= j["ll_max"] + 1e-9             # nothing beats the maximum
    assert j["final_log_p"] > j["ll_max"] - 0.01 and j["initial_log_p"] < j["ll_max"] - 10
    assert j["final_log_p"] - j["final_elbo"] < 0.01 and abs(j["final_rho"]) < 0.1
    assert j["final_to_max"] < 0.1 and j["final_to_true"] < j["initial_to_true"] / 10
    assert {p.split("/")[-1] for p in res["figures"]} == {"shared_objective.png"}
