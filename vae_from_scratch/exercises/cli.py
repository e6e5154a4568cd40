"""Command line of the exercises: python -m vae_from_scratch.exercises <command>.

    list                              the exercises, with their chapters
    show NAME                         what the exercise asks, and its stub
    stub NAME [-o FILE]               the stub file, to stdout (redirect it) or into FILE
    hint NAME                         a hint
    check NAME --file FILE            grade your solution; exit code 0 only if all cases pass
    check NAME --reference            grade the package's own implementation
    check all --reference             … of every exercise
"""

import argparse
import pathlib
import sys

from . import EXERCISES, get_exercise

PROG = "python -m vae_from_scratch.exercises"


def _parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Coursework for vae_from_scratch: write a kernel, grade it.",
        epilog=f"Start with: {PROG} list")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.add_parser("list", help="the exercises, with the chapter each follows")
    show = sub.add_parser("show", help="what an exercise asks, and its stub")
    show.add_argument("name")
    stub = sub.add_parser("stub", help="print the stub (redirect it to a file), or write it with -o")
    stub.add_argument("name")
    stub.add_argument("-o", "--output", metavar="FILE", help="write the stub into FILE (never overwrites)")
    hint = sub.add_parser("hint", help="a hint for an exercise")
    hint.add_argument("name")
    check = sub.add_parser("check", help="grade a solution; exit code 0 only if every case passes")
    check.add_argument("name", help="an exercise, or 'all' with --reference")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", metavar="FILE", help="your solution: a .py file defining the functions")
    source.add_argument("--reference", action="store_true",
                        help="grade the package's own implementation instead")
    return parser


def _exercise(name):
    try:
        return get_exercise(name)
    except KeyError as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return None


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
        print(f"error: {path} exists; not overwriting your work (choose another name)", file=sys.stderr)
        return 2
    path.write_text(e.stub_text(), encoding="utf-8")
    print(f"wrote {path}; fill it in, then: {PROG} check {e.name} --file {path}")
    return 0


def _check(args):
    if args.name == "all":
        if not args.reference:
            print("error: 'check all' grades the package's reference implementation: "
                  "add --reference", file=sys.stderr)
            return 2
        reports = [e.grade_reference() for e in EXERCISES.values()]
    else:
        e = _exercise(args.name)
        if e is None:
            return 2
        if args.reference:
            reports = [e.grade_reference()]
        else:
            if not pathlib.Path(args.file).is_file():
                print(f"error: no such file: {args.file}", file=sys.stderr)
                return 2
            reports = [e.grade_file(args.file)]
    print("\n\n".join(report.format() for report in reports))
    if len(reports) > 1:
        passed = sum(r.passed for r in reports)
        print(f"\n{passed}/{len(reports)} exercises pass every case")
    return 0 if all(r.passed for r in reports) else 1


def main(argv=None):
    """Run the command line; returns the exit code (0: done, or every case passed;
    1: some case failed; 2: a usage error)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "list":
        return _list()
    if args.command == "check":
        return _check(args)
    e = _exercise(args.name)
    if e is None:
        return 2
    if args.command == "show":
        return _show(e)
    if args.command == "stub":
        return _stub(e, args.output)
    print(e.hint)                                    # hint
    return 0
