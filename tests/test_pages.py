"""Pages a clinic can print: type sizes, line lengths, the printable area and page breaks."""

from __future__ import annotations

import itertools
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import REPO, bookmarks, cli, copy_library, spans
from pages import REFERENCES, TOLERANCE, build_shipped, difference, reference_name, render_pages
from PIL import Image, ImageChops
from pypdf import PdfReader
from reportlab.lib.styles import ParagraphStyle
from test_batch import GOOD, manifest, write_csv
from test_batch import HEADER as COLUMNS

from handoutgen.layout.flowables import TaggedParagraph
from handoutgen.layout.layout import SMALLEST
from handoutgen.layout.page import FOOTER, HEADER, SAFE

pytestmark = pytest.mark.slow  # the fast layer (pytest -m "not slow") leaves it out

KINDS = ("consent", "pre-treatment", "aftercare")
BODY_PT = 12
LONGEST_LINE = 75
NAMES = {"short": "Jo Li",
         "wraps at 41": "Maximilian Alexander Fitzgerald-Henderson",
         "very long": "María de los Ángeles Fernández-Castillo y Rodríguez de la Fuente Villanueva Obregón",
         "longest allowed": ("Anna-Maria Wolfeschlegelsteinhausenberger Fitzgerald-Henderson "
                             "Papadopoulou Nakamura-Oyelaran Vasquez")}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every blank handout of the test library, the needling consent with a page of statements."""
    root = copy_library(tmp_path_factory.mktemp("pages") / "lib")
    statements = "".join(f"  - I confirm statement number {n} of this long list.\n" for n in range(7))
    for language in ("en", "es"):
        path = root / "handouts" / "needling" / language / "consent.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("statements:\n", "statements:\n" + statements), encoding="utf-8")
    assert cli(root, "all", "--out", str(root / "out")).code == 0
    return sorted((root / "out").rglob("*.pdf"))


def _labels(language: str) -> dict[str, str]:
    text: dict[str, str] = yaml.safe_load((REPO / "handouts" / "labels" / f"{language}.yaml").read_text(
        encoding="utf-8"))["text"]
    return text


def test_no_text_is_smaller_than_9pt(built: list[Path]) -> None:
    for pdf in built:
        smallest = min(spans(pdf), key=lambda s: s.size)
        assert smallest.size >= SMALLEST == 9, (pdf.name, smallest)


def test_body_text_is_12pt_in_lines_of_at_most_75_characters(built: list[Path]) -> None:
    for pdf in built:
        height = float(PdfReader(pdf).pages[0].mediabox.height)
        text = [s for s in spans(pdf) if FOOTER < s.y < height - HEADER and not s.bold]
        weight = Counter[float]()
        for span in text:
            weight[span.size] += len(span.text)
        assert weight.most_common(1)[0][0] == BODY_PT, (pdf.name, weight.most_common(3))
        longest = max((s for s in text if s.size >= BODY_PT), key=lambda s: len(s.text))
        assert len(longest.text) <= LONGEST_LINE, (pdf.name, longest.text)


def test_every_mark_is_8mm_inside_the_paper(built: list[Path], tmp_path: Path) -> None:
    dpi = 100
    band = int(SAFE / 72 * dpi) - 1  # a pixel less, for anti-aliasing at the edge of a mark
    for pdf in built:
        subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf), str(tmp_path / pdf.stem)],
                       check=True)
        for image_path in sorted(tmp_path.glob(f"{pdf.stem}-*.png")):
            image = Image.open(image_path).convert("L")
            w, h = image.size
            for box in ((0, 0, w, band), (0, h - band, w, h), (0, 0, band, h), (w - band, 0, w, h)):
                darkest = image.crop(box).getextrema()[0]
                assert darkest == 255, (image_path.name, box, darkest)


def _consents(built: list[Path]) -> list[tuple[Path, str]]:
    return [(p, "es" if p.name.endswith(".es.pdf") else "en") for p in built if "-consent" in p.name]


def test_statements_and_every_signature_share_one_page(built: list[Path]) -> None:
    for pdf, language in _consents(built):
        labels = _labels(language)
        drawn = spans(pdf)
        statements = {s.page for s in drawn if s.text == labels["statements"]}
        roles = [labels["patient"], labels["practitioner_role"], labels["witness"]]
        signed = {s.page for s in drawn if s.bold and s.text.rstrip(":") in roles}
        assert len(statements) == len(signed) == 1, (pdf.name, statements, signed)
        assert statements == signed, (pdf.name, statements, signed)
        assert len([s for s in drawn if s.text == labels["printed_name"]]) == len(roles)


@pytest.mark.parametrize("clinic", ["alder", "birch"])
@pytest.mark.parametrize("kind", KINDS)
def test_page_count_does_not_depend_on_the_length_of_a_name(lib: Path, tmp_path: Path, clinic: str,
                                                           kind: str) -> None:
    places = {}
    for label, name in NAMES.items():
        out = tmp_path / f"{label}.pdf"
        run = cli(lib, "build", "--clinic", clinic, "--treatment", "needling", "--kind", kind,
                  "--patient-name", name, "--field", "appointment_date=2026-12-01", "-o", str(out))
        assert run.code == 0, run.err
        drawn = spans(out)
        assert name in " ".join(s.text for s in drawn), label  # printed whole, however long
        # Nothing moves: the same pages, with every bold line (headings, labels) in the same place.
        places[label] = (len(PdfReader(out).pages), [(s.page, s.y, s.text) for s in drawn if s.bold])
    assert all(p == places["short"] for p in places.values()), {k: v[0] for k, v in places.items()}


def test_do_and_dont_marks_differ_in_black_and_white(built: list[Path], tmp_path: Path) -> None:
    pdf = next(p for p in built if p.name == "needling-aftercare.pdf" and p.parent.name == "alder")
    drawn = spans(pdf)
    page_h = float(PdfReader(pdf).pages[0].mediabox.height)
    dpi = 200
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "first")], check=True)
    image = Image.open(next(tmp_path.glob("first-*.png"))).convert("L")
    marks = []
    for text in ("Use sunscreen every day.", "Do not swim for one day."):
        item = next(s for s in drawn if s.text == text)
        baseline = (page_h - item.y) / 72 * dpi
        # the mark left of the item's text, as a black-and-white printer prints it
        row = image.crop((0, int(baseline - 0.2 * dpi), image.size[0], int(baseline + 0.12 * dpi)))
        ink = row.point(lambda v: 0 if v < 160 else 255)
        left = _ink(ink)[0]
        mark = ink.crop((left, 0, left + int(0.21 * dpi), ink.size[1]))
        marks.append(mark.crop(_ink(mark)).resize((40, 40)))
    differing = ImageChops.difference(*marks).point(lambda v: 255 if v else 0).histogram()[255]
    assert differing > 0.1 * 40 * 40, differing  # told apart by shape, not colour alone


def _ink(image: Image.Image) -> tuple[int, int, int, int]:
    """The box around the dark pixels of a black-on-white image."""
    box = image.point(lambda v: 255 - v).getbbox()
    assert box is not None
    return box


def test_shipped_pages_match_their_reference_images(tmp_path: Path) -> None:
    """Each shipped handout looks as reviewed. After a deliberate change: python tests/pages.py"""
    out, images = tmp_path / "out", tmp_path / "images"
    images.mkdir()
    expected = sorted(p.name for p in REFERENCES.glob("*.png"))
    seen = []
    for pdf in build_shipped(out):
        for number, page in enumerate(render_pages(pdf, images), 1):
            name = reference_name(pdf, out, number)
            seen.append(name)
            reference = REFERENCES / name
            assert reference.exists(), f"{name}: a new page (refresh with: python tests/pages.py)"
            share = difference(page, Image.open(reference).convert("L"))
            assert share <= TOLERANCE, f"{name}: {share:.1%} of pixels differ (or refresh them)"
    assert sorted(seen) == expected, "pages were removed (refresh with: python tests/pages.py)"


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[Path, Path]]:
    """(standard, large print) of every kind for both test clinics, built with a patient."""
    root = copy_library(tmp_path_factory.mktemp("large") / "lib")
    pairs = {}
    for clinic in ("alder", "birch"):
        for kind in KINDS:
            paths = []
            for edition in ((), ("--large-print",)):
                run = cli(root, "build", "--clinic", clinic, "--treatment", "needling", "--kind", kind,
                          "--patient-name", NAMES["very long"], *edition)
                assert run.code == 0, run.err
                paths.append(root / run.out.removeprefix("Built ").strip())
            pairs[clinic, kind] = (paths[0], paths[1])
    return pairs


def test_large_print_is_its_own_file(large: dict[tuple[str, str], tuple[Path, Path]]) -> None:
    for standard, big in large.values():
        assert big.name.startswith(standard.name.split("-")[0]) and ".large-" in big.name, big.name
        assert ".large" not in standard.name


def test_large_print_has_16pt_text_20pt_headings_and_the_same_words(
        large: dict[tuple[str, str], tuple[Path, Path]]) -> None:
    for (clinic, kind), (standard, big) in large.items():
        drawn = spans(big)
        height = float(PdfReader(big).pages[0].mediabox.height)
        text = [s for s in drawn if FOOTER < s.y < height - HEADER]
        assert min(s.size for s in text) >= 16 - 2, (clinic, kind)  # labels of write-in fields: 14 pt
        weight = Counter[float]()
        for span in text:
            weight[span.size] += len(span.text)
        assert weight.most_common(1)[0][0] >= 16, (clinic, kind, weight.most_common(3))
        reader = PdfReader(big)
        headings = {title for title, _page in bookmarks(reader)}
        assert headings == {title for title, _page in bookmarks(PdfReader(standard))}
        assert all(s.size >= 20 for s in drawn if s.text in headings), (clinic, kind)
        # The same content: every word of the standard edition, in the same order.
        words = " ".join(s.text for s in spans(standard) if FOOTER < s.y < height - HEADER).split()
        assert " ".join(s.text for s in text).split() == words, (clinic, kind)
        assert len(reader.pages) > len(PdfReader(standard).pages)


def test_large_print_is_one_column_with_wide_spacing(large: dict[tuple[str, str], tuple[Path, Path]]) -> None:
    _standard, big = large["birch", "aftercare"]
    labels = _labels("en")
    drawn = spans(big)
    fields = [s for s in drawn if s.text in (labels["patient_name"], labels["treatment_date"],
                                             labels["treated_area"], labels["practitioner"])]
    assert len({s.y for s in fields}) == 4  # each field on its own line
    body = [s for s in drawn if s.size == 16 and not s.bold]
    gaps = [a.y - b.y for a, b in itertools.pairwise(body) if a.page == b.page and a.y > b.y]
    assert min(gaps) >= 1.5 * 16 - 0.01, sorted(gaps)[:3]  # 1.5 line spacing at least


def test_large_print_keeps_every_mark_8mm_inside_the_paper(large: dict[tuple[str, str], tuple[Path, Path]],
                                                          tmp_path: Path) -> None:
    test_every_mark_is_8mm_inside_the_paper([big for _standard, big in large.values()], tmp_path)


def test_a_row_or_a_whole_batch_asks_for_large_print(lib: Path, tmp_path: Path) -> None:
    rows = [[*GOOD[0], "yes"], [*GOOD[1], ""], ["A1003", *GOOD[0][1:], "NO"],
            ["A1004", *GOOD[0][1:], "maybe"]]
    appointments = write_csv(tmp_path / "day.csv", rows, [*COLUMNS, "Large Print"])
    run = cli(lib, "batch", "--appointments", str(appointments), "--out", str(tmp_path / "out"))
    assert run.code == 2
    assert run.errors == [f"error: {appointments}:5: large_print: 'maybe' is not yes or no "
                          "(yes or no (also y/n, true/false, 1/0, x), or empty)"]
    built = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.pdf"))
    assert built == ["alder/A1001/needling-aftercare.large.pdf", "alder/A1001/needling-consent.large.pdf",
                     "alder/A1003/needling-aftercare.pdf", "alder/A1003/needling-consent.pdf",
                     "birch/A1002/needling-aftercare.pdf", "birch/A1002/needling-consent.pdf",
                     "birch/A1002/needling-pre-treatment.pdf"]
    editions = {r["file"]: r["edition"] for r in manifest(tmp_path / "out")}
    assert editions["alder/A1001/needling-consent.large.pdf"] == "large-print"
    assert editions["alder/A1003/needling-consent.pdf"] == "standard"
    # --large-print: every row whose cell is empty; "no" still means no.
    again = cli(lib, "batch", "--appointments", str(appointments), "--out", str(tmp_path / "again"),
                "--large-print")
    names = sorted(str(p.relative_to(tmp_path / "again")) for p in (tmp_path / "again").rglob("*.pdf"))
    assert again.code == 2
    assert "birch/A1002/needling-consent.large.pdf" in names and "alder/A1003/needling-consent.pdf" in names


def test_a_large_print_packet_is_large_print_throughout(lib: Path, tmp_path: Path) -> None:
    appointments = write_csv(tmp_path / "day.csv", [[*GOOD[1], "yes"]], [*COLUMNS, "large_print"])
    run = cli(lib, "batch", "--appointments", str(appointments), "--out", str(tmp_path / "out"), "--packet")
    assert run.code == 0, run.err
    packet = tmp_path / "out" / "birch" / "A1002" / "needling-packet.large.pdf"
    drawn = spans(packet)
    assert [title for title, _page in bookmarks(PdfReader(packet))] == \
        ["Getting ready for needling", "Consent to needling", "Aftercare after needling"]
    height = float(PdfReader(packet).pages[0].mediabox.height)
    weight = Counter[float]()
    for span in drawn:
        if FOOTER < span.y < height - HEADER:
            weight[span.size] += len(span.text)
    assert weight.most_common(1)[0][0] == 16


def test_a_paragraph_split_at_a_page_end_fits_the_room_it_was_split_for() -> None:
    """The space each line keeps at its end (for text read through the tags) is not measured again
    when a part split off a paragraph is laid out: it would take a line more than it was given."""
    style = ParagraphStyle("split", fontName="Helvetica", fontSize=12, leading=16.2)
    text = ("Complicaciones de la mesoterapia: revisión sistemática. Sociedad Española de Medicina "
            "Estética, seme.org (consultado el 1 de diciembre de 2026) y otras fuentes citadas aquí.")
    tried = 0
    for width in range(240, 420, 2):  # many different line ends
        paragraph = TaggedParagraph(text, style)
        lines = round(paragraph.wrap(width, 1e6)[1] / style.leading)
        for kept in range(2, lines - 1):
            room = kept * style.leading + 0.5
            first, _rest = paragraph.split(width, room)
            assert first.wrap(width, room)[1] <= room, (width, kept)
            tried += 1
    assert tried > 40
