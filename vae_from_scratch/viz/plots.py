"""Figures: image grids (reconstructions, samples), ELBO curves and the probe summary.

Matplotlib draws to files only (the "Agg" backend), so everything works on a machine
without a screen; inside a Jupyter kernel save_figure also shows each PNG inline.
Every function takes host (NumPy) arrays and a path, and returns the path it wrote.
They all write through save_figure, which the chapters, the commands and the thesis
reproduction use too: one layout and one close, in one place.
"""

import sys
from numbers import Real
from pathlib import Path

import numpy as np

from ..utils import in_notebook_kernel


def pyplot():
    """matplotlib.pyplot, on the "Agg" backend (files only) unless pyplot was imported
    before with another one: a notebook's inline backend, or what a chapter chose."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def show_image(ax, image, vmin=0, vmax=1):
    """Draw one grey image (H, W) on the axes ax, on [vmin, vmax] (black to white; NaN
    gaps white), without ticks: the cell of every image grid here."""
    cmap = pyplot().get_cmap("gray").with_extremes(bad="white")
    ax.imshow(np.asarray(image), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def save_figure(fig, path, *, title=None, fontsize=10, rect=None, dpi=120):
    """The one way a figure is written: suptitle, tight layout, PNG at `dpi`, close;
    inside a Jupyter kernel the PNG is also shown below the running cell.

    path: the file (missing folders are made); returned as a Path.  title: the figure's
    suptitle, in `fontsize`.  rect (left, bottom, right, top), in figure fractions: the
    part tight_layout may fill, e.g. to keep room for a figure legend (default: all).
    """
    if title:
        fig.suptitle(title, fontsize=fontsize)
    fig.tight_layout(rect=rect)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    if in_notebook_kernel():                  # a chapter read as a notebook: show it here
        from IPython.display import Image, display
        display(Image(filename=str(path)))
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
    plt = pyplot()
    ncols = ncols or len(rows[0])
    fig, axes = plt.subplots(len(rows), 1, figsize=(ncols * 0.6 + 1.2, len(rows) * 0.75 + 0.4),
                             squeeze=False)
    for ax, row, label in zip(axes[:, 0], rows, labels):
        show_image(ax, image_grid(row, ncols))
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    return save_figure(fig, path, title=title)


def save_image_grid(images, path, ncols=10, title=None):
    """A grid of images (N, 1, H, W), for example samples from the model."""
    plt = pyplot()
    grid = image_grid(images, ncols)
    fig, ax = plt.subplots(figsize=(ncols * 0.6, grid.shape[0] / grid.shape[1] * ncols * 0.6 + 0.4))
    show_image(ax, grid)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


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


# Outline colours: state, not kind, decides the colour, so "green = on, red = off" holds for
# cells and disks alike; disks are told apart from cells by their round shape, and their
# state is repeated in the line style (solid on, dotted off) for readers who cannot tell
# green from red.  A thin black halo keeps both colours visible on white pixels too.
OUTLINE_ON = "lime"
OUTLINE_OFF = "#ff2020"
_OUTLINE_KEYS = ("cell_masks", "foreground", "disk_masks", "background")


def cell_rectangles(cell_masks):
    """The bounding box of every cell mask.

    cell_masks: (C, H, W) bool, one mask per cell.
    Returns (C, 4) int, one row (row0, col0, height, width) per cell: the cell covers rows
    row0 .. row0 + height − 1 and columns col0 .. col0 + width − 1.  In imshow coordinates
    (pixel centres at whole numbers) its border is the rectangle from (col0 − 0.5, row0 − 0.5)
    of that width and height, which runs exactly along the pixel edges.
    """
    masks = np.asarray(cell_masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"cell_rectangles: expected masks (C, H, W), got shape {masks.shape}")
    out = np.zeros((len(masks), 4), dtype=int)
    for j, mask in enumerate(masks):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            raise ValueError(f"cell_rectangles: mask {j} is empty, it has no bounding box")
        out[j] = rows[0], cols[0], rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    return out


def _check_outlines(outlines, n):
    """Validate the `outlines` dict of save_reconstruction_plot for n rows; returns its four
    arrays as bool (cell_masks (C,S,S), foreground (n,C), disk_masks (D,S,S), background (n,D))."""
    if not isinstance(outlines, dict):
        raise ValueError(f"save_reconstruction_plot: expected outlines to be a dict with keys "
                         f"{', '.join(_OUTLINE_KEYS)}, got {type(outlines).__name__}")
    missing = [k for k in _OUTLINE_KEYS if k not in outlines]
    if missing:
        raise ValueError(f"save_reconstruction_plot: outlines lacks key(s) {', '.join(missing)}")
    cells, fg, disks, bg = (np.asarray(outlines[k], dtype=bool) for k in _OUTLINE_KEYS)
    if cells.ndim != 3 or cells.shape[1] != cells.shape[2]:
        raise ValueError(f"save_reconstruction_plot: expected outlines['cell_masks'] of shape "
                         f"(C, S, S), got {cells.shape}")
    size = cells.shape[1]
    if disks.ndim != 3 or disks.shape[1:] != (size, size):
        raise ValueError(f"save_reconstruction_plot: expected outlines['disk_masks'] of shape "
                         f"(D, {size}, {size}) like the cell masks, got {disks.shape}")
    for key, states, masks in (("foreground", fg, cells), ("background", bg, disks)):
        # the first n rows: the plot shows the first n images of the data they came from
        if states.ndim != 2 or states.shape[0] < n or states.shape[1] != len(masks):
            raise ValueError(f"save_reconstruction_plot: expected outlines[{key!r}] of shape "
                             f"(n >= {n}, {len(masks)}), one row per image, got {states.shape}")
    return cells, fg[:n], disks, bg[:n]


def _draw_outlines(ax, cells, cells_on, disks, disks_on):
    """Draw the true layout over one image: cells (C, S, S) with states cells_on (C,) as
    rectangles on the pixel edges, disks (D, S, S) with disks_on (D,) as 0.5-contours."""
    from matplotlib import patheffects
    from matplotlib.patches import Rectangle

    halo = [patheffects.withStroke(linewidth=2.2, foreground="black")]
    for (r, c, h, w), on in zip(cell_rectangles(cells), cells_on):
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, lw=0.9,
                               edgecolor=OUTLINE_ON if on else OUTLINE_OFF, path_effects=halo))
    # contour() rescales the axes to its grid (0 .. S−1); keep the image's half-pixel margins
    limits = ax.get_xlim(), ax.get_ylim()
    for mask, on in zip(disks, disks_on):
        # level 0.5 of the 0/1 mask lies halfway between the centres of a disk pixel and
        # its outside neighbour, i.e. on their common edge
        contour = ax.contour(mask.astype(float), levels=[0.5], linewidths=1.2,
                             colors=[OUTLINE_ON if on else OUTLINE_OFF],
                             linestyles="solid" if on else "dotted")
        contour.set(path_effects=halo)
    ax.set_xlim(limits[0])
    ax.set_ylim(limits[1])


def _outline_legend(fig):
    """A one-line figure legend at the bottom: which colour and line style is which."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def square(colour):
        return Patch(facecolor="none", edgecolor=colour, lw=1.2)

    handles = [square(OUTLINE_ON), square(OUTLINE_OFF),
               Line2D([], [], color=OUTLINE_ON, lw=1.2),
               Line2D([], [], color=OUTLINE_OFF, lw=1.2, ls="dotted")]
    labels = ["cell active", "cell inactive", "disk active", "disk inactive"]
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False,
               handlelength=1.6, columnspacing=1.2)


def _check_ranges(ranges, ncols):
    """[(vmin, vmax)] * ncols from `ranges` (None: all (0, 1); None entries: (0, 1))."""
    if ranges is None:
        return [(0, 1)] * ncols
    ranges = list(ranges)
    if len(ranges) != ncols:
        raise ValueError(f"save_reconstruction_plot: expected one (vmin, vmax) per column, "
                         f"{ncols} in all, got {len(ranges)}")
    out = []
    for j, r in enumerate(ranges):
        vmin, vmax = (0, 1) if r is None else r
        if not (np.isfinite(vmin) and np.isfinite(vmax) and vmin < vmax):
            raise ValueError(f"save_reconstruction_plot: expected finite vmin < vmax for "
                             f"column {j}, got {r!r}")
        out.append((vmin, vmax))
    return out


def save_reconstruction_plot(columns, titles, path, title=None, outlines=None, ranges=None):
    """The thesis's reconstruction plot (figures 3.1–3.3): one row per image, one column per
    array in `columns` (each (n, 1, h, w); e.g. x, vae1(x), g(x), vae2(x)), grey scale 0–1.

    outlines:  optional dict of the true layout, drawn over every image whose size is S×S
               (the 2×2 target g(x) gets none), so that a wrong reconstruction shows:
                   cell_masks (C, S, S) bool   each cell's pixels, outlined as a rectangle
                   foreground (n, C) bool      which cells are active in each row's image
                   disk_masks (D, S, S) bool   each disk's pixels, outlined as a contour
                   background (n, D) bool      which disks are active in each row's image
               Active is green (disks solid), inactive red (disks dotted); a legend below
               says so.  Synthetic's fields of the same names fit (their first n rows are
               used).  The images themselves are drawn unchanged underneath.
    ranges:    optional (vmin, vmax) per column, black to white (None or a None entry:
               (0, 1)); e.g. (0, 2) for grey images, whose values reach about 2.  A column
               with a range other than (0, 1) says so in its title.
    """
    plt = pyplot()
    n = len(columns[0])
    ranges = _check_ranges(ranges, len(columns))
    if outlines is not None:
        cells, fg, disks, bg = _check_outlines(outlines, n)
    legend_height = 0.0 if outlines is None else 0.35     # inches kept free for the legend
    height = 1.6 * n + 0.5 + legend_height
    fig, axes = plt.subplots(n, len(columns), figsize=(1.6 * len(columns), height),
                             squeeze=False)
    for j, (images, name, (vmin, vmax)) in enumerate(zip(columns, titles, ranges)):
        for i in range(n):
            show_image(axes[i, j], images[i, 0], vmin, vmax)
            if outlines is not None and np.shape(images[i, 0]) == cells.shape[1:]:
                _draw_outlines(axes[i, j], cells, fg[i], disks, bg[i])
            if i == 0:
                label = name if (vmin, vmax) == (0, 1) else f"{name}\n(grey {vmin:g}–{vmax:g})"
                axes[i, j].set_title(label, fontsize=10)
    if outlines is not None:
        _outline_legend(fig)
    return save_figure(fig, path, title=title, fontsize=11,
                       rect=(0, legend_height / height, 1, 1))


def save_latent_exploration(images, labels, path, ncols, title=None, value_range=(0.0, 1.0)):
    """Decoder outputs for chosen latent states (figures 3.4–3.6), each annotated below
    with its state, e.g. "[5, 0, 0, 0, 0]".  images: (n, 1, h, w); None leaves a gap.
    value_range: (vmin, vmax) of the grey scale, (0, 1) for probabilities."""
    plt = pyplot()
    nrows = -(-len(images) // ncols)
    size = 1.9 if ncols <= 9 else 1.3          # a wide code (z1 ∈ R¹⁶) still fits a page
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.2) * nrows + 0.4),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, (image, label) in enumerate(zip(images, labels)):
        if image is None:
            continue
        ax = axes.ravel()[k]
        ax.axis("on")
        show_image(ax, image[0], *value_range)
        ax.set_xlabel(label, fontsize=8)
    return save_figure(fig, path, title=title, fontsize=11)


# The rows of the probe table, cells part: key in probes["cells"] -> group label
_PROBE_CELL_ROWS = (("outside", "cells\noutside"), ("inside", "cells\ninside"),
                    ("inside_bg_on", "cells inside,\ndisk on"))


def _probe_entry(entry, where):
    """Check one row of the probe table, {"z1": {"linear", "knn"}, "z2": {...}, "majority"},
    `where` naming it in messages; returns it as floats (NaN: not measured, not drawn)."""
    def number(value, at):
        if isinstance(value, bool) or not isinstance(value, Real) or not (
                np.isnan(value) or 0 <= value <= 1):
            raise ValueError(f"plot_probe_summary: expected an accuracy in [0, 1] (or NaN) "
                             f"at {at}, got {value!r}")
        return float(value)

    def table(value, at, keys):
        if not isinstance(value, dict):
            raise ValueError(f"plot_probe_summary: expected a dict at {at}, "
                             f"got {type(value).__name__}")
        for key in keys:
            if key not in value:
                raise ValueError(f"plot_probe_summary: {at} lacks key {key!r}")
        return value

    entry = table(entry, where, ("z1", "z2", "majority"))
    out = {"majority": number(entry["majority"], f"{where}['majority']")}
    for space in ("z1", "z2"):
        at = f"{where}[{space!r}]"
        scores = table(entry[space], at, ("linear", "knn"))
        out[space] = {k: number(scores[k], f"{at}[{k!r}]") for k in ("linear", "knn")}
    return out


def _probe_rows(probes):
    """[(group label, checked entry)] of `probes`: each disk by name, then the three cell rows."""
    if not isinstance(probes, dict):
        raise ValueError(f"plot_probe_summary: expected a dict with keys 'disks' and 'cells', "
                         f"got {type(probes).__name__}")
    for key in ("disks", "cells"):
        if key not in probes:
            raise ValueError(f"plot_probe_summary: probes lacks key {key!r}")
        if not isinstance(probes[key], dict):
            raise ValueError(f"plot_probe_summary: expected a dict at probes[{key!r}], "
                             f"got {type(probes[key]).__name__}")
    rows = [(f"disk\n{name}", _probe_entry(entry, f"probes['disks'][{name!r}]"))
            for name, entry in probes["disks"].items()]
    for key, label in _PROBE_CELL_ROWS:
        if key not in probes["cells"]:
            raise ValueError(f"plot_probe_summary: probes['cells'] lacks key {key!r}")
        rows.append((label, _probe_entry(probes["cells"][key], f"probes['cells'][{key!r}]")))
    return rows


def plot_probe_summary(probes, path, title=None):
    """Who knows what: held-out accuracy of probes that read each disk's state, and the
    cells' states, from z1 and from z2.

    probes:  {"disks": {name: row}, "cells": {"outside": row, "inside": row,
              "inside_bg_on": row}}, every row {"z1": {"linear": acc, "knn": acc},
              "z2": {"linear": acc, "knn": acc}, "majority": acc}, accuracies in [0, 1]
              (NaN: not measured, left out).  A missing key raises ValueError naming it.
    One group of bars per row (the disks by name, then cells outside a disk, inside one,
    inside one while it is active): a z1 and a z2 bar, the kNN probe's accuracy; a black
    diamond on each bar, the linear probe's; a dashed line across the group, the majority
    rate, which a probe that learnt nothing reaches.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = _probe_rows(probes)
    plt = pyplot()
    colours = {"z1": "tab:blue", "z2": "tab:orange"}
    width = 0.36                                     # one bar; a group is two, 0.72 wide
    fig, ax = plt.subplots(figsize=(1.15 * len(rows) + 2.6, 3.6))
    values = []
    for g, (_, entry) in enumerate(rows):
        for k, space in enumerate(("z1", "z2")):
            x = g + (k - 0.5) * width
            knn, linear = entry[space]["knn"], entry[space]["linear"]
            ax.bar(x, knn, width * 0.92, color=colours[space])
            # clip_on=False: a linear probe at 1.0 would otherwise show half a diamond
            ax.plot(x, linear, marker="D", ms=5, color="black", mec="white", mew=0.8,
                    clip_on=False, zorder=3)
            values += [knn, linear]
        ax.hlines(entry["majority"], g - width - 0.06, g + width + 0.06, colors="black",
                  linestyles="dashed", lw=1.3, zorder=4)
        values.append(entry["majority"])
    finite = [v for v in values if not np.isnan(v)]
    # 0.4 shows the interesting band above chance; go lower only when some value does
    bottom = min([0.4] + [np.floor(v * 10) / 10 for v in finite])
    ax.set_ylim(bottom, 1.0)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_xticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    ax.set_ylabel("accuracy on held-out images")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    handles = [Patch(color=colours["z1"]), Patch(color=colours["z2"]),
               Line2D([], [], ls="none", marker="D", ms=5, color="black", mec="white"),
               Line2D([], [], color="black", ls="dashed", lw=1.3)]
    ax.legend(handles, ["z1, kNN", "z2, kNN", "linear probe", "majority rate"], fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_figure(fig, path, title=title, fontsize=11)


def plot_series(series, path, xlabel="epoch", ylabel="", title=None, panels=None):
    """Line plots: series {label: (x, y)}; panels {panel title: [labels]} splits them
    into side-by-side axes (default: one axis)."""
    plt = pyplot()
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
    return save_figure(fig, path, title=title, fontsize=11)


def plot_gradient_checks(errors, path, *, title, xlabel="largest relative error (float64)",
                         tol=1e-6, bugs=(), figsize=(7.5, 3.8)):
    """One bar per checked layer: its largest relative error over its tensors, on a log
    axis, beside the tolerance (a dotted line), planted bugs (names in `bugs`) in red.

    errors: {name: {tensor name: relative error}} (gradcheck's per-tensor results).
    A zero error is drawn at 1e-17 so that it stays on the log axis."""
    plt = pyplot()
    names = list(errors)
    if not names or any(not errors[n] for n in names):
        raise ValueError("plot_gradient_checks: expected {layer: {tensor: error}} with at least "
                         "one layer and one tensor each")
    worst = [max(max(errors[n].values()), 1e-17) for n in names]
    fig, ax = plt.subplots(figsize=figsize)
    ax.barh(names, worst, color=["C3" if n in bugs else "C0" for n in names])
    ax.set_xscale("log")
    ax.axvline(tol, color="k", ls=":", lw=1, label=f"tolerance {tol:g}")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


__all__ = ["pyplot", "save_figure", "show_image", "plot_gradient_checks", "image_grid",
           "save_image_rows", "save_image_grid", "plot_elbo_curves", "cell_rectangles",
           "save_reconstruction_plot", "plot_probe_summary", "save_latent_exploration",
           "plot_series"]
