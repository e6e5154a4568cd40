"""The thesis command's remedies (§3.3) and heldout.npz: a quick run with the options
writes every file, heldout.npz holds what the metrics were computed from, and bad
option values are one line."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae_from_scratch.data.synthetic import make_synthetic, pixel_levels
from vae_from_scratch.thesis.separation import cell_detection

ROOT = Path(__file__).resolve().parents[1]


def _thesis(*args):
    return subprocess.run([sys.executable, "-m", "vae_from_scratch", "thesis", *args],
                          capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def grey_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("grey")
    run = _thesis("--quick", "--datasets", "X90_20", "--data-mode", "grey", "--latent1", "6",
                  "--latent2", "2", "--decoder1", "structured", "--weight-on", "reconstruction",
                  "--interaction", "bg-only", "--out", str(out), "--backend", "numpy")
    assert run.returncode == 0, run.stderr
    return out / "X90_20", run.stdout


@pytest.mark.slow
def test_a_run_with_the_remedies_writes_heldout_npz(grey_run):
    folder, stdout = grey_run
    assert "| X90_20 |" in stdout
    for figure in ("reconstructions.png", "latent.png", "probes.png", "elbo.png", "convergence.png"):
        assert (folder / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
    with np.load(folder / "heldout.npz") as f:           # no pickle needed to read it
        held = {k: f[k] for k in f.files}
    n = 128                                              # --quick: 128 held-out images
    assert held["x"].shape == held["vae1"].shape == (n, 1, 60, 60)
    assert held["vae2"].shape == (n, 1, 2, 2)
    assert held["mu1"].shape == (n, 6) and held["mu2"].shape == (n, 2)
    assert held["foreground"].shape == (n, 10) and held["foreground"].dtype == bool
    assert held["background"].shape == (n, 2) and held["background"].dtype == bool
    # the structured decoder's parts add up to vae1 (Gaussian: in mean space)
    np.testing.assert_allclose(held["vae1_foreground"] + held["vae1_background"], held["vae1"],
                               atol=1e-4)
    # grey data: x is the generator's grey image, not binarized
    test = make_synthetic("X90_20", n, rng=np.random.default_rng(1000), threshold=None)
    np.testing.assert_array_equal(held["x"], test.images)
    np.testing.assert_array_equal(held["foreground"], test.foreground)


@pytest.mark.slow
def test_metrics_json_is_what_heldout_npz_gives(grey_run):
    """Recomputing the cell figures from heldout.npz gives metrics.json's, and the new
    keys are there: an AUC beside every accuracy, the probes."""
    folder, _ = grey_run
    metrics = json.loads((folder / "metrics.json").read_text())
    final = metrics["final"]
    assert metrics["data_mode"] == "grey" and metrics["decoder1"] == "structured"
    with np.load(folder / "heldout.npz") as f:
        held = {k: f[k] for k in f.files}
    test = make_synthetic("X90_20", 128, rng=np.random.default_rng(1000), threshold=None)
    again = cell_detection(held["vae1"], held["foreground"], held["background"], test.cell_masks,
                           test.inside, test.disk_masks, pixel_levels(None))
    for group in ("outside", "inside_bg_on", "inside_bg_off"):
        assert again[group]["accuracy"] == pytest.approx(final["cells"][group]["accuracy"])
        assert 0 <= final["cells"][group]["auc"] <= 1
    assert set(final["probes"]) == {"disks", "cells"}
    assert set(final["probes"]["disks"]) == {"bottom-left", "top-right"}
    assert set(final["probe"]["top-right"]) == {"z1", "z2", "majority"}


@pytest.mark.parametrize("args, message", [
    (["--latent1", "0"], "--latent1: expected a whole number ≥ 1, got '0'"),
    (["--latent2", "-2"], "--latent2: expected a whole number ≥ 1, got '-2'"),
    (["--free-bits2", "-1"], "--free-bits2: expected a finite number ≥ 0, got '-1'"),
    (["--decorrelate", "nan"], "--decorrelate: expected a finite number ≥ 0, got 'nan'"),
    (["--lr", "0"], "--lr: expected a finite number > 0, got '0'"),
    (["--data-mode", "colour"], "--data-mode: expected one of binary, grey, got 'colour'"),
    (["--decoder1", "fancy"], "--decoder1: expected one of plain, structured, got 'fancy'"),
])
def test_bad_option_values_are_one_line(args, message, tmp_path):
    run = _thesis("--quick", "--out", str(tmp_path), *args)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr
    assert not any(tmp_path.iterdir())                   # refused before any work


def test_the_remedy_and_the_sizes_are_run_datasets_options():
    import inspect

    from vae_from_scratch.data.synthetic import make_synthetic
    from vae_from_scratch.thesis.reproduction import REMEDY, SIZES, remedy_options, run_dataset
    accepted = set(inspect.signature(run_dataset).parameters)
    assert set(REMEDY) <= accepted and all(set(s) <= accepted for s in SIZES.values())
    for name in ("X90", "X50", "X90_20"):                   # one z2 dimension per disk
        disks = len(make_synthetic(name, 2, rng=np.random.default_rng(0)).disks)
        assert remedy_options(name) == dict(REMEDY, latent2=disks)
    assert remedy_options("X90_20")["latent2"] == 2
    assert SIZES["full"] == dict(n_train=2000, n_test=500)   # the thesis's sizes
