"""Chapter 1, optimization: its three sections' quick runs say what the theory says.

Tolerances: exact identities and round-off (GD against the normal equations, the
divergence limit 2/λ_max) to 1e-10 or tighter; measured convergence rates within 1e-3 of
ρ(η) = max |1 − ηλ_i|; Monte Carlo means within MC_SE = 4.5 standard errors (at 4.5 SE a
correct section fails one comparison with probability ≈ 7e-6, and the seeds are fixed
anyway); sample variances (not Gaussian) within 30 % of the prediction, about 5 SE at the
quick mode's 500 draws; SGD's noise floor within 4.5 SE plus 15 % of ½ tr(HP), which
treats the noise as independent of θ; results of optimization that theory bounds but
does not pin down on the side the theory says, with margins measured in quick mode and
stated next to each check.
"""

import math

import pytest

pytestmark = pytest.mark.slow
MC_SE = 4.5


def figures(res):
    return {p.split("/")[-1] for p in res["figures"]}


def test_ch01_1_gradient_descent_and_learning_rates(run_section):
    res = run_section("ch01_1").check()
    assert res["gd_vs_closed_form"] < 1e-10                 # GD converges to the normal equations
    lr = res["learning_rates"]
    assert math.isclose(lr["lr_limit"], 2 / lr["lambda_max"], rel_tol=1e-12)
    runs = {r["name"]: r for r in lr["runs"]}
    for r in runs.values():                                # ρ(η) = max |1 − ηλ_i|, exactly
        assert abs(r["rate_measured"] - r["rate_predicted"]) < 1e-3, r
    assert runs["good"]["final_error"] < 1e-10
    assert runs["oscillating"]["final_error"] < 1e-8
    assert runs["too small"]["final_error"] > 1e-2         # ρ = 0.99…: far from done
    assert runs["diverging"]["rate_predicted"] > 1 and runs["diverging"]["final_error"] > 1e3
    assert figures(res) == {"learning_rates.png"}


def test_ch01_2_minibatch_gradients_noise_floor_and_sgd(run_section):
    res = run_section("ch01_2").check()
    for r in res["minibatch_gradients"]:                   # eq. 2.21: unbiased, variance ∝ 1/N_M
        assert r["max_bias_in_se"] < MC_SE, r
        assert abs(r["var_ratio"] - 1) < 0.3, r
    floors = {r["batch"]: r for r in res["noise_floor"]}
    for r in floors.values():
        # ½ tr(HP) treats the noise as independent of θ; least squares' noise grows with
        # θ − θ̂, which raised the measured floor by up to 10 % (N_M = 1, long runs)
        gap = abs(r["floor_measured"] - r["floor_predicted"])
        assert gap < MC_SE * r["floor_se"] + 0.15 * r["floor_predicted"], r
    assert floors[1]["floor_measured"] > 5 * floors[10]["floor_measured"]   # theory: ≈ 10.5
    decaying = next(r for r in res["sgd"] if "decaying" in r["run"])
    assert decaying["final_loss_gap"] < 1e-3               # measured 4.9e-5 in quick mode
    assert figures(res) == {"minibatch_sgd.png"}


def test_ch01_3_local_and_global_minima(run_section):
    res = run_section("ch01_3").check()
    m = res["minima"]
    assert m["global_min"] < m["local_max"] < m["local_min"]
    assert m["gd_grid_exceptions"] == 0                    # GD ends in the basin it starts in
    share = {r["batch"]: r["share_global"] for r in m["runs_from_local_basin"]}
    assert share[100] == 0.0                               # GD from the local basin stays there
    assert share[10] < 0.05                                # too little noise to cross (0 measured)
    assert share[1] > 0.5                                  # 0.80 measured in quick mode
    assert figures(res) == {"local_global_minima.png"}
