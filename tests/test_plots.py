"""The figures of viz/plots.py: the files are real PNGs, the outlines of the true layout sit
where the cells and disks are, and the probe summary rejects a malformed table."""

import copy

import matplotlib
import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.patches import Rectangle

from vae_from_scratch.viz import plots
from vae_from_scratch.data.synthetic import CELL_SIZE, FOREGROUND_CELLS, make_synthetic
from vae_from_scratch.viz.plots import cell_rectangles, plot_probe_summary, save_reconstruction_plot

TITLES = ["x", "vae1(x)", "g(x)", "vae2(x)"]


@pytest.fixture(scope="module")
def data():
    return make_synthetic("X90_20", 4, rng=np.random.default_rng(0))


def columns_of(d):
    """x, a stand-in vae1(x) (x itself), a 2×2 stand-in g(x) (quadrant means), vae2(x)."""
    x = d.images
    g = x.reshape(len(x), 1, 2, 30, 2, 30).mean(axis=(3, 5))
    return [x, x, g, x]


def outlines_of(d):
    return dict(cell_masks=d.cell_masks, foreground=d.foreground,
                disk_masks=d.disk_masks, background=d.background)


def read_png(path):
    """The pixels of a PNG as matplotlib reads them back; asserts it is a real image."""
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 0 and pixels.shape[1] > 0
    return pixels


def probes():
    row = {"z1": {"linear": 0.6, "knn": 0.65}, "z2": {"linear": 0.98, "knn": 0.95},
           "majority": 0.9}
    return {"disks": {"bottom-left": copy.deepcopy(row), "top-right": copy.deepcopy(row)},
            "cells": {k: copy.deepcopy(row) for k in ("outside", "inside", "inside_bg_on")}}


# --- the outline geometry ------------------------------------------------------------------

def test_cell_rectangles_match_the_known_cell_positions(data):
    rects = cell_rectangles(data.cell_masks)
    expected = [(r, c, CELL_SIZE, CELL_SIZE) for r, c in FOREGROUND_CELLS]
    assert rects.shape == (len(FOREGROUND_CELLS), 4)
    assert [tuple(int(v) for v in r) for r in rects] == expected


def test_cell_rectangles_is_the_bounding_box_and_rejects_empty_masks():
    masks = np.zeros((2, 8, 8), bool)
    masks[0, 1:4, 2:7] = True          # rows 1..3, columns 2..6
    masks[1, 5, 0] = True              # a single pixel
    assert cell_rectangles(masks).tolist() == [[1, 2, 3, 5], [5, 0, 1, 1]]
    with pytest.raises(ValueError, match="mask 1 is empty"):
        cell_rectangles(np.stack([masks[0], np.zeros((8, 8), bool)]))
    with pytest.raises(ValueError, match="expected masks"):
        cell_rectangles(masks[0])


def capture_figure(monkeypatch):
    """Make plots.save_figure hand over the figure (and still write it); returns the list it
    fills."""
    figures = []
    save = plots.save_figure

    def keep(fig, path, **options):
        figures.append(fig)
        return save(fig, path, **options)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def test_outlines_are_drawn_on_the_pixel_edges_of_full_size_columns_only(data, tmp_path,
                                                                        monkeypatch):
    figures = capture_figure(monkeypatch)
    save_reconstruction_plot(columns_of(data), TITLES, tmp_path / "r.png",
                             outlines=outlines_of(data))
    axes = np.array(figures[0].axes[:4 * len(data.images)]).reshape(len(data.images), 4)
    for i, row in enumerate(axes):
        for j, ax in enumerate(row):
            rects = [p for p in ax.patches if isinstance(p, Rectangle)]
            if TITLES[j] == "g(x)":                # 2×2: no layout to draw over
                assert rects == [] and len(ax.collections) == 0
                continue
            assert len(rects) == len(FOREGROUND_CELLS)
            for rect, (r, c), on in zip(rects, FOREGROUND_CELLS, data.foreground[i]):
                # a 6×6 cell at rows r..r+5 spans r−0.5 .. r+5.5 in imshow coordinates
                assert rect.get_xy() == (c - 0.5, r - 0.5)
                assert (rect.get_width(), rect.get_height()) == (CELL_SIZE, CELL_SIZE)
                want = plots.OUTLINE_ON if on else plots.OUTLINE_OFF
                assert matplotlib.colors.same_color(rect.get_edgecolor(), want)
            # one contour per disk, solid when the disk is active, dotted when not
            assert len(ax.collections) == len(data.disks)
            for contour, on in zip(ax.collections, data.background[i]):
                offset, dashes = contour.get_linestyle()[0]
                assert (dashes is None) == bool(on)
            # the contour did not rescale the axes: the whole image, half-pixel margins
            assert ax.get_xlim() == (-0.5, 59.5) and ax.get_ylim() == (59.5, -0.5)


# --- the files -------------------------------------------------------------------------------

def test_reconstruction_plot_writes_png_and_outlines_change_it(data, tmp_path):
    cols = columns_of(data)
    plain = save_reconstruction_plot(cols, TITLES, tmp_path / "plain.png", title="t")
    none = save_reconstruction_plot(cols, TITLES, tmp_path / "none.png", title="t",
                                    outlines=None, ranges=None)
    unit = save_reconstruction_plot(cols, TITLES, tmp_path / "unit.png", title="t",
                                    ranges=[(0, 1), None, (0, 1), None])
    outlined = save_reconstruction_plot(cols, TITLES, tmp_path / "outlined.png", title="t",
                                        outlines=outlines_of(data))
    assert plain == tmp_path / "plain.png"
    a, b, c, d = (read_png(p) for p in (plain, none, unit, outlined))
    # leaving the new arguments out, passing None, or the default range: the same picture
    assert plain.read_bytes() == none.read_bytes()
    assert np.array_equal(a, c)
    assert a.shape != d.shape or not np.array_equal(a, d)


def test_ranges_change_the_grey_scale_and_are_checked(data, tmp_path):
    cols = [data.grey, data.grey]
    unit = read_png(save_reconstruction_plot(cols, ["a", "b"], tmp_path / "u.png"))
    wide = read_png(save_reconstruction_plot(cols, ["a", "b"], tmp_path / "w.png",
                                             ranges=[None, (0, 2)]))
    assert not np.array_equal(unit, wide)
    with pytest.raises(ValueError, match="one \\(vmin, vmax\\) per column"):
        save_reconstruction_plot(cols, ["a", "b"], tmp_path / "x.png", ranges=[(0, 2)])
    with pytest.raises(ValueError, match="vmin < vmax for column 1"):
        save_reconstruction_plot(cols, ["a", "b"], tmp_path / "x.png", ranges=[None, (2, 0)])


def test_outlines_are_checked(data, tmp_path):
    cols = columns_of(data)
    bad = outlines_of(data)
    del bad["disk_masks"]
    with pytest.raises(ValueError, match="disk_masks"):
        save_reconstruction_plot(cols, TITLES, tmp_path / "x.png", outlines=bad)
    bad = outlines_of(data)
    bad["foreground"] = bad["foreground"][:, :3]          # 3 states for 10 cells
    with pytest.raises(ValueError, match="foreground"):
        save_reconstruction_plot(cols, TITLES, tmp_path / "x.png", outlines=bad)
    bad = outlines_of(data)
    bad["background"] = bad["background"][:2]             # 2 rows for 4 images
    with pytest.raises(ValueError, match="background"):
        save_reconstruction_plot(cols, TITLES, tmp_path / "x.png", outlines=bad)


def test_probe_summary_writes_png(tmp_path):
    path = plot_probe_summary(probes(), tmp_path / "sub" / "probes.png", title="who knows what")
    assert path == tmp_path / "sub" / "probes.png"
    read_png(path)


def test_probe_summary_rejects_a_malformed_table(tmp_path):
    out = tmp_path / "p.png"
    p = probes()
    del p["cells"]
    with pytest.raises(ValueError, match="probes lacks key 'cells'"):
        plot_probe_summary(p, out)
    p = probes()
    del p["cells"]["inside_bg_on"]
    with pytest.raises(ValueError, match="probes\\['cells'\\] lacks key 'inside_bg_on'"):
        plot_probe_summary(p, out)
    p = probes()
    del p["disks"]["top-right"]["z2"]["knn"]
    with pytest.raises(ValueError,
                       match="probes\\['disks'\\]\\['top-right'\\]\\['z2'\\] lacks key 'knn'"):
        plot_probe_summary(p, out)
    p = probes()
    del p["cells"]["outside"]["majority"]
    with pytest.raises(ValueError, match="lacks key 'majority'"):
        plot_probe_summary(p, out)
    p = probes()
    p["cells"]["inside"]["z1"]["linear"] = 1.5
    with pytest.raises(ValueError, match="accuracy in \\[0, 1\\]"):
        plot_probe_summary(p, out)
    assert not out.exists()


def test_gradient_check_chart_draws_one_bar_per_layer_and_rejects_empty(tmp_path):
    import matplotlib.pyplot as plt
    from vae_from_scratch.viz.plots import plot_gradient_checks
    drawn = {}
    real_barh = plt.Axes.barh

    def spy(self, names, widths, **kw):
        drawn.update(names=list(names), widths=list(widths), colors=kw.get("color"))
        return real_barh(self, names, widths, **kw)

    plt.Axes.barh = spy
    try:
        path = plot_gradient_checks({"Dense": {"x": 1e-10, "W": 3e-9}, "bug: ReLU": {"x": 0.8},
                                     "Identity": {"x": 0.0}}, tmp_path / "g.png",
                                    title="checks", bugs=("bug: ReLU",))
    finally:
        plt.Axes.barh = real_barh
    assert path.stat().st_size > 5000
    assert drawn["names"] == ["Dense", "bug: ReLU", "Identity"]
    assert drawn["widths"] == [3e-9, 0.8, 1e-17]           # the worst tensor; 0 kept on the axis
    assert drawn["colors"] == ["C0", "C3", "C0"]
    with pytest.raises(ValueError, match="at least one layer and one tensor"):
        plot_gradient_checks({"Dense": {}}, tmp_path / "h.png", title="t")
