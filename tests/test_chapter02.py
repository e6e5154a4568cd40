"""Chapter 2, latent variable models: its four sections' quick runs say what the theory
says.

Tolerances: exact identities (the posterior as proposal, whose every weight is p(x)) to
1e-9, 1e-10 for log_likelihood's log p̂; Monte Carlo estimates within MC_SE standard
errors of the exact value (at 4.5 SE a correct section fails one comparison with
probability ≈ 7e-6, and the seeds are fixed anyway); the measured spread of a single
importance weight within 5 % of the exact one (20,000 draws in quick mode); log p̂_K:
its bias and spread shrinking with K, on the side the theory says; the 1.5 × posterior
variance encoder within 0.1 nat of log p(x), the naive one more than 1 nat off at D = 16
and ten times worse than it.  EM (2.4): the log-likelihood never falls by more than
round-off, 1e-12, and the ELBO after an E-step equals it to 1e-12 (thesis eq. 2.8 with the
exact posterior); the fitted parameters, matched to the true ones up to a relabelling,
within MC_SE of their sampling standard errors (recomputed here from the true mixture)
and with a root mean square of those z-scores below 2 (about 1 expected; 1.26 measured);
Wilks' 2 n (log p̂ − log p) positive and below 17 + MC_SE √34 (a χ²₁₇ draw).
"""

import itertools
import math

import numpy as np
import pytest

pytestmark = pytest.mark.slow
MC_SE = 4.5


def test_ch02_1_mixture(run_section):
    res = run_section("ch02_1").check()
    mix = res["mixture"]
    assert mix["avg_log_lik_mu_A_moved"] < mix["avg_log_lik"]
    n = 600                                                  # quick mode's points
    for share in mix["component_share"]:                      # ancestral sampling: 1/3 each
        assert abs(share - 1 / 3) < MC_SE * math.sqrt(2 / 9 / n)
    assert {p.split("/")[-1] for p in res["figures"]} == {"mixture.png"}


def test_ch02_2_naive_and_importance_sampling(run_section):
    res = run_section("ch02_2").check()
    per = res["estimators"]["per_draw"]
    for r in per:
        if r["rel_std_exact"] < 1e-12:                     # q = posterior: every weight is p(x)
            assert r["rel_std_measured"] < 1e-9 and abs(r["mean_ratio"] - 1) < 1e-9, r
        else:
            assert abs(r["rel_std_measured"] / r["rel_std_exact"] - 1) < 0.05, r
            assert abs(r["mean_ratio"] - 1) < MC_SE * r["mean_ratio_se"], r   # unbiased
    naive_a = next(r for r in per if r["point"] == "near μ_A" and r["proposal"].startswith("naive"))
    assert abs(naive_a["rel_std_exact"] - math.sqrt(2)) < 1e-3          # slides Concept 11.8
    n = 20_000
    assert abs(naive_a["useful_share"] - 1 / 3) < MC_SE * math.sqrt(2 / 9 / n)
    est = {(r["proposal"], r["K"]): r for r in res["estimators"]["log_estimates"]}
    for (prop, K), r in est.items():
        if "exact posterior" in prop:
            assert abs(r["bias"]) < 1e-9 and r["std"] < 1e-9, r
    for prop in ("naive, q = p(z)", "IS, blurred posterior"):
        # log p̂_K: bias O(1/K) and spread O(1/√K)
        assert abs(est[(prop, 100)]["bias"]) < abs(est[(prop, 1)]["bias"])
        assert est[(prop, 100)]["std"] < est[(prop, 10)]["std"] < est[(prop, 1)]["std"]
    assert est[("naive, q = p(z)", 1)]["bias"] < -1        # 2/3 of single draws miss A
    assert {p.split("/")[-1] for p in res["figures"]} == {"estimators.png"}


def test_ch02_3_dimension(run_section):
    res = run_section("ch02_3").check()
    dims = res["dimension"]
    for r in dims:
        assert abs(r["posterior_bias"]) < 1e-10 and r["posterior_std"] < 1e-10, r
        assert abs(r["wide_bias"]) < 0.1, r
    last = dims[-1]
    assert last["D"] == 16
    naive_rmse = math.hypot(last["naive_bias"], last["naive_std"])
    wide_rmse = math.hypot(last["wide_bias"], last["wide_std"])
    assert naive_rmse > 1 and naive_rmse > 10 * wide_rmse
    assert {p.split("/")[-1] for p in res["figures"]} == {"dimension.png"}


def test_ch02_4_em_fits_the_mixture(run_section):
    from vae_from_scratch.models.toy import GaussianMixture
    res = run_section("ch02_4").check()
    em = res["em"]
    ll = np.array(em["log_lik"])
    assert np.diff(ll).min() > -1e-12                       # EM never lowers log p(X)
    assert em["max_elbo_gap_after_e_step"] < 1e-12         # KL(q ‖ posterior) = 0
    before, elbo_q, elbo_new, after = em["sandwich"]
    assert abs(before - elbo_q) < 1e-12 and elbo_q < elbo_new <= after + 1e-12
    assert ll[-1] > ll[0] + 3 and ll[-1] >= em["log_lik_true"]     # from the poor start
    true, n = GaussianMixture.example_11_5(), em["points"]
    w, mu, cov = (np.array(em[k]) for k in ("weights", "means", "covs"))
    assert abs(w.sum() - 1) < 1e-12 and np.all(np.linalg.eigvalsh(cov) > 0)
    perm = list(min(itertools.permutations(range(3)),               # labels are arbitrary
                    key=lambda p: np.sum((mu[list(p)] - true.means) ** 2)))
    w, mu, cov = w[perm], mu[perm], cov[perm]
    z = []
    for k in range(3):
        nk, S = n * true.weights[k], true.covs[k]
        z.append(abs(w[k] - true.weights[k]) / math.sqrt(true.weights[k] * (1 - true.weights[k]) / n))
        z += list(np.abs(mu[k] - true.means[k]) / np.sqrt(np.diag(S) / nk))
        for i, j in ((0, 0), (0, 1), (1, 1)):
            z.append(abs(cov[k, i, j] - S[i, j]) / math.sqrt((S[i, i] * S[j, j] + S[i, j] ** 2) / nk))
    z = np.array(z)
    assert len(z) == 18 and z.max() < MC_SE and math.sqrt(np.mean(z ** 2)) < 2, z
    assert em["z_oracle_max"] < 0.5                     # EM ≈ the estimate that knew the labels
    assert 0 < em["wilks"] < 17 + MC_SE * math.sqrt(34)
    assert {p.split("/")[-1] for p in res["figures"]} == {"em_fit.png"}
