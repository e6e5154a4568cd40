"""The package is built in layers (vae_from_scratch/__init__.py lists them): a module
imports only from its own layer or lower ones, so the spine a student reads never
depends on the applications, and no import cycle can form between layers.

The imports are read from the source with `ast`, not by importing, so an import inside
a function (the command line imports its commands lazily) counts too.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vae_from_scratch"

# Lowest first.  The key is the first part of the module path inside the package.
LAYERS = [
    {"utils"},
    {"backend"},
    {"nn", "data"},
    {"gradcheck", "distributions", "schedules"},
    {"objectives", "optim"},
    {"models"},
    {"train"},
    {"viz", "run_folder"},
    {"thesis", "exercises"},
    {"apps", "__main__"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
SPINE = {"utils", "backend", "nn", "data", "gradcheck", "distributions", "schedules",
         "objectives", "optim", "models", "train"}


def modules():
    """(dotted path inside the package, file) for every module but the package's own
    __init__ (which imports two names for the user)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",) or "stubs" in parts:
            continue
        yield parts, path


def imported(parts, path):
    """The package modules that `path` imports, as tuples of path parts."""
    package = parts[:-1]                          # nn/conv.py and nn/__init__.py: ("nn",)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                target = base + tuple(node.module.split(".")) if node.module else base
            elif node.module and node.module.split(".")[0] == "vae_from_scratch":
                target = tuple(node.module.split(".")[1:])
            else:
                continue
            if not target:                        # `from .. import objectives`
                for alias in node.names:
                    yield (alias.name,)
            else:
                yield target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "vae_from_scratch":
                    yield tuple(alias.name.split(".")[1:]) or ("__init__",)


def test_every_top_level_module_has_a_layer():
    tops = {path.relative_to(PACKAGE).with_suffix("").parts[0]
            for path in PACKAGE.rglob("*.py")} - {"__init__"}
    assert tops <= set(RANK), f"modules without a layer: {sorted(tops - set(RANK))}"


@pytest.mark.parametrize("parts, path", [pytest.param(*m, id=".".join(m[0])) for m in modules()])
def test_no_module_imports_a_higher_layer(parts, path):
    own = RANK[parts[0]]
    upward = [".".join(t) for t in imported(parts, path) if RANK.get(t[0], -1) > own]
    assert not upward, f"{'.'.join(parts)} (layer {own}) imports from a higher layer: {upward}"


def test_the_spine_imports_no_application():
    for parts, path in modules():
        if parts[0] in SPINE:
            wrong = [".".join(t) for t in imported(parts, path) if t[0] not in SPINE]
            assert not wrong, f"{'.'.join(parts)} is in the spine but imports {wrong}"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The checker itself: a made-up spine module that imports the thesis is caught."""
    fake = tmp_path / "train.py"
    fake.write_text("from .thesis.reproduction import run_thesis\nimport vae_from_scratch.apps.cli\n")
    found = list(imported(("train",), fake))
    assert found == [("thesis", "reproduction"), ("apps", "cli")]
    assert all(RANK[t[0]] > RANK["train"] for t in found)
