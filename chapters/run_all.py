"""Run every chapter section, each in its own process, and print one line per section,
in reading order.

    python chapters/run_all.py [--quick] [--out DIR] [--seed S] [--only ch02 ch05_1 …] [--jobs N]

Chapters run side by side, as many at once as --jobs (default: the usable cores; each
section takes one, with one BLAS thread); the sections of one chapter run in order,
since a later one may read an earlier one's folder.  The numbers do not depend on it.

The sections are the files chapters/chNN_topic/chNN_K_*.py (`sections()`); each is run
as `python chNN_K_….py [--quick] --out DIR/chNN_K` (DIR defaults to runs/chapters, or
runs/chapters-quick with --quick: the sections' own default folders).  Its output goes
to DIR/chNN_K/output.txt, and one line is printed per section: its name, the seconds it
took, OK or FAILED, and its key numbers — the "summary" entry of the results.json it
wrote, else its last line starting with "summary:", else its last line of output.  A
failed section also shows the end of its output.  The exit code is 1 if any failed.
"""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:             # the package, from a plain checkout too
    sys.path.insert(0, str(HERE.parent))
from vae_from_scratch.apps.options import Parser, folder, real, seed, whole  # noqa: E402


def section_id(script):
    """"ch03_1" for chapters/ch03_kl_divergence/ch03_1_closed_form.py."""
    return "_".join(Path(script).stem.split("_")[:2])


def _order(script):
    chapter, number = section_id(script).split("_")
    return int(chapter[2:]), int(number)


def sections(only=None):
    """The section files, in reading order (chapter, then section number).  only: ids or
    prefixes ("ch02", "ch05_1") to keep."""
    found = sorted(HERE.glob("ch[0-9][0-9]_*/ch[0-9][0-9]_[0-9]*_*.py"), key=_order)
    if only:
        found = [p for p in found
                 if any(section_id(p) == o or section_id(p).startswith(o + "_") for o in only)]
    return found


def key_numbers(out_dir, output):
    """What the one-line report shows after OK/FAILED."""
    results = Path(out_dir) / "results.json"
    if results.is_file():
        try:
            summary = json.loads(results.read_text()).get("summary")
        except (ValueError, AttributeError):
            summary = None
        if isinstance(summary, str) and summary:
            return summary
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    tagged = [line for line in lines if line.startswith("summary:")]
    if tagged:
        return tagged[-1][len("summary:"):].strip()
    return lines[-1] if lines else ""


def run_section(script, out_root, quick, seed, timeout):
    """Run one section; returns (ok, seconds, key numbers, its output)."""
    out_dir = Path(out_root) / section_id(script)                  # DIR/ch03_1
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(script), "--out", str(out_dir)]
    if quick:
        cmd.append("--quick")
    if seed is not None:
        cmd += ["--seed", str(seed)]
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("MPLBACKEND", "Agg")
    # the package is importable from a plain checkout too
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=env, timeout=timeout)
        output, ok = proc.stdout, proc.returncode == 0
        if not ok:
            output += f"\n(exit code {proc.returncode})"
    except subprocess.TimeoutExpired as e:
        output = (e.stdout or "") if isinstance(e.stdout, str) else (e.stdout or b"").decode()
        output += f"\n(stopped after the time limit of {timeout} s)"
        ok = False
    seconds = time.perf_counter() - t0
    (out_dir / "output.txt").write_text(output)
    return ok, seconds, key_numbers(out_dir, output) if ok else "", output


def section_parser(prog, description, folder_name, timeout_help, timeout_default=None):
    """The options run_all.py and build_book.py share: --quick, --out (default
    runs/<folder_name>, or runs/<folder_name>-quick with --quick), --only, --timeout."""
    p = Parser(prog=prog, description=description)
    p.add_argument("--quick", action="store_true",
                   help="run each section's --quick mode (default: off)")
    p.add_argument("--out", type=folder, default=None,
                   help=f"the output folder (default runs/{folder_name}, or "
                        f"runs/{folder_name}-quick with --quick)")
    p.add_argument("--only", nargs="*", default=None,
                   help="chapters or sections, e.g. ch02 ch05_1 (default: all)")
    p.add_argument("--timeout", type=real(0.0), default=timeout_default, help=timeout_help)
    return p


def parse_sections(p, argv, folder_name):
    """Parse argv; returns (args with args.out set, the section files).  An --only that
    names nothing is one line and exit code 2."""
    args = p.parse_args(argv)
    args.out = args.out or f"runs/{folder_name}{'-quick' if args.quick else ''}"
    paths = sections(args.only)
    if not paths:
        p.error(f"--only: expected chapters or sections that exist (ch01 … or ch03_1 …), "
                f"got {' '.join(args.only or [])}")
    return args, paths


def _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                       # not on Linux
        return os.cpu_count() or 1


def main(argv=None):
    p = section_parser("python chapters/run_all.py", "Run every chapter section and summarize.",
                       "chapters", "seconds allowed per section (default: no limit)")
    p.add_argument("--seed", type=seed, default=None,
                   help="passed on to every section (default: each section's, 0)")
    p.add_argument("--jobs", type=whole(1), default=None,
                   help="chapters run at once, each section on one core (default: the "
                        "cores this process may use); a chapter's sections run in order")
    args, scripts = parse_sections(p, argv, "chapters")
    jobs = args.jobs or _usable_cpus()
    print(f"running {len(scripts)} sections ({'quick' if args.quick else 'full'} mode, "
          f"{jobs} at a time); figures and output in {args.out}/chNN_K/")
    chapters = {}                                # a later section may read an earlier one's
    for script in scripts:                       # folder (9.5 reads 9.3 and 9.4): in order
        chapters.setdefault(section_id(script).split("_")[0], []).append(script)

    def run_chapter(chapter_scripts):
        return [run_section(script, args.out, args.quick, args.seed, args.timeout)
                for script in chapter_scripts]

    t0 = time.perf_counter()
    failed = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        # report in reading order, each chapter as soon as it and those before it are done
        for chapter_scripts, future in [(c, pool.submit(run_chapter, c)) for c in chapters.values()]:
            for script, (ok, seconds, summary, output) in zip(chapter_scripts, future.result()):
                print(f"{script.stem:<32} {seconds:6.1f} s  {'OK' if ok else 'FAILED':<6} "
                      f"{summary}", flush=True)
                if not ok:
                    failed.append(script.stem)
                    tail = "\n".join(output.rstrip().splitlines()[-15:])
                    print("    " + tail.replace("\n", "\n    "))
    print(f"{len(scripts) - len(failed)} of {len(scripts)} sections OK in "
          f"{time.perf_counter() - t0:.1f} s" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
