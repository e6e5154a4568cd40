"""Shared fixtures.  `check_grads` runs a gradient check, asserts it, and records the
largest relative error per layer type; pytest prints that table at the end of the run.
`run_section("ch03_1")` runs a chapter section's quick mode as a reader would, in a
subprocess, once per test session (tests/test_chapters.py and tests/test_chapterNN.py).

The random draws of the tests come from one seed, 1234 unless VAE_TEST_SEED says
otherwise: `VAE_TEST_SEED=7 python -m pytest` repeats every check at other points.
"""

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from vae_from_scratch.gradcheck import gradcheck

TOL = 1e-6
SEED = int(os.environ.get("VAE_TEST_SEED", "1234"))
_WORST = defaultdict(lambda: (0.0, 0, ""))     # layer type -> (max error, #checks, where)
_REFINED = [0]                                 # entries retried with a smaller step (kinks)


@pytest.fixture
def rng():
    return np.random.default_rng(SEED)


@pytest.fixture
def check_grads(request):
    """check_grads(layer, x, **kw): gradcheck, record, and assert every error < 1e-6."""

    def run(layer, x, label=None, **kwargs):
        result = gradcheck(layer, x, **kwargs)
        key = label or type(layer).__name__
        worst, count, where = _WORST[key]
        if result.max_error >= worst:
            worst, where = result.max_error, request.node.name
        _WORST[key] = (worst, count + 1, where)
        _REFINED[0] += sum(result.refined.values())
        assert result.passed(TOL), f"{layer!r} on input {x.shape}:\n{result}"
        return result

    return run


def pytest_terminal_summary(terminalreporter):
    if not _WORST:
        return
    tr = terminalreporter
    tr.section(f"gradient checks: largest relative error per layer (tolerance 1e-6, seed {SEED})")
    for key in sorted(_WORST):
        worst, count, where = _WORST[key]
        tr.write_line(f"{key:<22} {count:>4} checks   max {worst:.2e}   ({where})")
    overall = max(v[0] for v in _WORST.values())
    tr.write_line(f"{'all':<22} {sum(v[1] for v in _WORST.values()):>4} checks   max {overall:.2e}"
                  f"   ({_REFINED[0]} entries retried with a smaller step)")


# --- the chapters' sections, run as a reader runs them ------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SECTION_TIMEOUT = float(os.environ.get("CHAPTER_QUICK_TIMEOUT", "300"))


def section_files():
    """Every chapter section (chapters/chNN_topic/chNN_K_*.py), in reading order: the
    list chapters/run_all.py runs."""
    sys.path.insert(0, str(ROOT / "chapters"))
    try:
        import run_all
    finally:
        sys.path.remove(str(ROOT / "chapters"))
    return run_all.sections()


def section_env():
    """The environment of a section's run: one BLAS thread, figures to files."""
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


class SectionRun:
    """One quick run of a section in a subprocess: returncode, output, seconds, out (the
    folder it wrote to), results (its results.json, or None)."""

    def __init__(self, script, out, extra=()):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(out), *extra],
                              cwd=ROOT, env=section_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=SECTION_TIMEOUT)
        self.seconds = time.perf_counter() - t0
        self.returncode, self.output, self.out = proc.returncode, proc.stdout, Path(out)
        path = self.out / "results.json"
        self.results = json.loads(path.read_text()) if path.is_file() else None

    def check(self):
        """Assert that the run ended well and wrote its results; returns them."""
        assert self.returncode == 0, self.output[-3000:]
        assert self.results is not None, f"no results.json in {self.out}:\n{self.output[-2000:]}"
        return self.results


@pytest.fixture(scope="session")
def run_section(tmp_path_factory):
    """run_section("ch03_1", *extra) -> SectionRun: the section's quick run, once per
    session and options, shared by every test that asks for it."""
    files = {"_".join(p.stem.split("_")[:2]): p for p in section_files()}
    runs = {}

    def run(section_id, *extra):
        if section_id not in files:
            raise KeyError(f"no section {section_id}; there are {', '.join(files)}")
        key = (section_id, extra)
        if key not in runs:
            runs[key] = SectionRun(files[section_id], tmp_path_factory.mktemp(section_id), extra)
        return runs[key]

    return run
