"""scripts/separation_study.py: the commands it runs and the table it makes, on made-up
metrics.json files whose means and spreads are known."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("separation_study", ROOT / "scripts" / "separation_study.py")
study = importlib.util.module_from_spec(spec)
spec.loader.exec_module(study)


def _final(inside_bg_on, disks):
    group = lambda a: {"accuracy": a, "auc": a}                        # noqa: E731
    return {"elbo1": -1600.0, "cells": {"outside": group(0.9), "inside_bg_on": group(inside_bg_on),
                                        "inside_bg_off": group(0.8)},
            "probes": {"disks": {d: {"z1": {"knn": z1, "linear": z1}, "z2": {"knn": z2, "linear": z2},
                                     "majority": maj} for d, (z1, z2, maj) in disks.items()},
                       "cells": {"inside_bg_on": {"z1": {"knn": 0.5}, "z2": {"knn": 0.5}}}}}


def test_the_table_is_the_mean_and_sample_sd_over_the_seeds(tmp_path):
    for seed, acc in enumerate((0.5, 0.7, 0.9)):                      # mean 0.7, s.d. 0.2
        for name, disks in (("X90", {"bottom-left": (1.0, 0.9, 0.9)}),
                            ("X90_20", {"bottom-left": (1.0, 0.9, 0.9), "top-right": (1.0, 1.0, 0.8)})):
            path = study.metrics_path(tmp_path, "v", seed, name)
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({"final": _final(acc, disks)}))
    lines = study.table_lines(tmp_path, ["v", "absent"], ["X90", "X50", "X90_20"])
    assert len(lines) == 4                                            # header, rule, 2 rows
    x90, x90_20 = (line.split(" | ") for line in lines[2:])
    assert x90[:3] == ["| v", "X90", "3"]
    assert "0.700 ± 0.200" in x90                                     # in, bg on
    assert "BL 1.00 ± 0.00 / TR 1.00 ± 0.00" in x90_20                # a disk column per disk
    assert "BL 0.90 ± 0.00 / TR 0.80 ± 0.00" in x90_20                # the majority
    # the target: z2 >= 0.95, z1 within 0.05 of the majority, cells under the disk >= 0.95
    assert x90[-2:] == ["0/3", "0/3 |"]                               # z2 0.90 < 0.95
    assert study.separated(_final(0.96, {"d": (0.92, 0.96, 0.9)}))
    assert not study.separated(_final(0.96, {"d": (0.96, 0.96, 0.9)}))   # z1 knows the disk
    assert not study.separated(_final(0.94, {"d": (0.92, 0.96, 0.9)}))   # cells not shown
    leaky = _final(0.96, {"d": (0.92, 0.96, 0.9)})
    leaky["probes"]["disks"]["d"]["z1"]["linear"] = 0.99              # kNN blind, linear not
    assert study.separated(leaky) and not study.separated(leaky, z1_probes=("knn", "linear"))
    compact = study.table_lines(tmp_path, ["v"], ["X90"], compact=True)
    assert "ELBO1" not in compact[0] and "in, bg on" in compact[0]


def test_a_two_disk_variant_gives_x90_20_a_second_background_dimension(tmp_path):
    cmd = study.command("best", 1, "X90_20", tmp_path, 30, quick=True)
    assert cmd[1:4] == ["-m", "vae_from_scratch", "thesis"] and cmd[0] == sys.executable
    assert cmd[cmd.index("--latent2") + 1] == "2" and "--quick" in cmd
    assert "--latent2" not in study.command("best", 1, "X90", tmp_path, 30, quick=False)
    assert study.command("best-lr3", 0, "X90", tmp_path, 30, False)[-2:] == ["--lr", "3e-3"]
    assert "--epochs" not in cmd                     # --quick sets them; both would be refused
    assert "--resume" in study.command("best", 1, "X90", tmp_path, 30, False, resume=True)


@pytest.mark.slow
def test_a_study_run_goes_into_its_own_folder_and_resumes(tmp_path):
    """Each (variant, seed, data set) is its own thesis run: two data sets of one seed
    never share an output folder (the second would be refused as another run's)."""
    out = tmp_path / "study"
    assert study.main(["run", "--quick", "--variants", "baseline", "--seeds", "0",
                       "--datasets", "X90", "X50", "--out", str(out), "--jobs", "1"]) == 0
    for name in ("X90", "X50"):
        assert study.metrics_path(out, "baseline", 0, name).is_file()
    rows = study.table_lines(out, ["baseline"], ["X90", "X50"])
    assert len(rows) == 4 and "| baseline | X50 | 1 |" in rows[-1]


def test_unknown_variants_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        study.main(["table", "--variants", "baseline,nope"])
    assert exit_.value.code == 2
    assert "--variants: unknown nope" in capsys.readouterr().err
