"""The thesis's three synthetic data sets X90, X50 and X90_20 (thesis ch. 3, figures 3.1–3.3).

A very abstract picture of 2-photon microscopy: a camera focused on one layer of neurons
(the *foreground cells*) also sees the blurred glow of cells in other layers (the
*background cells*), which covers large parts of the image.  Each data set holds 2000
images of 60×60 pixels, one channel.  Every pixel of every image is

    grey = noise + 0.9 · [pixel in an active foreground cell] + 0.6 · [pixel in an active disk]
    noise ~ N(0.3, 0.4²), drawn independently for every pixel of every image

    foreground cells   ten 6×6 squares at fixed positions, each active independently
                       with p = 0.5 in each image
    background cells   round "disks" of diameter 30, each active with its own p:
        X90      one disk in the bottom left, p = 0.9, four foreground cells inside it
        X50      the same disk, p = 0.5
        X90_20   the bottom-left disk moved 6 pixels to the left so that only three cells
                 lie inside it (p = 0.9), plus a top-right disk with two cells, p = 0.2

The images are then binarized, 1 where grey > 0.75 (`THRESHOLD`); the thesis trains a
Bernoulli decoder on binary data.  What binarization does to each kind of pixel (on_rate):

    pixel kind                    mean of grey    P(pixel = 1)
    empty                         0.3             0.130
    foreground cell only          1.2             0.870
    background disk only          0.9             0.646
    foreground cell and disk      1.8             0.996

so empty pixels and foreground cells keep only 13 % flipped pixels, while an active disk
stays a noisy 65 % grey: "most of the noise is retained in the background activity" (thesis).

Our reading, where the thesis leaves a detail open (docs/design.md, "Thesis datasets"):
    - the thesis gives no positions: the cells and disk centres below are ours, chosen so
      that every cell lies either wholly inside a disk or shares no pixel with it;
    - contributions add up (cell 0.9 + disk 0.6 + noise), also where a cell lies in a disk;
    - the threshold 0.75 is the midpoint between an empty pixel's mean (0.3) and an active
      foreground pixel's mean (0.3 + 0.9 = 1.2); the thesis does not give its threshold;
    - the X90 disk is inscribed in the bottom-left 30×30 quadrant (centre (45, 15)), the
      block that the background target g pools (thesis eq. 3.1, pooling with stride 30);
      it covers 716 of the quadrant's 900 pixels (about π/4), so an active disk raises
      the quadrant's mean by 0.6 · 716/900 ≈ 0.477, not by 0.6 (chapter 8.1 measures it).
      "Moved a bit to the left" is 6 pixels, the least shift that takes one 6×6 cell
      cleanly out of the disk; the left 6 columns of the moved disk fall off the image
      (612 of its 716 pixels remain).  The top-right disk is inscribed in the top-right
      quadrant.

The layout (one text row = two pixel rows; digits are the foreground cells, indexed as
in FOREGROUND_CELLS; '.' and ':' are disks).  X90 and X50, cells 4, 6, 7, 8 inside:

     0         10        20        30        40        50
    +------------------------------------------------------------+
  0 |                                                            |
  2 |                                                            |
  4 |      000000                                                |
  6 |      000000                                                |
  8 |      000000                          111111                |
 10 |                                      111111                |
 12 |                                      111111                |
 14 |                                                            |
 16 |                    222222                                  |
 18 |                    222222                    333333        |
 20 |                    222222                    333333        |
 22 |                                              333333        |
 24 |                                                            |
 26 |                                                            |
 28 |                                                            |
 30 |        ..............                                      |
 32 |     ....................                                   |
 34 |   ........................                                 |
 36 |  ......444444..............                                |
 38 | .......444444...............           555555              |
 40 |........444444................          555555              |
 42 |........................666666          555555              |
 44 |........................666666                              |
 46 |........................666666                              |
 48 |....777777....................                              |
 50 | ...777777....888888.........                     999999    |
 52 |  ..777777....888888........                      999999    |
 54 |   ...........888888.......                       999999    |
 56 |     ....................                                   |
 58 |        ..............                                      |
    +------------------------------------------------------------+

X90_20: cells 4, 7, 8 inside the moved bottom-left disk ('.'), 1 and 3 inside the
top-right one (':'); cell 6 is now outside, sharing no pixel with the disk:

     0         10        20        30        40        50
    +------------------------------------------------------------+
  0 |                                      ::::::::::::::        |
  2 |                                   ::::::::::::::::::::     |
  4 |      000000                     ::::::::::::::::::::::::   |
  6 |      000000                    ::::::::::::::::::::::::::  |
  8 |      000000                   :::::::111111::::::::::::::: |
 10 |                              ::::::::111111::::::::::::::::|
 12 |                              ::::::::111111::::::::::::::::|
 14 |                              ::::::::::::::::::::::::::::::|
 16 |                    222222    ::::::::::::::::::::::::::::::|
 18 |                    222222    ::::::::::::::::333333::::::::|
 20 |                    222222     :::::::::::::::333333::::::: |
 22 |                                ::::::::::::::333333::::::  |
 24 |                                 ::::::::::::::::::::::::   |
 26 |                                   ::::::::::::::::::::     |
 28 |                                      ::::::::::::::        |
 30 |  ..............                                            |
 32 |...................                                         |
 34 |.....................                                       |
 36 |........444444........                                      |
 38 |........444444.........                 555555              |
 40 |........444444..........                555555              |
 42 |........................666666          555555              |
 44 |........................666666                              |
 46 |........................666666                              |
 48 |....777777..............                                    |
 50 |....777777....888888...                           999999    |
 52 |....777777....888888..                            999999    |
 54 |..............888888.                             999999    |
 56 |...................                                         |
 58 |  ..............                                            |
    +------------------------------------------------------------+

(ascii_map(name) draws these from the constants; a test checks that they agree.)

    make_synthetic("X90", rng=np.random.default_rng(0))  ->  Synthetic(name, images, grey,
        foreground, background, cell_masks, disk_masks, inside, disks, threshold)

returns the images together with the ground truth (which cells and which disks were
active in each image), so that the separation of foreground and background by the dual
VAE can be measured, not only looked at.
"""

import math
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np

from .errors import check_rng
from .transforms import threshold as threshold_images

# --- the numbers of the thesis (ch. 3, the paragraph on the artificial data sets) -------
IMAGE_SIZE = 60           # 60×60 pixels, one channel
CELL_SIZE = 6             # foreground cells are 6×6
DISK_DIAMETER = 30        # background cells are round, diameter 30
FOREGROUND_VALUE = 0.9    # added to every pixel of an active foreground cell
BACKGROUND_VALUE = 0.6    # added to every pixel of an active background cell
NOISE_MEAN = 0.3          # pixel-wise noise N(0.3, 0.4²)
NOISE_STD = 0.4
FOREGROUND_P = 0.5        # each foreground cell is active independently with p = 0.5
N_IMAGES = 2000           # images per data set
THRESHOLD = 0.75          # our reading: midpoint of 0.3 (empty) and 1.2 (active cell)

# Our reading: the thesis does not give the positions.  Top-left corners (row, col) of
# the ten 6×6 cells (rows 4..9 and columns 6..11 for the first), sorted by row, two or
# more in every 30×30 quadrant.  Cells 4, 6, 7, 8 lie inside the X90 disk (6 on its right
# edge, leaving it when the disk moves left in X90_20), 1 and 3 inside the top-right disk;
# 0, 2, 5, 9 are never covered.  Each cell lies wholly inside a disk or shares no pixel
# with it, so "inside the background" and "outside" are clean categories.
FOREGROUND_CELLS = (
    (4, 6),     # 0  top left
    (8, 38),    # 1  top right, inside the X90_20 top-right disk
    (16, 20),   # 2  top left
    (18, 46),   # 3  top right, inside the X90_20 top-right disk
    (36, 8),    # 4  bottom left, inside both bottom-left disks
    (38, 40),   # 5  bottom right
    (42, 24),   # 6  bottom left, inside the X90/X50 disk, outside the X90_20 one
    (48, 4),    # 7  bottom left, inside both bottom-left disks
    (50, 14),   # 8  bottom left, inside both bottom-left disks
    (50, 50),   # 9  bottom right
)


class Disk(NamedTuple):
    """A round background cell: centre (cy, cx) in pixel coordinates, activity p, a name."""
    centre: tuple
    p: float
    name: str


# Centres are in continuous pixel coordinates: pixel (r, c) covers [r, r+1) × [c, c+1), so
# its centre is (r + 0.5, c + 0.5), and centre (45, 15) is the middle of the bottom-left
# quadrant (rows 30..59, columns 0..29).
BOTTOM_LEFT = (45, 15)         # X90, X50: inscribed in the bottom-left quadrant
BOTTOM_LEFT_MOVED = (45, 9)    # X90_20: 6 pixels to the left (our reading of "a bit")
TOP_RIGHT = (15, 45)           # X90_20: inscribed in the top-right quadrant

DATASETS = {
    "X90": (Disk(BOTTOM_LEFT, 0.9, "bottom-left"),),
    "X50": (Disk(BOTTOM_LEFT, 0.5, "bottom-left"),),
    "X90_20": (Disk(BOTTOM_LEFT_MOVED, 0.9, "bottom-left"),
               Disk(TOP_RIGHT, 0.2, "top-right")),
}
SYNTHETIC_NAMES = tuple(DATASETS)       # ("X90", "X50", "X90_20")


class Synthetic(NamedTuple):
    """One synthetic data set with its ground truth (n images, k disks, 10 cells).

    name:        "X90", "X50" or "X90_20"
    images:      (n, 1, 60, 60) float32, the binarized images (1.0 where grey > threshold);
                 the grey values themselves when threshold is None
    grey:        (n, 1, 60, 60) float32, the images before binarization
    foreground:  (n, 10) bool, foreground[i, j]: cell j is active in image i
    background:  (n, k) bool, background[i, d]: disk d is active in image i
    cell_masks:  (10, 60, 60) bool, the pixels of each foreground cell
    disk_masks:  (k, 60, 60) bool, the pixels of each disk (clipped to the image)
    inside:      (k, 10) bool, inside[d, j]: all 36 pixels of cell j lie in disk d
    disks:       the k Disk(centre, p, name) of this data set
    threshold:   the binarization threshold used (None: not binarized)
    """
    name: str
    images: np.ndarray
    grey: np.ndarray
    foreground: np.ndarray
    background: np.ndarray
    cell_masks: np.ndarray
    disk_masks: np.ndarray
    inside: np.ndarray
    disks: tuple
    threshold: object


def cell_masks(cells=FOREGROUND_CELLS, size=IMAGE_SIZE, cell_size=CELL_SIZE):
    """(len(cells), size, size) bool: mask j is the cell_size² square with top-left cells[j]."""
    masks = np.zeros((len(cells), size, size), dtype=bool)
    for j, (row, col) in enumerate(cells):
        if not (0 <= row <= size - cell_size and 0 <= col <= size - cell_size):
            raise ValueError(f"cell_masks: expected top-left corners in 0..{size - cell_size} "
                             f"so that a {cell_size}×{cell_size} cell fits in the "
                             f"{size}×{size} image, got ({row}, {col}) for cell {j}")
        masks[j, row:row + cell_size, col:col + cell_size] = True
    return masks


def disk_mask(centre, diameter=DISK_DIAMETER, size=IMAGE_SIZE):
    """(size, size) bool: the pixels whose centres lie in the disk, clipped to the image.

    Pixel (r, c) belongs to the disk when (r + 0.5 − cy)² + (c + 0.5 − cx)² ≤ (diameter/2)².
    A whole disk of diameter 30 has 716 such pixels (π · 15² ≈ 706.9) in a 30×30 box.
    """
    cy, cx = centre
    r = np.arange(size)[:, None] + 0.5          # pixel centres, (size, 1)
    c = np.arange(size)[None, :] + 0.5          # (1, size)
    return (r - cy) ** 2 + (c - cx) ** 2 <= (diameter / 2) ** 2


def on_rate(mean, threshold=THRESHOLD, std=NOISE_STD):
    """P(N(mean, std²) > threshold): how often binarization turns such a pixel on.

    P(X > t) = 1 − Φ((t − mean)/std) = ½ · (1 − erf((t − mean) / (std · √2))).
    """
    if not (isinstance(std, Real) and math.isfinite(std) and std > 0):
        raise ValueError(f"on_rate: expected a finite std > 0, got {std!r}")
    for what, value in (("mean", mean), ("threshold", threshold)):
        if not (isinstance(value, Real) and math.isfinite(value)):
            raise ValueError(f"on_rate: expected a finite number {what}, got {value!r}")
    return 0.5 * (1.0 - math.erf((threshold - mean) / (std * math.sqrt(2.0))))


def _check_threshold(threshold, where):
    """A binarization threshold: None (grey data) or a finite number."""
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, Real)
                                  or not math.isfinite(threshold)):
        raise ValueError(f"{where}: expected threshold=None or a finite number, got {threshold!r}")


def make_synthetic(name, n=N_IMAGES, *, rng, threshold=THRESHOLD):
    """The data set `name` ("X90", "X50" or "X90_20") as a Synthetic of n images.

    rng:        numpy.random.Generator; it draws, in this order, the cell activities
                (n, 10), the disk activities (n, k) and the noise (n, 60, 60), so the
                same seed gives the same data.
    threshold:  binarize at this value (default 0.75, our reading); None keeps the grey
                values in `images`.
    Returns images and grey of shape (n, 1, 60, 60) float32 plus the ground truth
    (see Synthetic).  Vectorised: one draw per array, no loop over the images.
    """
    check_rng(rng, "make_synthetic")
    if name not in DATASETS:
        raise ValueError(f"make_synthetic: unknown data set {name!r}; expected one of "
                         f"{', '.join(SYNTHETIC_NAMES)}")
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise ValueError(f"make_synthetic: expected a whole number of images n >= 1, got {n!r}")
    _check_threshold(threshold, "make_synthetic")
    n = int(n)
    disks = DATASETS[name]
    cells = cell_masks()                                            # (10, 60, 60)
    discs = np.stack([disk_mask(d.centre) for d in disks])          # (k, 60, 60)
    # inside[d, j]: every pixel of cell j lies in disk d (our layout: else none does)
    inside = (cells[None] & discs[:, None]).sum(axis=(2, 3)) == CELL_SIZE ** 2

    # thesis ch. 3: cells active independently with p = 0.5; disk d with its own p
    foreground = rng.random((n, len(FOREGROUND_CELLS))) < FOREGROUND_P          # (n, 10)
    background = rng.random((n, len(disks))) < np.array([d.p for d in disks])   # (n, k)
    # thesis ch. 3: pixel-wise noise N(0.3, 0.4²)
    noise = NOISE_MEAN + NOISE_STD * rng.standard_normal((n, IMAGE_SIZE, IMAGE_SIZE),
                                                         dtype=np.float32)

    # Our reading: contributions add up.  (n, 10) @ (10, 3600): for each image, the sum of
    # the masks of its active cells; the cells are disjoint, so every entry is 0 or 1.
    flat = IMAGE_SIZE * IMAGE_SIZE
    fg_field = foreground.astype(np.float32) @ cells.reshape(len(cells), flat).astype(np.float32)
    bg_field = background.astype(np.float32) @ discs.reshape(len(discs), flat).astype(np.float32)
    grey = (noise.reshape(n, flat)
            + np.float32(FOREGROUND_VALUE) * fg_field
            + np.float32(BACKGROUND_VALUE) * bg_field)
    grey = grey.reshape(n, 1, IMAGE_SIZE, IMAGE_SIZE).astype(np.float32, copy=False)

    images = grey.copy() if threshold is None else threshold_images(grey, threshold)
    return Synthetic(name, images, grey, foreground, background, cells, discs, inside,
                     disks, threshold)


def ascii_map(name):
    """The layout of data set `name` as text: digits for the cells, '.' and ':' for disks.

    One text row shows two pixel rows (a character is about twice as tall as wide).
    """
    if name not in DATASETS:
        raise ValueError(f"ascii_map: unknown data set {name!r}; expected one of "
                         f"{', '.join(SYNTHETIC_NAMES)}")
    canvas = np.full((IMAGE_SIZE, IMAGE_SIZE), " ")
    for disk, mark in zip(DATASETS[name], ".:"):
        canvas[disk_mask(disk.centre)] = mark
    for j, mask in enumerate(cell_masks()):
        canvas[mask] = str(j)
    border = "    +" + "-" * IMAGE_SIZE + "+"
    lines = ["     " + "".join(f"{c:<10d}" for c in range(0, IMAGE_SIZE, 10)).rstrip(), border]
    for r in range(0, IMAGE_SIZE, 2):
        # a character shows the upper pixel, or the lower one where the upper is empty
        text = "".join(a if a != " " else b for a, b in zip(canvas[r], canvas[r + 1]))
        lines.append(f"{r:3d} |{text}|")
    lines.append(border)
    return "\n".join(lines)


# --- what a pixel is worth on average: the levels an ideal reconstruction shows ---------

class PixelLevels(NamedTuple):
    """The expected value of one pixel of each kind (thesis ch. 3, the generator above).

    empty:  in no active cell and no active disk
    cell:   in an active foreground cell, no active disk
    disk:   in an active disk, no active foreground cell
    both:   in an active foreground cell that lies in an active disk

    For binary data these are on-rates P(pixel = 1), for grey data the grey means.
    """
    empty: float
    cell: float
    disk: float
    both: float


def _grey_mean(n_cells, n_disks):
    """The mean grey value of a pixel in n_cells active cells and n_disks active disks:
    noise mean + 0.9 · n_cells + 0.6 · n_disks (contributions add up, our reading).
    Works on numbers and on arrays alike; pixel_levels and expected_images both use it,
    so that the oracle's pixels equal the levels bit for bit."""
    return NOISE_MEAN + FOREGROUND_VALUE * n_cells + BACKGROUND_VALUE * n_disks


def pixel_levels(threshold=THRESHOLD):
    """PixelLevels(empty, cell, disk, both): the expected value of each kind of pixel.

    threshold:  the binarization threshold of the data (default 0.75, as make_synthetic):
                the levels are the on-rates on_rate(mean, threshold) of the grey means,
                0.130, 0.870, 0.646 and 0.996 at 0.75; None (grey data): the grey means
                themselves, 0.3, 1.2, 0.9 and 1.8.
    Derived from the generator's constants (thesis ch. 3), not typed in.
    """
    _check_threshold(threshold, "pixel_levels")
    means = [_grey_mean(c, d) for c, d in ((0, 0), (1, 0), (0, 1), (1, 1))]
    if threshold is None:
        return PixelLevels(*(float(m) for m in means))
    return PixelLevels(*(on_rate(m, threshold) for m in means))


def expected_images(foreground, background, cell_masks, disk_masks, threshold=THRESHOLD):
    """The expectation of every pixel given the ground truth: the "oracle" reconstruction.

    foreground: (N, C) bool, cell states.  background: (N, D) bool, disk states.
    cell_masks: (C, S, S) bool.  disk_masks: (D, S, S) bool.
    threshold:  as in pixel_levels (a number: binary data, on-rates; None: grey means).
    Returns (N, 1, S, S) float64: E[pixel | which cells and disks are active], the
    generator's (thesis ch. 3) mean NOISE_MEAN + 0.9 · [active cell] + 0.6 · [active disk],
    passed through on_rate for binary data.  No decoder can do better on average: this
    is what a perfect vae1(x) + vae2(x) would show.  Vectorised (no loop over images).
    """
    _check_threshold(threshold, "expected_images")
    foreground, background = np.asarray(foreground), np.asarray(background)
    cell_masks, disk_masks = np.asarray(cell_masks, bool), np.asarray(disk_masks, bool)
    if (foreground.ndim != 2 or background.ndim != 2 or cell_masks.ndim != 3
            or disk_masks.ndim != 3 or len(foreground) != len(background)
            or foreground.shape[1] != len(cell_masks) or background.shape[1] != len(disk_masks)
            or cell_masks.shape[1:] != disk_masks.shape[1:]):
        raise ValueError(f"expected_images: expected foreground (N, C), background (N, D), "
                         f"cell_masks (C, S, S), disk_masks (D, S, S), got "
                         f"{foreground.shape}, {background.shape}, {cell_masks.shape}, "
                         f"{disk_masks.shape}")
    n, size = len(foreground), cell_masks.shape[1:]
    flat = size[0] * size[1]
    # How many active cells / disks cover each pixel, (N, S·S) whole numbers: 0 or 1 in
    # our layout, but the sums keep the generator's "contributions add up" if masks overlap.
    n_cells = foreground.astype(np.int64) @ cell_masks.reshape(-1, flat).astype(np.int64)
    n_disks = background.astype(np.int64) @ disk_masks.reshape(-1, flat).astype(np.int64)
    # One table entry per (cells, disks) count, then a lookup: on_rate is scalar, and this
    # calls it (max cells + 1) × (max disks + 1) times instead of once per pixel.
    c_max, d_max = int(n_cells.max(initial=0)), int(n_disks.max(initial=0))
    table = np.array([[_grey_mean(c, d) for d in range(d_max + 1)] for c in range(c_max + 1)],
                     dtype=np.float64)
    if threshold is not None:
        table = np.vectorize(lambda m: on_rate(float(m), threshold), otypes=[np.float64])(table)
    return table[n_cells, n_disks].reshape(n, 1, *size)
