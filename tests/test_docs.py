"""The front door and the documents: every relative link in README.md, CONTRIBUTING.md,
chapters/README.md and docs/*.md points to a file in the repository, and every #anchor
to a heading of that file (GitHub's rule: lower case, punctuation dropped, spaces to
hyphens).  Nothing in the repository points to the old DESIGN.md outside docs/."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ["README.md", "CONTRIBUTING.md", "chapters/README.md",
             *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchor(heading):
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)   # not in code
    return {anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def test_anchor_follows_github():
    assert anchor("The main job: seed 0, 30 epochs") == "the-main-job-seed-0-30-epochs"
    assert anchor("Our figures beside the thesis's") == "our-figures-beside-the-thesiss"
    assert anchor("The `train` command") == "the-train-command"


def broken_links(source, root=ROOT):
    """The relative links of the Markdown file `source` that lead nowhere."""
    broken = []
    for target in LINK.findall(source.read_text()):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        file, _, fragment = target.partition("#")
        path = (source.parent / file).resolve() if file else source
        if not path.exists() or (root not in path.parents and path != root):
            broken.append(f"{target} (no such file)")
        elif fragment and path.suffix == ".md" and fragment not in anchors(path):
            broken.append(f"{target} (no heading #{fragment})")
    return broken


def test_the_checker_finds_a_broken_file_and_a_broken_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# A heading\n")
    doc = tmp_path / "doc.md"
    doc.write_text("[ok](other.md#a-heading) [no file](missing.md) [no anchor](other.md#nope) "
                   "[outside](../elsewhere.md) [web](https://example.org)\n")
    assert broken_links(doc, root=tmp_path.resolve()) == [
        "missing.md (no such file)", "other.md#nope (no heading #nope)",
        "../elsewhere.md (no such file)"]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_link_resolves_inside_the_repository(document):
    broken = broken_links(ROOT / document)
    assert not broken, f"{document}: broken links: {broken}"


def test_readme_is_a_front_door():
    """About 150 lines: the results live in docs/, the README points to them."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 180, f"README.md has {len(lines)} lines"
    for doc in ("docs/design.md", "docs/thesis.md", "docs/performance.md", "CONTRIBUTING.md"):
        assert doc in "\n".join(lines), f"README.md does not point to {doc}"


def test_no_reference_to_the_old_design_brief_outside_docs():
    found = []
    for path in ROOT.rglob("*"):
        if (path.suffix in {".py", ".md", ".cfg", ".toml"} and ".git" not in path.parts
                and "runs" not in path.parts and "egg-info" not in str(path)
                and path.relative_to(ROOT).parts[0] != "docs" and path.name != "test_docs.py"):
            if "DESIGN.md" in path.read_text(errors="ignore"):
                found.append(str(path.relative_to(ROOT)))
    assert not found, f"DESIGN.md is still named in {found}; point to docs/design.md"


def test_every_name_of_the_public_api_table_imports():
    """docs/design.md's Public API table: each `module` | `name`, … row, imported."""
    import importlib
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("## Public API", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `vae_from_scratch")]
    assert len(rows) >= 10
    for row in rows:
        module_cell, names_cell = row.split("|")[1:3]
        module = importlib.import_module(module_cell.strip().strip("`"))
        names = re.findall(r"`([A-Za-z_][A-Za-z_0-9]*)`", names_cell.split("(")[0])
        missing = [n for n in names if not hasattr(module, n)]
        assert names and not missing, f"{module.__name__} lacks {missing}"
