"""The README's commands, the demo they run, and the project's dependency rules."""

import ast
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from vae_from_scratch.apps import demo

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
                          "--out", str(tmp_path), "--backend", "numpy"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("backend: numpy (") and "test MSE" in run.stdout
    assert (tmp_path / "fit.png").exists()
    run = subprocess.run([sys.executable, "-m", "vae_from_scratch"], capture_output=True,
                         text=True, cwd=ROOT)
    assert run.returncode == 0 and "demo" in run.stdout


def test_package_imports_no_deep_learning_framework():
    """No framework, and not the scripts of benchmarks/ (the PyTorch comparison lives
    there, outside the package): import statements, lazy ones inside functions
    included, and importlib.import_module / __import__ with a literal name."""
    forbidden = {"torch", "jax", "jaxlib", "tensorflow", "keras", "benchmarks"}
    for path in (ROOT / "vae_from_scratch").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif (isinstance(node, ast.Call) and node.args
                  and getattr(node.func, "attr", getattr(node.func, "id", None))
                  in ("import_module", "__import__")
                  and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                names = [node.args[0].value]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path}: imports {name}"


def test_no_pickle_loading_anywhere():
    for path in (ROOT / "vae_from_scratch").rglob("*.py"):
        assert "allow_pickle=True" not in path.read_text(), path


def test_command_line_train_writes_results_and_figures(tmp_path):
    pytest.importorskip("sklearn", reason="the digits come with scikit-learn (the data extra)")
    run = subprocess.run([sys.executable, "-m", "vae_from_scratch", "train", "--epochs", "2",
                          "--iwae-k", "5", "--out", str(tmp_path), "--backend", "numpy"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "backend: numpy" in run.stdout and "IWAE (K = 5)" in run.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["epochs"] == 2 and results["test_log_px_iwae"] < 0
    # log p(x) ≥ IWAE_5 ≥ ELBO on average; with 359 test images the ordering shows
    assert results["test_log_px_iwae"] > results["test_elbo"]
    for name in ("reconstructions.png", "samples.png", "elbo.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "checkpoint.npz").exists()


def test_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's training example, shortened to 2 epochs, runs as printed."""
    pytest.importorskip("sklearn", reason="the digits come with scikit-learn (the data extra)")
    text = (ROOT / "README.md").read_text()
    example = re.search(r"The same in Python:\n\n```python\n(.*?)^```$", text,
                        flags=re.S | re.M).group(1)
    assert "epochs=50" in example
    monkeypatch.chdir(tmp_path)
    exec(compile(example.replace("epochs=50", "epochs=2"), "README.md", "exec"), {})
    assert (tmp_path / "runs" / "mine.npz").exists()


def _write_idx(path, array):
    """An IDX file (uint8), written here from the format's definition: 00 00 08 ndim, sizes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.slow
def test_command_line_train_on_mnist_files_and_missing_files(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, n in (("train", 60), ("t10k", 20)):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    run = subprocess.run([sys.executable, "-m", "vae_from_scratch", "train", "--data", "mnist",
                          "--data-dir", str(folder), "--epochs", "1", "--hidden", "16",
                          "--latent-dim", "2", "--iwae-k", "3", "--quiet",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["data"] == "mnist" and np.isfinite(results["test_elbo"])

    (folder / "t10k-labels-idx1-ubyte").unlink()
    run = subprocess.run([sys.executable, "-m", "vae_from_scratch", "train", "--data", "mnist",
                          "--data-dir", str(folder), "--epochs", "1", "--quiet",
                          "--out", str(tmp_path / "out2")], capture_output=True, text=True,
                         cwd=ROOT)
    assert run.returncode == 1
    assert "error: " in run.stderr and "t10k-labels-idx1-ubyte" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("command", ["demo", "train", "thesis"])
def test_every_command_takes_a_backend_and_refuses_one_that_cannot_run(command, capsys,
                                                                        monkeypatch):
    from vae_from_scratch.backend import BackendUnavailable, get_backend
    from vae_from_scratch.apps.cli import main
    with pytest.raises(SystemExit) as stop:                   # an unknown name: a usage error
        main([command, "--backend", "tensorflow"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "--backend: expected one of numpy, numba, cupy, auto, got 'tensorflow'" in err
    monkeypatch.setenv("VAE_BACKEND", "no-such-backend")      # the environment is the default
    with pytest.raises(SystemExit) as stop:
        main([command])
    assert stop.value.code == 2 and "no-such-backend" in capsys.readouterr().err
    monkeypatch.delenv("VAE_BACKEND")
    try:
        get_backend("cupy")
    except BackendUnavailable as why:                         # the reason reaches the user
        assert main([command, "--backend", "cupy"]) == 1
        assert capsys.readouterr().err.strip() == f"error: {why}"


def test_describe_names_the_backend_and_reports_the_compile_time_apart():
    from vae_from_scratch.backend import Backend, KERNELS, describe, get_backend
    from vae_from_scratch.backend.blas_threads import get_blas_threads
    blas = get_blas_threads()
    threads = "" if blas is None else f", {blas} BLAS thread{'s' * (blas != 1)}"
    assert describe(get_backend("numpy")) == f"backend: numpy (numpy {np.__version__}{threads})"
    ref = get_backend("numpy")
    jit = Backend(name="jit", xp=np, warmup=lambda: 1.25, **{k: getattr(ref, k) for k in KERNELS})
    assert describe(jit).endswith("kernels compiled or loaded from the cache in 1.2 s")


@pytest.mark.parametrize("command", ["train", "thesis", "bench"])
def test_blas_threads_option_refuses_a_count_below_one(command, capsys):
    from vae_from_scratch.apps.cli import main
    with pytest.raises(SystemExit) as stop:
        main([command, "--blas-threads", "0"])
    assert stop.value.code == 2
    assert "--blas-threads: expected a whole number ≥ 1, got '0'" in capsys.readouterr().err
