"""Properties every PDF keeps: metadata, bookmarks, embedded fonts, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli, script
from pypdf import PdfReader

KINDS = ("consent", "pre-treatment", "aftercare")


def _build(lib: Path, clinic: str, kind: str, out: Path, *extra: str) -> Path:
    run = cli(lib, "build", "--clinic", clinic, "--treatment", "mesotherapy", "--kind", kind,
              "-o", str(out), *extra)
    assert run.code == 0, run.err
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_metadata_and_bookmarks(lib: Path, tmp_path: Path, kind: str) -> None:
    reader = PdfReader(_build(lib, "maple-street", kind, tmp_path / "a.pdf"))
    meta = reader.metadata
    assert meta is not None
    assert meta.author == "Maple Street Dermatology"
    assert meta.title in {"Consent to mesotherapy", "Getting ready for mesotherapy",
                          "Aftercare after mesotherapy"}
    assert meta.subject == f"Mesotherapy: {meta.title}"
    assert reader.trailer["/Root"]["/Lang"] == "en"
    titles = [item.title for item in reader.outline]
    assert len(titles) >= 4
    assert "How to contact us" in titles or "Signatures" in titles
    # Every bookmark points at a page of this document.
    for item in reader.outline:
        assert 0 <= reader.get_destination_page_number(item) < len(reader.pages)


def test_bookmarks_point_at_the_page_of_their_section(lib: Path, tmp_path: Path) -> None:
    reader = PdfReader(_build(lib, "harbour-skin", "consent", tmp_path / "c.pdf"))
    for item in reader.outline:
        page = reader.pages[reader.get_destination_page_number(item)]
        assert item.title in " ".join(page.extract_text().split())


def test_only_embedded_truetype_fonts(lib: Path, tmp_path: Path) -> None:
    for clinic in ("harbour-skin", "maple-street"):
        reader = PdfReader(_build(lib, clinic, "aftercare", tmp_path / f"{clinic}.pdf"))
        for page in reader.pages:
            fonts = page["/Resources"]["/Font"]
            for ref in fonts.values():
                font = ref.get_object()
                assert font["/Subtype"] != "/Type1", font["/BaseFont"]
                descriptor = font.get("/FontDescriptor") or \
                    font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
                assert "/FontFile2" in descriptor.get_object(), font["/BaseFont"]


def test_same_inputs_give_identical_bytes_across_processes(lib: Path, tmp_path: Path) -> None:
    args = ("build", "--clinic", "harbour-skin", "--treatment", "mesotherapy", "--kind", "consent",
            "--patient-name", "Ana Lima", "--field", "appointment_date=2026-12-01", "-o", "-")
    first, second = script(lib, *args), script(lib, *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(b"%PDF-")
    assert first.stdout == second.stdout
    third = script(lib, *args[:-5], "--patient-name", "Ana Lima", "-o", "-")
    assert third.stdout != first.stdout


def test_body_text_is_at_least_11pt(lib: Path, tmp_path: Path) -> None:
    import re
    import subprocess

    pdf = _build(lib, "harbour-skin", "aftercare", tmp_path / "a.pdf")
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    # Words of the first "Do" item are body text: their boxes must be at least 11 pt high.
    heights = [float(m.group(2)) - float(m.group(1)) for m in re.finditer(
        r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">Rest<', html)]
    assert heights and min(heights) >= 11 * 0.95


def _fonts(pdf: Path) -> list[str]:
    import subprocess

    listing = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    return sorted(line.split()[0].split("+")[-1] for line in listing.stdout.splitlines()[2:])


def test_full_library_build_uses_the_same_faces_as_a_single_build(lib: Path, tmp_path: Path) -> None:
    """Loading every face of every family (as `all` does) must not change which face draws what."""
    assert cli(lib, "all", "--out", str(tmp_path / "out")).code == 0
    everything = tmp_path / "out" / "harbour-skin" / "mesotherapy-aftercare.pdf"
    single = _build(lib, "harbour-skin", "aftercare", tmp_path / "single.pdf")
    assert _fonts(everything) == _fonts(single) == ["NotoSans-Bold", "NotoSans-Regular"]
    assert everything.read_bytes() == single.read_bytes()


def test_italic_text_uses_the_italic_face(lib: Path, tmp_path: Path) -> None:
    override = lib / "assets" / "clinics" / "maple-street" / "templates"
    override.mkdir()
    text = (lib / "templates" / "aftercare.xml.j2").read_text(encoding="utf-8")
    text = text.replace('<p style="lead">{{ part.intro }}</p>',
                        '<p style="lead"><i>{{ part.intro }}</i> <b><i>Keep this sheet.</i></b></p>')
    (override / "aftercare.xml.j2").write_text(text, encoding="utf-8")
    pdf = _build(lib, "maple-street", "aftercare", tmp_path / "italic.pdf")
    assert _fonts(pdf) == ["DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-BoldOblique",
                           "DejaVuSans-Oblique"]
