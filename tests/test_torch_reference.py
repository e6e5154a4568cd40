"""benchmarks/torch_reference.py: the PyTorch copy of the models is the same model.

The script runs in a subprocess: importing PyTorch into the test process would load its
OpenMP runtime there, and Numba's OpenMP threading layer, if it starts later, binds to it
(the script's docstring says why that is slow).  PyTorch is no dependency of the project:
the check skips where it is not installed, and the message the script then prints is
tested everywhere.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "torch_reference.py"


def _run(code_or_args, tmp_path):
    return subprocess.run([sys.executable] + code_or_args, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)


def test_without_torch_the_script_says_how_to_get_it_in_one_line(tmp_path):
    # sys.modules["torch"] = None makes `import torch` raise ImportError, as if absent
    hide_torch = ("import runpy, sys; sys.modules['torch'] = None; "
                  f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    result = _run(["-c", hide_torch], tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and "PyTorch is not installed" in lines[0]
    assert "pip install torch==2.13.0" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="PyTorch is not installed (pip install torch==2.13.0 to run this check)")
def test_the_torch_models_have_the_parameters_flop_and_loss_of_the_projects(tmp_path):
    """Per layer the same parameter count and FLOP per image; the loss of a batch of 4
    with the same weights and ε equal to float32 round-off; the gradients too."""
    path = tmp_path / "check.json"
    result = _run([str(SCRIPT), "--check", "--images", "4", "--backends", "numpy",
                   "--json", str(path)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    models = json.loads(path.read_text())["models"]
    # the totals of docs/design.md ("Reference dual VAE", "VAE builders")
    totals = {"dual": 160_841, "mlp": 652_824}
    for name, total in totals.items():
        checks = models[name]["checks"]
        assert checks["batch"] == 4
        for layer, (ours, theirs) in checks["parameters"].items():
            assert ours == theirs > 0, (name, layer)
        assert sum(ours for ours, _ in checks["parameters"].values()) == total
        for layer, (ours, theirs) in checks["flop_per_image"].items():
            assert ours == theirs > 0, (name, layer)
        assert checks["loss_project"] == pytest.approx(checks["loss_torch"], rel=1e-5)
        assert checks["worst_gradient"]["relative_difference"] <= 1e-3
        assert checks["same"]
    # the dual VAE's 8.23 MFLOP per image (apps/bench.py), now counted from PyTorch's side
    assert round(sum(t for _, t in models["dual"]["checks"]["flop_per_image"].values()) / 1e6, 2) \
        == 8.23
