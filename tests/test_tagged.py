"""Every PDF is tagged (PDF/UA-1): structure, marked content, catalog; checked by tools written elsewhere."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from conftest import cli, copy_library, edit, line_of
from pypdf import PdfReader
from pypdf.generic import ContentStream

from handoutgen.compose.blocks import Block, Callout, Keep, Section
from handoutgen.compose.compose import Request, compose
from handoutgen.emit.fill import fill
from handoutgen.emit.finish import finish, protect
from handoutgen.layout import tagging
from handoutgen.layout.layout import layout
from handoutgen.library.gather import Library, load_library
from handoutgen.pipeline import check_patient, render_documents

pytestmark = pytest.mark.slow  # the fast layer (pytest -m "not slow") leaves it out

PATIENT = {  # each kind's fields
    "consent": {"patient_name": "Ana Lee", "practitioner": "ben-birch", "appointment_date": "2026-12-01",
                "treatment_area": "Upper arms"},
    "pre-treatment": {"patient_name": "Ana Lee", "appointment_time": "09:30"},
    "aftercare": {"patient_name": "Ana Lee", "next_appointment_date": "2027-01-15"},
}
KINDS = ("consent", "pre-treatment", "aftercare")
# Operators that put marks on the page: paths painted, text shown, images and forms drawn.
PAINTING = {b"S", b"s", b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*", b"sh", b"Do", b"Tj", b"TJ",
            b"'", b'"', b"INLINE IMAGE"}
PASSCODE = "ABCD-EFGH-JKLM"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    return load_library(copy_library(tmp_path_factory.mktemp("tagged") / "lib"))


def _request(library: Library, clinic: str, kind: str, patient: bool) -> Request:
    fields = [(k, v, "test", 1) for k, v in PATIENT[kind].items()
              if clinic == "alder" or k != "practitioner"]
    values = check_patient(library, clinic, (kind,), fields) if patient else {}
    return Request(clinic, "needling", kind, "en", tuple(sorted(values.items())))


def _full_layout(library: Library, request: Request) -> bytes:
    """A personalised document laid out with its values (not the fast path)."""
    entry = library.clinics[request.clinic]
    filled = fill(layout((compose(library, request),), entry, library.fonts[entry.clinic.font],
                         library.labels["en"].text))
    assert filled is not None
    return finish(filled)


@pytest.fixture(scope="module")
def shipped_kinds(library: Library, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One of each kind of PDF the program writes, on disk."""
    folder = tmp_path_factory.mktemp("kinds")
    made: dict[str, bytes] = {}
    for clinic in ("alder", "birch"):
        for kind in KINDS:
            blank = _request(library, clinic, kind, False)
            made[f"{clinic}-{kind}-blank"] = render_documents(library, (blank,),
                                                              (compose(library, blank),))
            personal = _request(library, clinic, kind, True)
            made[f"{clinic}-{kind}-fast"] = render_documents(library, (personal,),
                                                             (compose(library, personal),))
            made[f"{clinic}-{kind}-full"] = _full_layout(library, personal)
        requests = tuple(_request(library, clinic, kind, True) for kind in KINDS)
        made[f"{clinic}-packet"] = render_documents(library, requests,
                                                    tuple(compose(library, r) for r in requests),
                                                    duplex=True)
    paths = {}
    for name, pdf in made.items():
        paths[name] = folder / f"{name}.pdf"
        paths[name].write_bytes(pdf)
    encrypted = folder / "alder-encrypted.pdf"
    encrypted.write_bytes(protect(made["alder-consent-fast"], PASSCODE))
    # The checkers cannot open an encrypted file: they check what the patient's passcode opens.
    paths["alder-encrypted"] = folder / "alder-encrypted-opened.pdf"
    subprocess.run(["qpdf", f"--password={PASSCODE}", "--decrypt", str(encrypted),
                    str(paths["alder-encrypted"])], check=True)
    return paths


def _struct_text(path: Path) -> str:
    return subprocess.run(["pdfinfo", "-struct-text", str(path)], capture_output=True, text=True,
                          check=True).stdout


def _headings(path: Path) -> list[tuple[int, str]]:
    """(level, text) of every heading, in the order the structure tree reads them."""
    lines = _struct_text(path).splitlines()
    found = []
    for index, line in enumerate(lines):
        match = re.fullmatch(r"\s*H(\d) \(block\)", line)
        if match:
            found.append((int(match.group(1)), lines[index + 1].strip().strip('"')))
    return found


def unmarked_painting(path: Path) -> list[tuple[int, bytes]]:
    """(page, operator) of every painting operator outside marked content."""
    found = []
    reader = PdfReader(path)
    for number, page in enumerate(reader.pages, 1):
        depth = 0
        for _operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator in (b"BDC", b"BMC"):
                depth += 1
            elif operator == b"EMC":
                depth -= 1
            elif operator in PAINTING and depth == 0:
                found.append((number, operator))
    return found


def test_nothing_is_painted_outside_a_tag_or_an_artifact(shipped_kinds: dict[str, Path]) -> None:
    for name, path in shipped_kinds.items():
        assert unmarked_painting(path) == [], name


def _second_level(blocks: tuple[Block, ...]) -> list[str]:
    """The titles below the document's: its sections' and those of callouts outside a section
    (such as the aftercare's red-flag box), in order, also when kept together with others."""
    found: list[str] = []
    for block in blocks:
        if isinstance(block, Section) or (isinstance(block, Callout) and block.title):
            found.append(block.title)
        elif isinstance(block, Keep):
            found += _second_level(block.blocks)
    return found


def test_headings_read_in_order_title_then_sections(library: Library, shipped_kinds: dict[str, Path]) -> None:
    for kind in KINDS:
        document = compose(library, _request(library, "alder", kind, True))
        headings = _headings(shipped_kinds[f"alder-{kind}-fast"])
        assert headings[0] == (1, document.info.title)
        # no-break spaces read as spaces
        assert [text for level, text in headings if level == 2] == \
            [" ".join(title.split()) for title in _second_level(document.blocks)]
        # No level is skipped on the way down: H1, then H2, H3 below an H2.
        levels = [level for level, _ in headings]
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels


def test_fast_path_and_full_layout_read_the_same(shipped_kinds: dict[str, Path]) -> None:
    for clinic in ("alder", "birch"):
        for kind in KINDS:
            fast = _struct_text(shipped_kinds[f"{clinic}-{kind}-fast"])
            assert fast == _struct_text(shipped_kinds[f"{clinic}-{kind}-full"]), (clinic, kind)
    assert '"Ana Lee"' in _struct_text(shipped_kinds["alder-consent-fast"])
    assert '"Ana Lee"' not in _struct_text(shipped_kinds["alder-consent-blank"])


def _elements(pdf: pikepdf.Pdf) -> list[pikepdf.Dictionary]:
    found: list[pikepdf.Dictionary] = []

    def walk(node: object) -> None:
        if isinstance(node, pikepdf.Array):
            for item in node:
                walk(item)
        elif isinstance(node, pikepdf.Dictionary) and "/S" in node:  # a structure element
            found.append(node)
            walk(node.get("/K"))

    walk(pdf.Root.StructTreeRoot.K)
    return found


def _kids(element: pikepdf.Object) -> list[pikepdf.Object]:
    """An element's children: /K is one child or an array of them."""
    kids = element.K
    return list(kids) if isinstance(kids, pikepdf.Array) else [kids]


def test_figures_tables_lists_and_write_in_places_are_described(shipped_kinds: dict[str, Path]) -> None:
    consent_pdf = pikepdf.open(shipped_kinds["alder-consent-blank"])
    consent = _elements(consent_pdf)
    alts = [str(e.Alt) for e in consent if e.S == "/Figure"]
    assert alts[:2] == ["Alder Test Clinic logo", "QR code that opens https://alder.example/"]
    assert "Line to write on: Patient name" in alts
    assert "Line to write on: Your initials" in alts
    aftercare_pdf = pikepdf.open(shipped_kinds["alder-aftercare-blank"])
    aftercare = _elements(aftercare_pdf)
    heads = [e for e in aftercare if e.S == "/TH"]
    # header rows name columns; a table without one (the timeline) names its rows
    assert {str(e.A.Scope) for e in heads} == {"/Column", "/Row"}
    labels = [e for e in aftercare if e.S == "/Lbl"]
    assert {str(e.Alt) for e in labels if "/Alt" in e} == {"Do", "Do not"}
    assert {str(e.S) for e in aftercare} >= {"/Document", "/Sect", "/H1", "/H2", "/P", "/L", "/LI",
                                            "/LBody", "/Table", "/TR", "/TD", "/Figure", "/Div"}


def test_catalog_metadata_and_pages_declare_a_tagged_document(shipped_kinds: dict[str, Path]) -> None:
    for name, path in shipped_kinds.items():
        pdf = pikepdf.open(path)
        root = pdf.Root
        assert bool(root.MarkInfo.Marked) and str(root.Lang) == "en", name
        assert bool(root.ViewerPreferences.DisplayDocTitle), name
        xmp = root.Metadata.read_bytes().decode()
        assert "<pdfuaid:part>1</pdfuaid:part>" in xmp and str(pdf.docinfo.Title) in xmp, name
        for number, page in enumerate(pdf.pages):
            assert (int(page.obj.StructParents), str(page.obj.Tabs)) == (number, "/S"), name
        for font in pdf.pages[0].Resources.Font.values():
            if "/ToUnicode" in font:
                assert not re.search(rb"<[0-9A-F]{2}> <0000>", font.ToUnicode.read_bytes()), name


def test_packet_is_one_document_with_a_part_per_handout(library: Library,
                                                        shipped_kinds: dict[str, Path]) -> None:
    pdf = pikepdf.open(shipped_kinds["alder-packet"])
    [document] = _kids(pdf.Root.StructTreeRoot)
    assert document.S == "/Document"
    parts = _kids(document)
    assert [str(p.S) for p in parts] == ["/Part"] * 3
    titles = [compose(library, _request(library, "alder", kind, True)).info.title for kind in KINDS]
    headings = _headings(shipped_kinds["alder-packet"])
    assert [text for level, text in headings if level == 1] == titles
    reader = PdfReader(shipped_kinds["alder-packet"])
    assert [item.title for item in reader.outline if not isinstance(item, list)] == titles


def test_encrypted_attachment_keeps_tags_and_accessibility(shipped_kinds: dict[str, Path],
                                                           tmp_path: Path) -> None:
    encrypted = shipped_kinds["alder-encrypted"].with_name("alder-encrypted.pdf")
    assert encrypted.read_bytes().startswith(b"%PDF-1.7")
    with pikepdf.open(encrypted, password=PASSCODE) as pdf:
        assert pdf.encryption.R == 6 and pdf.allow.accessibility
        assert pdf.Root.Extensions.ADBE.ExtensionLevel == 8
        assert pdf.Root.Extensions.ADBE.BaseVersion == "/1.7"
        assert bool(pdf.Root.MarkInfo.Marked)


def test_same_input_gives_the_same_bytes(library: Library) -> None:
    request = _request(library, "birch", "consent", True)
    assert _full_layout(library, request) == _full_layout(library, request)


def _page_validation(path: Path) -> str:
    import page

    report = str(page.validate_pdf(str(path), profile="ua1"))
    return report


@pytest.mark.slow
def test_two_pdfua_checkers_find_no_failure_in_any_kind(shipped_kinds: dict[str, Path]) -> None:
    for name, path in shipped_kinds.items():
        report = _page_validation(path)
        assert "0 failed" in report and "Result: no failures" in report, f"{name}:\n{report}"
        run = subprocess.run(["python", "-m", "pdfua", "check", str(path)], capture_output=True,
                             text=True, check=False)
        assert run.returncode == 0 and "[skip" not in run.stdout, f"{name}:\n{run.stdout}"


@pytest.mark.slow
def test_pdfua_checker_cannot_read_a_heading_whose_content_is_an_array(shipped_kinds: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    """/K [0] is as valid as /K 0 (ISO 32000-1, 14.7.2), but pdfua 0.1.3 cannot read it and skips
    its rule on empty headings: that is why an element with one piece of content gets it bare."""
    pdf = pikepdf.open(shipped_kinds["alder-consent-fast"])
    heading = next(e for e in _elements(pdf) if e.S == "/H1")
    heading.K = pikepdf.Array([heading.K])
    path = tmp_path / "array.pdf"
    pdf.save(path)
    run = subprocess.run(["python", "-m", "pdfua", "check", str(path)], capture_output=True,
                         text=True, check=False)
    assert "[skip ] UA-14-001" in run.stdout and "is_integer" in run.stdout
    assert "Result: no failures" in _page_validation(path)  # the other checker reads it


def test_a_tree_written_from_memory_is_the_tree_written_afresh(library: Library) -> None:
    """Copies of one layout reuse the bytes of its structure tree: they must be the same bytes."""
    request = _request(library, "alder", "consent", True)
    documents = (compose(library, request),)
    tagging._written.clear()
    fresh = render_documents(library, (request,), documents)
    kept = dict(tagging._written)
    assert len(kept) == 1
    assert render_documents(library, (request,), documents) == fresh
    assert tagging._written == kept  # the second copy was written from memory


def test_alternative_text_labels_must_keep_their_placeholders(lib: Path) -> None:
    text = edit(lib, "handouts/labels/en.yaml", 'write_in: "Line to write on: {field}"',
                'write_in: "Line to write on"')
    run = cli(lib, "check")
    line = line_of(text, "write_in:")
    assert run.code == 1
    assert (f"error: handouts/labels/en.yaml:{line}: text.write_in: uses none "
            "(exactly these placeholders: {field})") in run.errors


Operations = dict[tuple[int, int], list[tuple[list[Any], str]]]


def _marked_operations(pdf: pikepdf.Pdf) -> Operations:
    """The operations inside each (page number, MCID) marked-content sequence of the document."""
    found: Operations = {}
    for number, page in enumerate(pdf.pages):
        stack: list[int | None] = []
        for operands, operator in pikepdf.parse_content_stream(page):  # type: ignore[misc]
            name = str(operator)
            if name == "BDC":
                properties = operands[1]
                mcid = int(properties.MCID) if isinstance(properties, pikepdf.Dictionary) \
                    and "/MCID" in properties else None
                stack.append(mcid)
            elif name == "EMC":
                stack.pop()
            elif stack and stack[-1] is not None:
                found.setdefault((number, stack[-1]), []).append((list(operands), name))
    return found


def _contrast(rgb: list[float]) -> float:
    """WCAG contrast of a colour against white paper."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    luminance = 0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2])
    return 1.05 / (luminance + 0.05)


@pytest.mark.parametrize("name", ["alder-consent-blank", "alder-pre-treatment-fast", "birch-consent-full"])
def test_screening_questions_have_a_yes_and_a_no_tick_box_a_screen_reader_finds(
        shipped_kinds: dict[str, Path], name: str) -> None:
    # Read aloud: each question names its row, and each answer is a tick box with its word.
    answer = r'\n\s+TD\n\s+Figure\n\s+""\n\s+P \(block\)\n\s+"([^"]*)"'
    question = r'TH:\n\s+/Scope /Row\n\s+"([^"]*)"'
    rows = re.findall(question + answer + answer, _struct_text(shipped_kinds[name]))
    own = "Have you had a cold sore in the last month?" if name.startswith("alder") \
        else "Do you have diabetes?"
    assert rows == [(question, "Yes", "No") for question in (
        "Are you pregnant or breastfeeding?", "Do you take blood thinners?",
        "Do you have a skin infection there now?", own)]  # the treatment's questions, then the clinic's
    # Each box is a Figure that says it is a tick box, 5 mm or more, at 3:1 or more against white.
    pdf = pikepdf.open(shipped_kinds[name])
    page_numbers: dict[Any, int] = {page.objgen: n for n, page in enumerate(pdf.pages)}
    operations = _marked_operations(pdf)
    boxes = [e for e in _elements(pdf) if e.S == "/Figure" and e.P.S == "/TD"]
    assert len(boxes) == 2 * len(rows)
    for box in boxes:
        assert str(box.Alt) == "Tick box"
        drawn = operations[page_numbers[box.Pg.objgen], int(box.K)]
        rect = next(operands for operands, operator in drawn if operator == "re")
        assert min(float(rect[2]), float(rect[3])) >= 5 / 25.4 * 72
        colour = next(operands for operands, operator in drawn if operator == "RG")
        assert _contrast([float(c) for c in colour]) >= 3


def _spans(path: Path) -> list[tuple[str, str, str]]:
    """(language, parent element, text) of each Span, in reading order."""
    pdf = pikepdf.open(path)
    found = [(str(e.Lang), str(e.P.S)) for e in _elements(pdf) if e.S == "/Span"]
    texts = re.findall(r'Span \(inline\)\n\s+"([^"]*)"', _struct_text(path))
    assert len(texts) == len(found)
    return [(language, parent, text) for (language, parent), text in zip(found, texts, strict=True)]


def test_words_in_another_language_are_a_span_with_their_own_language(
        library: Library, shipped_kinds: dict[str, Path], tmp_path: Path) -> None:
    source = ("es", "/LBody", "Guía de prueba de la punción")  # a Spanish title among the sources
    term = ("es", "/P", "micropunción")  # marked in the content: <span lang="es">micropunción</span>
    assert _spans(shipped_kinds["alder-consent-blank"]) == [term, source]
    assert '"Spanish clinics call it "' in _struct_text(shipped_kinds["alder-consent-blank"])
    # Birch also hands out Spanish: its English handouts offer it, in Spanish.
    offer = ("es", "/P", "También está disponible en español.")
    for name in ("birch-consent-blank", "birch-aftercare-fast", "birch-pre-treatment-full"):
        assert _spans(shipped_kinds[name]) == [offer, term, source] if "consent" in name else [offer, source]
        assert '"You can ask for this in large print or in another language. "' in \
            _struct_text(shipped_kinds[name])  # the English words stay in the paragraph, apart
    # and its Spanish consent offers English, in English, and tags the English titles as English
    request = Request("birch", "needling", "consent", "es")
    path = tmp_path / "es.pdf"
    path.write_bytes(render_documents(library, (request,), (compose(library, request),)))
    assert pikepdf.open(path).Root.Lang == "es"
    assert _spans(path) == [("en", "/P", "This is also available in English."),
                            ("en", "/P", "microneedling"),
                            ("en", "/LBody", "Test guide to needling"),
                            ("en", "/LBody", "Test review of skin infections")]
    assert unmarked_painting(path) == []
    # A patient's value is never markup: written like a span, it prints as typed, in no Span.
    request = Request("alder", "needling", "consent", "en", (("patient_name", '<span lang="fr">Jo</span>'),))
    path.write_bytes(render_documents(library, (request,), (compose(library, request),)))
    assert '"<span lang="fr">Jo</span>"' in _struct_text(path)
    assert "fr" not in [language for language, _, _ in _spans(path)]
