"""reportlab_private.py reaches into reportlab's internals, and no other module does: they are
checked against the versions tested. pypdf's privates are reached from emit/finish.py only."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pypdf
import reportlab
from reportlab.pdfbase import pdfdoc

import handoutgen
from handoutgen import reportlab_private as private

PACKAGE = Path(handoutgen.__file__).parent
# The parts of reportlab handoutgen draws with: the canvas, the PDF document and fonts, platypus.
REPORTLAB_PARTS = ("pdfgen", "pdfbase", "platypus")


def test_reportlab_is_a_tested_version() -> None:
    minor = ".".join(reportlab.Version.split(".")[:2])
    assert minor in private.TESTED_REPORTLAB, (
        f"reportlab {reportlab.Version} is not a version handoutgen was tested with "
        f"({', '.join(private.TESTED_REPORTLAB)}): check handoutgen/reportlab_private.py against it, "
        "then add it to TESTED_REPORTLAB and pyproject.toml")


def test_the_internals_relied_on_are_there() -> None:
    for name in ("pdfdocEnc", "PDFName", "PDFArray", "PDFIndirectObject", "NoEncryption",
                 "PDFStreamFilterZCompress", "PDFObject"):
        assert hasattr(pdfdoc, name), name
    assert pdfdoc.PDFIndirectObject.format is private._indirect_format


def test_syntax_fast_paths_write_reportlab_bytes() -> None:
    """The same bytes as reportlab's own formatting, for the shapes the fast paths take."""
    for text in ("Page1", "/Type /Page", "x" * 300, "caf\u00e9", "\u02d8\u02c7 accents", ""):
        assert private._pdfdoc_encode(text) == private._reportlab_encode(text)
    document = pdfdoc.PDFDocument()
    for sequence in ([1, 2.5, 3], list(range(37)), [0.1 * i for i in range(23)], [7], ["a", 1]):
        array = pdfdoc.PDFArray(sequence)
        assert private._array_format(array, document) == private._reportlab_array_format(array, document)


def _private(name: str) -> bool:
    """A private name: a leading underscore, but not one of Python's own (__init__, __dict__)."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__")
                                         and name[2:-2].islower())


@lru_cache(maxsize=2)
def _defined(folders: tuple[Path, ...]) -> frozenset[str]:
    """The private names a library's classes define, read from its source: methods and class
    attributes, and every private attribute its code sets on an object (a canvas's _code)."""
    names: set[str] = set()
    for folder in folders:
        for path in folder.glob("*.py"):
            for node in ast.walk(ast.parse(path.read_bytes())):
                if isinstance(node, ast.ClassDef):
                    for item in node.body:
                        targets = item.targets if isinstance(item, ast.Assign) else []
                        names.update(t.id for t in targets if isinstance(t, ast.Name) and _private(t.id))
                        if isinstance(item, ast.FunctionDef) and _private(item.name):
                            names.add(item.name)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del) \
                        and _private(node.attr):
                    names.add(node.attr)
    return frozenset(names)


def _reached(path: Path, names: frozenset[str], own_too: bool) -> list[str]:
    """Where a module uses one of `names`: as an attribute (x._code), as a string (getattr,
    a dict of canvas attributes) and, with `own_too`, on self or as a method it overrides."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        name = None
        if isinstance(node, ast.Attribute) and node.attr in names and (
                own_too or not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            name = node.attr
        elif own_too and isinstance(node, ast.Constant) and node.value in names:
            name = repr(node.value)
        elif own_too and isinstance(node, ast.ClassDef):
            name = next((f"def {item.name}" for item in node.body
                         if isinstance(item, ast.FunctionDef) and item.name in names), None)
        if name is not None:
            found.append(f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', 0)}: {name}")
    return found


def _reaching(names: frozenset[str], allowed: Path, own_too: bool) -> list[str]:
    return [hit for path in sorted(PACKAGE.rglob("*.py")) if path != allowed
            for hit in _reached(path, names, own_too)]


def test_only_reportlab_private_reaches_reportlab_internals() -> None:
    root = Path(reportlab.__file__).parent
    names = _defined(tuple(root / part for part in REPORTLAB_PARTS))
    # what the collector must find, or it reads nothing and the test below passes for nothing
    assert {"_code", "_doc", "_formsinuse", "_curr_tx_info", "_cellvalues", "_drawBkgrnd", "_y",
            "_pdfScale", "__NoDefault__"} <= names
    found = _reaching(names, PACKAGE / "reportlab_private.py", own_too=True)
    assert found == [], (
        "reportlab's private attributes are reached from handoutgen/reportlab_private.py only: "
        "add a function there that says what it does, and call it (a method of our own with "
        "one of these names: rename it)\n" + "\n".join(found))


def test_only_finish_reaches_pypdf_internals() -> None:
    root = Path(pypdf.__file__).parent
    names = _defined((root, root / "generic"))
    assert "_add_object" in names
    found = _reaching(names, PACKAGE / "emit" / "finish.py", own_too=False)
    assert found == [], "pypdf's private attributes are reached from emit/finish.py only\n" + "\n".join(found)
