"""Render stage: a Document and the clinic's branding -> reportlab flowables -> PDF bytes.

The page template draws the branded header on every page; the footer (clinic, form version,
content fingerprint, "Page X of Y") is drawn once the page count is known.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    ActionFlowable,
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus import PageBreak as RLPageBreak

from . import blocks as b
from .branding import Clinic
from .coverage import check_coverage, document_text, uses_italic
from .errors import RenderError
from .flowables import (
    BoxedItem,
    DocumentStart,
    FieldCell,
    InitialsBox,
    QrCode,
    SectionHeading,
    WriteLines,
)
from .fonts import Registered, register
from .library import ClinicEntry, FontEntry
from .replay import (
    FOOTER,
    FORM_STATE,
    GREY,
    HEADER,
    MARGIN,
    PAGE_STATE,
    RULE,
    Footer,
    Form,
    Layout,
    Page,
    emit,
    escape,
    fill,
    render,
    snapshot,
    strip,
)
from .speed import draw_image, image_size

# Re-exported: the render stage's whole interface, made or replayed.
__all__ = ["Layout", "check_coverage", "document_text", "emit", "layout", "render", "strip",
           "theme", "uses_italic"]

PAPER = {"a4": A4, "letter": LETTER}
LOGO_W = 44 * mm
LOGO_H = 15 * mm
WARNING = colors.HexColor("#b3261e")


@dataclass(frozen=True)
class Theme:
    """Fonts, colours and paragraph styles of one clinic, built once per process."""

    font: Registered
    primary: colors.Color
    accent: colors.Color
    text: colors.Color
    tint: colors.Color
    warn_tint: colors.Color
    styles: dict[str, ParagraphStyle]


def _mix(colour: colors.Color, amount: float) -> colors.Color:
    """Blend a colour with white (amount 0 = white, 1 = the colour)."""
    return colors.Color(*(1 - amount + amount * c for c in (colour.red, colour.green, colour.blue)))


@lru_cache(maxsize=32)
def theme(clinic: Clinic, font_entry: FontEntry) -> Theme:
    """Build the paragraph styles for a clinic's font and colours."""
    font = register(font_entry)
    primary = colors.HexColor(clinic.colours.primary)
    accent = colors.HexColor(clinic.colours.accent)
    text = colors.HexColor(clinic.colours.text)
    base = ParagraphStyle("body", fontName=font.regular, fontSize=11, leading=15.2,
                          textColor=text, spaceAfter=5)

    def style(name: str, **kw: Any) -> ParagraphStyle:
        return ParagraphStyle(name, parent=base, **kw)

    styles = {
        "body": base,
        "lead": style("lead", fontSize=12, leading=16.5, spaceAfter=7),
        "title": style("title", fontName=font.bold, fontSize=21, leading=25, textColor=primary,
                       spaceAfter=2),
        "subtitle": style("subtitle", fontSize=11.5, leading=15, textColor=GREY, spaceAfter=8),
        "section": style("section", fontName=font.bold, fontSize=14.5, leading=18,
                         textColor=primary, spaceBefore=9, spaceAfter=3, keepWithNext=1),
        "heading": style("heading", fontName=font.bold, fontSize=12, leading=15.5,
                         spaceBefore=5, spaceAfter=3, keepWithNext=1),
        "bullet": style("bullet", leftIndent=15, bulletIndent=3, spaceAfter=3,
                        bulletFontName=font.regular),
        "box": style("box", leftIndent=22, spaceAfter=4.5),
        "cell": style("cell", spaceAfter=0),
        "cell_head": style("cell_head", fontName=font.bold, textColor=colors.white, spaceAfter=0),
        "label": style("label", fontSize=9, leading=11, textColor=GREY, spaceAfter=0),
        "value": style("value", fontSize=11.5, leading=14, spaceAfter=0),
        "qr_caption": style("qr_caption", fontSize=7.5, leading=9, textColor=GREY, spaceAfter=0,
                            alignment=TA_RIGHT),
        "callout_title": style("callout_title", fontName=font.bold, fontSize=12, leading=15.5,
                               spaceAfter=3),
        "header_name": style("header_name", fontName=font.bold, fontSize=11, leading=13,
                             textColor=primary, alignment=TA_RIGHT, spaceAfter=0),
        "header": style("header", fontSize=8.5, leading=10.5, textColor=GREY,
                        alignment=TA_RIGHT, spaceAfter=0),
    }
    return Theme(font, primary, accent, text, _mix(accent, 0.14), _mix(WARNING, 0.09), styles)


def _unkept(flowables: list[Flowable]) -> list[Flowable]:
    """Unwrap KeepTogether groups: nested ones never fit (their wrap forces a split)."""
    out: list[Flowable] = []
    for flowable in flowables:
        out.extend(_unkept(flowable._content) if isinstance(flowable, KeepTogether) else [flowable])
    return out


def inline_markup(inline: b.Inline) -> str:
    """Turn inline runs into reportlab paragraph markup; all text is escaped here."""
    parts: list[str] = []
    for text, bold, italic in inline:
        if text == "\n":
            parts.append("<br/>")
            continue
        piece = escape(text)
        if italic:
            piece = f"<i>{piece}</i>"
        if bold:
            piece = f"<b>{piece}</b>"
        parts.append(piece)
    return "".join(parts)


@lru_cache(maxsize=32)
def svg_logo(path: Path) -> Any:
    """Load an SVG logo once per process as a reportlab drawing."""
    from svglib.svglib import svg2rlg

    drawing = svg2rlg(str(path))
    if drawing is None or drawing.width <= 0 or drawing.height <= 0:
        raise RenderError.one(str(path), 1, "logo", "SVG could not be drawn",
                              "an SVG with a width and height")
    return drawing


def _fit(width: float, height: float, box_w: float, box_h: float) -> tuple[float, float]:
    scale = min(box_w / width, box_h / height)
    return width * scale, height * scale


class Builder:
    """Turns blocks into flowables with one clinic's theme."""

    def __init__(self, th: Theme, frame_width: float, section_level: int = 0) -> None:
        self.th = th
        self.width = frame_width
        self.section_level = section_level  # 1 in a packet, under each document's bookmark
        self.sections = 0
        self.slots = 0

    def table(self, rows: list[list[Any]], widths: list[float], style: list[tuple[Any, ...]],
              repeat: int = 0) -> Table:
        """A left-aligned table in the clinic's font (reportlab's default font is never used)."""
        table = Table(rows, colWidths=widths, hAlign="LEFT", repeatRows=repeat)
        table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), self.th.font.regular, 11), *style]))
        return table

    def para(self, markup: str, style: str) -> Paragraph:
        return Paragraph(markup, self.th.styles[style])

    def blocks(self, items: tuple[b.Block, ...]) -> Iterator[Flowable]:
        for block in items:
            yield from self.block(block)

    def block(self, block: b.Block) -> Iterator[Flowable]:
        handler: Callable[[Any], Iterator[Flowable]] = getattr(self, "_" + type(block).__name__)
        yield from handler(block)

    def _Section(self, block: b.Section) -> Iterator[Flowable]:
        self.sections += 1
        heading = SectionHeading(escape(block.title), self.th.styles["section"],
                                 f"s{self.sections}", block.title, self.section_level)
        # A heading never ends a page: it travels with the section's first block.
        first = _unkept(list(self.blocks(block.blocks[:1])))
        yield CondPageBreak(60)
        yield KeepTogether([heading, *first])
        yield from self.blocks(block.blocks[1:])

    def _Heading(self, block: b.Heading) -> Iterator[Flowable]:
        yield self.para(inline_markup(block.text), "heading")

    def _Paragraph(self, block: b.Paragraph) -> Iterator[Flowable]:
        yield self.para(inline_markup(block.text), block.style)

    def _Bullets(self, block: b.Bullets) -> Iterator[Flowable]:
        style = self.th.styles["bullet"]
        for item in block.items:
            yield Paragraph(inline_markup(item), style, bulletText="\u2022")

    def _Checklist(self, block: b.Checklist) -> Iterator[Flowable]:
        colour = WARNING if block.mark == "dont" else self.th.primary
        for item in block.items:
            yield BoxedItem(inline_markup(item), self.th.styles["box"], colour)

    def _Table(self, block: b.Table) -> Iterator[Flowable]:
        if not block.rows:
            return
        cols = len(block.rows[0])
        rows = [[self.para(inline_markup(cell), "cell_head" if block.header and r == 0 else "cell")
                 for cell in row] for r, row in enumerate(block.rows)]
        style: list[tuple[Any, ...]] = [
            ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.5, RULE),
            ("TOPPADDING", (0, 0), (-1, -1), 4), ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]
        if block.header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), self.th.primary))
        yield self.table(rows, [self.width / cols] * cols, style, repeat=1 if block.header else 0)
        yield Spacer(1, 6)

    def _field(self, label: str, value: str, min_height: float = 31.0, slot: bool = True) -> FieldCell:
        """A field cell; a slot cell's value may instead be drawn in when a layout is emitted."""
        shown = self.para(escape(value), "value") if value else None
        number = None
        if slot:
            number, self.slots = self.slots, self.slots + 1
        return FieldCell(self.para(escape(label), "label"), shown, RULE, min_height, number)

    def _grid(self, cells: list[Flowable], columns: int, widths: list[float] | None = None) -> Table:
        rows = [cells[i:i + columns] for i in range(0, len(cells), columns)]
        rows[-1] = rows[-1] + [Spacer(0, 0) for _ in range(columns - len(rows[-1]))]
        return self.table(rows, widths or [self.width / columns] * columns, [
            ("VALIGN", (0, 0), (-1, -1), "BOTTOM"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 14), ("TOPPADDING", (0, 0), (-1, -1), 3),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 5)])

    def _Fields(self, block: b.Fields) -> Iterator[Flowable]:
        if block.fields:
            yield self._grid([self._field(f.label, f.value) for f in block.fields], block.columns)
            yield Spacer(1, 6)

    def _Lines(self, block: b.Lines) -> Iterator[Flowable]:
        yield WriteLines(block.count, RULE)
        yield Spacer(1, 8)

    def _Initials(self, block: b.Initials) -> Iterator[Flowable]:
        caption = self.para(escape(block.box_label), "label")
        rows = []
        for item in block.items:
            markup = f"<b>{inline_markup(item.title)}</b><br/>{inline_markup(item.text)}"
            rows.append([self.para(markup, "cell"), InitialsBox(caption, self.th.primary)])
        table = self.table(rows, [self.width - 70, 70], [("VALIGN", (0, 0), (-1, -1), "TOP"),
                                   ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                   ("LEFTPADDING", (1, 0), (1, -1), 14),
                                   ("TOPPADDING", (0, 0), (-1, -1), 5),
                                   ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                                   ("LINEBELOW", (0, 0), (-1, -1), 0.5, RULE)])
        yield table
        yield Spacer(1, 6)

    def _Signature(self, block: b.Signature) -> Iterator[Flowable]:
        sign, printed, day, clock = block.labels
        third = self.width / 4
        cells = [self._field(sign, "", 44, slot=False), self._field(printed, block.name),
                 self._field(day, "", slot=False), self._field(clock, "", slot=False)]
        top = self._grid(cells[:1], 1)
        bottom = self._grid(cells[1:], 3, [self.width - 2 * third, third, third])
        yield KeepTogether([self.para(escape(block.role), "heading"), top, bottom, Spacer(1, 8)])

    def title_block(self, info: b.DocumentInfo, clinic_name: str) -> Flowable:
        """The document title and subtitle, with the QR code beside them when there is one."""
        heading = [self.para(escape(info.title), "title"),
                   self.para(escape(f"{info.subtitle} \u00b7 {clinic_name}"), "subtitle")]
        if not info.qr:
            return KeepTogether(heading)
        size = 18 * mm
        caption = self.para(escape(info.qr_caption), "qr_caption")
        widths = [self.width - size - 30 * mm, 27 * mm, size + 3 * mm]
        return self.table([[heading, caption, QrCode(info.qr, size)]], widths, [
            ("VALIGN", (0, 0), (-1, -1), "TOP"), ("VALIGN", (1, 0), (1, 0), "MIDDLE"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ("LEFTPADDING", (2, 0), (2, 0), 3 * mm), ("TOPPADDING", (0, 0), (-1, -1), 0),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 4)])

    def _Qr(self, block: b.Qr) -> Iterator[Flowable]:
        size = 26 * mm
        cells = [[QrCode(block.data, size), self.para(escape(block.caption), "body")]]
        table = self.table(cells, [size + 10, self.width - size - 10],
                           [("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
        yield KeepTogether([Spacer(1, 6), table])

    def _Spacer(self, block: b.Spacer) -> Iterator[Flowable]:
        yield Spacer(1, block.size)

    def _PageBreak(self, _block: b.PageBreak) -> Iterator[Flowable]:
        yield RLPageBreak()

    def _Callout(self, block: b.Callout) -> Iterator[Flowable]:
        inner: list[Flowable] = []
        if block.title:
            inner.append(self.para(escape(block.title), "callout_title"))
        inner.extend(self.blocks(block.blocks))
        warn = block.tone == "warning"
        table = self.table([[inner]], [self.width], [
            ("BACKGROUND", (0, 0), (-1, -1), self.th.warn_tint if warn else self.th.tint),
            ("LINEBEFORE", (0, 0), (0, -1), 3, WARNING if warn else self.th.accent),
            ("LEFTPADDING", (0, 0), (-1, -1), 10), ("RIGHTPADDING", (0, 0), (-1, -1), 10),
            ("TOPPADDING", (0, 0), (-1, -1), 7), ("BOTTOMPADDING", (0, 0), (-1, -1), 4)])
        yield table
        yield Spacer(1, 8)

    def _Keep(self, block: b.Keep) -> Iterator[Flowable]:
        yield KeepTogether(_unkept(list(self.blocks(block.blocks))))


class _RecordingCanvas(Canvas):  # type: ignore[misc]
    """Records each finished page instead of writing it, so pages can be replayed later.

    The footer ("Page X of Y") needs the page count, bookmarks need the final page objects,
    and a cached layout is replayed for every patient: all happen when a Layout is emitted.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pages: list[Page] = []
        self.marks: list[tuple[str, str, float, int]] = []
        self.slots: list[tuple[int, int, float]] = []
        self.doc_index = 0
        self.blank = False
        self.forms: dict[str, Form] = {}
        self.images: list[tuple[Any, Any, str, list[str]]] | None = None  # drawn in a form

    def beginForm(self, name: str, *args: Any, **kwargs: Any) -> None:
        super().beginForm(name, *args, **kwargs)
        self.images = []

    def endForm(self, **kwargs: Any) -> None:
        """Record the form as well, so a Layout can make it again without drawing it."""
        self.forms[self._formData[0]] = Form({key: getattr(self, key) for key in FORM_STATE},
                                             self.images or [])
        self.images = None
        super().endForm(**kwargs)

    def showPage(self) -> None:
        state = {key: getattr(self, key) for key in PAGE_STATE}
        self.pages.append(Page(state, self.slots, self.marks, -1 if self.blank else self.doc_index))
        self.marks, self.slots, self.blank = [], [], False
        self._startPage()

    def save(self) -> None:
        """Nothing to write: a Layout is emitted by `emit`."""


class _DuplexPad(ActionFlowable):  # type: ignore[misc]
    """Before the next document of a duplex packet: a blank back page if this one ended on a front."""

    def apply(self, doc: BaseDocTemplate) -> None:
        if doc.page % 2:
            doc.handle_nextPageTemplate("blank")
            doc.handle_pageBreak()


def _metadata(documents: tuple[b.Document, ...], clinic: Clinic, labels: dict[str, str],
              th: Theme) -> dict[str, Any]:
    first = documents[0].info
    if len(documents) == 1:
        title, subject = first.title, f"{first.subtitle}: {first.title}"
    else:
        title = fill(labels["packet_title"], treatment=first.subtitle)
        subject = "; ".join(d.info.title for d in documents)
    keywords = ", ".join(f"{d.info.treatment} {d.info.kind} version {d.info.version} "
                         f"{d.info.fingerprint}" for d in documents)
    return {"pagesize": PAPER[clinic.paper], "title": title, "author": clinic.name,
            "subject": subject, "creator": "handoutgen", "keywords": keywords,
            "lang": first.language, "invariant": 1, "pageCompression": 1,
            "initialFontName": th.font.regular, "initialFontSize": 11, "initialLeading": 15.2}


def layout(documents: tuple[b.Document, ...], entry: ClinicEntry, font_entry: FontEntry,
           labels: dict[str, str], duplex: bool = False) -> Layout:
    """Lay documents out once, one after the other: branded pages, recorded for `emit`.

    Several documents make a packet: each starts on a new page (on a front side when
    `duplex`), keeps its own footer and page numbers, and gets a bookmark above its sections.
    """
    clinic = entry.clinic
    th = theme(clinic, font_entry)
    page_w, page_h = PAPER[clinic.paper]
    frame_w = page_w - 2 * MARGIN
    packet = len(documents) > 1
    builder = Builder(th, frame_w, section_level=1 if packet else 0)
    story: list[Flowable] = []
    for index, document in enumerate(documents):
        if index:
            story += [_DuplexPad()] if duplex else []
            story += [NextPageTemplate("page"), RLPageBreak()]
        info = document.info
        story += [DocumentStart(index, f"d{index}", info.title if packet else None),
                  builder.title_block(info, clinic.name), *builder.blocks(document.blocks)]
    header = _Header(clinic, th, entry.logo, page_w, page_h, frame_w)
    meta = _metadata(documents, clinic, labels, th)
    doc = BaseDocTemplate(io.BytesIO(), leftMargin=MARGIN, rightMargin=MARGIN, topMargin=HEADER,
                          bottomMargin=FOOTER, **meta)
    frame = Frame(MARGIN, FOOTER, frame_w, page_h - HEADER - FOOTER, id="body",
                  leftPadding=0, rightPadding=0, topPadding=4, bottomPadding=0)
    blank = _BlankPage(th, labels["blank_page"], page_w, page_h)
    doc.addPageTemplates([PageTemplate("page", [frame], onPage=header),
                          PageTemplate("blank", [Frame(0, 0, page_w, page_h, id="blank")],
                                       onPage=blank)])
    doc.build(story, canvasmaker=_RecordingCanvas)
    pdf = doc.canv._doc
    states = {font.fontName: snapshot(font.state[pdf]) for font in pdf.delayedFonts}

    def footer(info: b.DocumentInfo) -> Footer:
        form = fill(labels["form_version"], version=info.version, kind=info.kind,
                    treatment=info.treatment)
        content = fill(labels["content_fingerprint"], fingerprint=info.fingerprint)
        return Footer(th.font.regular, th.font.bold,
                      clinic.name + (f" \u00b7 {info.footer}" if info.footer else ""),
                      f"{form} \u00b7 {content}", labels["page_of"], page_w)

    return Layout(doc.canv.pages, list(pdf.fontMapping.items()), states, meta,
                  doc.canv.forms["header"], [footer(d.info) for d in documents], th.styles["value"])


class _BlankPage:
    """The back of a duplex page left empty on purpose, saying so."""

    def __init__(self, th: Theme, text: str, page_w: float, page_h: float) -> None:
        self.th, self.text, self.page_w, self.page_h = th, text, page_w, page_h

    def __call__(self, canv: Canvas, _doc: Any) -> None:
        canv.blank = True
        canv.saveState()
        canv.setFillColor(GREY)
        canv.setFont(self.th.font.regular, 11)
        canv.drawCentredString(self.page_w / 2, self.page_h / 2, self.text)
        canv.restoreState()


class _Header:
    """The branded page header: drawn once per PDF into a form, then placed on every page."""

    def __init__(self, clinic: Clinic, th: Theme, logo_path: Path, page_w: float, page_h: float,
                 frame_w: float) -> None:
        self.clinic, self.th, self.logo_path = clinic, th, logo_path
        self.page_w, self.page_h = page_w, page_h
        self.text_w = frame_w - LOGO_W - 6 * mm
        self.image: Any = svg_logo(logo_path) if logo_path.suffix.lower() == ".svg" else None
        self.name = Paragraph(escape(clinic.name), th.styles["header_name"])
        self.details = Paragraph(
            "<br/>".join([escape(", ".join(clinic.address)),
                          escape(f"{clinic.phone} \u00b7 {clinic.email}"),
                          escape(clinic.website.removeprefix("https://").removesuffix("/"))]),
            th.styles["header"])

    def __call__(self, canv: Canvas, _doc: Any) -> None:
        if not canv.hasForm("header"):
            self.define(canv)
        canv.doForm("header")

    def define(self, canv: Canvas) -> None:
        """Draw the header into the form named "header" of this PDF."""
        canv.beginForm("header")
        self._draw(canv)
        canv.endForm()

    def _draw(self, canv: Canvas) -> None:
        th, image, page_w, page_h = self.th, self.image, self.page_w, self.page_h
        canv.saveState()
        top = page_h - 9 * mm
        if self.logo_path.suffix.lower() == ".svg":
            w, h = _fit(image.width, image.height, LOGO_W, LOGO_H)
            canv.saveState()
            canv.translate(MARGIN, top - h)
            canv.scale(w / image.width, h / image.height)
            from reportlab.graphics import renderPDF

            # Text in a drawing defaults to Helvetica; make the default the clinic's own font.
            image.initialFontName, image.initialFontSize = th.font.regular, 11
            renderPDF.draw(image, canv, 0, 0)
            canv.restoreState()
        else:
            w, h = _fit(*image_size(self.logo_path), LOGO_W, LOGO_H)
            draw_image(canv, self.logo_path, MARGIN, top - h, w, h)
        _, nh = self.name.wrap(self.text_w, 30)
        self.name.drawOn(canv, page_w - MARGIN - self.text_w, top - nh)
        _, dh = self.details.wrap(self.text_w, 30)
        self.details.drawOn(canv, page_w - MARGIN - self.text_w, top - nh - dh - 1)
        canv.setStrokeColor(th.primary)
        canv.setLineWidth(1.6)
        y = page_h - HEADER + 2 * mm
        canv.line(MARGIN, y, page_w - MARGIN, y)
        canv.restoreState()
