"""Chapter 6, neural networks: its three sections' quick runs say what the theory says.

Tolerances: the identities of eq. 2.23 and 2.24 to 1e-12 (float64 round-off is ~1e-16);
the hand-written reverse loop equal to Sequential.backward exactly (the same operations
in the same order); the largest sigmoid′ 1/4 to pytest.approx's relative 1e-6; gradient
checks of the correct layers below 1e-6 (they measure ~1e-10), of the two planted bugs
above 0.1 (they measure 0.75 and 1.0).  Training (15 epochs, one seed): every
activation at least halves its training loss; the loss at the start within 0.3 nats of
a uniform guess, log 10; the sigmoid slower to 0.5 nats than relu and tanh (16 epochs
against 4 and 3).
"""

import math

import pytest

pytestmark = pytest.mark.slow


def figure_names(res):
    return {p.split("/")[-1] for p in res["figures"]}


def test_ch06_1_dense_composition_and_activations(run_section):
    run = run_section("ch06_1")
    res = run.check()
    assert res["composition"]["eq_2_24_gap"] < 1e-12                 # Dense is W x + b
    assert res["composition"]["linear_deflation_gap"] < 1e-12         # two linear layers = one
    assert res["activations"]["relu_derivative_at_0"] == 0            # relu′(0) := 0
    assert res["activations"]["sigmoid_derivative_max"] == pytest.approx(0.25)
    assert figure_names(res) == {"activations.png"}
    assert (run.out / "activations.png").is_file()


def test_ch06_2_backprop_and_gradient_checks(run_section):
    run = run_section("ch06_2")
    res = run.check()
    assert res["backprop"]["reverse_loop_gap"] == 0
    g = res["gradcheck"]
    assert g["max_error_correct"] < 1e-6
    assert g["min_error_bug"] > 0.1
    bugs = {name: errors for name, errors in g["errors"].items() if name.startswith("bug")}
    assert len(bugs) == 2 and all(max(e.values()) > 0.1 for e in bugs.values())
    assert all(max(e.values()) < 1e-6 for name, e in g["errors"].items() if name not in bugs)
    assert figure_names(res) == {"gradient_checks.png"}
    assert (run.out / "gradient_checks.png").is_file()


def test_ch06_3_training_three_activations(run_section):
    run = run_section("ch06_3")
    res = run.check()
    training = res["training"]
    assert set(training) == {"relu", "tanh", "sigmoid"}
    for name, r in training.items():
        losses = r["loss"][0]
        assert losses[-1] < 0.5 * losses[0], name                   # the loss falls
        assert abs(losses[0] - math.log(10)) < 0.3, name            # untrained ≈ uniform guess
    reach = {name: r["epochs_to_loss_0.5"][0] for name, r in training.items()}
    assert reach["sigmoid"] > max(reach["relu"], reach["tanh"]), reach
    assert res["backend"] == "numpy"
    assert figure_names(res) == {"training.png"}
    assert (run.out / "training.png").is_file()
    assert "check dense_backward" in run.output                      # the exercise's commands
