"""Command line of the exercises: python -m vae_from_scratch.exercises <command>.

    list                              the exercises, with their chapters
    show NAME                         what the exercise asks, and its stub
    stub NAME [-o FILE]               the stub file, to stdout (redirect it) or into FILE
    hint NAME                         a hint
    check NAME --file FILE            grade your solution; exit code 0 only if all cases pass
    check NAME --reference            grade the package's own implementation
    check all --reference             … of every exercise
    check … --timeout SECONDS         the time limit of one case (default 10)

A bad value is one line on stderr, "error: --timeout: expected …, got …", and exit code 2.
"""

import argparse
import math
import pathlib
import re
import sys

from . import EXERCISES, get_exercise
from .grading import DEFAULT_TIMEOUT

PROG = "python -m vae_from_scratch.exercises"


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line: "error: --timeout: expected …, got …"."""

    def error(self, message):
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)      # "argument --timeout: …"
        self.exit(2, f"error: {message}\n")


def _invalid(expected, got):
    return argparse.ArgumentTypeError(f"expected {expected}, got {got}")


def _exercise_name(text):
    if text not in EXERCISES:
        raise _invalid(f"an exercise ({', '.join(EXERCISES)})", repr(text))
    return text


def _check_name(text):
    return text if text == "all" else _exercise_name(text)


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise _invalid("a positive number of seconds", text)
    return value


def _python_file(text):
    path = pathlib.Path(text)
    if not path.exists():
        why = "no such file"
    elif not path.is_file():
        why = "not a file"
    elif path.suffix != ".py":
        why = "not a .py file"
    else:
        return path
    raise _invalid("a Python file (.py) with your functions", f"{text} ({why})")


def _parser():
    parser = _Parser(
        prog=PROG, description="Coursework for vae_from_scratch: write a kernel, grade it.",
        epilog=f"Start with: {PROG} list")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.add_parser("list", help="the exercises, with the chapter each follows")
    name_help = "an exercise, as `list` names them"
    show = sub.add_parser("show", help="what an exercise asks, and its stub")
    show.add_argument("name", metavar="NAME", type=_exercise_name, help=name_help)
    stub = sub.add_parser("stub", help="print the stub (redirect it to a file), or write it with -o")
    stub.add_argument("name", metavar="NAME", type=_exercise_name, help=name_help)
    stub.add_argument("-o", "--output", metavar="FILE",
                      help="write the stub into FILE, which must not exist yet (default: print it)")
    hint = sub.add_parser("hint", help="a hint for an exercise")
    hint.add_argument("name", metavar="NAME", type=_exercise_name, help=name_help)
    check = sub.add_parser("check", help="grade a solution; exit code 0 only if every case passes")
    check.add_argument("name", metavar="NAME", type=_check_name,
                       help="an exercise, or 'all' with --reference")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", metavar="FILE", type=_python_file,
                        help="your solution, a .py file defining the exercise's functions "
                             "(default: none; give --file or --reference)")
    source.add_argument("--reference", action="store_true",
                        help="grade the package's own implementation instead (default: off)")
    check.add_argument("--timeout", metavar="SECONDS", type=_seconds, default=DEFAULT_TIMEOUT,
                       help="stop and fail a case whose code runs longer than this; the next case "
                            f"starts afresh (default: {DEFAULT_TIMEOUT:g})")
    return parser


def _list():
    width = max(len(name) for name in EXERCISES)
    chapter_width = max(len(e.chapter_title) for e in EXERCISES.values())
    print(f"{'exercise':<{width}}  {'chapter':<{chapter_width}}  task")
    for name, e in EXERCISES.items():
        print(f"{name:<{width}}  {e.chapter_title:<{chapter_width}}  {e.title}")
    print()
    print(f"start:  {PROG} stub NAME > my_NAME.py")
    print(f"grade:  {PROG} check NAME --file my_NAME.py")
    print(f"help:   {PROG} show NAME,  {PROG} hint NAME")
    return 0


def _show(e):
    print(f"{e.name}: {e.title}")
    print(f"chapter:    {e.chapter_title} ({e.chapter_script})")
    print(f"equations:  {e.equations}")
    print(f"write:      {', '.join(e.functions)}")
    print(f"stub:       {e.stub_path}")
    print()
    print(f"start:  {PROG} stub {e.name} > my_{e.name}.py")
    print(f"grade:  {PROG} check {e.name} --file my_{e.name}.py")
    print(f"hint:   {PROG} hint {e.name}")
    print()
    print(e.stub_text(), end="")
    return 0


def _stub(e, output):
    if output is None:
        print(e.stub_text(), end="")
        return 0
    path = pathlib.Path(output)
    if path.exists():
        print(f"error: --output: expected a file that does not exist yet, got {path} (it exists: "
              f"not overwriting your work)", file=sys.stderr)
        return 2
    path.write_text(e.stub_text(), encoding="utf-8")
    print(f"wrote {path}; fill it in, then: {PROG} check {e.name} --file {path}")
    return 0


def _check(args):
    if args.name == "all":
        if not args.reference:
            print("error: NAME: expected one exercise with --file ('all' goes with --reference), "
                  "got 'all'", file=sys.stderr)
            return 2
        reports = [e.grade_reference(args.timeout) for e in EXERCISES.values()]
    elif args.reference:
        reports = [get_exercise(args.name).grade_reference(args.timeout)]
    else:
        reports = [get_exercise(args.name).grade_file(args.file, args.timeout)]
    print("\n\n".join(report.format() for report in reports))
    if len(reports) > 1:
        passed = sum(r.passed for r in reports)
        print(f"\n{passed}/{len(reports)} exercises pass every case")
    return 0 if all(r.passed for r in reports) else 1


def main(argv=None):
    """Run the command line; returns the exit code (0: done, or every case passed;
    1: some case failed; 2: a usage error, reported on one line)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:             # --help, or a usage error already printed
        return 0 if stop.code is None else stop.code
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "list":
        return _list()
    if args.command == "check":
        return _check(args)
    e = get_exercise(args.name)
    if args.command == "show":
        return _show(e)
    if args.command == "stub":
        return _stub(e, args.output)
    print(e.hint)                                    # hint
    return 0
