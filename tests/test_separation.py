"""Separation metrics against ground truth (thesis/separation.py), and the thesis command in its
quick mode: it runs, writes every figure and metrics.json, and its numbers are sane.

Every measurement is checked on reconstructions whose answer is known without the code
under test: the oracle (the expected image given the truth) must score 1, the binarized
input nearly 1, an oracle blind under the disks and the training mean image chance; the
old 0.5-threshold metric, written out here, must show its blindness.  The probes are in
test_probes.py."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae_from_scratch.data.synthetic import (FOREGROUND_CELLS, CELL_SIZE, SYNTHETIC_NAMES,
                                             THRESHOLD, expected_images, make_synthetic,
                                             pixel_levels)
from vae_from_scratch.thesis.separation import (auc, cell_detection, cell_means, constant_target_error,
                                         detect_cells, fit_logistic, read_disks, target_error)
from vae_from_scratch.thesis.reproduction import latent_states

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("all", "outside", "inside", "inside_bg_on", "inside_bg_off")
N = 400                                             # images per data set: a few ms each


@pytest.fixture(scope="module")
def data():
    return make_synthetic("X90_20", 300, rng=np.random.default_rng(0))


_CACHE = {}


def synthetic(name, binary=True):
    """(data, levels, oracle) for one data set, binary or grey; made once per run."""
    key = (name, binary)
    if key not in _CACHE:
        threshold = THRESHOLD if binary else None
        d = make_synthetic(name, N, rng=np.random.default_rng(7), threshold=threshold)
        oracle = expected_images(d.foreground, d.background, d.cell_masks, d.disk_masks,
                                 threshold=threshold)
        _CACHE[key] = d, pixel_levels(threshold), oracle
    return _CACHE[key]


def score(recon, d, levels):
    return cell_detection(recon, d.foreground, d.background, d.cell_masks, d.inside,
                          d.disk_masks, levels)


def block_means(images):
    """(N, 10): the mean of each 6×6 cell block, by slicing at the FOREGROUND_CELLS corners
    (independent of cell_means)."""
    return np.stack([images[:, 0, r:r + CELL_SIZE, c:c + CELL_SIZE].mean(axis=(1, 2))
                     for r, c in FOREGROUND_CELLS], axis=1)


def covered(d):
    """(N, 10) bool cell c lies in a disk; (N, 10) bool that disk is truly on."""
    in_any = d.inside.any(axis=0)
    disk_on = (d.background.astype(int) @ d.inside.astype(int)).astype(bool)
    return np.broadcast_to(in_any, disk_on.shape), disk_on


def majority_share(d, group):
    """The share of the more frequent cell state among the group's cell-images."""
    inside, on = covered(d)
    select = {"all": np.ones_like(on), "outside": ~inside, "inside": inside,
              "inside_bg_on": inside & on, "inside_bg_off": inside & ~on}[group]
    p = d.foreground[select].mean()
    return max(p, 1 - p)


def assert_chance(accuracy, share, where):
    """An accuracy that carries no information: no better than always guessing the more
    frequent state (its share `share`) and no worse than always guessing the other, within
    0.05.  (A constant guess scores one of the two; with the cells' 50/50 states the two
    differ by sampling alone, so "within 0.05 of the majority share" would be a coin toss.)"""
    assert 1 - share - 0.05 < accuracy < share + 0.05, where


def _paint(data, foreground):
    """An image with exactly the given cells at 1 and everything else at 0."""
    masks = data.cell_masks.reshape(len(data.cell_masks), -1).astype(np.float64)
    return (foreground.astype(np.float64) @ masks).reshape(-1, 1, 60, 60)


# --- the levels and the oracle -------------------------------------------------------------

def test_pixel_levels_are_the_thesis_numbers():
    binary = pixel_levels()
    np.testing.assert_allclose(binary, [0.130, 0.870, 0.646, 0.996], atol=5e-4)
    np.testing.assert_allclose(pixel_levels(None), [0.3, 1.2, 0.9, 1.8], atol=1e-12)
    # the binarization threshold 0.75 is the midpoint of empty 0.3 and cell 1.2, so the
    # cell off/on midpoint is exactly 0.5, the old metric's threshold
    assert (binary.empty + binary.cell) / 2 == 0.5


@pytest.mark.parametrize("binary", [True, False])
def test_the_oracle_is_the_mean_of_the_generated_images(binary):
    """Averaged over many images, image − oracle is 0 on every kind of pixel."""
    d = make_synthetic("X90_20", 1000, rng=np.random.default_rng(3),
                       threshold=THRESHOLD if binary else None)
    oracle = expected_images(d.foreground, d.background, d.cell_masks, d.disk_masks,
                             threshold=THRESHOLD if binary else None)
    assert oracle.shape == d.images.shape and oracle.dtype == np.float64
    levels = pixel_levels(THRESHOLD if binary else None)
    assert set(np.unique(oracle)) <= set(levels)
    in_cell = (d.foreground.astype(int) @ d.cell_masks.reshape(10, -1).astype(int)).astype(bool)
    in_disk = (d.background.astype(int) @ d.disk_masks.reshape(2, -1).astype(int)).astype(bool)
    image, expected = d.images.reshape(len(d.images), -1), oracle.reshape(len(oracle), -1)
    for cell in (False, True):
        for disk in (False, True):
            kind = (in_cell == cell) & (in_disk == disk)
            assert kind.sum() > 50_000
            level = levels[2 * disk + cell]             # empty, cell, disk, both
            np.testing.assert_allclose(expected[kind], level)
            # a mean over > 50 000 pixels of spread ≤ 0.5 (binary) / 0.4 (grey)
            assert abs(image[kind].mean() - level) < 0.01


# --- cell_detection on reconstructions whose score is known -------------------------------

@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_the_oracle_scores_one_everywhere(name, binary):
    d, levels, oracle = synthetic(name, binary)
    result = score(oracle, d, levels)
    for group in GROUPS:
        part = result[group]
        assert part["accuracy"] == 1.0 and part["auc"] == 1.0, group
        assert part["false_positive_rate"] == 0.0 and part["false_negative_rate"] == 0.0
    assert result["disk_reading"]["accuracy"] == [1.0] * len(d.disks)
    assert result["disk_reading"]["n"] == N
    assert result["all"]["n"] == 10 * N
    assert result["inside"]["n"] == N * int(d.inside.any(axis=0).sum())
    assert result["inside_bg_on"]["n"] + result["inside_bg_off"]["n"] == result["inside"]["n"]
    assert result["inside"]["n"] + result["outside"]["n"] == result["all"]["n"]


@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_the_binarized_input_scores_nearly_one(name):
    d, levels, _ = synthetic(name)
    result = score(d.images, d, levels)
    for group in GROUPS:
        assert result[group]["accuracy"] >= 0.99, group
        assert result[group]["auc"] >= 0.99, group
    assert min(result["disk_reading"]["accuracy"]) == 1.0     # 600-odd pixels per disk


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_an_oracle_blind_under_the_disks_scores_chance_there(name, binary):
    """The oracle, with every covered cell shown at its expectation given only the disk
    state — the average of its off and on levels — knows the disk but not the cell."""
    d, levels, oracle = synthetic(name, binary)
    blind = oracle.copy()
    inside, disk_on = covered(d)
    under_on, under_off = (levels.disk + levels.both) / 2, (levels.empty + levels.cell) / 2
    for c in np.flatnonzero(d.inside.any(axis=0)):
        value = np.where(disk_on[:, c], under_on, under_off)           # (N,)
        blind[:, 0][:, d.cell_masks[c]] = value[:, None]
    result = score(blind, d, levels)
    assert result["outside"]["accuracy"] == 1.0 and result["outside"]["auc"] == 1.0
    assert result["disk_reading"]["accuracy"] == [1.0] * len(d.disks)
    for group in ("inside", "inside_bg_on", "inside_bg_off"):
        part = result[group]
        assert_chance(part["accuracy"], majority_share(d, group), group)
        assert abs(part["auc"] - 0.5) < 0.05, group
    # with the disk state fixed, each blind cell shows one value: all pairs tie
    assert result["inside_bg_on"]["auc"] == 0.5 and result["inside_bg_off"]["auc"] == 0.5


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_the_training_mean_image_scores_chance_everywhere(name, binary):
    """The per-pixel mean of other (training) images, shown for every test image."""
    d, levels, _ = synthetic(name, binary)
    train = make_synthetic(name, N, rng=np.random.default_rng(8),
                           threshold=THRESHOLD if binary else None)
    mean_image = np.broadcast_to(train.images.astype(np.float64).mean(axis=0), d.images.shape)
    result = score(mean_image, d, levels)
    for group in GROUPS:
        assert result[group]["auc"] == 0.5, group            # every cell: one value, all ties
        assert_chance(result[group]["accuracy"], majority_share(d, group), group)


def test_the_old_threshold_was_blind_under_an_active_disk():
    """The old metric: block mean > 0.5.  Under an active disk it calls even a perfect
    reconstruction's inactive cells active."""
    d, levels, oracle = synthetic("X90")
    old = block_means(oracle) > 0.5
    inside, disk_on = covered(d)
    under_on_inactive = inside & disk_on & ~d.foreground
    assert under_on_inactive.sum() > 300
    assert old[under_on_inactive].all()                       # false-positive rate 1.0
    share_active = d.foreground[inside & disk_on].mean()
    assert (old[inside & disk_on] == d.foreground[inside & disk_on]).mean() == share_active
    new = score(oracle, d, levels)["inside_bg_on"]
    assert new["false_positive_rate"] == 0.0 and new["accuracy"] == 1.0


@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_where_the_reading_is_right_the_new_metric_is_the_old_one_off_the_active_disks(name):
    """Outside the disks and under a disk that is off (and read off) the threshold is
    (empty + cell)/2 = 0.5 exactly: the same predictions as the old metric."""
    d, levels, oracle = synthetic(name)
    rng = np.random.default_rng(11)
    noisy = np.clip(oracle + rng.uniform(-0.4, 0.4, oracle.shape), 0, 1)
    for recon in (d.images, noisy, 0.5 * (d.images + oracle)):
        read = read_disks(recon, d.cell_masks, d.disk_masks, levels)            # (N, D)
        new = detect_cells(recon, d.cell_masks, d.inside, d.disk_masks, levels)
        old = block_means(recon) > 0.5
        right = read == d.background
        inside, disk_on = covered(d)
        # cell c's disk: read right and truly off
        disk_right = (right.astype(int) @ d.inside.astype(int)).astype(bool)
        compare = ~inside | (disk_right & ~disk_on)
        assert compare[:, d.inside.any(axis=0)].any()       # some covered cells compared
        np.testing.assert_array_equal(new[compare], old[compare])
        # and the binarized input has block means exactly 0.5 (18 of 36 pixels on)
    assert (block_means(d.images) == 0.5).any()


def test_counts_against_a_hand_made_case(data):
    """Cells that are always shown active: FPR 1, FNR 0, accuracy = share of active cells."""
    always = _paint(data, np.ones_like(data.foreground))
    levels = pixel_levels()
    result = cell_detection(always, data.foreground, data.background, data.cell_masks,
                            data.inside, data.disk_masks, levels)
    assert result["all"]["false_positive_rate"] == 1.0
    assert result["all"]["false_negative_rate"] == 0.0
    assert result["all"]["accuracy"] == pytest.approx(data.foreground.mean())
    # the painted image is 0 off the cells: every disk is read as off
    share_off = 1 - data.background.mean(axis=0)
    assert result["disk_reading"]["accuracy"] == pytest.approx(list(share_off))
    assert result["disk_reading"]["false_negative_rate"] == [1.0, 1.0]
    # inside, with the disk on: count by hand over (image, cell) pairs
    inside_cells = np.flatnonzero(data.inside.any(axis=0))
    disk = data.inside.argmax(axis=0)
    pairs = [(i, c) for i in range(len(data.foreground)) for c in inside_cells
             if data.background[i, disk[c]]]
    expected = np.mean([data.foreground[i, c] for i, c in pairs])
    assert result["inside_bg_on"]["accuracy"] == pytest.approx(expected)
    assert result["inside_bg_on"]["n"] == len(pairs)
    assert result["inside_bg_on"]["auc"] == 0.5              # one value for every cell


# --- the AUC -------------------------------------------------------------------------------

def brute_force_auc(scores, labels, strata):
    wins = pairs = 0.0
    for i in range(len(scores)):
        for j in range(len(scores)):
            if labels[i] and not labels[j] and strata[i] == strata[j]:
                pairs += 1
                wins += 1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0
    return wins / pairs


def test_auc_is_the_pairwise_count_with_ties_half(rng):
    for trial in range(20):
        n = int(rng.integers(2, 40))
        scores = rng.integers(0, 4, n).astype(float)         # many ties
        labels = rng.random(n) < 0.4
        strata = rng.integers(0, 3, n)
        if not (labels.any() and (~labels).any()):
            continue
        assert auc(scores, labels) == pytest.approx(brute_force_auc(scores, labels, np.zeros(n)),
                                                    abs=1e-12)
        has_pairs = any(labels[strata == s].any() and (~labels[strata == s]).any()
                        for s in range(3))
        by_stratum = brute_force_auc(scores, labels, strata) if has_pairs else np.nan
        np.testing.assert_allclose(auc(scores, labels, strata), by_stratum, atol=1e-12)


def test_auc_known_cases():
    labels = np.array([0, 0, 1, 1], bool)
    assert auc([1, 2, 3, 4], labels) == 1.0
    assert auc([4, 3, 2, 1], labels) == 0.0
    assert auc([1, 1, 1, 1], labels) == 0.5
    assert auc([1, 3, 2, 4], labels) == 0.75
    assert np.isnan(auc([1, 2], [True, True]))
    # an offset per stratum does not count when strata are given
    assert auc([0, 1, 10, 11], [0, 1, 0, 1], strata=[0, 0, 1, 1]) == 1.0
    assert auc([0, 1, 10, 11], [0, 1, 0, 1]) == 0.75


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


def test_logistic_probe_learns_a_separable_rule():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    y = x[:, 0] - 0.5 * x[:, 2] > 0.1
    predict = fit_logistic(x[:200], y[:200])
    assert (predict(x[200:]) == y[200:]).mean() > 0.95


def test_logistic_probe_fits_many_labels_as_it_fits_each():
    """(N, L) labels: each column's predictions are those of its own (N,) fit."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 2))
    ys = np.stack([x[:, 0] > 0, x[:, 1] > 0.5, x[:, 0] + x[:, 1] > 0,
                   np.zeros(300, bool)], axis=1)
    together = fit_logistic(x[:200], ys[:200])(x[200:])
    assert together.shape == (100, 4)
    for j in range(ys.shape[1]):
        alone = fit_logistic(x[:200], ys[:200, j])(x[200:])
        assert np.array_equal(together[:, j], alone), j
    assert (together[:, :3] == ys[200:, :3]).mean() > 0.95
    assert not together[:, 3].any()                  # an all-false label predicts false


def test_logistic_probe_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="fit_logistic: expected features"):
        fit_logistic(np.zeros((5, 2)), np.zeros(4))


def test_latent_states_are_the_thesis_one_hot_states():
    states = latent_states(4, 1, a=5)
    assert states.shape == (11, 5)
    assert not states[0].any()
    assert sorted(map(tuple, states[1:])) == sorted(
        tuple(s * 5 * np.eye(5)[d]) for s in (1, -1) for d in range(5))


@pytest.mark.slow
def test_thesis_quick_runs_and_writes_everything(tmp_path):
    run = subprocess.run([sys.executable, "-m", "vae_from_scratch", "thesis", "--quick",
                          "--datasets", "X90", "X90_20", "--out", str(tmp_path),
                          "--backend", "numpy"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "| X90 |" in run.stdout and "| X90_20 |" in run.stdout
    for name in ("X90", "X90_20"):
        folder = tmp_path / name
        for figure in ("reconstructions.png", "latent.png", "probes.png", "elbo.png",
                       "convergence.png"):
            assert (folder / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
        with np.load(folder / "heldout.npz") as held:
            assert {"x", "vae1", "vae2", "mu1", "mu2", "foreground", "background"} <= set(held.files)
            assert held["vae1"].shape == (128, 1, 60, 60) and held["mu1"].shape == (128, 4)
        metrics = json.loads((folder / "metrics.json").read_text())
        final = metrics["final"]
        assert metrics["epochs"] == 2 and len(metrics["convergence"]) == 2
        assert 0 <= final["cells"]["all"]["accuracy"] <= 1
        assert 0 <= final["target_mae"] < 1
        assert 0 <= final["target_mae_constant"] < 1
        assert final["elbo1"] < 0 and final["elbo2"] < 0
        assert set(final["probe"]) == ({"bottom-left"} if name == "X90"
                                       else {"bottom-left", "top-right"})
        assert set(final["probes"]["disks"]) == set(final["probe"])
        for group in ("outside", "inside_bg_on", "inside_bg_off"):
            assert 0 <= final["cells"][group]["auc"] <= 1
    assert (tmp_path / "summary.md").exists()
