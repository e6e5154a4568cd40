"""What every chapter section (chapters/chNN_topic/chNN_K_*.py) shares: its options,
its folder, its random streams, and writing what it measured.  The sections hold the
theory; this holds the plumbing, once.  (They save their figures with
viz.plots.save_figure, as the rest of the package does; in a notebook it also shows
them.)

A section is a file of cells that runs top to bottom, as a script or as a notebook:

    sec = start_section("ch03_1", "3.1 The closed form of the KL", "fewer draws")
    rng_mc, rng_mixup = sec.rngs(2)
    ...                                   # cells: compute, print, save figures
    sec.finish({"cases": rows}, summary="closed-form KL within 2.1 SE …")

start_section parses the options (--quick, --out, --force, --seed, and --backend where
asked) from the command line, or inside a Jupyter kernel from $VAE_CHAPTER_ARGS (the
kernel's own command line is not the reader's); claims the output folder
(run_folder.claim: one that holds the section's results for other options is refused
without --force); gives NumPy's BLAS one thread, as everywhere in the project, unless
$OPENBLAS_NUM_THREADS says otherwise; and, run as a script, turns Ctrl-C into one line
and exit code 130.  finish writes results.json, whose "summary" line run_all.py shows.
"""

import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from ..backend.blas_threads import set_blas_threads
from ..run_folder import RunFolder, RunFolderError, claim, option_names
from ..utils import in_notebook_kernel, write_json
from .options import BACKENDS, SEED_HELP, Parser, folder, seed, whole

ARGS_VARIABLE = "VAE_CHAPTER_ARGS"


class Section:
    """One run of a chapter section: its options and what finish() needs.

    id "ch03_1", chapter "ch03", title; quick, seed, out (a Path that exists),
    backend (the --backend name, or None for a section without one), args (all options).
    """

    def __init__(self, section_id, title, args):
        self.id, self.chapter, self.title, self.args = section_id, section_id.split("_")[0], \
            title, args
        self.quick, self.seed, self.out = args.quick, args.seed, Path(args.out)
        self.backend = getattr(args, "backend", None)
        self._t0 = time.perf_counter()

    def rngs(self, n):
        """n independent numpy Generators from --seed (SeedSequence(seed).spawn(n)), one
        per part of the section: --quick then changes sizes, not draws."""
        return [np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(n)]

    def finish(self, results, summary):
        """Write {section, chapter, quick, seed, **results, seconds, summary} to
        out/results.json, mark the folder's run finished, print the summary line last;
        returns the dict written."""
        document = {"chapter": self.chapter, "section": self.id, "quick": self.quick,
                    "seed": self.seed, **results,
                    "seconds": time.perf_counter() - self._t0, "summary": summary}
        write_results(document, self.out)
        return document

    def __repr__(self):
        return f"Section({self.id!r}, {'quick' if self.quick else 'full'}, seed {self.seed}, {self.out})"


def start_section(section_id, title, quick_help, *, backend=False, extra=None, argv=None):
    """Start a section: parse its options, claim its folder, set one BLAS thread, print
    where its figures go; returns its Section.  section_id: "chNN_K".  argv: the options
    (default: the command line, or $VAE_CHAPTER_ARGS inside a Jupyter kernel).  backend,
    extra: as parse_chapter_args."""
    in_kernel = in_notebook_kernel()
    if argv is None:
        argv = shlex.split(os.environ.get(ARGS_VARIABLE, "")) if in_kernel else sys.argv[1:]
    args = parse_chapter_args(list(argv), section_id, title, quick_help, backend=backend,
                              extra=extra)
    if not os.environ.get("OPENBLAS_NUM_THREADS"):
        set_blas_threads(1)     # the sums of the chapters' numbers: one BLAS thread
    section = Section(section_id, title, args)
    section.out.mkdir(parents=True, exist_ok=True)
    if not in_kernel and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupted(section.out))
    print(f"{title} ({'quick' if args.quick else 'full'} run, seed {args.seed}); "
          f"figures go to {section.out}/")
    return section


def _interrupted(out):
    def handler(signum, frame):
        print(f"\ninterrupted; the figures written so far are in {out}/", file=sys.stderr)
        raise SystemExit(130)                     # the shell's code for Ctrl-C
    return handler


def dual_vae_options(weight_on=False):
    """The options of chapter 9's training sections, for start_section(extra=…):
    --datasets (default all three), --epochs (default 30, 2 with --quick) and, with
    weight_on=True, --weight-on (where the thesis's run puts the weight 450)."""
    from ..data.synthetic import SYNTHETIC_NAMES

    def add(p):
        p.add_argument("--datasets", nargs="+", default=list(SYNTHETIC_NAMES),
                       choices=SYNTHETIC_NAMES, help="the data sets (default all three)")
        p.add_argument("--epochs", type=whole(1), default=None,
                       help="epochs per run (default 30, 2 with --quick)")
        if weight_on:
            p.add_argument("--weight-on", default="elbo", choices=("elbo", "reconstruction"),
                           help="for the thesis's run: the 450 multiplies all of ELBO2 (thesis) "
                                "or only its reconstruction term (the remedy always uses the "
                                "latter) (default %(default)s)")
    return add


def exercise_commands(chapter):
    """The autograder's commands for the exercises of `chapter` ("ch03"), one block of
    text to print in a chapter's last cell ("" when it has none)."""
    from ..exercises import EXERCISES
    names = [e.name for e in EXERCISES.values() if e.chapter == chapter]
    lines = []
    for name in names:
        lines += [f"python -m vae_from_scratch.exercises show {name}",
                  f"python -m vae_from_scratch.exercises stub {name} > my_{name}.py",
                  f"python -m vae_from_scratch.exercises check {name} --file my_{name}.py"]
    return "\n".join(lines)


def parse_chapter_args(argv, chapter, description, quick_help, *, backend=False, extra=None):
    """--quick, --out (default runs/chapters/<chapter>, runs/chapters-quick/<chapter> with
    --quick), --force, --seed and, with backend=True, --backend (default numpy, so that
    results do not depend on what is installed).  extra(parser) adds a chapter's own
    options.  The output folder is claimed here (run_folder.claim), before any work: one
    that holds the chapter's results for other options is refused without --force.

    A bad value or an unknown argument is one line and exit code 2.  argv: the options
    (None: the command line; start_section passes them, from $VAE_CHAPTER_ARGS inside a
    notebook kernel)."""
    p = chapter_parser(chapter, description, quick_help, backend=backend, extra=extra)
    args = p.parse_args(argv)
    if args.out is None:
        args.out = f"runs/chapters{'-quick' if args.quick else ''}/{chapter}"
    try:
        claim(args.out, f"chapter {chapter}", option_names(vars(args), ("out", "force")),
              force=args.force)
    except RunFolderError as error:
        p.exit(2, f"{p.prog}: error: {error}\n")
    return args


def chapter_parser(chapter, description, quick_help, *, backend=False, extra=None):
    """The parser of parse_chapter_args (its options: see there)."""
    script = Path(sys.argv[0])
    p = Parser(prog=f"python {_shown(script)}" if script.suffix == ".py" else f"chapter {chapter}",
               description=description)
    p.add_argument("--quick", action="store_true", help=f"{quick_help} (default: off)")
    p.add_argument("--out", type=folder, default=None,
                   help=f"folder for the figures and results.json (default runs/chapters/{chapter}, "
                        f"or runs/chapters-quick/{chapter} with --quick)")
    p.add_argument("--force", action="store_true",
                   help="write into --out even if it holds this chapter's results for other "
                        "options (default: off, refused)")
    if backend:
        p.add_argument("--backend", choices=BACKENDS, default="numpy",
                       help="numpy, numba, cupy or auto (default %(default)s, so that the "
                            "numbers do not depend on what is installed)")
    p.add_argument("--seed", type=seed, default=0, help=SEED_HELP)
    if extra is not None:
        extra(p)
    return p


def _shown(script):
    """The script's path as a reader would type it: relative to the working directory
    where it lies below it, else as given."""
    try:
        return str(script.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(script)


def write_results(results, out):
    """Write what the chapter measured to out/results.json and print its one-line
    summary last (chapters/run_all.py shows that line).  NumPy scalars (np.float64,
    np.bool_) are written as the Python numbers they hold, paths (a figure's) as strings."""
    write_json(Path(out) / "results.json", results)
    run = RunFolder.reopen(out)
    if run is not None:                          # the claimed folder: its run is finished
        run.finish()
    print(f"summary: {results['summary']}")


__all__ = ["Section", "start_section", "exercise_commands", "dual_vae_options",
           "chapter_parser", "parse_chapter_args", "write_results", "ARGS_VARIABLE"]
