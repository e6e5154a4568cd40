"""The thesis's synthetic data sets X90, X50, X90_20 (thesis ch. 3): the geometry checked
pixel by pixel against loops written here, the activity rates, grey values and binarized
on-rates against the thesis's numbers within 4 standard errors, and the bad inputs."""

import math

import numpy as np
import pytest

from conftest import SEED
from vae_from_scratch import data
from vae_from_scratch.data import synthetic
from vae_from_scratch.data.synthetic import (DATASETS, FOREGROUND_CELLS, SYNTHETIC_NAMES,
                                             THRESHOLD, Synthetic, ascii_map, cell_masks,
                                             disk_mask, make_synthetic, on_rate)

N = 2000
# thesis ch. 3: disks per data set as (p, number of foreground cells wholly inside)
EXPECTED_DISKS = {"X90": [(0.9, 4)], "X50": [(0.5, 4)], "X90_20": [(0.9, 3), (0.2, 2)]}
R2 = 15.0 ** 2                                     # radius² of a disk of diameter 30


@pytest.fixture(scope="module")
def sets():
    """Each data set once, n = 2000, drawn from the test seed."""
    rng = np.random.default_rng(SEED)
    return {name: make_synthetic(name, rng=rng) for name in SYNTHETIC_NAMES}


def disk_by_loop(centre):
    """The disk of diameter 30 on the 60×60 image, pixel by pixel (independent of disk_mask)."""
    cy, cx = centre
    mask = np.zeros((60, 60), dtype=bool)
    for r in range(60):
        for c in range(60):
            if (r + 0.5 - cy) ** 2 + (c + 0.5 - cx) ** 2 <= R2:
                mask[r, c] = True
    return mask


def whole_disk_count():
    """Pixel centres (i + ½, j + ½) within 15 of an integer point: 4 × the first quadrant."""
    count = 0
    for i in range(15):
        for j in range(15):
            if (i + 0.5) ** 2 + (j + 0.5) ** 2 <= R2:
                count += 1
    return 4 * count


def pixel_kinds(d):
    """(fg, bg), each (n, 60, 60) bool: the pixel lies in an active cell / an active disk;
    built with a loop over the cells and disks from the ground truth."""
    n = len(d.foreground)
    fg = np.zeros((n, 60, 60), dtype=bool)
    for j, (row, col) in enumerate(FOREGROUND_CELLS):
        fg[d.foreground[:, j], row:row + 6, col:col + 6] = True
    bg = np.zeros((n, 60, 60), dtype=bool)
    for k, disk in enumerate(DATASETS[d.name]):
        bg[d.background[:, k]] |= disk_by_loop(disk.centre)
    return fg, bg


KINDS = {"empty": (False, False, 0.3), "foreground only": (True, False, 1.2),
         "background only": (False, True, 0.9), "foreground and background": (True, True, 1.8)}


# --- shapes, dtypes, reproducibility ---------------------------------------------------
@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_shapes_dtypes_and_binary_images(sets, name):
    d = sets[name]
    k = len(EXPECTED_DISKS[name])
    assert isinstance(d, Synthetic) and d.name == name
    assert d.images.shape == d.grey.shape == (N, 1, 60, 60)
    assert d.images.dtype == d.grey.dtype == np.float32
    assert set(np.unique(d.images)) == {0.0, 1.0}
    assert len(np.unique(d.grey[:5])) > 1000               # grey values, not binary
    assert d.foreground.shape == (N, 10) and d.foreground.dtype == bool
    assert d.background.shape == (N, k) and d.background.dtype == bool
    assert d.cell_masks.shape == (10, 60, 60) and d.cell_masks.dtype == bool
    assert d.disk_masks.shape == (k, 60, 60) and d.disk_masks.dtype == bool
    assert d.inside.shape == (k, 10) and d.inside.dtype == bool
    assert d.disks == DATASETS[name] and d.threshold == THRESHOLD
    # the binary images are exactly the grey ones thresholded at 0.75
    np.testing.assert_array_equal(d.images, (d.grey > 0.75).astype(np.float32))


def test_names_and_reexports():
    assert SYNTHETIC_NAMES == ("X90", "X50", "X90_20") == tuple(DATASETS)
    assert data.make_synthetic is make_synthetic and data.on_rate is on_rate
    assert data.SYNTHETIC_NAMES == SYNTHETIC_NAMES and data.Synthetic is Synthetic
    assert data.DATASETS == ("digits", "mnist")            # load_dataset's names untouched


@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_same_seed_same_data_other_seed_other_data(name):
    a = make_synthetic(name, 50, rng=np.random.default_rng(SEED))
    b = make_synthetic(name, 50, rng=np.random.default_rng(SEED))
    c = make_synthetic(name, 50, rng=np.random.default_rng(SEED + 1))
    for field in ("images", "grey", "foreground", "background"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert not np.array_equal(getattr(a, field), getattr(c, field)), field


def test_small_n():
    d = make_synthetic("X50", 1, rng=np.random.default_rng(SEED))
    assert d.images.shape == (1, 1, 60, 60) and d.foreground.shape == (1, 10)
    three = make_synthetic("X90_20", np.int64(3), rng=np.random.default_rng(SEED))
    assert three.grey.shape == (3, 1, 60, 60) and three.background.shape == (3, 2)


# --- geometry --------------------------------------------------------------------------
def test_cells_are_disjoint_6x6_squares_in_every_quadrant():
    masks = cell_masks()
    assert masks.shape == (10, 60, 60) and len(FOREGROUND_CELLS) == 10
    quadrants = set()
    for j, (row, col) in enumerate(FOREGROUND_CELLS):
        rows, cols = np.nonzero(masks[j])
        assert masks[j].sum() == 36
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (row, row + 5, col, col + 5)
        assert 0 <= row and row + 6 <= 60 and 0 <= col and col + 6 <= 60
        quadrants.add((row // 30, col // 30))
        assert (row + 5) // 30 == row // 30 and (col + 5) // 30 == col // 30   # one quadrant
    assert masks.sum(axis=0).max() == 1                    # no pixel in two cells
    assert quadrants == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_whole_disk_count_against_the_area():
    count = whole_disk_count()
    assert count == 716
    assert abs(count - math.pi * R2) < 0.02 * math.pi * R2    # 716 vs 706.9


@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_disk_masks_are_digital_disks_of_diameter_30(sets, name):
    d = sets[name]
    for mask, disk in zip(d.disk_masks, DATASETS[name]):
        expected = disk_by_loop(disk.centre)
        np.testing.assert_array_equal(mask, expected)
        np.testing.assert_array_equal(disk_mask(disk.centre), expected)
        rows, cols = np.nonzero(mask)
        assert rows.max() - rows.min() + 1 == 30           # no disk is cut at top or bottom
        cy, cx = disk.centre
        if cx - 15 >= 0:                                   # wholly in the image
            assert mask.sum() == whole_disk_count() == 716
            assert cols.max() - cols.min() + 1 == 30
        else:                                              # cut at the left edge
            assert cols.min() == 0 and cols.max() + 1 == cx + 15
            assert mask.sum() < 716


def test_disks_sit_in_their_quadrants_and_the_x90_20_disk_moved_left():
    (x90,) = [disk_by_loop(d.centre) for d in DATASETS["X90"]]
    (x50,) = [disk_by_loop(d.centre) for d in DATASETS["X50"]]
    moved, top_right = [disk_by_loop(d.centre) for d in DATASETS["X90_20"]]
    np.testing.assert_array_equal(x90, x50)
    for mask in (x90, moved):                              # bottom-left quadrant only
        assert mask[30:, :30].sum() == mask.sum()
    assert top_right[:30, 30:].sum() == top_right.sum()
    assert x90.sum() == 716 and x90[30:, :30].sum() / 900 > 0.78   # fills the quadrant
    # moved left: the same disk, shifted by some columns, its left part off the image
    cols = np.arange(60)
    shift = x90.sum(0) @ cols / x90.sum() - (moved.sum(0) @ cols / moved.sum())
    assert shift > 0
    s = DATASETS["X90"][0].centre[1] - DATASETS["X90_20"][0].centre[1]
    assert 0 < s <= 10
    np.testing.assert_array_equal(moved[:, :60 - s], x90[:, s:])
    assert not moved[:, 60 - s:].any()


@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_cells_are_wholly_inside_a_disk_or_share_no_pixel(sets, name):
    d = sets[name]
    for k, ((p, n_inside), disk) in enumerate(zip(EXPECTED_DISKS[name], DATASETS[name])):
        mask = disk_by_loop(disk.centre)
        shared = np.array([(mask & cell_masks()[j]).sum() for j in range(10)])
        assert set(shared) <= {0, 36}, shared
        assert (shared == 36).sum() == n_inside
        np.testing.assert_array_equal(d.inside[k], shared == 36)
    np.testing.assert_array_equal(d.cell_masks, cell_masks())


def test_x90_20_bottom_left_disk_loses_exactly_one_of_the_x90_cells(sets):
    x90, x90_20 = sets["X90"].inside[0], sets["X90_20"].inside[0]
    assert not (x90_20 & ~x90).any()                       # no new cell inside
    assert (x90 & ~x90_20).sum() == 1
    assert not (sets["X90_20"].inside[0] & sets["X90_20"].inside[1]).any()


def test_ascii_maps_in_the_docstring_match_the_layout():
    for name in SYNTHETIC_NAMES:
        drawn = ascii_map(name)
        assert "\n" + drawn + "\n" in synthetic.__doc__, name
        # the digits in the map sit where the cells are (row 2k shows pixel rows 2k, 2k+1)
        lines = drawn.splitlines()[2:32]
        for j, (row, col) in enumerate(FOREGROUND_CELLS):
            assert lines[row // 2][5 + col:5 + col + 6] == str(j) * 6


# --- activities ------------------------------------------------------------------------
@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_activity_rates(sets, name):
    d = sets[name]
    se = math.sqrt(0.25 / N)
    assert np.all(np.abs(d.foreground.mean(axis=0) - 0.5) < 4 * se)           # each cell
    assert abs(d.foreground.mean() - 0.5) < 4 * math.sqrt(0.25 / d.foreground.size)
    for k, (p, _) in enumerate(EXPECTED_DISKS[name]):
        assert DATASETS[name][k].p == p
        assert abs(d.background[:, k].mean() - p) < 4 * math.sqrt(p * (1 - p) / N)
    # independent of each other: fraction active in both ≈ product (4 SE of a Bernoulli)
    both = (d.foreground[:, 0] & d.background[:, 0]).mean()
    q = 0.5 * EXPECTED_DISKS[name][0][0]
    assert abs(both - q) < 4 * math.sqrt(q * (1 - q) / N)


# --- grey values and binarization ------------------------------------------------------
@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_grey_values_per_pixel_kind(sets, name):
    d = sets[name]
    fg, bg = pixel_kinds(d)
    grey = d.grey[:, 0].astype(np.float64)
    for kind, (f, b, mean) in KINDS.items():
        values = grey[(fg == f) & (bg == b)]
        assert values.size > 10_000, kind
        se_mean, se_std = 0.4 / math.sqrt(values.size), 0.4 / math.sqrt(2 * values.size)
        assert abs(values.mean() - mean) < 4 * se_mean, (kind, values.mean())
        assert abs(values.std() - 0.4) < 4 * se_std, (kind, values.std())
    # and everywhere: grey minus the thesis's mean is N(0, 0.4²) noise
    residual = grey - (0.3 + 0.9 * fg + 0.6 * bg)
    assert abs(residual.mean()) < 4 * 0.4 / math.sqrt(residual.size)
    assert abs(residual.std() - 0.4) < 4 * 0.4 / math.sqrt(2 * residual.size)
    assert np.abs(residual).max() < 0.4 * 6.5


@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_binarized_on_rates_per_pixel_kind(sets, name):
    d = sets[name]
    fg, bg = pixel_kinds(d)
    images = d.images[:, 0]
    for kind, (f, b, mean) in KINDS.items():
        ones = images[(fg == f) & (bg == b)]
        p = on_rate(mean)
        se = math.sqrt(p * (1 - p) / ones.size)
        assert abs(ones.mean() - p) < 4 * se, (kind, ones.mean(), p)


def test_on_rate_known_values():
    # P(N(0, 1) > 1.125) from the complementary error function and from Simpson's rule
    z = 1.125
    erfc_value = 0.5 * math.erfc(z / math.sqrt(2))
    x = np.linspace(z, z + 12, 120_001)
    w = np.ones_like(x)
    w[1:-1:2], w[2:-1:2] = 4, 2
    simpson = (x[1] - x[0]) / 3 * (w * np.exp(-x ** 2 / 2)).sum() / math.sqrt(2 * math.pi)
    assert abs(erfc_value - simpson) < 1e-10
    assert abs(simpson - 0.1303) < 1e-4
    assert on_rate(0.3) == pytest.approx(simpson, abs=1e-10)      # empty: (0.75 − 0.3)/0.4
    assert on_rate(1.2) == pytest.approx(1 - simpson, abs=1e-10)      # active cell, mirrored
    assert on_rate(0.75) == 0.5
    assert on_rate(0.0, threshold=0.0, std=2.0) == 0.5
    assert on_rate(0.9) + on_rate(0.6) == pytest.approx(1.0)          # symmetric about 0.75


def test_on_rate_against_monte_carlo(rng):
    for mean, t, std in ((0.3, 0.75, 0.4), (0.9, 0.75, 0.4), (1.8, 0.75, 0.4), (-1.0, 0.5, 2.0)):
        x = rng.normal(mean, std, size=400_000)
        p = on_rate(mean, t, std)
        assert abs((x > t).mean() - p) < 4 * math.sqrt(p * (1 - p) / x.size), (mean, t, std)


def test_threshold_none_keeps_grey_values_and_custom_threshold():
    grey = make_synthetic("X90", 200, rng=np.random.default_rng(SEED), threshold=None)
    assert grey.threshold is None
    np.testing.assert_array_equal(grey.images, grey.grey)
    assert grey.images is not grey.grey
    assert len(np.unique(grey.images)) > 1000

    t = 0.5
    low = make_synthetic("X90", 200, rng=np.random.default_rng(SEED), threshold=t)
    np.testing.assert_array_equal(low.grey, grey.grey)            # same draws
    np.testing.assert_array_equal(low.images, (grey.grey > t).astype(np.float32))
    fg, bg = pixel_kinds(low)
    empty = low.images[:, 0][~fg & ~bg]
    p = on_rate(0.3, threshold=t)                                 # P(N(0,1) > 0.5) ≈ 0.309
    assert abs(empty.mean() - p) < 4 * math.sqrt(p * (1 - p) / empty.size)
    integer_t = make_synthetic("X50", 5, rng=np.random.default_rng(0), threshold=1)
    np.testing.assert_array_equal(integer_t.images, (integer_t.grey > 1).astype(np.float32))


# --- bad input -------------------------------------------------------------------------
def test_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="X90, X50, X90_20"):
        make_synthetic("X80", rng=rng)
    with pytest.raises(ValueError, match="X90, X50, X90_20"):
        ascii_map("x90")
    for n in (0, -3, 2.5, True, "10", None):
        with pytest.raises(ValueError, match=r"n >= 1.*got"):
            make_synthetic("X90", n, rng=rng)
    for bad in (None, 0, np.random.RandomState(0), np.random):
        with pytest.raises(TypeError, match="numpy.random.Generator"):
            make_synthetic("X90", 5, rng=bad)
    with pytest.raises(TypeError):
        make_synthetic("X90", 5)                                  # rng is required
    for t in ("0.75", float("nan"), float("inf"), True, [0.75]):
        with pytest.raises(ValueError, match="threshold"):
            make_synthetic("X90", 5, rng=rng, threshold=t)
    for kwargs in ({"std": 0.0}, {"std": -1.0}, {"threshold": float("nan")}, {"mean": "a"}):
        with pytest.raises(ValueError, match="on_rate: expected"):
            on_rate(**{"mean": 0.3, **kwargs})
    with pytest.raises(ValueError, match="fits"):
        cell_masks(((0, 55),))
