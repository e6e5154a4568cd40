"""What every chapter script (chapters/chNN_*.py) shares: its command line and writing
what it measured.  The chapters hold the theory; this holds the plumbing, once.  (They
save their figures with viz.plots.save_figure, as the rest of the package does.)
"""

import sys
from pathlib import Path

from ..run_folder import RunFolder, RunFolderError, claim, option_names
from ..utils import write_json
from .options import BACKENDS, SEED_HELP, Parser, folder, seed


def parse_chapter_args(argv, chapter, description, quick_help, *, backend=False, extra=None):
    """--quick, --out (default runs/chapters/<chapter>, runs/chapters-quick/<chapter> with
    --quick), --force, --seed and, with backend=True, --backend (default numpy, so that
    results do not depend on what is installed).  extra(parser) adds a chapter's own
    options.  The output folder is claimed here (run_folder.claim), before any work: one
    that holds the chapter's results for other options is refused without --force.

    A bad value or an unknown argument is one line and exit code 2.  Only inside a
    notebook kernel are unknown arguments ignored: there sys.argv holds the kernel's own
    (-f kernel.json), and the chapter runs its full mode."""
    p = chapter_parser(chapter, description, quick_help, backend=backend, extra=extra)
    if argv is None and "ipykernel" in sys.modules:
        args, _ = p.parse_known_args(argv)
    else:
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
    p = Parser(prog=f"python chapters/{Path(sys.argv[0]).name}" if sys.argv[0].endswith(".py")
               else f"chapter {chapter}", description=description)
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


def run_as_script(main):
    """A chapter run as a script: Ctrl-C ends it with one line and exit code 130 (the
    shell's code for it), not a traceback."""
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; the figures written so far are in the chapter's folder",
              file=sys.stderr)
        raise SystemExit(130) from None


def write_results(results, out):
    """Write what the chapter measured to out/results.json and print its one-line
    summary last (chapters/run_all.py shows that line).  NumPy scalars (np.float64,
    np.bool_) are written as the Python numbers they hold, paths (a figure's) as strings."""
    write_json(Path(out) / "results.json", results)
    run = RunFolder.reopen(out)
    if run is not None:                          # the claimed folder: its run is finished
        run.finish()
    print(f"summary: {results['summary']}")


__all__ = ["chapter_parser", "parse_chapter_args", "run_as_script", "write_results"]
