"""docs/theory_index.md keeps the theory findable: every citation of the three theory
documents in the package (`vae_from_scratch/**/*.py`, the exercises included) and in the
chapters (`chapters/**/*.py`) names an item of the index; every file the index points to
exists, with the names it gives; the index lists each document's items in the document's
order, without gaps where the document has none; and where a row says a section shows an
item without "(uncited)", that section cites it, and where it says "(uncited)", it does
not.

The citation forms the parser knows (comment lines and strings alike; a citation may run
over a line break, and the leading `#` of a comment line is dropped first):

    thesis eq. 2.17     eq. 2.17     (eq. 2.29)     eqs. 2.7, 2.8     equation 2.5
    tutorial eq. 22     eq. 22       eq. 6–10       eq. 17-22 and 28   eq. 2.15/2.27
    Algorithm 2         figure 3.3   figures 3.1–3.6   Figure 1 (the tutorial's)
    thesis §2.4         §2.8.1–2.8.2   thesis chapter 3   thesis ch. 3   the thesis's chapter 3
    tutorial §3.6       tutorial §4    tutorial C.2   tutorial appendix C.2
    slides Concept 11.22   Concepts 11.6–11.10   Definition 11.17   Def. 11.17
    Example 11.5   Ex. 1.4–1.5   slides 11.17   slides 11.18–11.22   slides §1   Concept 1.6

Lists separate numbers by ",", "/", "and", "or"; ranges use "–" or "-" (or "to") and are
expanded over the items of the index (eq. 2.14–2.20 is the seven equations; §3.2–3.3 the
sections between, in the document's order; tutorial eq. 17–22 is 17, 20, 21, 22, the
numbers the tutorial has).  A list goes on only with numbers of the first one's shape
(2.35, 2.36 or 13, 14: "eq. 2.14, 384 SE off" stops at 2.14).

Which document: an equation or figure numbered N.M is the thesis's, a plain number the
tutorial's; Algorithm N and "thesis chapter N" are the thesis's; Concept, Definition,
Example (Def., Ex.) and "slides N.M" are the slides'; "C.2" is the tutorial's appendix.
A document word written before the citation ("thesis", "tutorial", "slides", with "'s"
or "'" or "Thesis") overrides the shape, so "thesis eq. 22" is an error.  A section sign §
takes the document named last before it (in the same file); a § with none before it is
an error.  Not citations: the project's own "section 6.1", "chapter 9", "Chapter 8.1";
anything inside parentheses that name an outside source before it ("(Kingma & Ba 2015,
Algorithm 1)", "(van den Oord et al., §3.1)": a year 19xx/20xx, "et al.", "ICLR",
"arXiv").

Run as a script, the module prints the counts for issue 17's closing note: the items
shown and cited, shown but uncited, not covered, now (the working tree) and before (the
files of `git show HEAD`):

    python tests/test_theory_index.py
"""

import ast
import re
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "docs" / "theory_index.md"
DOCS = ("thesis", "tutorial", "slides")
CITING = ("vae_from_scratch", "chapters")          # every *.py below these is read

# The numbers the documents skip (checked against the documents' text): the tutorial
# numbers its equations 14, 17, 20 (the lines between 14 and 17 and between 17 and 20
# carry no number), and the slides go from Concept 11.23 to Concept 11.25.
KNOWN_GAPS = {("tutorial", "eq", "15"), ("tutorial", "eq", "16"), ("tutorial", "eq", "18"),
              ("tutorial", "eq", "19"), ("slides", "item", "11.24"),
              *(("slides", "sec", str(n)) for n in range(2, 11))}   # the slides given: §1, §11

# --- the citations ---------------------------------------------------------------------

Citation = namedtuple("Citation", "path line text doc kind word numbers ranges")
# numbers: the single numbers; ranges: (first, last) pairs; kind: eq, sec, alg, fig, item,
# appendix ("item" is the slides' shared numbering of Concepts, Definitions and Examples;
# word is the one the citation names, or None for "slides 11.17").

DOCWORD = re.compile(r"\b(thesis|tutorial|slides)(?:'s|')?(?![\w-])", re.I)
NUM = r"(?:\d+(?:\.\d+)*)"
SEP = r"(?:\s*(?:,|/|\band\b|\bor\b)\s*)"
RANGE = r"(?:\s*(?:–|-|\bto\b)\s*)"
HEAD = (r"(?P<head>\beqs?\.|\bEqs?\.|\bequations?\b|\bEquations?\b|§|\bConcepts?\b|"
        r"\bDefinitions?\b|\bDefs?\.|\bExamples?\b|\bEx\.|\bAlgorithms?\b|\b[Ff]igures?\b|"
        r"\b[Ff]igs?\.|\bslides(?:'|\b)|\b(?:appendix|Appendix)\b|\bchapters?\b|\bch\.|"
        r"\bChapters?\b)")
APPENDIX = re.compile(r"(?<![\w.])C\.(\d+)\b")
WORDS = {"concept": "Concept", "definition": "Definition", "def": "Definition",
         "example": "Example", "ex": "Example"}
CITE = re.compile(HEAD + r"\s*\(?(?P<nums>(?:C\.\d+|" + NUM + r")(?:(?:" + SEP + "|" + RANGE
                  + r")(?:C\.\d+|" + NUM + r"))*)\)?")
EXTERNAL = re.compile(r"\b(?:19|20)\d\d\b|et al\.|ICLR|arXiv|Kingma & Ba")


def _kind(head):
    h = head.lower()
    if h.startswith(("eq", "equation")):
        return "eq"
    if h == "§":
        return "sec"
    if h.startswith(("concept", "definition", "def", "example", "ex.", "slides")):
        return "item"
    if h.startswith("algorithm"):
        return "alg"
    if h.startswith("fig"):
        return "fig"
    if h.startswith("appendix"):
        return "appendix"
    return "chapter"


def _shape(number):
    return "C" if number.startswith("C.") else number.count(".")


def _split(nums):
    """'2.15–2.17 and 2.27' -> ([2.27], [(2.15, 2.17)]) keeping only the numbers of the
    first one's shape (a list stops at the first number of another shape)."""
    tokens = re.split(r"(" + SEP + "|" + RANGE + ")", nums)
    values, ops = tokens[0::2], tokens[1::2]
    shape = _shape(values[0])
    singles, ranges, i = [], [], 0
    while i < len(values):
        if _shape(values[i]) != shape:
            break
        if i < len(ops) and re.fullmatch(RANGE, ops[i]):
            if i + 1 < len(values) and _shape(values[i + 1]) == shape:
                ranges.append((values[i], values[i + 1]))
                i += 2
                if i - 1 < len(ops) and not re.fullmatch(SEP, ops[i - 1]):
                    break
                continue
            singles.append(values[i])
            break
        singles.append(values[i])
        i += 1
    return singles, ranges


def _stream(text):
    """The text of a file as one string with the `#` of comment lines dropped, and the
    line number of every character."""
    parts, lines = [], []
    for n, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"^\s*#+\s?", "", raw).strip() + " "
        parts.append(line)
        lines.extend([n] * len(line))
    return "".join(parts), lines


def _open_paren(stream, start):
    """Where the parenthesis that holds position `start` opens (or -1)."""
    depth = 0
    for i in range(start - 1, max(start - 400, 0) - 1, -1):
        c = stream[i]
        if c == ")":
            depth += 1
        elif c == "(":
            if depth == 0:
                return i
            depth -= 1
    return -1


def citations(text, path="?"):
    """Every citation of the three documents in `text`, as Citations; those the parser
    cannot place (a § with no document named before it) have doc None."""
    stream, lines = _stream(text)
    found = []
    for m in CITE.finditer(stream):
        head, nums = m.group("head"), m.group("nums")
        kind = _kind(head)
        before = stream[max(0, m.start() - 40):m.start()]
        if kind == "chapter":                          # only "thesis chapter 3" and the like
            if not re.search(r"\bthesis(?:'s)?\s*$", before, re.I):
                continue
            kind = "sec"
        if kind == "appendix" and not nums.startswith("C."):
            continue
        paren = _open_paren(stream, m.start())
        if paren >= 0 and EXTERNAL.search(stream[paren:m.start()]):
            continue
        # the document: a document word right before the citation (within its group), the
        # shape of the number, or for § the document named last
        adjacent = re.search(DOCWORD.pattern + r"\s*(?:appendix\s*)?$", before, re.I)
        explicit = adjacent.group(1).lower() if adjacent else None
        if head.lower().startswith("slides"):
            doc = "slides"
        elif kind == "item":
            doc = "slides"
        elif kind == "alg":
            doc = "thesis"
        elif kind in ("eq", "fig"):
            doc = "thesis" if "." in nums.split(",")[0].split("–")[0] else "tutorial"
        else:                                          # §: the document named last
            words = list(DOCWORD.finditer(stream[:m.start()]))
            doc = words[-1].group(1).lower() if words else None
        if explicit and not head.lower().startswith("slides"):
            doc = explicit
        if nums.startswith("C."):
            continue                                   # the appendix: counted below
        singles, ranges = _split(nums)
        word = WORDS.get(re.sub(r"s?\.?$", "", head.lower())) if kind == "item" else None
        found.append(Citation(path, lines[m.start()], m.group(0).strip(), doc, kind, word,
                              tuple(singles), tuple(ranges)))
    for m in APPENDIX.finditer(stream):
        found.append(Citation(path, lines[m.start()], m.group(0), "tutorial", "appendix", None,
                              (m.group(0),), ()))
    return sorted(found, key=lambda c: c.line)


def citing_files(root=ROOT):
    for top in CITING:
        yield from sorted(p for p in (root / top).rglob("*.py") if "__pycache__" not in p.parts)


# --- the index -------------------------------------------------------------------------

Row = namedtuple("Row", "doc kind number word label shown library exercise line")
# shown: (path, marker) pairs, marker "" (shown and cited there), "uncited" or
# "cited only" (the file cites the item without showing it).

ITEM = re.compile(r"^(?:§(?P<sec>[\d.]+)|chapter (?P<chapter>\d+)|eq\. (?P<eq>[\d.]+)|"
                  r"Algorithm (?P<alg>\d+)|Figure (?P<fig>[\d.]+)|C\.(?P<app>\d+)|"
                  r"(?P<word>Definition|Example|Concept) (?P<item>[\d.]+))$")
PATH = re.compile(r"`((?:chapters|vae_from_scratch|tests|docs)/[\w/.-]+)`(?:\s*`([\w.]+)`)?"
                  r"(?:\s*\((uncited|cited only)\))?")


def read_index(text=None):
    """The rows of docs/theory_index.md, in the order they are written."""
    text = INDEX.read_text() if text is None else text
    rows, doc = [], None
    for n, line in enumerate(text.splitlines(), 1):
        head = re.match(r"^## (\w+)", line)
        if head:
            doc = head.group(1).lower() if head.group(1).lower() in DOCS else None
            continue
        if doc is None or not line.startswith("| ") or line.startswith(("| item", "| ---")):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
        m = ITEM.match(cells[0].strip("*` "))
        assert m, f"docs/theory_index.md:{n}: not an item: {cells[0]!r}"
        g = m.groupdict()
        kind, number = next((k, g[k]) for k in ("sec", "chapter", "eq", "alg", "fig", "app",
                                                "item") if g[k])
        kind = {"chapter": "sec", "app": "appendix"}.get(kind, kind)
        if kind == "appendix":
            number = "C." + number
        rows.append(Row(doc, kind, number, g["word"], cells[0],
                        [(p, mark or "") for p, _, mark in PATH.findall(cells[2])],
                        PATH.findall(cells[3]), PATH.findall(cells[4]), n))
    return rows


def resolve(cite, rows):
    """The rows a citation names, or a message saying why it names none."""
    seq = [r for r in rows if r.doc == cite.doc and r.kind == cite.kind]
    where = {r.number: i for i, r in enumerate(seq)}
    if cite.doc is None:
        return None, "no document named before this §"
    named = []
    for a in cite.numbers:
        if a not in where:
            return None, f"{cite.doc} has no {cite.kind} {a}"
        named.append(seq[where[a]])
    for a, b in cite.ranges:
        if a not in where or b not in where or where[a] > where[b]:
            return None, f"{cite.doc} has no {cite.kind} range {a}–{b}"
        named.extend(seq[where[a]:where[b] + 1])
        for end in (seq[where[a]], seq[where[b]]):
            if cite.word and end.word != cite.word:
                return None, f"{cite.doc} {end.number} is a {end.word}, not a {cite.word}"
    for r in named:
        if cite.word and r.word != cite.word and not cite.ranges:
            return None, f"{cite.doc} {r.number} is {r.word} {r.number}, not {cite.word} {r.number}"
    return named, None


def cited_keys(text, rows, path="?"):
    keys = set()
    for c in citations(text, path):
        named, _ = resolve(c, rows)
        keys.update((r.doc, r.kind, r.number) for r in named or ())
    return keys


# --- the tests -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rows():
    return read_index()


def test_parser_knows_the_forms():
    found = citations("# thesis eq. 2.15-2.17 and 2.27, tutorial eq. 29-35; slides\n"
                      "# Concept 11.18.  Thesis §2.5.3 (eq. 2.21); tutorial appendix C.2,\n"
                      "# (Kingma & Ba 2015, Algorithm 1), section 8.1, chapter 9, the thesis's "
                      "chapter 3, Def. 11.17, slides 11.18–11.22, eq. 2.14, 384 SE")
    got = [(c.doc, c.kind, c.word, c.numbers, c.ranges) for c in found]
    assert got == [("thesis", "eq", None, ("2.27",), (("2.15", "2.17"),)),
                   ("tutorial", "eq", None, (), (("29", "35"),)),
                   ("slides", "item", "Concept", ("11.18",), ()),
                   ("thesis", "sec", None, ("2.5.3",), ()),
                   ("thesis", "eq", None, ("2.21",), ()),
                   ("tutorial", "appendix", None, ("C.2",), ()),
                   ("thesis", "sec", None, ("3",), ()),
                   ("slides", "item", "Definition", ("11.17",), ()),
                   ("slides", "item", None, (), (("11.18", "11.22"),)),
                   ("thesis", "eq", None, ("2.14",), ())], got


def test_every_citation_names_an_item(rows):
    bad = []
    for path in citing_files():
        rel = str(path.relative_to(ROOT))
        for c in citations(path.read_text(), rel):
            _, why = resolve(c, rows)
            if why:
                bad.append(f"{rel}:{c.line}: {c.text!r}: {why}")
    assert not bad, "citations that name no item of docs/theory_index.md:\n" + "\n".join(bad)


def test_every_path_and_name_in_the_index_exists(rows):
    bad, trees = [], {}
    for r in rows:
        named = [(p, n) for p, n, _ in r.library + r.exercise]
        for path, name in [(p, None) for p, _ in r.shown] + named:
            if not (ROOT / path).is_file():
                bad.append(f"line {r.line}: {path} does not exist")
                continue
            if name:
                if path not in trees:
                    trees[path] = ast.parse((ROOT / path).read_text())
                defined = set()
                for node in trees[path].body:
                    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                        defined.add(node.name)
                        defined.update(f"{node.name}.{m.name}" for m in node.body
                                       if isinstance(m, ast.FunctionDef))
                if name not in defined:
                    bad.append(f"line {r.line}: {path} defines no {name}")
    assert not bad, "\n".join(bad)


def test_the_index_lists_each_document_in_order_without_gaps(rows):
    bad = []
    for doc in DOCS:
        for kind in ("eq", "alg", "fig", "item"):
            seq = [r.number for r in rows if r.doc == doc and r.kind == kind]
            for a, b in zip(seq[:1] and ["0"] + seq, seq):
                pa, la = a.rsplit(".", 1) if "." in a else ("", a)
                pb, lb = b.rsplit(".", 1) if "." in b else ("", b)
                if pa == pb or a == "0":
                    skipped = [f"{pb}.{j}" if pb else str(j)
                               for j in range(1 if a == "0" else int(la) + 1, int(lb))]
                    ok = all((doc, kind, m) in KNOWN_GAPS for m in skipped)
                else:
                    ok = lb == "1" and int(pb.split(".")[0]) > int(pa.split(".")[0])
                if not ok:
                    bad.append(f"{doc} {kind} {b} follows {a}")
        secs = [r.number for r in rows if r.doc == doc and r.kind == "sec"]
        for a, b in zip(secs, secs[1:]):
            pa, pb = [int(x) for x in a.split(".")], [int(x) for x in b.split(".")]
            ok = pb == pa + [1] or any(
                pb[:-1] == pa[:k] and pb[-1] > pa[k] and len(pb) == k + 1
                and all((doc, "sec", ".".join(map(str, pa[:k] + [j]))) in KNOWN_GAPS
                        for j in range(pa[k] + 1, pb[-1])) for k in range(len(pa)))
            if not ok:
                bad.append(f"{doc} §{b} follows §{a}")
    keys = [(r.doc, r.kind, r.number) for r in rows]
    bad += [f"listed twice: {k}" for k in set(keys) if keys.count(k) > 1]
    bad += [f"a known gap is listed: {g}" for g in KNOWN_GAPS if g in keys]
    assert not bad, "\n".join(bad)


def test_uncited_marks_are_true(rows):
    """A section listed plainly cites the item; one marked "(uncited)" does not."""
    bad, keys = [], {}
    for r in rows:
        for path, mark in r.shown:
            if path not in keys:
                keys[path] = cited_keys((ROOT / path).read_text(), rows, path)
            cites = (r.doc, r.kind, r.number) in keys[path]
            if cites and mark == "uncited":
                bad.append(f"line {r.line}: {path} now cites {r.label}: drop its (uncited)")
            if not cites and mark != "uncited":
                bad.append(f"line {r.line}: {path} does not cite {r.label}: mark it (uncited)")
    assert not bad, "\n".join(bad)


# --- the counts of issue 17's closing note ----------------------------------------------

def _head_text(path):
    done = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True,
                          text=True)
    return done.stdout if done.returncode == 0 else None


def counts(rows, read=lambda p: (ROOT / p).read_text() if (ROOT / p).is_file() else None):
    """(shown and cited, shown but uncited, not covered) per document and kind: an item is
    shown where a section of the index's "shown" column exists (read gives its text), and
    cited when one of those sections cites it."""
    texts, table = {}, {}
    for r in rows:
        shown = [p for p, mark in r.shown if mark != "cited only"]
        for p in shown:
            if p not in texts:
                text = read(p)
                texts[p] = None if text is None else cited_keys(text, rows, p)
        there = [p for p in shown if texts[p] is not None]
        cell = table.setdefault((r.doc, r.kind), [0, 0, 0])
        if not there:
            cell[2] += 1
        elif any((r.doc, r.kind, r.number) in texts[p] for p in there):
            cell[0] += 1
        else:
            cell[1] += 1
    return table


def print_counts():
    rows = read_index()
    names = {"sec": "sections", "eq": "equations", "alg": "algorithms", "fig": "figures",
             "item": "numbered items", "appendix": "appendix"}
    for label, read in (("before (git show HEAD)", _head_text), ("now (working tree)", None)):
        table = counts(rows, read) if read else counts(rows)
        print(f"{label}: shown and cited / shown but uncited / not covered")
        total, numbered = [0, 0, 0], [0, 0, 0]
        for (doc, kind), cell in table.items():
            print(f"  {doc:9} {names[kind]:15} {cell[0]:3} / {cell[1]:3} / {cell[2]:3}")
            total = [t + c for t, c in zip(total, cell)]
            if kind != "sec":
                numbered = [t + c for t, c in zip(numbered, cell)]
        print(f"  all {sum(total)} rows: {total[0]} / {total[1]} / {total[2]};  without the "
              f"section headings ({sum(numbered)}): {numbered[0]} / {numbered[1]} / "
              f"{numbered[2]}")


if __name__ == "__main__":
    sys.exit(print_counts())
