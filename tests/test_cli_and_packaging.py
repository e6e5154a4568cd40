"""The README's commands, the demo they run, and the project's dependency rules."""

import ast
import pathlib
import re
import subprocess
import sys

import numpy as np

from vae_from_scratch import demo

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_setup_commands():
    """The first ```bash block of README.md, the block .ci/run executes."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"^```bash\n(.*?)^```$", text, flags=re.S | re.M)
    assert block, "README.md has no ```bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_has_exactly_two_setup_commands_install_and_test():
    install, test = readme_setup_commands()
    assert "pip install" in install and ".[test]" in install
    assert "python -m vae_from_scratch" in install          # … and runs the main job
    assert "pytest" in test


def test_demo_loss_falls_and_figure_is_written(tmp_path):
    history = demo.run(steps=400, out_dir=str(tmp_path), log_every=200)
    first, last = history[0][1], history[-1][1]
    assert last < 0.2 * first                               # the fit is learning
    assert last < 0.05                                      # noise variance is 0.01
    png = tmp_path / "fit.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_is_reproducible():
    a = demo.run(steps=60, plot=False, log_every=1000)
    b = demo.run(steps=60, plot=False, log_every=1000)
    np.testing.assert_array_equal(np.array(a), np.array(b))


def test_command_line_demo_and_help(tmp_path):
    run = subprocess.run([sys.executable, "-m", "vae_from_scratch", "demo", "--steps", "100",
                          "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "test MSE" in run.stdout and "backend numpy" in run.stdout
    assert (tmp_path / "fit.png").exists()
    run = subprocess.run([sys.executable, "-m", "vae_from_scratch"], capture_output=True,
                         text=True, cwd=ROOT)
    assert run.returncode == 0 and "demo" in run.stdout


def test_package_imports_no_deep_learning_framework():
    forbidden = {"torch", "jax", "jaxlib", "tensorflow", "keras"}
    for path in (ROOT / "vae_from_scratch").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path}: imports {name}"


def test_no_pickle_loading_anywhere():
    for path in (ROOT / "vae_from_scratch").rglob("*.py"):
        assert "allow_pickle=True" not in path.read_text(), path
