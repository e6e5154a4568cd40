"""Train / validation / test splits: a seeded permutation cut in three.

The training set fits the weights; the validation set chooses when to stop and which
settings to keep; the test set is looked at once, at the end.  Drawing the split from a
Generator the caller passes in makes it reproducible (same seed, same split).
"""

from typing import NamedTuple

import numpy as np

from .errors import check_rng


class Dataset(NamedTuple):
    """Images (N, C, H, W) float32 and their labels (N,) int64; unpacks as (images, labels)."""
    images: np.ndarray
    labels: np.ndarray


class Splits(NamedTuple):
    """The three parts of a data set, each a Dataset: splits.train.images, …"""
    train: Dataset
    val: Dataset
    test: Dataset


def _check_fraction(value, name):
    if isinstance(value, bool) or not np.isscalar(value) or not 0 <= value < 1:
        raise ValueError(f"train_val_test_split: expected {name} in [0, 1), got {value!r}")


def train_val_test_split(n, val_fraction, test_fraction, rng):
    """(train_idx, val_idx, test_idx): disjoint sorted index arrays that together cover 0..n−1.

    Sizes: n_val = round(n · val_fraction), n_test = round(n · test_fraction), and the rest
    for training (at least one example).  Which index goes where is a permutation from rng.
    """
    check_rng(rng, "train_val_test_split")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"train_val_test_split: expected n, the number of examples, as a "
                         f"positive integer, got {n!r}")
    _check_fraction(val_fraction, "val_fraction")
    _check_fraction(test_fraction, "test_fraction")
    n_val, n_test = round(n * val_fraction), round(n * test_fraction)
    n_train = n - n_val - n_test
    if n_train < 1:
        raise ValueError(f"train_val_test_split: val_fraction={val_fraction} and "
                         f"test_fraction={test_fraction} of n={n} leave {n_train} examples "
                         f"for training; expected at least 1")
    order = rng.permutation(n)
    train, val, test = np.split(order, [n_train, n_train + n_val])
    return np.sort(train), np.sort(val), np.sort(test)


def take(images, labels, idx):
    """Dataset(images[idx], labels[idx])."""
    return Dataset(images[idx], labels[idx])
