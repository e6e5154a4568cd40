"""Smoke tests of the chapter scripts (chapters/chNN_*.py) and of chapters/run_all.py.

Every chapter found is run once, as a user would run it, in a subprocess:
`python chapters/chNN_….py --quick --out <tmp>/chNN`.  For every chapter the tests
check that it exits with 0 within the quick-mode time limit, names its output folder in
what it prints, and writes at least one PNG there.  New chapters are picked up
automatically.

Chapters with a checker below (CHECKS) are also held to what the theory says, on the
numbers they return from main() and write to results.json.  The tolerances:

- exact identities (closed forms, round-off): 1e-9 or tighter;
- Monte Carlo estimates: within 4.5 standard errors of the exact value.  A chapter makes
  a few dozen such comparisons in all; at 4.5 SE a correct chapter fails one with
  probability ≈ 7e-6 each, and the seeds are fixed anyway (same seed, same output);
- sample variances (not Gaussian): within 30 % of the prediction, about 5 SE at the
  quick mode's 500 draws;
- results of optimization, which theory bounds but does not pin down: on the side the
  theory says (a KL never below its floor, SGD escaping a basin GD cannot leave), with
  margins measured in quick mode and stated next to each check.

A quick run that hangs is stopped after CHAPTER_QUICK_TIMEOUT seconds (default 300).
How long the quick modes take is measured, not asserted: `python chapters/run_all.py
--quick` prints it (a timed assertion fails on a busy machine, not on slow code).
"""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("ch[0-9][0-9]_*.py"))
QUICK_TIMEOUT = float(os.environ.get("CHAPTER_QUICK_TIMEOUT", "300"))
MC_SE = 4.5
# A quick run takes 1–20 s: all are marked slow.  The fast subset (-m "not slow") imports
# every chapter instead (test_chapter_imports.py) and runs chapter 6 (test_chapters_6_10.py).
PARAMS = [pytest.param(p, marks=pytest.mark.slow) for p in CHAPTERS]


def _env():
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"
    return env


class Run:
    """One chapter's quick run: exit code, output, seconds, folder, results.json."""

    def __init__(self, script, out):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(out)],
                              cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=QUICK_TIMEOUT)
        self.seconds = time.perf_counter() - t0
        self.returncode, self.output, self.out = proc.returncode, proc.stdout, Path(out)
        path = self.out / "results.json"
        self.results = json.loads(path.read_text()) if path.is_file() else None


@pytest.fixture(scope="module", params=PARAMS, ids=[p.stem for p in CHAPTERS])
def run(request, tmp_path_factory):
    script = request.param
    return script.stem.split("_")[0], Run(script, tmp_path_factory.mktemp(script.stem))


def test_there_are_chapters():
    assert [p.stem.split("_")[0] for p in CHAPTERS][:4] == ["ch01", "ch02", "ch04", "ch05"]


def test_chapter_runs_quickly_and_writes_figures(run):
    name, r = run
    assert r.returncode == 0, f"{name} failed:\n{r.output[-3000:]}"
    assert str(r.out) in r.output, f"{name} does not say where its figures go"
    pngs = sorted(r.out.glob("*.png"))
    assert pngs, f"{name} wrote no PNG to {r.out}"
    assert all(p.stat().st_size > 5000 for p in pngs), [(p.name, p.stat().st_size) for p in pngs]


def test_chapter_numbers_follow_the_theory(run):
    name, r = run
    if name not in CHECKS:
        pytest.skip(f"no checks of {name}'s numbers here")
    assert r.returncode == 0, r.output[-3000:]
    assert r.results is not None, f"{name} wrote no results.json"
    assert r.results["quick"] is True
    assert f"summary: {r.results['summary']}" in r.output
    CHECKS[name](r.results)


# --- what each chapter must show ---------------------------------------------------------

def check_ch01(res):
    assert res["gd_vs_closed_form"] < 1e-10                 # GD converges to the normal equations
    lr = res["learning_rates"]
    assert math.isclose(lr["lr_limit"], 2 / lr["lambda_max"], rel_tol=1e-12)
    runs = {r["name"]: r for r in lr["runs"]}
    for r in runs.values():                                # ρ(η) = max |1 − ηλ_i|, exactly
        assert abs(r["rate_measured"] - r["rate_predicted"]) < 1e-3, r
    assert runs["good"]["final_error"] < 1e-10
    assert runs["oscillating"]["final_error"] < 1e-8
    assert runs["too small"]["final_error"] > 1e-2         # ρ = 0.99…: far from done
    assert runs["diverging"]["rate_predicted"] > 1 and runs["diverging"]["final_error"] > 1e3
    for r in res["minibatch_gradients"]:                   # eq. 2.21: unbiased, variance ∝ 1/N_M
        assert r["max_bias_in_se"] < MC_SE, r
        assert abs(r["var_ratio"] - 1) < 0.3, r
    floors = {r["batch"]: r for r in res["noise_floor"]}
    for r in floors.values():
        # ½ tr(HP) treats the noise as independent of θ; least squares' noise grows with
        # θ − θ̂, which raised the measured floor by up to 10 % (N_M = 1, long runs)
        gap = abs(r["floor_measured"] - r["floor_predicted"])
        assert gap < MC_SE * r["floor_se"] + 0.15 * r["floor_predicted"], r
    assert floors[1]["floor_measured"] > 5 * floors[10]["floor_measured"]   # theory: ≈ 10.5
    decaying = next(r for r in res["sgd"] if "decaying" in r["run"])
    assert decaying["final_loss_gap"] < 1e-3               # measured 1e-4 in quick mode
    m = res["minima"]
    assert m["global_min"] < m["local_max"] < m["local_min"]
    assert m["gd_grid_exceptions"] == 0                    # GD ends in the basin it starts in
    share = {r["batch"]: r["share_global"] for r in m["runs_from_local_basin"]}
    assert share[100] == 0.0                               # GD from the local basin stays there
    assert share[10] < 0.05                                # too little noise to cross (0 measured)
    assert share[1] > 0.5                                  # 0.75–0.8 measured in quick mode


def check_ch02(res):
    mix = res["mixture"]
    assert mix["avg_log_lik_mu_A_moved"] < mix["avg_log_lik"]
    per = res["estimators"]["per_draw"]
    for r in per:
        if r["rel_std_exact"] < 1e-12:                     # q = posterior: every weight is p(x)
            assert r["rel_std_measured"] < 1e-9 and abs(r["mean_ratio"] - 1) < 1e-9, r
        else:
            assert abs(r["rel_std_measured"] / r["rel_std_exact"] - 1) < 0.05, r
            assert abs(r["mean_ratio"] - 1) < MC_SE * r["mean_ratio_se"], r   # unbiased
    naive_a = next(r for r in per if r["point"] == "near μ_A" and r["proposal"].startswith("naive"))
    assert abs(naive_a["rel_std_exact"] - math.sqrt(2)) < 1e-3          # slides Concept 11.8
    n = 20_000
    assert abs(naive_a["useful_share"] - 1 / 3) < MC_SE * math.sqrt(2 / 9 / n)
    est = {(r["proposal"], r["K"]): r for r in res["estimators"]["log_estimates"]}
    for (prop, K), r in est.items():
        if "exact posterior" in prop:
            assert abs(r["bias"]) < 1e-9 and r["std"] < 1e-9, r
    for prop in ("naive, q = p(z)", "IS, blurred posterior"):
        # log p̂_K: bias O(1/K) and spread O(1/√K)
        assert abs(est[(prop, 100)]["bias"]) < abs(est[(prop, 1)]["bias"])
        assert est[(prop, 100)]["std"] < est[(prop, 10)]["std"] < est[(prop, 1)]["std"]
    assert est[("naive, q = p(z)", 1)]["bias"] < -1        # 2/3 of single draws miss A
    dims = res["dimension"]
    for r in dims:
        assert abs(r["posterior_bias"]) < 1e-10 and r["posterior_std"] < 1e-10, r
        assert abs(r["wide_bias"]) < 0.1, r
    last = dims[-1]
    assert last["D"] == 16
    naive_rmse = math.hypot(last["naive_bias"], last["naive_std"])
    wide_rmse = math.hypot(last["wide_bias"], last["wide_std"])
    assert naive_rmse > 1 and naive_rmse > 10 * wide_rmse


def check_ch04(res):
    info = res["model"]
    assert abs(info["kl_floor"] + 0.5 * math.log(1 - info["rho"] ** 2)) < 1e-10
    for r in res["gap_vs_kl"]:                             # thesis eq. 2.8, by Monte Carlo
        assert r["z_mc"] < MC_SE and r["z_analytic"] < MC_SE, r
        assert abs(info["log_p_x"] - r["elbo_exact"] - r["kl_to_posterior"]) < 1e-9, r
    best = next(r for r in res["gap_vs_kl"] if r["q"] == "best diagonal")
    assert abs(best["kl_to_posterior"] - info["kl_floor"]) < 1e-12
    assert all(r["kl_to_posterior"] >= best["kl_to_posterior"] for r in res["gap_vs_kl"])
    tight = res["tight_bound"]                             # slides Concept 11.15
    assert tight["kl"] < 1e-12 and tight["elbo_std"] < 1e-10 and tight["max_abs_error"] < 1e-10
    tr = res["training"]
    assert tr["max_sum_drift"] < 1e-9                      # ELBO + KL = log p(x) at every step
    assert tr["final_kl"] >= tr["kl_floor_mean"] - 1e-9    # no diagonal q beats the floor
    assert tr["final_kl"] < tr["initial_kl"] / 10
    assert tr["final_kl"] < 2 * tr["kl_floor_mean"]        # 1.4 × the floor in quick mode


def check_ch05(res):
    assert res["change_of_variables_max_err"] < 1e-12      # thesis eq. 2.29
    g = res["gradient"]
    assert g["max_z_RP"] < MC_SE and g["max_z_SF"] < MC_SE  # both unbiased
    assert max(r["fixed_z"] for r in g["components"]) > 10  # eq. 2.14: z held fixed is biased
    assert g["decoder_grad_max_diff"] < 1e-12
    assert g["total_var_ratio"] > 5                         # 23 measured; > 1 is the claim
    for r in g["components"]:
        assert r["var_ratio"] > 1, r
    dims = res["dimension"]
    assert all(r["ratio"] > 1 for r in dims)
    assert dims[-1]["ratio"] > 10 * dims[0]["ratio"]        # the gap widens with D
    tr = res["training"]
    assert tr["RP"]["final_gap"] < tr["SF"]["final_gap"]


CHECKS = {"ch01": check_ch01, "ch02": check_ch02, "ch04": check_ch04,
          "ch05": check_ch05}


# --- the runner ------------------------------------------------------------------------------

def test_chapter_tools_parse_save_and_write(tmp_path, capsys):
    import json as _json

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from vae_from_scratch.apps.chapter_tools import parse_chapter_args, write_results
    from vae_from_scratch.viz.plots import save_figure
    args = parse_chapter_args(["--quick", "--out", str(tmp_path)], "ch99", "test", "fast",
                              backend=True, extra=lambda p: p.add_argument("--k", type=int))
    assert args.quick and args.out == str(tmp_path) and args.backend == "numpy"
    assert args.seed == 0 and args.k is None
    fig = plt.figure()
    path = save_figure(fig, tmp_path / "f.png", dpi=110)
    assert path == tmp_path / "f.png" and path.stat().st_size > 0
    write_results({"summary": "s", "x": np.float32(1.5), "ok": np.bool_(True), "figure": path},
                  tmp_path)
    assert _json.loads((tmp_path / "results.json").read_text()) == {
        "summary": "s", "x": 1.5, "ok": True, "figure": str(path)}
    assert capsys.readouterr().out.strip() == "summary: s"
    with pytest.raises(TypeError, match="cannot write a ndarray"):
        write_results({"summary": "s", "a": np.zeros(2)}, tmp_path)


def test_chapter_arguments_unknown_bad_and_the_folder_of_another_run(tmp_path, capsys,
                                                                     monkeypatch):
    import sys
    import types

    from vae_from_scratch.apps.chapter_tools import parse_chapter_args, write_results

    def parse(argv):
        return parse_chapter_args(argv, "ch99", "test", "fast", backend=True)

    for argv, message in ((["--quik"], "unknown argument(s) --quik"),
                          (["--seed", "-1"], "--seed: expected a whole number ≥ 0, got '-1'"),
                          (["--backend", "torch"], "--backend: expected one of numpy, numba, "
                                                   "cupy, auto, got 'torch'")):
        with pytest.raises(SystemExit) as stop:
            parse(argv + ["--out", str(tmp_path / "never")])
        assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()

    # inside a notebook kernel, sys.argv holds the kernel's own arguments: ignored there
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setattr(sys, "argv", ["ipykernel_launcher.py", "-f", "kernel.json"])
    monkeypatch.chdir(tmp_path)
    args = parse(None)
    assert not args.quick and args.out == "runs/chapters/ch99"
    monkeypatch.setattr(sys, "argv", ["ipykernel_launcher.py", "--quick"])
    assert parse(None).out == "runs/chapters-quick/ch99"      # --quick has its own folder
    monkeypatch.delitem(sys.modules, "ipykernel")

    out = str(tmp_path / "mine")
    parse(["--out", out, "--seed", "1"])
    write_results({"summary": "s"}, out)                      # a finished run, seed 1
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        parse(["--out", out, "--seed", "2"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert "holds a finished chapter ch99 run with other options (--seed 1 there, 2 here)" in err
    assert parse(["--out", out, "--seed", "2", "--force"]).seed == 2
