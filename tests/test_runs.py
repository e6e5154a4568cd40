"""No run is ever lost: an output folder that holds another run is refused, --resume
continues only the run it was made for, Ctrl-C (a real SIGINT) ends with one line, exit
code 130 and an intact checkpoint, and a log gets lines, not progress bars."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vae_from_scratch.run_folder import MANIFEST, RunFolderError, claim

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--backend", "numpy", "--iwae-k", "2"]       # small and fast


def cli(*argv, cwd=None, **kw):
    return subprocess.run([sys.executable, "-m", "vae_from_scratch", *map(str, argv)],
                          capture_output=True, text=True, cwd=cwd or ROOT, **kw)


# --- the rules, on folders made by hand -------------------------------------------------

def finished(out, command="train", **options):
    run = claim(out, command, options)
    run.progress("train", options.get("--epochs", 3))
    run.finish_part("train")
    run.finish()
    return run


def test_a_new_or_empty_folder_is_claimed_and_marked_unfinished(tmp_path):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "new" / "deeper", tmp_path / "empty"):
        claim(out, "train", {"--lr": 0.1})
        saved = json.loads((out / MANIFEST).read_text())
        assert saved["command"] == "train" and saved["options"] == {"--lr": 0.1}
        assert saved["finished"] is False


def test_a_finished_run_with_the_same_options_may_run_again(tmp_path):
    finished(tmp_path, **{"--lr": 0.1, "--epochs": 3})
    again = claim(tmp_path, "train", {"--lr": 0.1, "--epochs": 3})   # no error: the same run
    saved = json.loads((tmp_path / MANIFEST).read_text())
    assert again.epoch("train") == 0 and saved["finished"] is False  # starts over, recorded


def test_a_finished_run_of_other_options_is_refused_naming_them(tmp_path):
    finished(tmp_path, **{"--lr": 0.1, "--epochs": 3})
    with pytest.raises(RunFolderError) as info:
        claim(tmp_path, "train", {"--lr": 0.2, "--epochs": 3})
    message = str(info.value)
    assert "holds a finished train run with other options (--lr 0.1 there, 0.2 here)" in message
    assert "--out" in message and "--force" in message
    assert "--resume" not in message                 # another lr cannot be continued
    with pytest.raises(RunFolderError, match="or continue it with --resume"):
        claim(tmp_path, "train", {"--lr": 0.1, "--epochs": 9})   # more epochs can
    assert json.loads((tmp_path / MANIFEST).read_text())["finished"] is True   # untouched
    claim(tmp_path, "train", {"--lr": 0.2, "--epochs": 3}, force=True)


def test_an_unfinished_run_with_a_checkpoint_needs_resume_or_force(tmp_path):
    run = claim(tmp_path, "train", {"--lr": 0.1, "--epochs": 10})
    run.progress("train", 4)                          # then the process was killed
    with pytest.raises(RunFolderError, match=r"holds an unfinished \(stopped after epoch 4\) train "
                                             r"run; continue it with --resume, start over with "
                                             r"--force, or choose another folder with --out"):
        claim(tmp_path, "train", {"--lr": 0.1, "--epochs": 10})
    resumed = claim(tmp_path, "train", {"--lr": 0.1, "--epochs": 12}, resume=True)
    assert resumed.epoch("train") == 4                # what was reached is kept


def test_resume_checks_the_options_and_the_epochs(tmp_path):
    run = claim(tmp_path, "thesis", {"--lr": 0.1, "--epochs": 10, "--datasets": ["X90"]})
    run.progress("X90", 7)
    with pytest.raises(RunFolderError, match=r"--resume: the run in .* was made with other "
                                             r"options \(--lr 0.1 there, 0.3 here\)"):
        claim(tmp_path, "thesis", {"--lr": 0.3, "--epochs": 10, "--datasets": ["X90"]},
              resume=True, extendable=("--epochs", "--datasets"))
    with pytest.raises(RunFolderError, match=r"--epochs: expected at least 7, .* got 5"):
        claim(tmp_path, "thesis", {"--lr": 0.1, "--epochs": 5, "--datasets": ["X90"]},
              resume=True, extendable=("--epochs", "--datasets"))
    claim(tmp_path, "thesis", {"--lr": 0.1, "--epochs": 10, "--datasets": ["X90", "X50"]},
          resume=True, extendable=("--epochs", "--datasets"))


def test_resume_without_a_run_and_folders_of_other_things(tmp_path):
    with pytest.raises(RunFolderError, match="--resume: .* holds no run to continue; leave out "
                                             "--resume to start one"):
        claim(tmp_path / "nothing", "train", {}, resume=True)
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(RunFolderError, match=r"holds files but no run.json \(mine.txt\)"):
        claim(tmp_path, "train", {})
    finished(tmp_path / "t", "thesis")
    with pytest.raises(RunFolderError, match="holds a thesis run, not a train run"):
        claim(tmp_path / "t", "train", {})
    (tmp_path / "t" / MANIFEST).write_text("{not json")
    with pytest.raises(RunFolderError, match="run.json cannot be read"):
        claim(tmp_path / "t", "train", {})
    assert (tmp_path / "mine.txt").read_text() == "precious"


# --- through the train command ------------------------------------------------------------

def test_train_refuses_to_replace_a_finished_run_of_other_options(tmp_path):
    out = tmp_path / "run"
    first = cli(*TRAIN, "--epochs", "2", "--out", out)
    assert first.returncode == 0, first.stderr
    results = (out / "results.json").read_bytes()
    other = cli(*TRAIN, "--epochs", "2", "--lr", "0.01", "--out", out)
    assert other.returncode == 2
    assert other.stderr.strip().splitlines() == [
        f"python -m vae_from_scratch train: error: {out} holds a finished train run with other "
        f"options (--lr 0.001 there, 0.01 here); choose another folder with --out, replace it "
        f"with --force"]
    assert (out / "results.json").read_bytes() == results         # nothing was lost
    nothing = cli(*TRAIN, "--resume", "--out", tmp_path / "empty")
    assert nothing.returncode == 2 and "holds no run to continue" in nothing.stderr


def _interrupt(argv, out, wait_for):
    """Start `python -m vae_from_scratch argv --out out`, wait until `wait_for` (a glob
    under out) exists, send SIGINT, and return the finished process."""
    proc = subprocess.Popen([sys.executable, "-m", "vae_from_scratch", *map(str, argv), "--out",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT,   # a shell that started us in the background ignores it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list(out.glob(wait_for)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"finished before it could be interrupted: {proc.stderr.read()}"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout, stderr


def test_ctrl_c_is_one_line_exit_130_and_resume_continues_bit_for_bit(tmp_path):
    out = tmp_path / "run"
    code, _, stderr = _interrupt(TRAIN + ["--epochs", "40"], out, "checkpoint.npz")
    assert code == 130
    line = stderr.strip()
    assert "\n" not in line and "Traceback" not in stderr
    epoch = int(line.split("after epoch ")[1].split(";")[0])
    assert line == f"interrupted after epoch {epoch}; continue with --resume"
    with np.load(out / "checkpoint.npz") as f:                   # intact, and that epoch
        assert int(f["meta.epoch"]) == epoch
    assert json.loads((out / MANIFEST).read_text())["finished"] is False
    assert cli(*TRAIN, "--epochs", "40", "--out", out).returncode == 2     # not replaced

    short = epoch + 2                                # finish the interrupted run early …
    resumed = cli(*TRAIN, "--epochs", short, "--resume", "--out", out)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {out / 'checkpoint.npz'} after epoch {epoch}" in resumed.stdout
    assert cli(*TRAIN, "--epochs", short, "--out", tmp_path / "straight").returncode == 0
    a, b = (json.loads((d / "results.json").read_text()) for d in (out, tmp_path / "straight"))
    for key in ("val_elbo", "test_elbo", "test_log_px_iwae"):
        assert a[key] == b[key], key


@pytest.mark.slow
def test_ctrl_c_in_the_thesis_names_the_data_set_and_resume_finishes_it(tmp_path):
    out = tmp_path / "thesis"
    argv = ["thesis", "--quick", "--backend", "numpy", "--datasets", "X90", "X50"]
    code, _, stderr = _interrupt(argv, out, "X90/checkpoint.npz")
    assert code == 130 and "Traceback" not in stderr
    assert stderr.strip().startswith("interrupted in X")
    assert stderr.strip().endswith("; continue with --resume")
    resumed = cli(*argv, "--resume", "--out", out)
    assert resumed.returncode == 0, resumed.stderr
    assert cli(*argv, "--out", tmp_path / "straight").returncode == 0
    for name in ("X90", "X50"):
        a, b = (json.loads((d / name / "metrics.json").read_text())["final"]
                for d in (out, tmp_path / "straight"))
        assert a["cells"] == b["cells"] and a["elbo1"] == b["elbo1"], name


# --- what a log sees ---------------------------------------------------------------------------

def test_a_log_gets_one_line_per_epoch_and_no_progress_bar(tmp_path):
    run = cli(*TRAIN, "--epochs", "3", "--out", tmp_path / "r")
    assert run.returncode == 0, run.stderr
    text = run.stdout + run.stderr
    assert "\r" not in text                            # no carriage-return updates
    epochs = [line for line in text.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1", "2", "3"]
    assert len(text) < 3000


def test_quiet_hides_progress_but_prints_the_results(tmp_path):
    run = cli(*TRAIN, "--epochs", "2", "--quiet", "--out", tmp_path / "r")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert lines[0].startswith("backend: numpy")
    assert any(line.startswith("test ELBO ") for line in lines)
    assert lines[-1].startswith(f"wrote {tmp_path / 'r'}/results.json")
    assert not [line for line in lines if line.startswith("epoch ")]
    assert run.stderr == ""


def test_a_checkpoint_written_just_before_ctrl_c_is_protected_too(tmp_path):
    """Ctrl-C can land after a checkpoint is written and before run.json records it: the
    checkpoint on disk still makes the run unfinished-with-work, not free to overwrite."""
    run = claim(tmp_path, "thesis", {"--epochs": 5})
    (tmp_path / "X90").mkdir()
    np.savez(tmp_path / "X90" / "checkpoint.npz", **{"meta.epoch": np.array(3)})
    assert run.epoch("X90") == 0                      # run.json never heard of it
    with pytest.raises(RunFolderError, match=r"unfinished \(stopped after epoch 3\) thesis run"):
        claim(tmp_path, "thesis", {"--epochs": 5})
    with pytest.raises(RunFolderError, match="expected at least 3"):
        claim(tmp_path, "thesis", {"--epochs": 2}, resume=True)
