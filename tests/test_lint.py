"""`ruff check` is clean on the package, the chapters, the tests and the scripts.

The rules (pyflakes and pycodestyle, lint only, no formatter) and their few project-wide
exceptions are in pyproject.toml's [tool.ruff]; ruff is in the `test` extra of setup.cfg.
"""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PATHS = ["vae_from_scratch", "chapters", "tests", "scripts"]


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None,
                    reason="ruff is not installed (pip install -e \".[test]\" installs it)")
def test_ruff_check_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache",
                             "--output-format", "concise", *PATHS],
                            cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"ruff check {' '.join(PATHS)} (config: pyproject.toml [tool.ruff]) "
                    f"exited {result.returncode}:\n{result.stdout}{result.stderr}", pytrace=False)
