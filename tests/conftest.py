"""Shared fixtures.  `check_grads` runs a gradient check, asserts it, and records the
largest relative error per layer type; pytest prints that table at the end of the run.

The random draws of the tests come from one seed, 1234 unless VAE_TEST_SEED says
otherwise: `VAE_TEST_SEED=7 python -m pytest` repeats every check at other points.
"""

import os
from collections import defaultdict

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
