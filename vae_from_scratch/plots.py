"""Figures: image grids (reconstructions, samples) and ELBO curves.

Matplotlib draws to files only (the "Agg" backend), so everything works on a machine
without a screen.  Every function takes host (NumPy) arrays and a path, and returns
the path it wrote.
"""

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _show(ax, image):
    """Draw one grey image on [0, 1] (NaN gaps white), without ticks."""
    cmap = _pyplot().get_cmap("gray").with_extremes(bad="white")
    ax.imshow(np.asarray(image), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _finish(fig, path, title, fontsize=10):
    if title:
        fig.suptitle(title, fontsize=fontsize)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)
    return path


def image_grid(images, ncols):
    """Tile images (N, C, H, W) or (N, H, W) into one 2-D array with 1-pixel gaps (C = 1)."""
    images = np.asarray(images)
    if images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"image_grid: expected one channel, got shape {images.shape}")
        images = images[:, 0]
    n, h, w = images.shape
    nrows = -(-n // ncols)
    grid = np.full((nrows * (h + 1) - 1, ncols * (w + 1) - 1), np.nan)
    for i, im in enumerate(images):
        r, c = divmod(i, ncols)
        grid[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = im
    return grid


def save_image_rows(rows, labels, path, title=None, ncols=None):
    """One row of images per entry of `rows` (each (n, 1, H, W)), labelled on the left."""
    plt = _pyplot()
    ncols = ncols or len(rows[0])
    fig, axes = plt.subplots(len(rows), 1, figsize=(ncols * 0.6 + 1.2, len(rows) * 0.75 + 0.4),
                             squeeze=False)
    for ax, row, label in zip(axes[:, 0], rows, labels):
        _show(ax, image_grid(row, ncols))
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    return _finish(fig, path, title)


def save_image_grid(images, path, ncols=10, title=None):
    """A grid of images (N, 1, H, W), for example samples from the model."""
    plt = _pyplot()
    grid = image_grid(images, ncols)
    fig, ax = plt.subplots(figsize=(ncols * 0.6, grid.shape[0] / grid.shape[1] * ncols * 0.6 + 0.4))
    _show(ax, grid)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return _finish(fig, path, None)


def plot_elbo_curves(history, path, title=None):
    """Train and validation ELBO per epoch (left), and the validation KL and −E log p(x|z)
    (right), from the history that train.fit returns."""
    ep = history["epoch"]
    series = {"train ELBO": (ep, history["train_elbo"]), "validation ELBO": (ep, history["val_elbo"]),
              "KL(q(z|x) ‖ p(z))": (ep, history["val_kl"]),
              "−E log p(x|z)": (ep, np.negative(history["val_reconstruction"]))}
    return plot_series(series, path, ylabel="nats per example", title=title,
                       panels={"ELBO": ["train ELBO", "validation ELBO"],
                               "validation terms": ["KL(q(z|x) ‖ p(z))", "−E log p(x|z)"]})


def save_reconstruction_plot(columns, titles, path, title=None):
    """The thesis's reconstruction plot (figures 3.1–3.3): one row per image, one column per
    array in `columns` (each (n, 1, h, w); e.g. x, vae1(x), g(x), vae2(x)), grey scale 0–1."""
    plt = _pyplot()
    n = len(columns[0])
    fig, axes = plt.subplots(n, len(columns), figsize=(1.6 * len(columns), 1.6 * n + 0.5),
                             squeeze=False)
    for j, (images, name) in enumerate(zip(columns, titles)):
        for i in range(n):
            _show(axes[i, j], images[i, 0])
            if i == 0:
                axes[i, j].set_title(name, fontsize=10)
    return _finish(fig, path, title, fontsize=11)


def save_latent_exploration(images, labels, path, ncols, title=None):
    """Decoder outputs for chosen latent states (figures 3.4–3.6), each annotated below
    with its state, e.g. "[5, 0, 0, 0, 0]".  images: (n, 1, h, w); None leaves a gap."""
    plt = _pyplot()
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 2.1 * nrows + 0.4),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, (image, label) in enumerate(zip(images, labels)):
        if image is None:
            continue
        ax = axes.ravel()[k]
        ax.axis("on")
        _show(ax, image[0])
        ax.set_xlabel(label, fontsize=8)
    return _finish(fig, path, title, fontsize=11)


def plot_series(series, path, xlabel="epoch", ylabel="", title=None, panels=None):
    """Line plots: series {label: (x, y)}; panels {panel title: [labels]} splits them
    into side-by-side axes (default: one axis)."""
    plt = _pyplot()
    panels = panels or {"": list(series)}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.4), squeeze=False)
    for ax, (name, labels) in zip(axes[0], panels.items()):
        for label in labels:
            x, y = series[label]
            ax.plot(x, y, marker="o" if len(x) < 15 else None, ms=3, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _finish(fig, path, title, fontsize=11)


__all__ = ["image_grid", "save_image_rows", "save_image_grid", "plot_elbo_curves",
           "save_reconstruction_plot", "save_latent_exploration", "plot_series"]
