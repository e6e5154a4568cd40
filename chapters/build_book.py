"""The chapters as a book: every section converted to a notebook, executed, and written
with its outputs and figures as .ipynb and as an HTML page, with an index page.

    pip install -e ".[notebooks]"
    python chapters/build_book.py [--quick] [--out DIR] [--only ch03 ch05_1 …]
    python chapters/build_book.py --contents        # the table of contents, nothing run

Each section file (chapters/chNN_topic/chNN_K_*.py, in Jupytext's percent format) is
read with Jupytext, run top to bottom on an IPython kernel by nbclient in the
repository's root folder, and written to DIR/chNN_K.ipynb (outputs and figures
embedded) and DIR/chNN_K.html (nbconvert); DIR/index.html lists every chapter and
section, DIR/contents.md the same as a table.  DIR is runs/book, or runs/book-quick
with --quick.  The section reads its options from $VAE_CHAPTER_ARGS inside the kernel
(`--quick --out DIR/chNN_K`), so its numbers are those of
`python chapters/…/chNN_K_….py [--quick] --out DIR/chNN_K`, and its results.json and
PNGs land in DIR/chNN_K/.  A section whose cell fails is written up to the failing
cell, with the error, and the exit code is 1.
"""

import html
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:                    # the package, from a plain checkout too
    sys.path.insert(0, str(ROOT))
from run_all import parse_sections, section_id, section_parser  # noqa: E402  (not a package)

from vae_from_scratch.apps.chapter_tools import ARGS_VARIABLE  # noqa: E402

NEEDS = ("jupytext", "nbclient", "nbconvert", "nbformat", "ipykernel")


def missing_tools():
    """The notebook packages that cannot be imported here (empty: all there)."""
    missing = []
    for name in NEEDS:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    return missing


def measure(path):
    """A section file's size: {lines, prose, code, prose_share, cells, largest_cell}, with
    prose the non-blank lines of text cells and code those of code cells."""
    prose = code = 0
    sizes, kind = [], None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            kind = "text" if "[markdown]" in line else "code"
            if kind == "code":
                sizes.append(0)
        elif line.strip() and kind == "text":
            prose += 1
        elif line.strip() and kind == "code":
            code += 1
            sizes[-1] += 1
    lines = len(Path(path).read_text(encoding="utf-8").splitlines())
    return {"lines": lines, "prose": prose, "code": code,
            "prose_share": prose / max(1, prose + code), "cells": len(sizes),
            "largest_cell": max(sizes, default=0)}


def title_of(path):
    """The first heading of a section file ("Chapter 3 — The Kullback-Leibler divergence")."""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("# #"):
            return line.lstrip("# ").strip()
    return section_id(path)


def contents(paths):
    """The table of contents as Markdown: one row per section."""
    rows = ["| section | file | lines | prose | code cells | largest cell |",
            "|---|---|---|---|---|---|"]
    for path in paths:
        m = measure(path)
        rows.append(f"| {title_of(path)} | `{path.relative_to(HERE)}` | {m['lines']} | "
                    f"{100 * m['prose_share']:.0f} % | {m['cells']} | {m['largest_cell']} |")
    return "\n".join(rows)


def build_section(path, out, quick, timeout):
    """Execute one section as a notebook and write its .ipynb and .html; returns
    (ok, seconds, error text or "")."""
    import jupytext
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    sid = section_id(path)
    notebook = jupytext.read(path)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    os.environ[ARGS_VARIABLE] = ("--quick " if quick else "") + f"--out {out / sid}"
    t0 = time.perf_counter()
    error = ""
    with tempfile.TemporaryDirectory() as sockets:
        # the kernel talks to us over local sockets (IPC) in a folder of its own, not TCP
        kernel = KernelManager(kernel_name="python3", transport="ipc",
                               ip=os.path.join(sockets, "kernel"))
        client = NotebookClient(notebook, km=kernel, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(ROOT)}})
        try:
            client.execute()
        except CellExecutionError as failed:
            error = str(failed).strip().splitlines()[-1]
        finally:
            if kernel.has_kernel:
                kernel.shutdown_kernel(now=True)
    seconds = time.perf_counter() - t0
    nbformat.write(notebook, out / f"{sid}.ipynb")
    page, _ = HTMLExporter(template_name="lab").from_notebook_node(notebook)
    (out / f"{sid}.html").write_text(page, encoding="utf-8")
    return not error, seconds, error


def write_index(paths, out, report):
    """out/index.html: the chapters and their sections, each linked to its page."""
    items, chapter = [], None
    for path in paths:
        sid = section_id(path)
        if sid.split("_")[0] != chapter:
            chapter = sid.split("_")[0]
            items.append(f"<h2>Chapter {int(chapter[2:])}</h2>")
        ok, seconds, _ = report.get(sid, (None, None, ""))
        state = "" if ok is None else (f" ({seconds:.1f} s)" if ok else " (FAILED)")
        items.append(f'<p><a href="{sid}.html">{html.escape(title_of(path))}</a>'
                     f'{html.escape(state)}</p>')
    (out / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>vae_from_scratch: the "
        "chapters</title></head><body style='font-family: sans-serif; max-width: 50em; "
        "margin: auto'><h1>vae_from_scratch: the chapters</h1>" + "".join(items) +
        "</body></html>", encoding="utf-8")


def main(argv=None):
    p = section_parser("python chapters/build_book.py",
                       "Execute every chapter section as a notebook and write the book.",
                       "book", "seconds allowed per cell (default %(default)s)", 600.0)
    p.add_argument("--contents", action="store_true",
                   help="print the table of contents (lines, prose share, cells) and stop")
    args, paths = parse_sections(p, argv, "book")
    if args.contents:
        print(contents(paths))
        return 0
    missing = missing_tools()
    if missing:
        p.exit(1, f"{p.prog}: needs the notebooks extra ({', '.join(missing)} missing here): "
                  f"pip install -e \".[notebooks]\"\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"building {len(paths)} sections ({'quick' if args.quick else 'full'} mode) into {out}/")
    report, t0 = {}, time.perf_counter()
    for path in paths:
        ok, seconds, error = build_section(path, out, args.quick, args.timeout)
        report[section_id(path)] = (ok, seconds, error)
        print(f"{path.stem:<40} {seconds:6.1f} s  {'OK' if ok else 'FAILED ' + error}", flush=True)
    write_index(paths, out, report)
    (out / "contents.md").write_text(contents(paths) + "\n", encoding="utf-8")
    failed = [sid for sid, (ok, _, _) in report.items() if not ok]
    print(f"{len(paths) - len(failed)} of {len(paths)} sections OK in "
          f"{time.perf_counter() - t0:.1f} s; open {out / 'index.html'}"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
