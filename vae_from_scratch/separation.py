"""Separation of foreground and background, measured against the ground truth.

The thesis judges its dual VAE by looking at reconstructions (figures 3.1–3.6).  The
synthetic data know the truth — which foreground cells and which background disks are
active in every image — so here we count:

    target_error        how well vae2 reproduces the background target g(x): the mean
                        absolute error, per pixel of g, beside constant_target_error,
                        the same for a guess that never looks at the image
    cell_detection      how well vae1 reproduces the foreground: a cell counts as
                        reconstructed active when the mean probability inside its 6×6 block
                        exceeds 0.5; accuracy, false-positive and false-negative rates,
                        split by cells inside vs outside a disk and, inside, by the disk
                        being on or off
    background_probe    where the background lives in the latent spaces: a logistic
                        regression (written here) predicts each disk's state from the
                        posterior means of z1 alone, and of z2 alone, on held-out images

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


def cell_means(images, cell_masks):
    """Mean value inside each cell: images (N, 1, S, S), masks (C, S, S) -> (N, C)."""
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    masks = np.asarray(cell_masks, np.float64).reshape(len(cell_masks), -1)
    return flat @ masks.T / masks.sum(axis=1)


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


def cell_detection(recon, foreground, background, cell_masks, inside, threshold=0.5):
    """How many foreground cells vae1 gets right, against the ground truth.

    recon: (N, 1, S, S) vae1(x), probabilities.  foreground: (N, C) bool truth.
    background: (N, D) bool, each disk's state.  cell_masks: (C, S, S).  inside: (D, C),
    cell c lies inside disk d.
    Returns {"all", "outside", "inside", "inside_bg_on", "inside_bg_off"}: each a dict of
    accuracy, false_positive_rate, false_negative_rate and n (cell-images counted).
    """
    predicted = cell_means(recon, cell_masks) > threshold                  # (N, C)
    truth = np.asarray(foreground, bool)
    inside = np.asarray(inside, bool)
    in_any = inside.any(axis=0)                                            # (C,)
    # the state of the disk each inside-cell lies in (cells lie in at most one disk)
    disk_of = inside.argmax(axis=0)
    bg_on = np.asarray(background, bool)[:, disk_of] & in_any              # (N, C)
    out = {"all": _rates(predicted, truth),
           "outside": _rates(predicted[:, ~in_any], truth[:, ~in_any]),
           "inside": _rates(predicted[:, in_any], truth[:, in_any])}
    on = bg_on[:, in_any]
    out["inside_bg_on"] = _rates(predicted[:, in_any][on], truth[:, in_any][on])
    out["inside_bg_off"] = _rates(predicted[:, in_any][~on], truth[:, in_any][~on])
    return out


def fit_logistic(features, labels, *, steps=500, lr=0.5, l2=1e-3):
    """Logistic regression by gradient descent on the mean cross-entropy + ½ l2 ‖w‖².

    features: (N, F), labels: (N,) in {0, 1}.  The features are standardised with the
    training mean and spread, which the returned predictor reuses.
    Returns predict(features) -> (N,) bool.
    """
    X = np.asarray(features, np.float64)
    y = np.asarray(labels, np.float64)
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-8
    Z = (X - mean) / std
    w, b = np.zeros(Z.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(Z @ w + b)))
        # ∂/∂w of the mean cross-entropy is Zᵀ (p − y) / N
        w -= lr * (Z.T @ (p - y) / len(y) + l2 * w)
        b -= lr * float(np.mean(p - y))

    def predict(new):
        return ((np.asarray(new, np.float64) - mean) / std) @ w + b > 0

    return predict


def probe_accuracy(train_features, train_labels, test_features, test_labels):
    """Held-out accuracy of a logistic probe, and of always guessing the majority class."""
    train_labels = np.asarray(train_labels, bool)
    predict = fit_logistic(train_features, train_labels)
    test_labels = np.asarray(test_labels, bool)
    majority = train_labels.mean() >= 0.5
    return {"accuracy": float((predict(test_features) == test_labels).mean()),
            "majority": float((test_labels == majority).mean())}


def background_probe(mu1, mu2, background, disk_names, train_fraction=0.5):
    """Which latent space holds each disk's state?  For every disk, a probe on z1's
    posterior means and one on z2's, trained on the first `train_fraction` of the images
    and scored on the rest.  mu1: (N, latent1), mu2: (N, latent2), background: (N, D).
    Returns {disk name: {"z1": acc, "z2": acc, "majority": acc}}."""
    n_train = int(len(mu1) * train_fraction)
    out = {}
    for d, name in enumerate(disk_names):
        y = np.asarray(background)[:, d]
        scores = {space: probe_accuracy(mu[:n_train], y[:n_train], mu[n_train:], y[n_train:])
                  for space, mu in (("z1", mu1), ("z2", mu2))}
        out[name] = {"z1": scores["z1"]["accuracy"], "z2": scores["z2"]["accuracy"],
                     "majority": scores["z1"]["majority"]}
    return out


__all__ = ["target_error", "constant_target_error", "cell_means", "cell_detection", "fit_logistic", "probe_accuracy",
           "background_probe"]
