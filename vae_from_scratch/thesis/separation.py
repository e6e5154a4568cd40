"""Separation of foreground and background, measured against the ground truth.

The thesis judges its dual VAE by looking at reconstructions (figures 3.1–3.6).  The
synthetic data know the truth — which foreground cells and which background disks are
active in every image (data/synthetic.py) — so here we count:

    target_error        how well vae2 reproduces the background target g(x): the mean
                        absolute error, per pixel of g, beside constant_target_error,
                        the same for a guess that never looks at the image
    cell_detection      how well vae1(x) shows the foreground cells: accuracy, false-
                        positive and false-negative rates and a threshold-free AUC, split
                        by cells inside vs outside a disk and, inside, by the disk being
                        on or off; and how well the disks' states can be read from it
    latent_probes       where the information lives in the latent spaces: a logistic
                        regression and a k-nearest-neighbour vote predict each disk's and
                        each cell's state from the posterior means of z1 alone and of z2
                        alone, fitted on the training images, scored on held-out ones

Why cell_detection reads the disks first
----------------------------------------
A reconstruction is compared with the *expected* image (synthetic.pixel_levels): on
binary data a pixel is on with probability

    empty 0.130    cell 0.870    disk 0.646    cell and disk 0.996

The earlier metric called a cell active when the mean of vae1(x) over its 6×6 block
exceeded 0.5.  Under an active disk even an inactive cell sits at 0.646 > 0.5, so every
reconstruction — the perfect one included — called every cell there active: false-
positive rate 1.0 and, with half the cells active, accuracy ≈ 0.5 on "inside, bg on".
The metric could not tell a model that separates the cells from one that paints the disk.

So the threshold now depends on the disk: each disk's state is first read from the
reconstruction itself (its mean over the disk pixels in no cell, against the level
halfway between empty 0.130 and disk 0.646), and a cell is called active when its block
mean exceeds the level halfway between its off and on levels given that reading:

    outside any disk, or under a disk read as off    (empty + cell) / 2   = 0.5
    under a disk read as on                          (disk + both) / 2    ≈ 0.821

(on binary data (empty + cell)/2 is 0.5 exactly: where the reading is right, the metric
is the old one outside the disks and under an inactive disk).  Beside each accuracy,
the AUC of the block means says how well the cell states could be told apart by any
threshold.

Why the probes fit on the training images
-----------------------------------------
A probe fitted on half the held-out images had few examples of the rare state (a disk
on in 20 % of 250 images is 50 of them).  The posterior means of the training images
are free to compute and as many as the model saw; the probes are scored on the
held-out images, so a probe that memorises still cannot score well.

All functions take host (NumPy) arrays.
"""

import numpy as np


def target_error(g_hat, g):
    """Mean absolute error between vae2's output and the target g(x), both (N, 1, m, m)."""
    return float(np.mean(np.abs(np.asarray(g_hat, np.float64) - np.asarray(g, np.float64))))


def constant_target_error(g_train, g_test):
    """The error of the best image-blind guess: the per-pixel median of g over the
    training images (the median minimises the absolute error), scored on g_test.
    target_error means little without it: when a disk is on in 90 % of the images, a
    vae2 that ignores x already scores well."""
    guess = np.median(np.asarray(g_train, np.float64), axis=0)
    return target_error(np.broadcast_to(guess, np.shape(g_test)), g_test)


def _region_means(images, masks, what):
    """Mean of images (N, 1, S, S) over each of the masks (R, S, S) -> (N, R) float64.

    A gather and a row mean, not a matrix product: images whose pixels in a region are
    equal get means equal bit for bit, so a constant reconstruction makes exact ties
    (a BLAS product gives no such promise)."""
    images = np.asarray(images, np.float64)
    masks = np.asarray(masks, bool)
    if images.ndim != 4 or images.shape[1] != 1 or images.shape[2:] != masks.shape[1:]:
        raise ValueError(f"{what}: expected images (N, 1, S, S) and masks (R, S, S) of the "
                         f"same S, got {images.shape} and {masks.shape}")
    flat = images.reshape(len(images), -1)
    out = np.empty((len(images), len(masks)))
    for r, mask in enumerate(masks.reshape(len(masks), -1)):
        if not mask.any():
            raise ValueError(f"{what}: region {r} has no pixel")
        out[:, r] = flat[:, mask].mean(axis=1)
    return out


def cell_means(images, cell_masks):
    """Mean value inside each cell: images (N, 1, S, S), masks (C, S, S) bool -> (N, C)."""
    return _region_means(images, cell_masks, "cell_means")


def disk_background_masks(cell_masks, disk_masks):
    """(D, S, S) bool: the pixels of each disk that lie in no cell and in no other disk.

    There a pixel's expected level is "empty" or "disk" whatever the cells do, so the
    mean over them reads the disk's state without being swayed by the foreground."""
    cell_masks, disk_masks = np.asarray(cell_masks, bool), np.asarray(disk_masks, bool)
    any_cell = cell_masks.any(axis=0)
    count = disk_masks.sum(axis=0)
    return disk_masks & ~any_cell & (count == 1)


def read_disks(recon, cell_masks, disk_masks, levels):
    """Each disk's state as the reconstruction shows it.

    recon: (N, 1, S, S) vae1(x) (expected pixel values, e.g. Bernoulli means).
    cell_masks: (C, S, S), disk_masks: (D, S, S) bool.  levels: synthetic.PixelLevels of
    the data (pixel_levels(threshold)).
    Returns (N, D) bool: the mean over disk_background_masks exceeds the level halfway
    between levels.empty and levels.disk.
    """
    means = _region_means(recon, disk_background_masks(cell_masks, disk_masks), "read_disks")
    return means > (levels.empty + levels.disk) / 2


def _disk_of(inside):
    """inside (D, C) bool -> (in_any (C,) bool, disk_of (C,) int: the disk each covered
    cell lies in; 0 for the others, to be masked with in_any)."""
    inside = np.asarray(inside, bool)
    if inside.ndim != 2:
        raise ValueError(f"expected inside (D, C) bool, got shape {inside.shape}")
    if (inside.sum(axis=0) > 1).any():
        raise ValueError("expected every cell inside at most one disk (inside[:, c].sum() <= 1)")
    return inside.any(axis=0), inside.argmax(axis=0)


def detect_cells(recon, cell_masks, inside, disk_masks, levels, disks_read=None):
    """Which cells vae1(x) shows active: (N, C) bool.

    recon: (N, 1, S, S).  cell_masks: (C, S, S) bool.  inside: (D, C) bool, cell c lies
    in disk d.  disk_masks: (D, S, S) bool.  levels: synthetic.PixelLevels.
    disks_read: (N, D) bool, the disk states to assume; default read_disks(recon, …).
    A cell is active when its block mean exceeds the level halfway between its
    off and on levels: (empty + cell)/2 outside the disks and under a disk read as off,
    (disk + both)/2 under a disk read as on.
    """
    if disks_read is None:
        disks_read = read_disks(recon, cell_masks, disk_masks, levels)
    return _call_cells(cell_means(recon, cell_masks), disks_read, inside, levels)


def _call_cells(means, disks_read, inside, levels):
    """means (N, C) block means, disks_read (N, D) bool -> (N, C) bool, as detect_cells."""
    in_any, disk_of = _disk_of(inside)
    under_on = np.asarray(disks_read, bool)[:, disk_of] & in_any                   # (N, C)
    # halfway between a cell's expected off and on levels given the disk it lies in
    threshold = np.where(under_on, (levels.disk + levels.both) / 2,
                         (levels.empty + levels.cell) / 2)
    return means > threshold


def auc(scores, labels, strata=None):
    """Area under the ROC curve: P(score of a positive > score of a negative), ties ½.

    scores: (n,) float, labels: (n,) bool.  strata: (n,) ints or None: with strata only
    pairs within the same stratum are compared (the Mann–Whitney U statistics of the
    strata, summed, over the number of such pairs), so that a score offset per stratum
    does not count.  NaN when no positive–negative pair exists.
    Rank-based, O(n log n): with the average rank of each run of ties,
    U = (sum of the positives' ranks) − n₊(n₊ + 1)/2 counts the pairs a positive wins,
    a tie as ½.
    """
    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels, bool).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"auc: expected scores and labels of one length, got {scores.shape} "
                         f"and {labels.shape}")
    if strata is None:
        strata = np.zeros(len(scores), np.int64)
    strata = np.asarray(strata).ravel()
    if strata.shape != scores.shape:
        raise ValueError(f"auc: expected strata of length {len(scores)}, got {strata.shape}")
    if not len(scores):
        return float("nan")
    _, stratum = np.unique(strata, return_inverse=True)
    # one sort by (stratum, score); a run is a stretch of equal (stratum, score)
    order = np.lexsort((scores, stratum))
    x, g = scores[order], stratum[order]
    new_run = np.r_[True, (x[1:] != x[:-1]) | (g[1:] != g[:-1])]
    starts = np.flatnonzero(new_run)
    ends = np.r_[starts[1:], len(x)]                          # exclusive
    # 1-based ranks within the stratum: subtract the position where the stratum begins
    first = np.searchsorted(g, g[starts])                     # g is sorted
    run_rank = (starts - first + 1 + ends - first) / 2.0      # mean of the run's ranks
    ranks = np.repeat(run_rank, ends - starts)                # in sorted order
    y = labels[order]
    n_strata = int(g[-1]) + 1
    n_pos = np.bincount(g, weights=y, minlength=n_strata)
    n_all = np.bincount(g, minlength=n_strata)
    rank_sum = np.bincount(g, weights=ranks * y, minlength=n_strata)
    # per stratum U = R₊ − n₊(n₊ + 1)/2; a stratum with one class adds 0 wins and 0 pairs
    wins = float((rank_sum - n_pos * (n_pos + 1) / 2.0).sum())
    pairs = float((n_pos * (n_all - n_pos)).sum())
    return float(wins / pairs) if pairs else float("nan")


def _rates(predicted, truth):
    """Accuracy, false-positive rate (active predicted among inactive), false-negative
    rate (inactive predicted among active), over the entries selected."""
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    n, positives, negatives = truth.size, truth.sum(), (~truth).sum()
    return {
        "accuracy": float((predicted == truth).mean()) if n else float("nan"),
        "false_positive_rate": float((predicted & ~truth).sum() / negatives) if negatives else float("nan"),
        "false_negative_rate": float((~predicted & truth).sum() / positives) if positives else float("nan"),
        "n": int(n),
    }


def cell_detection(recon, foreground, background, cell_masks, inside, disk_masks, levels):
    """How many foreground cells vae1(x) gets right, against the ground truth.

    recon:       (N, 1, S, S) vae1(x): expected pixel values (Bernoulli means on binary data).
    foreground:  (N, C) bool, the true cell states.  background: (N, D) bool, the true
                 disk states.  cell_masks: (C, S, S) bool.  inside: (D, C) bool, cell c
                 lies in disk d (each cell in at most one).  disk_masks: (D, S, S) bool.
    levels:      synthetic.PixelLevels of the data: pixel_levels(threshold) for binary
                 data, pixel_levels(None) for grey.
    Predictions use the disk states read from recon (read_disks, detect_cells); the
    groups use the true ones.

    Returns
        {"all":           {"accuracy", "false_positive_rate", "false_negative_rate", "n", "auc"},
         "outside":       {…}  cells in no disk,
         "inside":        {…}  cells in a disk,
         "inside_bg_on":  {…}  cells in a disk that is (truly) on,
         "inside_bg_off": {…}  cells in a disk that is (truly) off,
         "disk_reading":  {"accuracy": [per disk], "false_positive_rate": [per disk],
                           "false_negative_rate": [per disk], "n": N}}
    n counts cell-images (N × cells of the group); the disk lists follow the columns of
    background.  "auc" compares the block means of active and inactive instances of the
    same cell (auc with strata = the cell): 1.0 when a threshold per cell exists that is
    never wrong, 0.5 when the means say nothing; rates and auc are NaN where a group
    lacks the class they need.
    """
    foreground = np.asarray(foreground, bool)
    background = np.asarray(background, bool)
    inside = np.asarray(inside, bool)
    n, c = foreground.shape
    if background.shape != (n, inside.shape[0]) or inside.shape[1] != c:
        raise ValueError(f"cell_detection: expected foreground (N, C), background (N, D) and "
                         f"inside (D, C), got {foreground.shape}, {background.shape} and "
                         f"{inside.shape}")
    read = read_disks(recon, cell_masks, disk_masks, levels)                       # (N, D)
    means = cell_means(recon, cell_masks)                                          # (N, C)
    predicted = _call_cells(means, read, inside, levels)
    cell_id = np.broadcast_to(np.arange(c), (n, c))
    in_any, disk_of = _disk_of(inside)
    bg_on = background[:, disk_of] & in_any                                        # (N, C)

    def group(select):
        out = _rates(predicted[select], foreground[select])
        out["auc"] = auc(means[select], foreground[select], strata=cell_id[select])
        return out

    outside = np.broadcast_to(~in_any, (n, c))
    covered = np.broadcast_to(in_any, (n, c))
    readings = [_rates(read[:, d], background[:, d]) for d in range(background.shape[1])]
    return {
        "all": group(np.ones((n, c), bool)),
        "outside": group(outside),
        "inside": group(covered),
        "inside_bg_on": group(covered & bg_on),
        "inside_bg_off": group(covered & ~bg_on),
        "disk_reading": {"accuracy": [r["accuracy"] for r in readings],
                         "false_positive_rate": [r["false_positive_rate"] for r in readings],
                         "false_negative_rate": [r["false_negative_rate"] for r in readings],
                         "n": int(n)},
    }


# --- probes: which latent space holds which state ----------------------------------------

def _standardiser(X):
    """The training mean and spread of features X (N, F); +1e-8 keeps constant features finite."""
    return X.mean(axis=0), X.std(axis=0) + 1e-8


def fit_logistic(features, labels, *, steps=500, lr=0.5, l2=1e-3):
    """Logistic regression by gradient descent on the mean cross-entropy + ½ l2 ‖w‖².

    features: (N, F), labels: (N,) in {0, 1}, or (N, L) for L independent problems on
    the same features (fitted together: one matrix product a step instead of L, the
    same arithmetic for each column).  The features are standardised with the training
    mean and spread, which the returned predictor reuses.
    Returns predict(features (M, F)) -> (M,) bool, or (M, L) for (N, L) labels.
    """
    X = np.asarray(features, np.float64)
    y = np.asarray(labels, np.float64)
    if X.ndim != 2 or y.ndim not in (1, 2) or len(y) != len(X):
        raise ValueError(f"fit_logistic: expected features (N, F) and labels (N,) or (N, L), "
                         f"got {X.shape} and {y.shape}")
    mean, std = _standardiser(X)
    Z = (X - mean) / std
    w, b = np.zeros((Z.shape[1],) + y.shape[1:]), np.zeros(y.shape[1:])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(Z @ w + b)))
        # ∂/∂w of the mean cross-entropy is Zᵀ (p − y) / N
        w -= lr * (Z.T @ (p - y) / len(y) + l2 * w)
        b -= lr * np.mean(p - y, axis=0)

    def predict(new):
        return ((np.asarray(new, np.float64) - mean) / std) @ w + b > 0

    return predict


def _check_k(k, who):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{who}: expected a whole number k >= 1, got {k!r}")


def nearest_neighbours(train_features, test_features, *, k=15, chunk=256):
    """Indices (M, k) of the k nearest training points of every test point.

    train_features: (N, F), test_features: (M, F).  Both are standardised with the
    training mean and spread (as fit_logistic); distances are Euclidean; k is capped at
    N.  The distances are computed `chunk` test points at a time, (chunk, N) floats, so
    500 points against 2000 take ~10 MB.  The neighbours depend on the features only, so
    one call serves every label to be predicted from the same code.
    """
    X = np.asarray(train_features, np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"nearest_neighbours: expected training features (N, F) with N >= 1, "
                         f"got {X.shape}")
    _check_k(k, "nearest_neighbours")
    k = min(int(k), len(X))
    mean, std = _standardiser(X)
    Z = (X - mean) / std
    z_sq = (Z ** 2).sum(axis=1)
    Q = (np.asarray(test_features, np.float64) - mean) / std
    out = np.empty((len(Q), k), np.intp)
    for start in range(0, len(Q), chunk):
        q = Q[start:start + chunk]
        # ‖q − z‖² = ‖q‖² − 2 q·z + ‖z‖²; ‖q‖² is the same for every z of a row, so it
        # does not change which z are nearest and is left out
        d2 = z_sq[None, :] - 2.0 * q @ Z.T
        out[start:start + chunk] = np.argpartition(d2, k - 1, axis=1)[:, :k]
    return out


def knn_vote(neighbours, labels):
    """The majority label (M,) bool among each row of neighbours (M, k) of the training
    labels (N,) bool; a tied vote (even k) goes to the training majority."""
    y = np.asarray(labels, bool)
    k = neighbours.shape[1]
    votes = y[neighbours].sum(axis=1)                                     # active among k
    return np.where(2 * votes == k, y.mean() >= 0.5, 2 * votes > k)


def fit_knn(features, labels, *, k=15, chunk=256):
    """k-nearest-neighbour vote: a probe that needs no linear boundary.

    features: (N, F), labels: (N,) bool.  A new point gets the majority label of its k
    nearest training points (nearest_neighbours, knn_vote).
    Returns predict(features (M, F)) -> (M,) bool.
    """
    X = np.asarray(features, np.float64)
    y = np.asarray(labels, bool)
    if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
        raise ValueError(f"fit_knn: expected features (N, F) and labels (N,) with N >= 1, got "
                         f"{X.shape} and {y.shape}")
    _check_k(k, "fit_knn")                   # now, not at the first prediction
    return lambda new: knn_vote(nearest_neighbours(X, new, k=k, chunk=chunk), y)


def _probe_predictions(train_x, train_y, test_x, neighbours):
    """The held-out predictions of both probes and of the training majority for each
    label column: {"linear", "knn", "majority"}, each (M, L) bool.
    train_y: (N, L) bool.  neighbours: nearest_neighbours(train_x, test_x), shared by every
    label of one code."""
    train_y = np.asarray(train_y, bool)
    m = len(test_x)
    return {"linear": fit_logistic(train_x, train_y)(test_x),
            "knn": np.stack([knn_vote(neighbours, y) for y in train_y.T], axis=1),
            "majority": np.broadcast_to(train_y.mean(axis=0) >= 0.5, (m, train_y.shape[1]))}


def _accuracy(predicted, truth):
    return float((predicted == truth).mean()) if truth.size else float("nan")


def latent_probes(train_mu1, train_mu2, train_foreground, train_background,
                  test_mu1, test_mu2, test_foreground, test_background,
                  inside, disk_names, k=15):
    """Where each disk's and each cell's state lives: probes on z1 alone and on z2 alone.

    train_mu1: (N, latent1), train_mu2: (N, latent2): posterior means of the training
    images; train_foreground (N, C), train_background (N, D) bool: their truth.
    test_*: the same for M held-out images.  inside: (D, C) bool.  disk_names: D names.
    k: the neighbours of the kNN probe.
    Every probe is fitted on the training images and scored on the held-out ones: a
    logistic regression ("linear", fit_logistic) and a k-nearest-neighbour vote ("knn",
    fit_knn); "majority" is the accuracy of always guessing the training majority class,
    on the same held-out entries — the score of a probe that learnt nothing.

    Returns
        {"disks": {name: {"z1": {"linear": acc, "knn": acc},
                          "z2": {"linear": acc, "knn": acc}, "majority": acc}},
         "cells": {"outside":      {…same shape…}  cells in no disk, on all held-out images,
                   "inside":       {…}  cells in a disk, on all held-out images,
                   "inside_bg_on": {…}  cells in a disk, only on the held-out images where
                                        that disk is on}}
    where a cell group's accuracies are averaged over its cells (one probe per cell,
    fitted on all training images); NaN for a group with no cell (or, for inside_bg_on,
    no held-out image with its disk on).
    """
    spaces = {"z1": (np.asarray(train_mu1, np.float64), np.asarray(test_mu1, np.float64)),
              "z2": (np.asarray(train_mu2, np.float64), np.asarray(test_mu2, np.float64))}
    train_fg, test_fg = np.asarray(train_foreground, bool), np.asarray(test_foreground, bool)
    train_bg, test_bg = np.asarray(train_background, bool), np.asarray(test_background, bool)
    inside = np.asarray(inside, bool)
    disk_names = list(disk_names)
    n, m = len(train_fg), len(test_fg)
    for what, (tr, te) in spaces.items():
        if (tr.ndim != 2 or te.ndim != 2 or len(tr) != n or len(te) != m
                or tr.shape[1] != te.shape[1]):
            raise ValueError(f"latent_probes: expected {what} posterior means (N, L) for the "
                             f"{n} training and (M, L) for the {m} held-out images, got "
                             f"{tr.shape} and {te.shape}")
    if (train_bg.shape != (n, len(disk_names)) or test_bg.shape != (m, len(disk_names))
            or train_fg.shape[1] != test_fg.shape[1]):
        raise ValueError(f"latent_probes: expected foreground (·, C) and background "
                         f"(·, {len(disk_names)}) for training and held-out images, got "
                         f"{train_fg.shape}, {test_fg.shape}, {train_bg.shape}, {test_bg.shape}")
    if inside.shape != (len(disk_names), train_fg.shape[1]):
        raise ValueError(f"latent_probes: expected inside ({len(disk_names)}, "
                         f"{train_fg.shape[1]}), got {inside.shape}")

    neighbours = {space: nearest_neighbours(tr, te, k=k) for space, (tr, te) in spaces.items()}

    # every label at once, one logistic fit per space: the disks' states, then the cells'
    labels = np.concatenate([train_bg, train_fg], axis=1)
    fitted_all = {space: _probe_predictions(tr, labels, te, neighbours[space])
                  for space, (tr, te) in spaces.items()}

    def predictions(column):
        """Held-out predictions (M,) bool of each probe on each space for one label
        column of `labels`, and the majority's."""
        out = {space: {probe: p[:, column] for probe, p in by_probe.items()}
               for space, by_probe in fitted_all.items()}
        return out, out["z1"]["majority"]

    def scores(fitted, test_y, select=None):
        """{"z1": {"linear", "knn"}, "z2": {…}, "majority"} accuracies of the predictions
        `fitted` on the held-out entries `select` ((M,) bool, default all)."""
        by_space, majority = fitted
        select = np.ones(m, bool) if select is None else select
        out = {space: {probe: _accuracy(by_space[space][probe][select], test_y[select])
                       for probe in ("linear", "knn")} for space in spaces}
        out["majority"] = _accuracy(majority[select], test_y[select])
        return out

    def average(results):
        """Average the per-cell dicts of one group, entry by entry; NaN for none."""
        def mean(xs):
            return float(np.mean(xs)) if xs else float("nan")
        return {**{space: {p: mean([r[space][p] for r in results]) for p in ("linear", "knn")}
                   for space in spaces},
                "majority": mean([r["majority"] for r in results])}

    disks = {name: scores(predictions(d), test_bg[:, d])
             for d, name in enumerate(disk_names)}
    in_any, disk_of = _disk_of(inside)
    outside, covered, covered_on = [], [], []
    for c in range(train_fg.shape[1]):
        # one fit per cell; "inside" and "inside_bg_on" score the same probe
        fitted = predictions(len(disk_names) + c)
        if not in_any[c]:
            outside.append(scores(fitted, test_fg[:, c]))
            continue
        covered.append(scores(fitted, test_fg[:, c]))
        on = test_bg[:, disk_of[c]]
        if on.any():
            covered_on.append(scores(fitted, test_fg[:, c], on))
    return {"disks": disks,
            "cells": {"outside": average(outside), "inside": average(covered),
                      "inside_bg_on": average(covered_on)}}


def disk_probe_summary(probes):
    """latent_probes(...) -> the flat form metrics.json keeps under "probe":
    {disk name: {"z1": linear accuracy, "z2": linear accuracy, "majority": accuracy}}."""
    return {name: {"z1": p["z1"]["linear"], "z2": p["z2"]["linear"], "majority": p["majority"]}
            for name, p in probes["disks"].items()}


__all__ = ["target_error", "constant_target_error", "cell_means", "disk_background_masks",
           "read_disks", "detect_cells", "auc", "cell_detection", "fit_logistic", "fit_knn",
           "nearest_neighbours", "knn_vote",
           "latent_probes", "disk_probe_summary"]
