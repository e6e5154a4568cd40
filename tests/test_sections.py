"""The chapter sections (chapters/chNN_topic/chNN_K_*.py) as a reader meets them: files
of cells that run top to bottom as scripts and as notebooks, with the same numbers.

Fast: every section read without running it (its size, its imports, its calls to
start_section and finish); one section and the section machinery run for real; the
notebook build of one section where the notebooks extra is installed.  Slow: every
section's quick run (the numbers each one must show are in tests/test_chapterNN.py).
How long the quick runs take is measured, not asserted: `python chapters/run_all.py
--quick` prints it.
"""

import ast
import importlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SectionRun, section_env, section_files

SECTIONS = section_files()
IDS = ["_".join(p.stem.split("_")[:2]) for p in SECTIONS]
MAX_LINES = 260                  # "about 250": a section a student finishes in one sitting


def _calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def test_every_chapter_is_a_folder_of_sections():
    assert SECTIONS, "no sections found"
    for sid, path in zip(IDS, SECTIONS):
        assert path.parent.name.startswith(sid.split("_")[0] + "_"), path
    numbers = {}
    for sid in IDS:                                    # sections 1, 2, … of every chapter
        chapter, k = sid.split("_")
        numbers.setdefault(chapter, []).append(int(k))
    for chapter, ks in numbers.items():
        assert ks == list(range(1, len(ks) + 1)), (chapter, ks)


@pytest.mark.parametrize("path", SECTIONS, ids=IDS)
def test_section_reads_as_a_notebook(path):
    """Short enough for one sitting, cells from the first line, no import preamble, its
    own id given to start_section, finish called once, every library name it imports
    there (a renamed function breaks here, not in a quick run)."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    sid = "_".join(path.stem.split("_")[:2])
    assert len(lines) <= MAX_LINES, f"{path.name}: {len(lines)} lines, at most about 250"
    assert lines[0] == "# %% [markdown]" and lines[1].startswith("# # "), path.name
    for banned in ("noqa: E402", "os.environ", "matplotlib.use(", "def main("):
        assert banned not in text, f"{path.name} has {banned!r}"
    tree = ast.parse(text, str(path))
    starts = _calls(tree, "start_section")
    assert len(starts) == 1 and starts[0].args[0].value == sid, path.name
    assert len(_calls(tree, "finish")) == 1, path.name
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module.startswith("vae_from_scratch"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert not alias.name.startswith("_"), f"{path.name} imports {alias.name}"
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"


def test_each_chapter_ends_with_its_exercises():
    from vae_from_scratch.exercises import EXERCISES
    with_exercises = {e.chapter for e in EXERCISES.values()}
    by_chapter = {}
    for sid, path in zip(IDS, SECTIONS):
        by_chapter.setdefault(sid.split("_")[0], []).append(path)
    for chapter, paths in by_chapter.items():
        last = paths[-1].read_text(encoding="utf-8")
        if chapter in with_exercises:
            assert f'exercise_commands("{chapter}")' in last, paths[-1].name


def test_a_section_runs_as_a_script_with_its_numbers(tmp_path):
    """ch03_1's quick run: its header names the folder, the summary is its last line,
    results.json holds what it printed."""
    run = SectionRun(ROOT / "chapters" / "ch03_kl_divergence" / "ch03_1_closed_form.py",
                     tmp_path / "ch03_1")
    res = run.check()
    assert str(tmp_path / "ch03_1") in run.output.splitlines()[0]
    assert f"summary: {res['summary']}" in run.output
    assert res["section"] == "ch03_1" and res["chapter"] == "ch03" and res["quick"] is True


def _section_script(tmp_path, body):
    script = tmp_path / "ch99_1_test.py"
    script.write_text("from vae_from_scratch.apps.chapter_tools import start_section\n"
                      "sec = start_section('ch99_1', 'Chapter 99.1', 'fast', backend=True)\n"
                      + body)
    return script


def test_section_options_bad_values_and_ctrl_c(tmp_path):
    """A bad option is one line and exit code 2; Ctrl-C is one line and exit code 130."""
    script = _section_script(tmp_path, "import time\nprint('running', flush=True)\n"
                                       "time.sleep(60)\n")
    for argv, message in ((["--seed", "-1"], "--seed: expected a whole number ≥ 0, got '-1'"),
                          (["--quik"], "unknown argument(s) --quik")):
        proc = subprocess.run([sys.executable, str(script), *argv, "--out", str(tmp_path / "n")],
                              env=section_env(), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "n").exists()
    proc = subprocess.Popen([sys.executable, str(script), "--out", str(tmp_path / "c")],
                            env=section_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert "running" in proc.stdout.readline() + proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip() == f"interrupted; the figures written so far are in {tmp_path / 'c'}/"


def test_section_finish_writes_results_and_refuses_another_run(tmp_path, capsys):
    import numpy as np

    from vae_from_scratch.apps.chapter_tools import start_section
    out = tmp_path / "s"
    sec = start_section("ch99_1", "Chapter 99.1", "fast", argv=["--out", str(out), "--seed", "3"])
    assert (sec.id, sec.chapter, sec.quick, sec.seed, sec.backend) == ("ch99_1", "ch99", False,
                                                                        3, None)
    a, b = sec.rngs(2)
    assert a.random() != b.random()                             # independent streams
    assert sec.rngs(2)[0].random() == np.random.default_rng(
        np.random.SeedSequence(3).spawn(2)[0]).random()
    doc = sec.finish({"x": np.float32(1.5)}, summary="s")
    written = json.loads((out / "results.json").read_text())
    assert written == doc and written["x"] == 1.5 and written["section"] == "ch99_1"
    assert capsys.readouterr().out.splitlines()[-1] == "summary: s"
    with pytest.raises(SystemExit) as stop:                     # same folder, other seed
        start_section("ch99_1", "Chapter 99.1", "fast", argv=["--out", str(out), "--seed", "4"])
    assert stop.value.code == 2
    assert "(--seed 3 there, 4 here)" in capsys.readouterr().err


def test_exercise_commands_name_the_chapters_exercises():
    from vae_from_scratch.apps.chapter_tools import exercise_commands
    text = exercise_commands("ch08")
    for name in ("conv2d_forward", "conv2d_backward", "conv_transpose2d"):
        assert f"check {name} --file my_{name}.py" in text
    assert exercise_commands("ch04") == ""                 # a chapter without exercises


def test_run_all_reports_each_section_and_fails_loudly(tmp_path, monkeypatch, capsys):
    """run_all on chapter 3: one line per section with OK and its summary; a failing
    section gives FAILED, the end of its output, and exit code 1."""
    proc = subprocess.run([sys.executable, str(ROOT / "chapters" / "run_all.py"), "--quick",
                           "--out", str(tmp_path), "--only", "ch03"], cwd=ROOT,
                          env=section_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("ch03_")]
    assert [line.split()[0] for line in lines] == ["ch03_1_closed_form", "ch03_2_asymmetry",
                                                   "ch03_3_kl_nonnegative_and_discrete"]
    for line, sid in zip(lines, ("ch03_1", "ch03_2", "ch03_3")):
        summary = json.loads((tmp_path / sid / "results.json").read_text())["summary"]
        assert " OK " in line and line.rstrip().endswith(summary)
        assert (tmp_path / sid / "output.txt").read_text().strip()

    monkeypatch.syspath_prepend(str(ROOT / "chapters"))
    import run_all
    broken = tmp_path / "ch99_1_broken.py"
    broken.write_text("print('summary: never reached')\nraise SystemExit('this section is broken')\n")
    monkeypatch.setattr(run_all, "sections", lambda only=None: [broken])
    assert run_all.main(["--quick", "--out", str(tmp_path / "out")]) == 1
    printed = capsys.readouterr().out
    assert "FAILED" in printed and "this section is broken" in printed


def test_a_section_executed_as_a_notebook_gives_the_scripts_numbers(tmp_path):
    """chapters/build_book.py on ch03_1, quick: the executed notebook shows the section's
    output below its cells, and its results.json equals the script run's."""
    missing = [m for m in ("jupytext", "nbclient", "nbconvert", "nbformat", "ipykernel")
               if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the notebooks extra is not installed ({', '.join(missing)}): "
                    f"pip install -e \".[notebooks]\"")
    book = tmp_path / "book"
    proc = subprocess.run([sys.executable, str(ROOT / "chapters" / "build_book.py"), "--quick",
                           "--out", str(book), "--only", "ch03_1"], cwd=ROOT, env=section_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    notebook = json.loads((book / "ch03_1.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in notebook["cells"]
                      if c["cell_type"] == "code" for o in c.get("outputs", []))
    assert "eq. 22          = 2.875000" in printed and "summary: " in printed
    assert (book / "ch03_1.html").stat().st_size > 10_000 and (book / "index.html").is_file()
    script = SectionRun(ROOT / "chapters" / "ch03_kl_divergence" / "ch03_1_closed_form.py",
                        tmp_path / "script")
    as_script = script.check()
    as_notebook = json.loads((book / "ch03_1" / "results.json").read_text())
    for doc in (as_script, as_notebook):
        doc.pop("seconds")
    assert as_notebook == as_script


@pytest.mark.slow
@pytest.mark.parametrize("sid", IDS)
def test_section_quick_run_names_its_folder_and_writes_results(run_section, sid):
    run = run_section(sid)
    res = run.check()
    assert str(run.out) in run.output, f"{sid} does not say where its figures go"
    assert res["quick"] is True and res["section"] == sid
    assert f"summary: {res['summary']}" in run.output
    for figure in res.get("figures", []):
        assert Path(figure).stat().st_size > 5000, figure


@pytest.mark.slow
@pytest.mark.parametrize("chapter", sorted({sid.split("_")[0] for sid in IDS}))
def test_every_chapter_draws_figures(run_section, chapter):
    pngs = [p for sid in IDS if sid.startswith(chapter + "_") for p in run_section(sid).out.glob("*.png")]
    assert pngs, f"{chapter} wrote no PNG"
    assert all(p.stat().st_size > 5000 for p in pngs), [(p.name, p.stat().st_size) for p in pngs]


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


def test_chapter_arguments_unknown_bad_and_the_folder_of_another_run(tmp_path, capsys):
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


def test_inside_a_kernel_a_section_reads_its_options_from_the_environment(tmp_path, monkeypatch,
                                                                          capsys):
    """The kernel's own command line (-f kernel.json) is not the reader's: inside a
    Jupyter kernel start_section reads $VAE_CHAPTER_ARGS, and leaves Ctrl-C to the kernel."""
    import signal as signals

    from vae_from_scratch.apps import chapter_tools
    monkeypatch.setattr(chapter_tools, "in_notebook_kernel", lambda: True)
    monkeypatch.setattr(sys, "argv", ["ipykernel_launcher.py", "-f", "kernel.json"])
    monkeypatch.chdir(tmp_path)
    before = signals.getsignal(signals.SIGINT)
    monkeypatch.delenv(chapter_tools.ARGS_VARIABLE, raising=False)
    sec = chapter_tools.start_section("ch99_1", "Chapter 99.1", "fast")
    assert not sec.quick and sec.out == Path("runs/chapters/ch99_1")       # the full mode
    monkeypatch.setenv(chapter_tools.ARGS_VARIABLE, "--quick --seed 5")
    sec = chapter_tools.start_section("ch99_2", "Chapter 99.2", "fast")
    assert sec.quick and sec.seed == 5 and sec.out == Path("runs/chapters-quick/ch99_2")
    assert signals.getsignal(signals.SIGINT) is before
    assert "figures go to runs/chapters-quick/ch99_2/" in capsys.readouterr().out


def test_dual_vae_options_parse_and_refuse(capsys):
    from vae_from_scratch.apps.chapter_tools import chapter_parser, dual_vae_options
    p = chapter_parser("ch99_1", "test", "fast", extra=dual_vae_options(weight_on=True))
    args = p.parse_args(["--datasets", "X50", "X90_20", "--epochs", "3", "--weight-on",
                         "reconstruction"])
    assert (args.datasets, args.epochs, args.weight_on) == (["X50", "X90_20"], 3, "reconstruction")
    defaults = p.parse_args([])
    assert defaults.datasets == ["X90", "X50", "X90_20"] and defaults.epochs is None
    with pytest.raises(SystemExit) as stop:
        p.parse_args(["--datasets", "X100"])
    assert stop.value.code == 2 and "X100" in capsys.readouterr().err
    no_weight = chapter_parser("ch99_1", "test", "fast", extra=dual_vae_options())
    with pytest.raises(SystemExit):
        no_weight.parse_args(["--weight-on", "elbo"])
