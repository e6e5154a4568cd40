"""Every bad value is one line before any work starts: `error: --OPTION: expected …, got …`,
the usage of the command it was given to, and exit code 2 — for every command and chapter.

Each case runs through the real parser (main(argv)), and the ones that matter most also
through `python -m vae_from_scratch` in a child process, so the exit code the shell sees
and the absence of a traceback are checked as a user meets them.
"""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from vae_from_scratch.apps.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]

# (argv, the text the one line must contain)
BAD_VALUES = [
    (["train", "--epochs", "0"], "--epochs: expected a whole number ≥ 1, got '0'"),
    (["train", "--epochs", "2.5"], "--epochs: expected a whole number ≥ 1, got '2.5'"),
    (["train", "--batch-size", "-3"], "--batch-size: expected a whole number ≥ 1, got '-3'"),
    (["train", "--lr", "0"], "--lr: expected a finite number > 0, got '0'"),
    (["train", "--lr", "nan"], "--lr: expected a finite number > 0, got 'nan'"),
    (["train", "--lr", "inf"], "--lr: expected a finite number > 0, got 'inf'"),
    (["train", "--seed", "-1"], "--seed: expected a whole number ≥ 0, got '-1'"),
    (["train", "--iwae-k", "0"], "--iwae-k: expected a whole number ≥ 1, got '0'"),
    (["train", "--anneal-steps", "-5"], "--anneal-steps: expected a whole number ≥ 0, got '-5'"),
    (["train", "--latent-dim", "0"], "--latent-dim: expected a whole number ≥ 1, got '0'"),
    (["train", "--hidden", "64", "0"], "--hidden: expected a whole number ≥ 1, got '0'"),
    (["train", "--likelihood", "gaussian", "--decoder-var", "-1"],
     "--decoder-var: expected a finite number > 0, got '-1'"),
    (["train", "--blas-threads", "0"], "--blas-threads: expected a whole number ≥ 1, got '0'"),
    (["train", "--model", "resnet"], "--model: expected one of mlp, conv, got 'resnet'"),
    (["train", "--backend", "tensorflow"],
     "--backend: expected one of numpy, numba, cupy, auto, got 'tensorflow'"),
    (["train", "--epochs"], "--epochs: expected a value, got none"),
    (["thesis", "--epochs", "-1"], "--epochs: expected a whole number ≥ 1, got '-1'"),
    (["thesis", "--lr", "-0.1"], "--lr: expected a finite number > 0, got '-0.1'"),
    (["thesis", "--seed", "x"], "--seed: expected a whole number ≥ 0, got 'x'"),
    (["thesis", "--oversample", "0"], "--oversample: expected a whole number ≥ 1, got '0'"),
    (["thesis", "--latent1", "0"], "--latent1: expected a whole number ≥ 1, got '0'"),
    (["thesis", "--latent2", "1.5"], "--latent2: expected a whole number ≥ 1, got '1.5'"),
    (["thesis", "--free-bits2", "-1"], "--free-bits2: expected a finite number ≥ 0, got '-1'"),
    (["thesis", "--decorrelate", "inf"], "--decorrelate: expected a finite number ≥ 0, got 'inf'"),
    (["thesis", "--blas-threads", "0"], "--blas-threads: expected a whole number ≥ 1, got '0'"),
    (["thesis", "--datasets", "X100"], "--datasets: expected one of X90, X50, X90_20, got 'X100'"),
    (["bench", "--epochs", "0"], "--epochs: expected a whole number ≥ 1, got '0'"),
    (["bench", "--seed", "-2"], "--seed: expected a whole number ≥ 0, got '-2'"),
    (["bench", "--blas-threads", "0"], "--blas-threads: expected a whole number ≥ 1, got '0'"),
    (["demo", "--steps", "0"], "--steps: expected a whole number ≥ 1, got '0'"),
    (["demo", "--seed", "1e3"], "--seed: expected a whole number ≥ 0, got '1e3'"),
    # options that the chosen mode would ignore are refused, not ignored
    (["train", "--decoder-var", "0.2"],
     "--decoder-var: applies to --likelihood gaussian only, got it with --likelihood bernoulli"),
    (["train", "--model", "conv", "--hidden", "64"],
     "--hidden: applies to --model mlp only, got it with --model conv"),
    (["train", "--data-dir", "somewhere"], "--data-dir: applies to --data mnist only"),
    (["train", "--download"], "--download: applies to --data mnist only"),
    (["thesis", "--quick", "--epochs", "5"], "--epochs: --quick runs 2 epochs, got --epochs 5 too"),
    (["thesis", "--resume", "--force"], "--resume and --force: expected one of them, got both"),
    # an unknown argument is the subcommand's error
    (["thesis", "--epoch", "3"], "unknown argument(s) --epoch 3"),
]


@pytest.mark.parametrize("argv, message", BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_a_bad_value_is_one_line_with_the_subcommands_usage_and_exit_2(argv, message, capsys,
                                                                       tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                      # nothing may be written anyway
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2
    usage, line = err.rstrip("\n").split("\n")[0], err.rstrip("\n").split("\n")[-1]
    assert usage.startswith(f"usage: python -m vae_from_scratch {argv[0]} ")   # its own usage
    assert line.startswith(f"python -m vae_from_scratch {argv[0]}: error: ")
    assert message in line
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []            # no folder made, no work started


def test_out_that_is_a_file_or_lies_under_a_file(tmp_path, capsys):
    file = tmp_path / "a_file"
    file.write_text("not a folder")
    for out, message in ((file, f"--out: expected a folder, got the file '{file}'"),
                         (file / "sub", f"lies under the file '{file}'")):
        for command in ("train", "thesis", "demo"):
            with pytest.raises(SystemExit) as stop:
                main([command, "--out", str(out)])
            assert stop.value.code == 2
            assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:                  # bench's --json: before it runs
        main(["bench", "--quick", "--json", str(file / "bench.json")])
    assert stop.value.code == 2
    assert f"--json: expected a folder, got the file '{file}'" in capsys.readouterr().err
    assert file.read_text() == "not a folder"


def test_the_backend_in_the_environment_is_checked_like_the_option(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_BACKEND", "no-such-backend")
    with pytest.raises(SystemExit) as stop:
        main(["train", "--out", str(tmp_path / "r")])
    assert stop.value.code == 2
    assert "$VAE_BACKEND: expected one of numpy, numba, cupy, auto, got 'no-such-backend'" in \
        capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "0"], "--epochs: expected a whole number ≥ 1, got '0'"),
    (["thesis", "--lr", "abc"], "--lr: expected a finite number > 0, got 'abc'"),
    (["bench", "--models", "dual", "--epochs", "-1"], "--epochs: expected a whole number ≥ 1"),
])
def test_through_the_shell_exit_code_2_and_no_traceback(argv, message, tmp_path):
    run = subprocess.run([sys.executable, "-m", "vae_from_scratch", *argv], capture_output=True,
                         text=True, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr
    assert run.stdout == ""


def _options(parser):
    """(command, option, action) for every option of every subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for a in sub._actions:
                    if a.option_strings and a.dest != "help":
                        yield name, a.option_strings[0], a


def _chapter_options():
    from vae_from_scratch.apps.chapter_tools import chapter_parser
    parser = chapter_parser("ch99", "a chapter", "fewer steps", backend=True)
    return [("chapter", a.option_strings[0], a) for a in parser._actions
            if a.option_strings and a.dest != "help"]


OPTIONS = list(_options(build_parser()[0])) + _chapter_options()


@pytest.mark.parametrize("command, option, action", OPTIONS,
                         ids=[f"{c} {o}" for c, o, _ in OPTIONS])
def test_every_option_has_a_help_text_with_its_default(command, option, action):
    assert action.help and len(action.help) > 15, f"{command} {option}: no help text"
    assert "default" in action.help, f"{command} {option}: the help does not say its default"
    if "%(default)s" in action.help:                 # argparse fills it in: it must format
        assert str(action.default) in action.help % {"default": action.default}


def test_help_is_printed_without_error(capsys):
    for command in ("train", "thesis", "bench", "demo"):
        with pytest.raises(SystemExit) as stop:
            main([command, "--help"])
        assert stop.value.code == 0
        assert "default" in capsys.readouterr().out
