"""The latent space of a trained VAE: where the data go, which dimensions carry
information, and what the decoder draws along the way.

The tutorial (§3.2) stresses that a VAE's latent space is continuous "by design", so
that one can sample and interpolate in it; the thesis explores its latent spaces by
decoding one-hot states ±a (§3.1, figures 3.4–3.6).  This module makes those looks
measurable and reusable for any `models.vae.VAE`:

    posterior_means(model, x)          (mu, logvar) of q(z|x) for a whole data set, in batches
    active_units(mu, threshold=0.01)   which dimensions the encoder uses (Burda et al. 2016)
    latent_grid(n, extent, …)          codes on a regular n×n grid of two chosen dimensions
    latent_traversal(D, values, …)     one dimension at a time moved through `values`
    decode_mean(model, z)              E[x|z] for many codes, in batches, on the host
    save_latent_scatter(mu, labels, path)      the posterior means, coloured by label
    save_latent_grid(images, n, path, extent)  the decoded grid as one picture
    save_traversal(images, values, path)       one row per latent dimension

Active units.  A dimension u is *active* when the posterior mean moves with the data:
A_u = Var_x( E_{q(z|x)}[z_u] ) > threshold, with threshold 0.01 as in Burda, Grosse and
Salakhutdinov, "Importance weighted autoencoders" (ICLR 2016, §5.2).  An inactive
dimension has q(z_u|x) ≈ p(z_u) for every x: it costs no KL and carries nothing — the
posterior collapse that KL annealing (tutorial §4) and the β of a β-VAE (slides Concept
11.25) act on.

Every function takes and returns host (NumPy) arrays; the model may live on any backend.
"""

import numpy as np

from ..backend import to_numpy
from .plots import image_grid, pyplot, save_figure, show_image

ACTIVITY_THRESHOLD = 0.01       # Burda et al. (2016)


def posterior_means(model, x, batch_size=500):
    """(mu, logvar) of q(z|x) for every row of x, each (N, D) float64 on the host.

    model: anything with encode(x) -> DiagonalGaussian (a models.vae.VAE).
    x: (N, *x_shape) host array in the form the model was trained on.
    """
    x = np.asarray(x)
    if len(x) == 0:
        raise ValueError("posterior_means: expected at least one example, got an empty array")
    mus, logvars = [], []
    for start in range(0, len(x), batch_size):
        xb = model.backend.asarray(x[start:start + batch_size], dtype=model.dtype)
        q = model.encode(xb)
        mus.append(to_numpy(q.mu).astype(np.float64))
        logvars.append(to_numpy(q.logvar).astype(np.float64))
    return np.concatenate(mus), np.concatenate(logvars)


def active_units(mu, threshold=ACTIVITY_THRESHOLD):
    """(number of active dimensions, activity per dimension).

    mu: (N, D) posterior means.  The activity of dimension u is the variance over the
    data of its posterior mean, A_u = (1/N) Σ_n (mu_nu − mean_n mu_nu)²; u is active
    when A_u > threshold.
    """
    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 2 or len(mu) < 2:
        raise ValueError(f"active_units: expected posterior means of shape (N, D) with N ≥ 2, "
                         f"got shape {mu.shape}")
    activity = mu.var(axis=0)
    return int((activity > threshold).sum()), activity


def latent_grid(n, extent, latent_dim=2, dims=(0, 1), base=None):
    """Codes on a regular n×n grid in the dimensions `dims`, shape (n·n, latent_dim).

    The other dimensions hold `base` (default 0, the prior's mean).  Code r·n + c is
    the picture's row r and column c: dims[0] = values[c] grows to the right, dims[1] =
    values[n − 1 − r] grows upwards, with values = linspace(−extent, extent, n).
    """
    n = int(n)
    if n < 1 or not extent > 0:
        raise ValueError(f"latent_grid: expected n ≥ 1 and extent > 0, got n={n}, extent={extent}")
    a, b = dims
    if a == b or not (0 <= a < latent_dim and 0 <= b < latent_dim):
        raise ValueError(f"latent_grid: expected two different dimensions in 0..{latent_dim - 1}, "
                         f"got {dims}")
    values = np.linspace(-extent, extent, n)
    z = np.tile(_base(base, latent_dim), (n * n, 1))
    cols, rows = np.meshgrid(np.arange(n), np.arange(n))       # rows[r, c] = r, cols[r, c] = c
    z[:, a] = values[cols.ravel()]
    z[:, b] = values[n - 1 - rows.ravel()]
    return z


def latent_traversal(latent_dim, values, base=None, dims=None):
    """Codes that move one dimension at a time: shape (len(dims)·len(values), latent_dim).

    Code i·len(values) + j equals `base` (default 0) except that dimension dims[i]
    (default: every dimension in turn) is set to values[j].  The thesis's exploration
    (§3.1, figures 3.4–3.6) is the case values = (a, −a) with base 0.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    dims = range(latent_dim) if dims is None else dims
    base = _base(base, latent_dim)
    z = []
    for d in dims:
        if not 0 <= d < latent_dim:
            raise ValueError(f"latent_traversal: dimension {d} is not in 0..{latent_dim - 1}")
        for v in values:
            code = base.copy()
            code[d] = v
            z.append(code)
    return np.array(z)


def decode_mean(model, z, batch_size=500):
    """E[x|z] for codes z: (M, D) -> (M, *x_shape) float64 on the host."""
    z = np.asarray(z)
    out = []
    for start in range(0, len(z), batch_size):
        zb = model.backend.asarray(z[start:start + batch_size], dtype=model.dtype)
        out.append(to_numpy(model.decode(zb).mean).astype(np.float64))
    return np.concatenate(out)


def _base(base, latent_dim):
    if base is None:
        return np.zeros(latent_dim)
    base = np.asarray(base, dtype=np.float64).ravel()
    if base.shape != (latent_dim,):
        raise ValueError(f"expected a base code of {latent_dim} values, got shape {base.shape}")
    return base.copy()


# --- figures ------------------------------------------------------------------------------

def save_latent_scatter(mu, labels, path, dims=(0, 1), title=None, max_points=2000):
    """The posterior means in two dimensions, one colour per label (e.g. the digit)."""
    plt = pyplot()
    mu, labels = np.asarray(mu), np.asarray(labels)
    if len(mu) != len(labels):
        raise ValueError(f"save_latent_scatter: {len(mu)} codes but {len(labels)} labels")
    mu, labels = mu[:max_points], labels[:max_points]
    a, b = dims
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for k in np.unique(labels):
        sel = labels == k
        ax.scatter(mu[sel, a], mu[sel, b], s=7, alpha=0.75, label=str(k))
        ax.annotate(str(k), (np.median(mu[sel, a]), np.median(mu[sel, b])), fontsize=11,
                    fontweight="bold", ha="center", va="center",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", alpha=0.7, lw=0))
    ax.set_xlabel(f"mean of z{a + 1}")
    ax.set_ylabel(f"mean of z{b + 1}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, markerscale=1.5, ncol=2, loc="best")
    return save_figure(fig, path, title=title)


def save_latent_grid(images, n, path, extent, dims=(0, 1), title=None):
    """Decoded latent_grid(n, extent) codes, images (n·n, 1, H, W), as one picture whose
    axes are the two latent dimensions."""
    plt = pyplot()
    grid = image_grid(images, n)
    fig, ax = plt.subplots(figsize=(5.4, 5.4))
    show_image(ax, grid)
    ticks = np.linspace(0, grid.shape[1] - 1, 5)
    labels = [f"{v:g}" for v in np.linspace(-extent, extent, 5)]
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels)
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels[::-1])
    ax.set_xlabel(f"z{dims[0] + 1}")
    ax.set_ylabel(f"z{dims[1] + 1}")
    return save_figure(fig, path, title=title)


def save_traversal(images, values, path, row_labels=None, title=None):
    """latent_traversal images, (rows·len(values), 1, H, W): one row per dimension, one
    column per value; rows labelled z1, z2, … unless row_labels says otherwise."""
    plt = pyplot()
    values = np.asarray(values).ravel()
    images = np.asarray(images)
    ncols = len(values)
    nrows = len(images) // ncols
    row_labels = row_labels or [f"z{i + 1}" for i in range(nrows)]
    fig, axes = plt.subplots(nrows, 1, figsize=(0.62 * ncols + 1.2, 0.7 * nrows + 0.9),
                             squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        show_image(ax, image_grid(images[i * ncols:(i + 1) * ncols], ncols))
        ax.set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=9)
    w = images.shape[-1]
    axes[-1, 0].set_xticks([j * (w + 1) + (w - 1) / 2 for j in range(ncols)])
    axes[-1, 0].set_xticklabels([f"{v:g}" for v in values], fontsize=8)
    return save_figure(fig, path, title=title)


__all__ = ["posterior_means", "active_units", "latent_grid", "latent_traversal", "decode_mean",
           "save_latent_scatter", "save_latent_grid", "save_traversal", "ACTIVITY_THRESHOLD"]
