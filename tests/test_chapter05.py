"""Chapter 5, gradient estimators: its three sections' quick runs say what the theory says.

Tolerances: the change of variables (thesis eq. 2.29) to round-off, 1e-12; the decoder
gradients of the two estimators on the same ε equal to 1e-12; Monte Carlo means within
MC_SE standard errors of the exact gradient (at 4.5 SE a correct section fails one
comparison with probability ≈ 7e-6, and the seeds are fixed anyway), eq. 2.14's
"z held fixed" more than 10 SE away from it.  Variances and training, which theory orders
but does not pin down, on the side it says, with margins from the quick run: the
score-function/reparameterization variance ratio above 5 at D = 2 (23 measured; > 1 is
the claim) and above 1 for every component and dimension, ten times larger at D = 16
than at D = 1 (4614 against 54 measured); the reparameterization run closer to the best
ELBO at the end of training (0.010 against 0.458 nats measured).
"""

import numpy as np
import pytest

pytestmark = pytest.mark.slow
MC_SE = 4.5


def test_ch05_1_both_estimators_unbiased_and_the_variance_ratio(run_section):
    res = run_section("ch05_1").check()
    assert res["change_of_variables_max_err"] < 1e-12                  # thesis eq. 2.29
    g = res["gradient"]
    assert g["max_z_RP"] < MC_SE and g["max_z_SF"] < MC_SE              # both unbiased
    assert max(r["fixed_z"] for r in g["components"]) > 10              # eq. 2.14: biased
    assert g["decoder_grad_max_diff"] < 1e-12
    assert g["total_var_ratio"] > 5                                     # 23 measured
    for r in g["components"]:
        assert r["var_ratio"] > 1, r
    assert [p.split("/")[-1] for p in res["figures"]] == ["estimators.png"]


def test_ch05_2_the_gap_widens_with_dimension_and_slows_training(run_section):
    res = run_section("ch05_2").check()
    dims = res["dimension"]
    assert [r["D"] for r in dims] == [1, 2, 4, 8, 16]
    assert all(r["ratio"] > 1 for r in dims), dims
    assert dims[-1]["ratio"] > 10 * dims[0]["ratio"]                    # the gap widens with D
    tr = res["training"]
    assert tr["RP"]["final_gap"] < tr["SF"]["final_gap"]
    assert {p.split("/")[-1] for p in res["figures"]} == {"variance_vs_dimension.png",
                                                          "training.png"}


def test_ch05_3_kl_gradient_closed_form_against_monte_carlo(run_section):
    res = run_section("ch05_3").check()
    assert res["fd_max_rel_err"] < 1e-6
    cases = {"ch03.1's q": ([0.5, -1.0, 2.0], [0.5, 2.0, 1.0]), "q = p": ([0.0] * 3, [1.0] * 3)}
    rows = res["components"]
    assert len(rows) == 12
    for r in rows:
        m, var = (np.array(a) for a in cases[r["case"]])
        i = int(r["component"][-1]) - 1
        if "μ" in r["component"]:                       # ĝ_μ = μ + σ ε
            closed, pred = m[i], var[i]
        else:                                           # ĝ_logσ² = ½ (σ² ε² + σ μ ε − 1)
            closed, pred = 0.5 * (var[i] - 1), var[i] ** 2 / 2 + var[i] * m[i] ** 2 / 4
        assert abs(r["closed"] - closed) < 1e-12, r
        assert abs(r["mc_mean"] - closed) < MC_SE * r["mc_se"], r              # unbiased
        assert abs(r["var"] - pred) < MC_SE * r["var_se"], r                   # its variance
    m, var = (np.array(a) for a in cases["ch03.1's q"])
    total = np.sum(var + var ** 2 / 2 + var * m ** 2 / 4)
    assert [a["M"] for a in res["averaged"]] == [1, 10, 100]
    for a in res["averaged"]:                                                # variance / M
        assert abs(a["var_total"] - total / a["M"]) < MC_SE * a["var_total_se"], a
    assert res["library_vs_chain"] < 1e-12 and res["analytic_vs_closed"] < 1e-12
    for kl in ("mc", "analytic"):
        assert res["elbo_gradient"][kl]["max_z"] < MC_SE
    assert res["elbo_var_ratio_mc_over_analytic"] > 1.1
    assert [p.split("/")[-1] for p in res["figures"]] == ["kl_gradient.png"]
