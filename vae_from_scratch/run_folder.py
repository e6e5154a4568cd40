"""A run's folder knows what ran in it, so that no command silently replaces another run.

Every command that writes a run (`thesis`, `train`, the chapters) first claims its
output folder with `claim`, before any work starts.  The claim reads OUT/run.json,

    {"format": "vae_from_scratch.run/1", "command": "train",
     "options": {"--lr": 0.001, "--epochs": 300, …},
     "parts": {"train": {"epoch": 12, "finished": false}}, "finished": false}

and decides:

    folder empty or new                      a new run
    a finished run, the same options         run again (the same seed gives the same files)
    a finished run, other options            refused: which differ; --out, --force, --resume
    an unfinished run (interrupted, killed)  refused unless --resume (or --force)
    --resume                                 the options must match, except the extendable
                                             ones (more epochs, more data sets)
    files, but no run.json                   refused unless --force

Parts are what a run trains one after another (the thesis's data sets; the train
command has one part, "train"): `progress` records each epoch as its checkpoint is
written, `finish_part` and `finish` the ends.  run.json is written atomically like the
checkpoints, so a crash leaves the previous version.
"""

import json
from pathlib import Path

import numpy as np

from .utils import write_json

FORMAT = "vae_from_scratch.run/1"
MANIFEST = "run.json"


class RunFolderError(ValueError):
    """The output folder holds something this run must not replace; the message says
    what and how to proceed."""


def _differences(saved, wanted):
    return [f"{key} {saved.get(key)!r} there, {wanted.get(key)!r} here"
            for key in sorted(set(saved) | set(wanted), key=str) if saved.get(key) != wanted.get(key)]


class RunFolder:
    """A claimed output folder (see the module's docstring).  path: a Path."""

    def __init__(self, path, command, options, manifest=None):
        self.path, self.command = Path(path), command
        self.manifest = {"format": FORMAT, "command": command, "options": options,
                         "parts": {}, "finished": False}
        if manifest is not None:                    # resumed: keep what the parts reached
            self.manifest["parts"] = manifest.get("parts", {})

    @classmethod
    def reopen(cls, path):
        """The run claimed in the folder `path`, to record how it goes on (None when the
        folder holds no run.json)."""
        saved = read_manifest(path)
        return None if saved is None else cls(path, saved["command"], saved["options"], saved)

    def epoch(self, part):
        """The last epoch of `part` whose checkpoint was written (0: none)."""
        return self.manifest["parts"].get(part, {}).get("epoch", 0)

    def part_finished(self, part):
        return self.manifest["parts"].get(part, {}).get("finished", False)

    def progress(self, part, epoch):
        self.manifest["parts"][part] = {"epoch": int(epoch), "finished": False}
        self._write()

    def finish_part(self, part):
        self.manifest["parts"].setdefault(part, {"epoch": 0})["finished"] = True
        self._write()

    def finish(self):
        self.manifest["finished"] = True
        self._write()

    def _write(self):
        write_json(self.path / MANIFEST, self.manifest)


def read_manifest(path):
    """OUT/run.json as a dict, None when there is none; RunFolderError if unreadable."""
    file = Path(path) / MANIFEST
    if not file.is_file():
        return None
    try:
        manifest = json.loads(file.read_text())
    except (OSError, ValueError) as error:
        raise RunFolderError(f"{file} cannot be read ({error}); choose another folder with "
                             f"--out, or --force to replace the run in it") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RunFolderError(f"{file} is not a run record of this project; choose another "
                             f"folder with --out, or --force to replace it")
    return manifest


def option_names(values, leave_out=()):
    """{"--learning-rate": 0.1} from {"learning_rate": 0.1}: a run's options as run.json
    and the messages name them, by their command-line spelling."""
    return {f"--{k.replace('_', '-')}": v for k, v in values.items() if k not in leave_out}


def checkpoint_epochs(out):
    """The epochs of the checkpoints in `out` and its sub-folders (the thesis keeps one per
    data set); a checkpoint that cannot be read counts as epoch 1.  run.json records each
    epoch just after its checkpoint is written; Ctrl-C between the two writes must not
    leave a checkpoint unprotected, so the checkpoints themselves are asked too."""
    epochs = []
    for path in [Path(out) / "checkpoint.npz", *sorted(Path(out).glob("*/checkpoint.npz"))]:
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as f:
                    epochs.append(int(f["meta.epoch"]))
            except Exception:            # unreadable or not ours: still someone's work
                epochs.append(1)
    return epochs


def claim(out, command, options, *, resume=False, force=False, extendable=("--epochs",)):
    """Claim the folder `out` for a run of `command` with `options` (a dict keyed by option
    name, plain JSON values), or raise RunFolderError saying why not and what to do.

    resume: continue the run in `out`: the options must be those it was started with,
        except the `extendable` ones; "--epochs" may grow but not fall below an epoch
        already trained.  force: replace whatever is there (nothing is deleted; the new
        run writes over the old files).  Returns a RunFolder, whose run.json says
        "unfinished" from now until `finish`.
    """
    out = Path(out)
    if resume and force:
        raise RunFolderError("--resume and --force: expected one of them, got both")
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out: expected a folder, got the file {str(out)!r}")
    saved = None if force else read_manifest(out)
    if saved is None and not force:
        others = sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) if out.is_dir() else []
        if resume:
            raise RunFolderError(f"--resume: {out} holds no run to continue; leave out --resume "
                                 f"to start one")
        if others:
            shown = ", ".join(others[:5]) + (", …" if len(others) > 5 else "")
            raise RunFolderError(f"{out} holds files but no {MANIFEST} ({shown}): not a run this "
                                 f"version wrote; choose another folder with --out, or --force "
                                 f"to write into it anyway")
    if saved is not None:
        _check_against(out, saved, command, options, resume, extendable)
    out.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(out, command, options, saved if resume else None)
    folder._write()
    return folder


def _check_against(out, saved, command, options, resume, extendable):
    """The rules of the module's docstring for a folder that holds the run `saved`."""
    if saved.get("command") != command:
        raise RunFolderError(f"{out} holds a {saved.get('command')} run, not a {command} run; "
                             f"choose another folder with --out, or --force to replace it")
    trained = max([p.get("epoch", 0) for p in saved.get("parts", {}).values()]
                  + checkpoint_epochs(out) + [0])
    state = ("a finished" if saved.get("finished") else
             f"an unfinished (stopped after epoch {trained})" if trained else "an unfinished")
    old, new = saved.get("options", {}), options
    if resume:
        fixed = _differences({k: v for k, v in old.items() if k not in extendable},
                             {k: v for k, v in new.items() if k not in extendable})
        if fixed:
            raise RunFolderError(f"--resume: the run in {out} was made with other options "
                                 f"({'; '.join(fixed)}); resume with its options, or start a "
                                 f"new run with --out or --force")
        if "--epochs" in new and new["--epochs"] < trained:
            raise RunFolderError(f"--epochs: expected at least {trained}, the epochs the run in "
                                 f"{out} has trained, got {new['--epochs']}")
        return
    if saved.get("finished"):
        differ = _differences(old, new)
        if differ:
            more = (", or continue it with --resume" if
                    not _differences({k: v for k, v in old.items() if k not in extendable},
                                     {k: v for k, v in new.items() if k not in extendable})
                    else "")
            raise RunFolderError(f"{out} holds a finished {command} run with other options "
                                 f"({'; '.join(differ)}); choose another folder with --out, "
                                 f"replace it with --force{more}")
        return
    if trained:                              # an interrupted run with a checkpoint to lose
        raise RunFolderError(f"{out} holds {state} {command} run; continue it with --resume, "
                             f"start over with --force, or choose another folder with --out")


__all__ = ["claim", "option_names", "read_manifest", "RunFolder", "RunFolderError", "FORMAT", "MANIFEST"]
