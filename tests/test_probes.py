"""The latent probes of thesis/separation.py: the k-nearest-neighbour vote against a brute-force
loop, and latent_probes on codes whose answer is known — an ideal code (z1 = the cell
states, z2 = the disk states, plus a little noise) and a random one."""

import numpy as np
import pytest

from vae_from_scratch.data.synthetic import make_synthetic
from vae_from_scratch.thesis.separation import disk_probe_summary, fit_knn, latent_probes

N_TRAIN, N_TEST = 1000, 500
NOISE = 0.1                     # small next to the 0/1 states the ideal code carries


def brute_force_knn(train_x, train_y, test_x, k):
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-8
    Z, Q = (train_x - mean) / std, (test_x - mean) / std
    majority = train_y.mean() >= 0.5
    out = []
    for q in Q:
        dist = [np.sqrt(((q - z) ** 2).sum()) for z in Z]
        votes = sum(train_y[j] for j in np.argsort(dist)[:min(k, len(Z))])
        k_used = min(k, len(Z))
        out.append(majority if 2 * votes == k_used else 2 * votes > k_used)
    return np.array(out)


@pytest.mark.parametrize("k", [1, 4, 5, 15, 100])
def test_knn_is_the_brute_force_vote(rng, k):
    train_x = rng.standard_normal((40, 3)) * [1.0, 5.0, 0.2] + [0.0, 3.0, -1.0]
    train_y = rng.random(40) < 0.4
    test_x = rng.standard_normal((25, 3)) * [1.0, 5.0, 0.2] + [0.0, 3.0, -1.0]
    predicted = fit_knn(train_x, train_y, k=k, chunk=7)(test_x)     # several chunks
    np.testing.assert_array_equal(predicted, brute_force_knn(train_x, train_y, test_x, k))


def test_knn_ties_go_to_the_training_majority():
    train_x = np.array([[0.0], [1.0], [10.0], [11.0], [12.0]])
    train_y = np.array([True, False, True, True, False])       # majority True
    # k = 2 at 0.5: one True and one False neighbour, a tie
    assert fit_knn(train_x, train_y, k=2)(np.array([[0.5]])).tolist() == [True]
    assert fit_knn(train_x, ~train_y, k=2)(np.array([[0.5]])).tolist() == [False]


@pytest.fixture(scope="module")
def truth():
    """X90_20 (two disks; cells 4, 7, 8 in the bottom-left one, 1 and 3 in the top-right)."""
    train = make_synthetic("X90_20", N_TRAIN, rng=np.random.default_rng(21))
    test = make_synthetic("X90_20", N_TEST, rng=np.random.default_rng(22))
    return train, test


def probes_of(train, test, code):
    return latent_probes(*code(train), train.foreground, train.background,
                         *code(test), test.foreground, test.background,
                         train.inside, [d.name for d in train.disks])


def best_constant(test, what, name):
    """The held-out accuracy of the better constant guess, max(p, 1 − p), computed from
    the truth: for a disk, over all held-out images; for a cell group, averaged over its
    cells, on the held-out entries the group scores."""
    if what == "disk":
        d = [disk.name for disk in test.disks].index(name)
        p = test.background[:, d].mean()
        return max(p, 1 - p)
    in_any = test.inside.any(axis=0)
    shares = []
    for c in range(test.foreground.shape[1]):
        if (name == "outside") == bool(in_any[c]):
            continue
        rows = (test.background[:, test.inside[:, c].argmax()] if name == "inside_bg_on"
                else np.ones(len(test.foreground), bool))
        p = test.foreground[rows, c].mean()
        shares.append(max(p, 1 - p))
    return float(np.mean(shares))


def entries(result, test):
    """(what, group, space, probe, accuracy, majority, best constant) for every accuracy."""
    groups = [("disk", name, r) for name, r in result["disks"].items()]
    groups += [("cells", name, r) for name, r in result["cells"].items()]
    for what, name, r in groups:
        best = best_constant(test, what, name)
        for space in ("z1", "z2"):
            for probe in ("linear", "knn"):
                yield what, name, space, probe, r[space][probe], r["majority"], best


def assert_chance(acc, majority, best, where):
    """A probe that found nothing: within 0.05 of the training-majority guess where that
    guess is the better constant by a margin (the disks, p = 0.9 and 0.2); for states
    near 50/50 (the cells) the majority guess is itself a coin toss, so: no better than
    the better constant guess and no worse than the other one, within 0.05."""
    if best > 0.6:
        assert abs(acc - majority) < 0.05, where
    assert 1 - best - 0.05 < acc < best + 0.05, where


def test_an_ideal_code_is_found_where_it_lives_and_nowhere_else(truth):
    train, test = truth
    rng = np.random.default_rng(23)

    def ideal(d):
        return (d.foreground + NOISE * rng.standard_normal(d.foreground.shape),
                d.background + NOISE * rng.standard_normal(d.background.shape))

    result = probes_of(train, test, ideal)
    assert set(result) == {"disks", "cells"}
    assert set(result["disks"]) == {"bottom-left", "top-right"}
    assert set(result["cells"]) == {"outside", "inside", "inside_bg_on"}
    for what, name, space, probe, acc, majority, best in entries(result, test):
        where = (what, name, space, probe)
        if (what == "disk") == (space == "z2"):           # disks in z2, cells in z1
            assert acc >= 0.99, where
        else:
            assert_chance(acc, majority, best, where)
    # the majority guess: the held-out share of the training majority's state
    assert result["disks"]["bottom-left"]["majority"] == pytest.approx(test.background[:, 0].mean())
    top_right_off = 1 - test.background[:, 1].mean()          # p = 0.2: "off" is the majority
    assert result["disks"]["top-right"]["majority"] == pytest.approx(top_right_off)


def test_a_random_code_is_chance_everywhere(truth):
    train, test = truth
    rng = np.random.default_rng(24)

    def random(d):
        return rng.standard_normal((len(d.images), 10)), rng.standard_normal((len(d.images), 4))

    result = probes_of(train, test, random)
    for what, name, space, probe, acc, majority, best in entries(result, test):
        assert_chance(acc, majority, best, (what, name, space, probe))


def test_inside_bg_on_scores_only_the_images_with_the_disk_on():
    """A code that holds the cells only where their disk is on (else noise): perfect on
    inside_bg_on, below that on all images; the majority averages its cells' shares."""
    rng = np.random.default_rng(25)
    train = make_synthetic("X90", 600, rng=np.random.default_rng(26))
    test = make_synthetic("X90", 400, rng=np.random.default_rng(27))

    def where_on(d):
        noise = rng.random(d.foreground.shape) < 0.5
        shown = np.where(d.background[:, :1], d.foreground, noise)
        z1 = shown + NOISE * rng.standard_normal(shown.shape)
        return z1, rng.standard_normal((len(shown), 2))

    result = probes_of(train, test, where_on)
    on = result["cells"]["inside_bg_on"]
    assert on["z1"]["linear"] >= 0.99 and on["z1"]["knn"] >= 0.99
    everywhere = result["cells"]["inside"]["z1"]["linear"]
    # wrong on about half of the 10 % of images with the disk off
    assert 0.9 < everywhere < 0.98
    cells = np.flatnonzero(test.inside[0])
    majority = [(test.foreground[test.background[:, 0], c]
                 == (train.foreground[:, c].mean() >= 0.5)).mean() for c in cells]
    assert on["majority"] == pytest.approx(np.mean(majority))


def test_the_flat_summary_keeps_the_linear_probe():
    probes = {"disks": {"a": {"z1": {"linear": 0.6, "knn": 0.7}, "z2": {"linear": 0.9, "knn": 0.8},
                              "majority": 0.55}},
              "cells": {}}
    assert disk_probe_summary(probes) == {"a": {"z1": 0.6, "z2": 0.9, "majority": 0.55}}


def test_a_group_without_cells_is_nan():
    rng = np.random.default_rng(28)
    fg, bg = rng.random((60, 3)) < 0.5, rng.random((60, 1)) < 0.5
    mu = rng.standard_normal((60, 2))
    result = latent_probes(mu[:40], mu[:40], fg[:40], bg[:40], mu[40:], mu[40:], fg[40:], bg[40:],
                           np.zeros((1, 3), bool), ["d"], k=5)
    assert np.isnan(result["cells"]["inside"]["z1"]["linear"])
    assert np.isnan(result["cells"]["inside_bg_on"]["majority"])
    assert not np.isnan(result["cells"]["outside"]["z2"]["knn"])
