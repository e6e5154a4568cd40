"""The autograder runs the student's code in a child process: proven on planted files.

Whatever a solution file does — loop forever, call sys.exit or os._exit, kill its own
process, crash, patch the grader, forge an answer — it loses the case where it happened
(every case, when it happens at import), the report says what happened, and the exit
code is never 0; the grading goes on with the next case in a fresh child.  And the
command line reports a bad option value on one line, with exit code 2.
"""

import argparse
import os
import subprocess
import sys
import textwrap

import pytest

from test_exercises import ROOT, SOLUTIONS, labels, plant, write
from vae_from_scratch.exercises import EXERCISES, grading
from vae_from_scratch.exercises.cli import _parser, main

NAME = "dense_backward"
# the one case of dense_backward whose dy has shape (1, 4): there the planted code misbehaves
TRAP = "batch 1"
TRAP_NUMBER = labels(NAME).index(TRAP) + 1
SOLUTION = textwrap.dedent(SOLUTIONS[NAME])


def planted(action, imports="import os"):
    """The solution of dense_backward, doing `action` in the case TRAP only."""
    source = plant(NAME, "x, w = cache\n", f"x, w = cache\n            if dy.shape == (1, 4):\n"
                                           f"                {action}\n")
    return f"{imports}\n{textwrap.dedent(source)}"


def grade(tmp_path, source, timeout=grading.DEFAULT_TIMEOUT):
    return EXERCISES[NAME].grade_file(write(tmp_path, NAME, source), timeout=timeout)


def assert_only_the_trap_fails(report, message):
    assert report.failed_labels() == [TRAP], report.format()
    assert report.results[TRAP_NUMBER - 1].message == message
    assert report.score == report.total - 1 and not report.passed


# --- the time limit -------------------------------------------------------------------

def test_a_hang_is_stopped_after_the_timeout_and_grading_goes_on(tmp_path, capsys):
    path = write(tmp_path, NAME, planted("while True: pass"))
    assert main(["check", NAME, "--file", str(path), "--timeout", "1"]) == 1
    out = capsys.readouterr().out
    message = (f"case {TRAP_NUMBER}: no answer after 1 s; stopped it (an endless loop? "
               f"the limit is --timeout SECONDS)")
    assert f"        {message}" in out.splitlines()
    assert out.strip().splitlines()[-1] == (f"score: {len(labels(NAME)) - 1}/{len(labels(NAME))}  "
                                            f"first failing case: #{TRAP_NUMBER} ({TRAP})")


def test_a_hang_at_import_fails_every_case(tmp_path):
    report = grade(tmp_path, "while True:\n    pass\n", timeout=0.5)
    assert report.score == 0 and report.total == len(labels(NAME))
    assert report.load_error == ("importing dense_backward.py: no answer after 0.5 s; stopped it "
                                 "(an endless loop? the limit is --timeout SECONDS)")


# --- a student's process that ends --------------------------------------------------------

@pytest.mark.parametrize("code", [0, 3])
def test_os_exit_in_a_case_fails_that_case_only(code, tmp_path):
    report = grade(tmp_path, planted(f"os._exit({code})"))
    assert_only_the_trap_fails(report, f"case {TRAP_NUMBER}: the process ended with exit code {code} "
                                       f"(did your code call sys.exit or os._exit?)")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("action,imports,what", [
    ("os.kill(os.getpid(), signal.SIGKILL)", "import os, signal",
     "SIGKILL (did your code kill its process, or use up the memory?)"),
    ("ctypes.string_at(0)", "import ctypes",
     "SIGSEGV (a crash inside compiled code, such as an out-of-bounds ctypes access)"),
])
def test_a_process_killed_by_a_signal_fails_that_case_only(action, imports, what, tmp_path):
    report = grade(tmp_path, planted(action, imports))
    assert_only_the_trap_fails(report, f"case {TRAP_NUMBER}: the process was killed by signal {what}")


def test_sys_exit_in_a_function_fails_each_case_with_its_line(tmp_path, capsys):
    source = "import sys\n\ndef dense_backward(dy, cache):\n    sys.exit(0)\n"
    report = grade(tmp_path, source)
    assert report.score == 0
    for result in report.results:
        assert result.message == ("dense_backward called sys.exit(0): a function must return its result, "
                                  "not end the program\n(dense_backward.py, line 4: sys.exit(0))")
    assert main(["check", NAME, "--file", str(tmp_path / "dense_backward.py")]) == 1


@pytest.mark.parametrize("line,message", [
    ("sys.exit(0)", "importing dense_backward.py called sys.exit(0) (line 2): a solution file defines "
                    "functions, it does not end the program"),
    ("os._exit(0)", "importing dense_backward.py: the process ended with exit code 0 (did your code "
                    "call sys.exit or os._exit?)"),
])
def test_exiting_at_import_fails_every_case(line, message, tmp_path, capsys):
    path = write(tmp_path, NAME, f"import os, sys\n{line}\n" + SOLUTION)
    report = EXERCISES[NAME].grade_file(path)
    assert report.score == 0 and report.load_error == message
    assert main(["check", NAME, "--file", str(path)]) == 1
    assert f"could not use the file: {message}" in capsys.readouterr().out


def test_the_program_exits_with_1_when_the_students_file_exits_with_0(tmp_path):
    """The exit code of the grading process itself, not only main()'s return value."""
    path = write(tmp_path, NAME, "import os\nos._exit(0)\n")
    run = subprocess.run([sys.executable, "-m", "vae_from_scratch.exercises", "check", NAME,
                          "--file", str(path)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1].startswith(f"score: 0/{len(labels(NAME))}")
    assert run.stderr == ""


# --- the grader cannot be changed from the student's file -----------------------------------

def test_patching_the_grader_from_the_file_changes_nothing(tmp_path):
    """The checks run in the grader's process; the file's patches stay in the child."""
    source = """
        import numpy as np
        from vae_from_scratch import gradcheck
        from vae_from_scratch.exercises import grading

        grading.compare = lambda *args, **kwargs: 0.0
        grading.gradient_check = lambda *args, **kwargs: 0.0
        grading.relative_error = gradcheck.relative_error = lambda *args: 0.0

        def dense_backward(dy, cache):
            x, w = cache
            return np.zeros_like(x), np.zeros_like(w), np.zeros_like(w[:, 0])
    """
    report = grade(tmp_path, source)
    assert report.score == 0, report.format()
    # zeros are off by 100 % of the answer's size
    assert all("relative error 1.0e+00" in r.message for r in report.results), report.format()
    assert grading.compare is not None and grading.relative_error is not None


def test_a_forged_answer_runs_no_code_in_the_grader(tmp_path):
    """A file that writes its own pickle into the pipe: the grader builds arrays and
    numbers only, so the code it smuggles in (which leaves a file named by the id of
    the process that runs it) never runs in the grader's process."""
    code = f"import os; open(os.path.join({str(tmp_path)!r}, str(os.getpid())), 'w').close()"
    source = f"""
        import gc
        from multiprocessing.connection import Connection

        class Payload:
            def __reduce__(self):
                return exec, ({code!r},)

        def dense_backward(dy, cache):
            for connection in [o for o in gc.get_objects() if isinstance(o, Connection)]:
                if not connection.closed:
                    connection.send(("ok", Payload()))
            x, w = cache
            return dy @ w, dy.T @ x, dy.sum(axis=0)
    """
    report = grade(tmp_path, source)
    assert not (tmp_path / str(os.getpid())).exists()
    assert report.score == 0
    assert report.results[0].message == ("case 1: the answer could not be read "
                                         "(builtins.exec is not an array or a number)")


def test_an_answer_the_grader_cannot_read_is_reported(tmp_path):
    report = grade(tmp_path, "def dense_backward(dy, cache):\n    return (g for g in (dy, dy, dy))\n")
    assert report.score == 0
    assert report.results[0].message == ("dense_backward returned a generator; the grader reads NumPy "
                                         "arrays, numbers, and tuples, lists or dicts of them")


def test_spawned_children_grade_the_same(tmp_path, monkeypatch):
    """Where fork is not used (macOS, Windows), the child is spawned: same results."""
    monkeypatch.setattr(grading, "START_METHOD", "spawn")
    report = grade(tmp_path, planted("os._exit(0)"))
    assert_only_the_trap_fails(report, f"case {TRAP_NUMBER}: the process ended with exit code 0 "
                                       f"(did your code call sys.exit or os._exit?)")
    assert EXERCISES["iwae_bound"].grade_reference().passed


# --- the command line's options ----------------------------------------------------------

def subcommands():
    parser = _parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_option_has_a_help_text_with_its_default(capsys):
    for command, parser in subcommands().items():
        for action in parser._actions:
            if action.option_strings and not isinstance(action, argparse._HelpAction):
                assert action.help and "(default: " in action.help, (command, action.option_strings)
    assert main(["check", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())        # argparse wraps the lines
    for text in ("--file FILE", "--reference", "--timeout SECONDS", "(default: 10)", "(default: off)"):
        assert text in out


@pytest.fixture
def files(tmp_path):
    (tmp_path / "notes.txt").write_text("not Python")
    (tmp_path / "taken.py").write_text("mine")
    return tmp_path


TIMEOUT = "--timeout: expected a positive number of seconds, got "
FILE = "--file: expected a Python file (.py) with your functions, got "
UNKNOWN = "NAME: expected an exercise (dense_backward, conv2d_forward, "
BAD = [
    (["check", NAME, "--reference", "--timeout", "-1"], TIMEOUT + "-1"),
    (["check", NAME, "--reference", "--timeout", "0"], TIMEOUT + "0"),
    (["check", NAME, "--reference", "--timeout", "ten"], TIMEOUT + "ten"),
    (["check", NAME, "--reference", "--timeout", "nan"], TIMEOUT + "nan"),
    (["check", "dense", "--reference"], UNKNOWN),
    (["hint", "dense"], UNKNOWN),
    (["check", NAME, "--file", "{tmp}/missing.py"], FILE + "{tmp}/missing.py (no such file)"),
    (["check", NAME, "--file", "{tmp}"], FILE + "{tmp} (not a file)"),
    (["check", NAME, "--file", "{tmp}/notes.txt"], FILE + "{tmp}/notes.txt (not a .py file)"),
    (["check", "all", "--file", "{tmp}/taken.py"],
     "NAME: expected one exercise with --file ('all' goes with --reference), got 'all'"),
    (["stub", NAME, "-o", "{tmp}/taken.py"],
     "--output: expected a file that does not exist yet, got {tmp}/taken.py (it exists: not overwriting "
     "your work)"),
]


@pytest.mark.parametrize("argv,line", BAD, ids=[" ".join(argv[:1] + argv[2:]) for argv, _ in BAD])
def test_a_bad_value_is_one_line_and_exit_code_2(argv, line, files, capsys):
    argv = [a.replace("{tmp}", str(files)) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith("error: " + line.replace("{tmp}", str(files)))
    assert (files / "taken.py").read_text() == "mine"


def test_a_bad_value_from_the_shell_has_no_traceback():
    run = subprocess.run([sys.executable, "-m", "vae_from_scratch.exercises", "check", NAME, "--reference",
                          "--timeout", "-5"], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONWARNINGS": "error"})
    assert run.returncode == 2
    assert run.stderr == "error: --timeout: expected a positive number of seconds, got -5\n"
    assert run.stdout == ""
