"""Chapter 7, the VAE on digits: its three sections' quick runs say what the theory says.

Tolerances: the ELBO assembled by parts against objectives.elbo, and the change of
variables of eq. 2.29, to 1e-4 (float32 round-off on numbers of about 25 is ~1e-6); the
ELBO against its two terms to 1e-4 (float32 sums); the squared-error form of the Gaussian
log-likelihood (eq. 2.30) to a relative 1e-5.  Trained models (30 epochs, fixed seeds)
by margins their theory implies: training raises the test ELBO by more than 2 nats, the
IWAE bound lies above the ELBO, the KL rises and the squared error falls as σ² shrinks,
σ² = 1 collapses (no active unit), and the 2-D latent space's nearest-neighbour label
agreement is above 0.25 (chance ≈ 0.1).
"""

import pytest

pytestmark = pytest.mark.slow
FIXED = ("σ² = 1", "σ² = 0.1", "σ² = 0.01")


def figure_names(res):
    return {p.split("/")[-1] for p in res["figures"]}


def test_ch07_1_elbo_by_parts_and_the_bernoulli_vae(run_section):
    res = run_section("ch07_1").check()
    b = res["bernoulli"]
    assert b["elbo_parts_gap"] < 1e-4 and b["change_of_variables_gap"] < 1e-4
    assert b["elbo"] > b["untrained_elbo"] + 2
    assert b["elbo"] == pytest.approx(b["reconstruction"] - b["kl"], abs=1e-4)
    assert b["log_px_iwae50"] > b["elbo"]
    assert figure_names(res) == {"elbo_bernoulli.png", "reconstructions_bernoulli.png",
                                 "samples_bernoulli.png", "traversal_bernoulli.png"}


def test_ch07_2_gaussian_decoders_and_sigma2(run_section):
    res = run_section("ch07_2").check()
    g = res["gaussian"]
    kls = [g[k]["kl"] for k in FIXED]
    errors = [g[k]["squared_error"] for k in FIXED]
    assert kls[0] < kls[1] < kls[2] and errors[0] > errors[1] > errors[2]
    assert g["σ² = 1"]["active_units"] == 0                 # the collapse the text describes
    assert all(g[k]["squared_error_form_gap"] < 1e-5 for k in FIXED)
    assert figure_names(res) == {"reconstructions_gaussian.png", "gaussian_sigma.png"}


def test_ch07_3_the_2d_latent_space(run_section):
    run = run_section("ch07_3")
    res = run.check()
    assert res["latent_2d"]["nearest_neighbour_label_agreement"] > 0.25
    assert figure_names(res) == {"latent_scatter.png", "latent_grid.png"}
    assert "exercises check elbo --file my_elbo.py" in run.output
