"""Separation metrics against ground truth (separation.py), and the thesis command in its
quick mode: it runs, writes every figure and metrics.json, and its numbers are sane."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae_from_scratch.data.synthetic import make_synthetic
from vae_from_scratch.separation import (background_probe, cell_detection, cell_means,
                                         constant_target_error, fit_logistic, target_error)
from vae_from_scratch.thesis import latent_states

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data():
    return make_synthetic("X90_20", 300, rng=np.random.default_rng(0))


def _paint(data, foreground):
    """An image with exactly the given cells at 1 and everything else at 0."""
    masks = data.cell_masks.reshape(len(data.cell_masks), -1).astype(np.float64)
    return (foreground.astype(np.float64) @ masks).reshape(-1, 1, 60, 60)


def test_a_perfect_reconstruction_scores_one(data):
    perfect = _paint(data, data.foreground)
    result = cell_detection(perfect, data.foreground, data.background, data.cell_masks,
                            data.inside)
    for part in result.values():
        assert part["accuracy"] == 1.0
        assert part["false_positive_rate"] == 0.0 and part["false_negative_rate"] == 0.0
    n = len(data.foreground)
    assert result["all"]["n"] == 10 * n
    assert result["inside"]["n"] == n * int(data.inside.any(axis=0).sum())         # 5 cells
    assert result["inside_bg_on"]["n"] + result["inside_bg_off"]["n"] == result["inside"]["n"]


def test_counts_against_a_hand_made_case(data):
    """Cells that are always shown active: FPR 1, FNR 0, accuracy = share of active cells."""
    always = _paint(data, np.ones_like(data.foreground))
    result = cell_detection(always, data.foreground, data.background, data.cell_masks,
                            data.inside)
    assert result["all"]["false_positive_rate"] == 1.0
    assert result["all"]["false_negative_rate"] == 0.0
    assert result["all"]["accuracy"] == pytest.approx(data.foreground.mean())
    # inside, with the disk on: count by hand over (image, cell) pairs
    inside_cells = np.flatnonzero(data.inside.any(axis=0))
    disk = data.inside.argmax(axis=0)
    pairs = [(i, c) for i in range(len(data.foreground)) for c in inside_cells
             if data.background[i, disk[c]]]
    expected = np.mean([data.foreground[i, c] for i, c in pairs])
    assert result["inside_bg_on"]["accuracy"] == pytest.approx(expected)
    assert result["inside_bg_on"]["n"] == len(pairs)


def test_cell_means_and_target_error(data):
    half = np.full((2, 1, 60, 60), 0.5)
    np.testing.assert_allclose(cell_means(half, data.cell_masks), 0.5)
    assert target_error(np.zeros((3, 1, 2, 2)), np.full((3, 1, 2, 2), 0.25)) == 0.25


def test_the_blind_guess_is_the_per_pixel_median_and_beats_every_other_constant():
    rng = np.random.default_rng(0)
    g_train = (rng.random((101, 1, 2, 2)) < [[[[0.9, 0.5], [0.2, 0.7]]]]).astype(float)
    g_test = rng.random((50, 1, 2, 2))
    median = np.median(g_train, axis=0)        # 1, 0 or 1, 0, 1 per pixel
    assert set(np.unique(median)) <= {0.0, 1.0}
    blind = constant_target_error(g_train, g_test)
    assert blind == pytest.approx(np.abs(g_test - median).mean())
    # on the training images themselves no constant guess does better
    best = constant_target_error(g_train, g_train)
    for c in np.linspace(0, 1, 11):
        assert best <= target_error(np.full_like(g_train, c), g_train) + 1e-12
        assert best <= target_error(np.broadcast_to(g_train.mean(axis=0), g_train.shape), g_train)


def test_logistic_probe_learns_a_separable_rule_and_fails_on_noise():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    y = x[:, 0] - 0.5 * x[:, 2] > 0.1
    predict = fit_logistic(x[:200], y[:200])
    assert (predict(x[200:]) == y[200:]).mean() > 0.95
    noise = rng.random(400) < 0.5
    result = background_probe(x[:, :2], x[:, 2:], np.stack([y, noise], axis=1), ["rule", "coin"])
    assert result["rule"]["z1"] > 0.8 and result["rule"]["z2"] > 0.6   # both spaces hold part
    assert abs(result["coin"]["z1"] - 0.5) < 0.12                       # nothing to find


def test_latent_states_are_the_thesis_one_hot_states():
    states = latent_states(4, 1, a=5)
    assert states.shape == (11, 5)
    assert not states[0].any()
    assert sorted(map(tuple, states[1:])) == sorted(
        tuple(s * 5 * np.eye(5)[d]) for s in (1, -1) for d in range(5))


def test_thesis_quick_runs_and_writes_everything(tmp_path):
    run = subprocess.run([sys.executable, "-m", "vae_from_scratch", "thesis", "--quick",
                          "--datasets", "X90", "X90_20", "--out", str(tmp_path),
                          "--backend", "numpy"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "| X90 |" in run.stdout and "| X90_20 |" in run.stdout
    for name in ("X90", "X90_20"):
        folder = tmp_path / name
        for figure in ("reconstructions.png", "latent.png", "elbo.png", "convergence.png"):
            assert (folder / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
        metrics = json.loads((folder / "metrics.json").read_text())
        final = metrics["final"]
        assert metrics["epochs"] == 2 and len(metrics["convergence"]) == 2
        assert 0 <= final["cells"]["all"]["accuracy"] <= 1
        assert 0 <= final["target_mae"] < 1
        assert 0 <= final["target_mae_constant"] < 1
        assert final["elbo1"] < 0 and final["elbo2"] < 0
        assert set(final["probe"]) == ({"bottom-left"} if name == "X90"
                                       else {"bottom-left", "top-right"})
    assert (tmp_path / "summary.md").exists()
