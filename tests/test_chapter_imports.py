"""Every chapter script imports and answers --help: the fast subset's check of the
chapters whose quick runs are marked slow (test_chapters.py, test_chapters_6_10.py).

A renamed function or a moved module breaks a chapter at import time; this finds it in
well under a second per chapter, where a quick run takes 5–20 s.
"""

import importlib.util
from pathlib import Path

import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("ch[0-9][0-9]_*.py"))


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_imports_and_prints_its_usage(path, capsys):
    spec = importlib.util.spec_from_file_location(f"chapter_import_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)                       # runs nothing: main() is not called
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    assert "--quick" in capsys.readouterr().out
