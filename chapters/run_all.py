"""Run every chapter, in order, each in its own process, and print one line per chapter.

    python chapters/run_all.py [--quick] [--out DIR] [--seed S] [--only ch02 ch05 …]

Every `chapters/chNN_*.py` present is run as `python chNN_….py [--quick] --out DIR/chNN`
(DIR defaults to runs/chapters, or runs/chapters-quick with --quick: the chapters' own
default folders).  Its output goes to
DIR/chNN/output.txt, and one line is printed per chapter: its name, the seconds it took,
OK or FAILED, and its key numbers — the "summary" entry of the results.json it wrote,
else its last line starting with "summary:", else its last line of output.  A failed
chapter also shows the end of its output.  The exit code is 1 if any chapter failed.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:             # the package, from a plain checkout too
    sys.path.insert(0, str(HERE.parent))
from vae_from_scratch.apps.options import Parser, folder, real, seed  # noqa: E402


def chapters(only=None):
    """The chapter scripts, sorted by number: chapters/ch01_….py, ch02_….py, …"""
    found = sorted(HERE.glob("ch[0-9][0-9]_*.py"))
    if only:
        found = [p for p in found if any(p.name.startswith(o) for o in only)]
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


def run_chapter(script, out_root, quick, seed, timeout):
    """Run one chapter; returns (ok, seconds, key numbers, its output)."""
    name = script.stem.split("_")[0]                               # "ch03"
    out_dir = Path(out_root) / name
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


def main(argv=None):
    p = Parser(prog="python chapters/run_all.py",
               description="Run every chapter script and summarize.")
    p.add_argument("--quick", action="store_true",
                   help="run each chapter's --quick mode (default: off)")
    p.add_argument("--out", type=folder, default=None,
                   help="parent folder of the chapters' folders (default runs/chapters, or "
                        "runs/chapters-quick with --quick)")
    p.add_argument("--seed", type=seed, default=None,
                   help="passed on to every chapter (default: each chapter's, 0)")
    p.add_argument("--only", nargs="*", default=None,
                   help="chapter prefixes, e.g. ch02 ch05 (default: every chapter)")
    p.add_argument("--timeout", type=real(0.0), default=None,
                   help="seconds allowed per chapter (default: no limit)")
    args = p.parse_args(argv)
    args.out = args.out or ("runs/chapters-quick" if args.quick else "runs/chapters")
    scripts = chapters(args.only)
    if not scripts:
        print("no chapter scripts found", file=sys.stderr)
        return 1
    print(f"running {len(scripts)} chapters ({'quick' if args.quick else 'full'} mode); "
          f"figures and output in {args.out}/chNN/")
    failed, total = [], 0.0
    for script in scripts:
        ok, seconds, summary, output = run_chapter(script, args.out, args.quick, args.seed,
                                                   args.timeout)
        total += seconds
        status = "OK" if ok else "FAILED"
        print(f"{script.stem:<32} {seconds:6.1f} s  {status:<6} {summary}", flush=True)
        if not ok:
            failed.append(script.stem)
            tail = "\n".join(output.rstrip().splitlines()[-15:])
            print("    " + tail.replace("\n", "\n    "))
    print(f"{len(scripts) - len(failed)} of {len(scripts)} chapters OK in {total:.1f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
