"""The stylesheet (assets/styles.yaml, a clinic's styles.yaml): a clinic's change shows in its PDFs,
an unchanged stylesheet changes no byte, and the signature's lines take their values whatever
order they are drawn in. Broken stylesheets are in tests/corpus/styles.yaml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from conftest import REPO, cli, pdf_text
from pypdf import PdfReader

from handoutgen.compose.compose import Request, compose
from handoutgen.emit.fill import fill, strip
from handoutgen.emit.finish import finish
from handoutgen.layout.layout import layout
from handoutgen.library.gather import load_library
from handoutgen.pipeline import check_patient
from handoutgen.program import own_stylesheet

CHANGED: dict[str, dict[str, Any]] = {"styles": {"section": {"colour": "#7a1f5c"}},
           "signature": {"sign_height": 90, "rule": 2, "rule_colour": "#1f3a7a"}}
PATIENT = ("--patient-name", "Ana Lima", "--field", "appointment_date=2026-12-01")


@dataclass(frozen=True)
class Stroke:
    """A stroked line as drawn: its page, the height it starts at, its width and colour."""

    page: int
    y: float
    width: float
    colour: tuple[float, float, float]


@dataclass(frozen=True)
class Run:
    """A run of text as drawn: its page, text, fill colour and baseline height."""

    page: int
    text: str
    colour: tuple[float, float, float]
    y: float


def drawn(path: Path) -> tuple[list[Run], list[Stroke]]:
    """Every run of text and every stroked line of a PDF, with the colours and widths they have."""
    runs: list[Run] = []
    strokes: list[Stroke] = []
    for number, page in enumerate(PdfReader(path).pages, 1):
        state: dict[str, Any] = {"fill": (0.0, 0.0, 0.0), "stroke": (0.0, 0.0, 0.0), "width": 1.0, "at": None}
        saved: list[dict[str, Any]] = []

        def before(op: bytes, args: list[Any], cm: list[float], _tm: list[float],
                   state: dict[str, Any] = state, saved: list[dict[str, Any]] = saved,
                   number: int = number) -> None:
            if op == b"q":
                saved.append(dict(state))
            elif op == b"Q" and saved:
                state.update(saved.pop())
            elif op in (b"rg", b"RG"):
                state["fill" if op == b"rg" else "stroke"] = tuple(round(float(a), 3) for a in args)
            elif op == b"w":
                state["width"] = float(args[0])
            elif op in (b"m", b"re"):  # a line starts; a rectangle is a box, not a line
                state["at"] = float(args[0]) * cm[1] + float(args[1]) * cm[3] + cm[5] if op == b"m" else None
            elif op == b"S" and state["at"] is not None:
                strokes.append(Stroke(number, round(state["at"], 2), state["width"], state["stroke"]))

        def text(found: str, cm: list[float], tm: list[float], _font: Any, _size: float,
                 state: dict[str, Any] = state, number: int = number) -> None:
            if found.strip():
                runs.append(Run(number, found.strip(), state["fill"], tm[4] * cm[1] + tm[5] * cm[3] + cm[5]))

        page.extract_text(visitor_operand_before=before, visitor_text=text)
    return runs, strokes


def rgb(colour: str) -> tuple[float, float, float]:
    """A #rrggbb colour as the PDF's fill or stroke operands, rounded as `drawn` rounds them."""
    r, g, b = (round(int(colour[i:i + 2], 16) / 255, 3) for i in (1, 3, 5))
    return r, g, b


def _consent(lib: Path, out: Path) -> Path:
    run = cli(lib, "build", "--clinic", "alder", "--treatment", "needling", "--kind", "consent", *PATIENT,
              "-o", str(out))
    assert run.code == 0, run.err
    return out


def _images(pdf: Path) -> list[bytes]:
    """Each page of a PDF as a PNG image."""
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(pdf.with_suffix(""))], check=True)
    return [p.read_bytes() for p in sorted(pdf.parent.glob(f"{pdf.stem}-*.png"))]


def _signatures(runs: list[Run]) -> list[Run]:
    """The label of each signature's line to sign on."""
    return [r for r in runs if r.text == ": Signature"]


def test_a_clinics_stylesheet_changes_its_headings_and_signatures(lib: Path, tmp_path: Path) -> None:
    primary = yaml.safe_load((lib / "assets/clinics/alder/clinic.yaml").read_text())["colours"]["primary"]
    before_runs, before_strokes = drawn(_consent(lib, tmp_path / "before.pdf"))
    (lib / "assets/clinics/alder/styles.yaml").write_text(yaml.safe_dump(CHANGED), encoding="utf-8")
    runs, strokes = drawn(_consent(lib, tmp_path / "after.pdf"))

    assert {r.colour for r in before_runs if r.text == "Signatures"} == {rgb(primary)}
    assert {r.colour for r in runs if r.text == "Signatures"} == {rgb(CHANGED["styles"]["section"]["colour"])}
    look = CHANGED["signature"]
    lines = [s for s in strokes if (s.width, s.colour) == (look["rule"], rgb(look["rule_colour"]))]
    assert not [s for s in before_strokes if s.colour == rgb(look["rule_colour"])]
    signatures = _signatures(runs)
    assert len(signatures) == 3
    assert len(lines) == 4 * len(signatures)  # each signature's four lines: sign, printed, date, time

    def room(labels: list[Run], strokes: list[Stroke]) -> float:
        """From the first signature's label down to the line signed on, below it."""
        label = labels[0]
        return label.y - max(s.y for s in strokes if s.page == label.page and s.y < label.y)

    # The line signed on lies at least sign_height below the top of its label's line.
    shipped = yaml.safe_load(own_stylesheet().read_text(encoding="utf-8"))
    label_line = 12 * shipped["styles"]["label"]["size"] * shipped["text"]["leading"]  # at 12 pt body
    assert room(signatures, lines) >= look["sign_height"] - label_line
    assert room(_signatures(before_runs), before_strokes) < look["sign_height"] - label_line


def test_an_unchanged_stylesheet_changes_no_byte(lib: Path, tmp_path: Path) -> None:
    plain = _consent(lib, tmp_path / "plain.pdf").read_bytes()
    shutil.copy(own_stylesheet(), lib / "assets" / "styles.yaml")  # the library's own copy, as init writes
    (lib / "assets/clinics/alder/styles.yaml").write_text("# nothing changed yet\n", encoding="utf-8")
    assert _consent(lib, tmp_path / "copied.pdf").read_bytes() == plain


def test_a_changed_stylesheet_is_not_served_from_the_cache(lib: Path, tmp_path: Path) -> None:
    first, _ = drawn(_consent(lib, tmp_path / "first.pdf"))
    (lib / "assets/clinics/alder/styles.yaml").write_text(yaml.safe_dump(CHANGED), encoding="utf-8")
    second, _ = drawn(_consent(lib, tmp_path / "second.pdf"))
    wanted = rgb(CHANGED["styles"]["section"]["colour"])
    assert [r.colour == wanted for r in first if r.text == "Signatures"] == [False]
    assert [r.colour == wanted for r in second if r.text == "Signatures"] == [True]


def test_signature_lines_in_another_order_keep_their_values(lib: Path, tmp_path: Path) -> None:
    """The printed name drawn first: the value still goes on its line, by the fast path as by a full
    layout, because the slots are numbered by the block's values and not by drawing order."""
    reordered = {"signature": {"rows": [["printed", "date"], ["time", "sign"]], "widths": [[3, 1], [1, 3]]}}
    (lib / "assets/clinics/alder/styles.yaml").write_text(yaml.safe_dump(reordered), encoding="utf-8")
    library = load_library(lib)
    values = {"patient_name": "Ana Lima", "practitioner": "ann-ash"}
    checked = check_patient(library, "alder", ("consent",), [(k, v, "test", 1) for k, v in values.items()])
    document = compose(library, Request("alder", "needling", "consent", "en", tuple(sorted(checked.items()))))
    entry = library.clinics["alder"]
    font, labels = library.fonts[entry.clinic.font], library.labels["en"].text
    blank, slots = strip(document)
    filled = fill(layout((blank,), entry, font, labels), slots, (document.info.identifier,))
    inline = fill(layout((document,), entry, font, labels))
    assert filled is not None and inline is not None
    fast, full = finish(filled), finish(inline)
    path, whole = tmp_path / "reordered.pdf", tmp_path / "full.pdf"
    path.write_bytes(fast)
    whole.write_bytes(full)
    assert pdf_text(path) == pdf_text(whole)
    assert _images(path) == _images(whole)
    runs, _ = drawn(path)
    printed = [r for r in runs if r.text == "Printed name"]
    # Each name is on its own signature's printed-name line: under that label, above the label of
    # the line signed on (the row below), on the same page.
    for name, label, signed in zip(("Ana Lima", "Dr Ann Ash"), printed, _signatures(runs), strict=False):
        assert label.page == signed.page
        assert [r for r in runs if r.text == name and r.page == label.page and label.y > r.y > signed.y]


def test_a_program_without_its_stylesheet_says_so(lib: Path, tmp_path: Path) -> None:
    # A broken install (the package's own styles.yaml gone) is an error line, not a traceback.
    shutil.copytree(REPO / "handoutgen", tmp_path / "prog" / "handoutgen",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "x.pdf"
    done = subprocess.run([sys.executable, "-m", "handoutgen", "--root", str(lib), "build", "--clinic",
                           "alder", "--treatment", "needling", "--kind", "aftercare", "-o", str(out)],
                          cwd=tmp_path / "prog", env=dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache")),
                          capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stderr) == (1, "error: assets/styles.yaml:1: (document): file is missing "
                                                 "(create styles.yaml in assets)\n")
    assert not out.exists()
