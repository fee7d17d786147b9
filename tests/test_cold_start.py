"""A `build` from what the cache keeps starts with only what it uses (issue: cold start), and the
shortcuts that make that so give the same program: platypus whole when asked, Pillow when used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

# Imported by other commands, never by a `build` whose library, layout and frame are kept.
NOT_IMPORTED = ("jinja2", "yaml", "pypdf", "openpyxl", "flask", "textstat", "json", "socket", "csv",
                "xml.etree.ElementTree", "xml.parsers.expat", "reportlab.platypus.tables",
                "reportlab.platypus.doctemplate", "handoutgen.runs.runner", "handoutgen.layout.layout",
                "handoutgen.compose.templating", "handoutgen.compose.markup")

MODULES = """
import sys
from handoutgen.cli import main
code = main(sys.argv[1:])
pil = sys.modules.get("PIL.Image")
modules = sorted(sys.modules)
print(__import__("json").dumps({"code": code, "modules": modules,
                                "pillow_loaded": type(pil).__name__ == "module"}))  # still lazy: _LazyModule
"""


def _build(lib: Path, cache: Path, out: str) -> dict[str, object]:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", MODULES, "build", "--clinic", "alder", "--treatment",
                           "needling", "--kind", "aftercare", "--patient-name", "Jo Cold",
                           "-o", str(lib / out)], cwd=lib, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0
    return result


@pytest.mark.slow
def test_a_build_from_the_cache_imports_only_what_it_uses(lib: Path, tmp_path: Path) -> None:
    first = _build(lib, tmp_path / "cache", "first.pdf")
    assert "jinja2" in first["modules"]  # type: ignore[operator]  # the first one composes
    cold = _build(lib, tmp_path / "cache", "cold.pdf")
    assert [m for m in NOT_IMPORTED if m in cold["modules"]] == []  # type: ignore[operator]
    assert cold["pillow_loaded"] is False
    assert (lib / "cold.pdf").read_bytes() != b""


PLATYPUS = """
import sys
from handoutgen.reportlab_private import import_paragraphs
import_paragraphs()
assert "reportlab.platypus.paragraph" in sys.modules, "paragraphs imported"
assert "reportlab.platypus.tables" not in sys.modules, "tables left out"
from reportlab.platypus import SimpleDocTemplate, Table
from reportlab.platypus.paragraph import Paragraph
import reportlab.platypus as package
assert package.Paragraph is Paragraph and Table.__module__ == "reportlab.platypus.tables"
from PIL import Image
assert Image.open and Image.new("RGB", (2, 2)).size == (2, 2)
print("whole")
"""


def test_platypus_is_whole_when_a_name_of_it_is_asked() -> None:
    done = subprocess.run([sys.executable, "-c", PLATYPUS], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "whole"), done.stderr
