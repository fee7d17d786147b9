"""Properties every PDF keeps: metadata, bookmarks, embedded fonts, type sizes, determinism."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import bookmarks, cli, script, spans
from pypdf import PdfReader

pytestmark = pytest.mark.slow  # the fast layer (pytest -m "not slow") leaves it out

TITLES = {"consent": "Consent to needling", "pre-treatment": "Getting ready for needling",
          "aftercare": "Aftercare after needling"}
BODY_PT = 12  # the smallest size of body text


def _build(lib: Path, clinic: str, kind: str, out: Path, *extra: str) -> Path:
    run = cli(lib, "build", "--clinic", clinic, "--treatment", "needling", "--kind", kind,
              "-o", str(out), *extra)
    assert run.code == 0, run.err
    return out


def _section_headings(path: Path) -> list[str]:
    """The text drawn in the section-heading style: bold, the largest size below the title's."""
    bold = [s for s in spans(path) if s.bold]
    title = max(s.size for s in bold)
    section = max(s.size for s in bold if s.size < title)
    return [s.text for s in bold if s.size == section]


@pytest.mark.parametrize("kind", TITLES)
def test_metadata_and_bookmarks(lib: Path, tmp_path: Path, kind: str) -> None:
    path = _build(lib, "birch", kind, tmp_path / "a.pdf")
    reader = PdfReader(path)
    meta = reader.metadata
    assert meta is not None
    assert meta.author == "Birch Test Dermatology"
    assert meta.title == TITLES[kind]
    assert meta.subject == f"Needling: {TITLES[kind]}"
    root: Any = reader.trailer["/Root"]
    assert root["/Lang"] == "en"
    # One bookmark per section, in the order the sections are printed.
    assert [title for title, _page in bookmarks(reader)] == _section_headings(path)
    assert len(reader.outline) >= 4


def test_bookmarks_point_at_the_page_of_their_section(lib: Path, tmp_path: Path) -> None:
    path = _build(lib, "alder", "consent", tmp_path / "c.pdf")
    reader = PdfReader(path)
    headings = set(_section_headings(path))
    pages = {s.text: s.page for s in spans(path) if s.text in headings}
    assert len(reader.pages) > 1 and len(set(pages.values())) > 1  # sections on several pages
    for title, page in bookmarks(reader):
        assert page + 1 == pages[title], title


def test_only_embedded_truetype_fonts(lib: Path, tmp_path: Path) -> None:
    for clinic in ("alder", "birch"):
        reader = PdfReader(_build(lib, clinic, "aftercare", tmp_path / f"{clinic}.pdf"))
        for page in reader.pages:
            resources: Any = page["/Resources"]
            fonts = resources["/Font"]
            for ref in fonts.values():
                font = ref.get_object()
                assert font["/Subtype"] != "/Type1", font["/BaseFont"]
                descriptor = font.get("/FontDescriptor") or \
                    font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
                assert "/FontFile2" in descriptor.get_object(), font["/BaseFont"]


def test_same_inputs_give_identical_bytes_across_processes(lib: Path) -> None:
    args = ("build", "--clinic", "alder", "--treatment", "needling", "--kind", "consent",
            "--patient-name", "Ana Lima", "--field", "appointment_date=2026-12-01", "-o", "-")
    first, second = script(lib, *args), script(lib, *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(b"%PDF-")
    assert first.stdout == second.stdout
    third = script(lib, *args[:-5], "--patient-name", "Ana Lima", "-o", "-")
    assert third.stdout != first.stdout


@pytest.mark.parametrize("clinic", ["alder", "birch"])
def test_body_text_is_at_least_the_body_size(lib: Path, tmp_path: Path, clinic: str) -> None:
    path = _build(lib, clinic, "aftercare", tmp_path / "a.pdf")
    drawn = {s.text: s.size for s in spans(path)}
    # Body text: an intro line, list items and a table cell, as the font really draws them.
    for text in ("These reactions are normal.", "Keep the area clean.", "Do not rub the area.",
                 "a day or two" if clinic == "birch" else "up to 3 days"):
        assert drawn[text] >= BODY_PT, (text, drawn[text])


def _fonts(pdf: Path) -> list[str]:
    listing = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    return sorted(line.split()[0].split("+")[-1] for line in listing.stdout.splitlines()[2:])


def test_full_library_build_uses_the_same_faces_as_a_single_build(lib: Path, tmp_path: Path) -> None:
    """Loading every face of every family (as `all` does) must not change which face draws what."""
    assert cli(lib, "all", "--out", str(tmp_path / "out")).code == 0
    everything = tmp_path / "out" / "alder" / "needling-aftercare.pdf"
    single = _build(lib, "alder", "aftercare", tmp_path / "single.pdf")
    assert _fonts(everything) == _fonts(single) == ["NotoSans-Bold", "NotoSans-Regular"]
    assert everything.read_bytes() == single.read_bytes()


def test_italic_text_uses_the_italic_face(lib: Path, tmp_path: Path) -> None:
    override = lib / "assets" / "clinics" / "birch" / "templates"
    override.mkdir()
    text = (lib / "templates" / "aftercare.xml.j2").read_text(encoding="utf-8")
    text = text.replace('<p style="lead">{{ part.intro }}</p>',
                        '<p style="lead"><i>{{ part.intro }}</i> <b><i>Keep this sheet.</i></b></p>')
    (override / "aftercare.xml.j2").write_text(text, encoding="utf-8")
    pdf = _build(lib, "birch", "aftercare", tmp_path / "italic.pdf")
    assert _fonts(pdf) == ["DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-BoldOblique",
                           "DejaVuSans-Oblique"]
