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

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus import PageBreak as RLPageBreak

from . import blocks as b
from .branding import Clinic
from .errors import RenderError
from .flowables import BoxedItem, FieldCell, InitialsBox, QrCode, SectionHeading, WriteLines
from .fonts import Registered, describe, register, register_italic, uncovered
from .library import ClinicEntry, FontEntry

rl_config.useA85 = 0  # plain binary streams: smaller and faster than ASCII85

PAPER = {"a4": A4, "letter": LETTER}
MARGIN = 18 * mm
HEADER = 31 * mm
FOOTER = 17 * mm
LOGO_W = 44 * mm
LOGO_H = 15 * mm
GREY = colors.HexColor("#5a5a5a")
RULE = colors.HexColor("#9a9a9a")
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


def fill(label: str, **values: str) -> str:
    """Put values into a label's {placeholders} (plain replacement, never str.format)."""
    for key, value in values.items():
        label = label.replace("{" + key + "}", value)
    return label


def escape(value: str) -> str:
    """Escape text for reportlab's paragraph markup: data never becomes markup."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")



@lru_cache(maxsize=32)
def logo(path: Path) -> Any:
    """Load a clinic logo once per process: a raster image or an SVG drawing."""
    if path.suffix.lower() == ".svg":
        from svglib.svglib import svg2rlg

        drawing = svg2rlg(str(path))
        if drawing is None or drawing.width <= 0 or drawing.height <= 0:
            raise RenderError.one(str(path), 1, "logo", "SVG could not be drawn",
                                  "an SVG with a width and height")
        return drawing
    return ImageReader(str(path))


def _fit(width: float, height: float, box_w: float, box_h: float) -> tuple[float, float]:
    scale = min(box_w / width, box_h / height)
    return width * scale, height * scale


class Builder:
    """Turns blocks into flowables with one clinic's theme."""

    def __init__(self, th: Theme, frame_width: float) -> None:
        self.th = th
        self.width = frame_width
        self.sections = 0

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
                                 f"s{self.sections}", block.title)
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

    def _field(self, label: str, value: str, min_height: float = 31.0) -> FieldCell:
        shown = self.para(escape(value), "value") if value else None
        return FieldCell(self.para(escape(label), "label"), shown, RULE, min_height)

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
        cells = [self._field(sign, "", 44), self._field(printed, block.name, 34),
                 self._field(day, "", 34), self._field(clock, "", 34)]
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


def documentescape(document: b.Document, clinic: Clinic) -> Iterator[str]:
    """Every string that will be drawn, for the font coverage check."""
    info = document.info
    yield from (info.title, info.subtitle, info.footer, clinic.name, *clinic.address, clinic.phone,
                clinic.email, clinic.website)
    yield from _blockescape(document.blocks)


def _blockescape(items: tuple[b.Block, ...]) -> Iterator[str]:
    for block in items:
        for value in vars(block).values():
            yield from _valueescape(value)


def _valueescape(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _valueescape(item)
    elif hasattr(value, "__dataclass_fields__"):
        for item in vars(value).values():
            yield from _valueescape(item)


def _uses_italic(items: tuple[Any, ...]) -> bool:
    """True when any inline run of these blocks is italic."""
    for item in items:
        if isinstance(item, tuple):
            if len(item) == 3 and isinstance(item[0], str) and item[2] is True:
                return True
            if _uses_italic(item):
                return True
        elif hasattr(item, "__dataclass_fields__") and _uses_italic(tuple(vars(item).values())):
            return True
    return False


def check_coverage(document: b.Document, entry: ClinicEntry, font: Registered, source: str) -> None:
    """Fail with every character of the document that the clinic's font cannot draw."""
    missing: list[str] = []
    for text in documentescape(document, entry.clinic):
        for ch in uncovered(text, font):
            if ch not in missing:
                missing.append(ch)
    if missing:
        raise RenderError([RenderError.one(source, 1, "text", f"character {describe(ch)} cannot be "
                                           f"drawn by font {font.family}",
                                           "characters the font covers").problems[0]
                           for ch in missing])


class _PagedCanvas(Canvas):  # type: ignore[misc]
    """Holds pages back until the end so the footer can say "Page X of Y"."""

    footer: Callable[[Canvas, int, int], None]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pages: list[dict[str, Any]] = []
        self.marks: list[tuple[str, str, float, float]] = []

    def showPage(self) -> None:
        self.pages.append(dict(self.__dict__))
        self.marks = []
        self._startPage()

    def save(self) -> None:
        total = len(self.pages)
        for number, state in enumerate(self.pages, 1):
            self.__dict__.update(state)
            for key, title, _left, top in self.marks:
                self.bookmarkHorizontalAbsolute(key, top, left=0)
                self.addOutlineEntry(title, key, level=0)
            self.footer(self, number, total)
            Canvas.showPage(self)
        super().save()


def render(document: b.Document, entry: ClinicEntry, font_entry: FontEntry, labels: dict[str, str],
           source: str) -> bytes:
    """Draw a composed document with the clinic's branding and return the PDF bytes."""
    clinic = entry.clinic
    th = theme(clinic, font_entry)
    font = register_italic(font_entry) if _uses_italic(document.blocks) else th.font
    check_coverage(document, entry, font, source)
    page_w, page_h = PAPER[clinic.paper]
    frame_w = page_w - 2 * MARGIN
    builder = Builder(th, frame_w)
    info = document.info
    story: list[Flowable] = [builder.title_block(info, clinic.name), *builder.blocks(document.blocks)]
    header = _header(clinic, th, entry.logo, page_w, page_h, frame_w)

    def footer(canv: Canvas, number: int, total: int) -> None:
        _draw_footer(canv, th, info, clinic, labels, number, total, page_w)

    canvas_class = type("PagedCanvas", (_PagedCanvas,), {"footer": staticmethod(footer)})
    out = io.BytesIO()
    doc = BaseDocTemplate(
        out, pagesize=(page_w, page_h), leftMargin=MARGIN, rightMargin=MARGIN,
        topMargin=HEADER, bottomMargin=FOOTER, title=info.title, author=clinic.name,
        subject=f"{info.subtitle}: {info.title}", creator="handoutgen",
        keywords=f"{info.treatment}, {info.kind}, version {info.version}, {info.fingerprint}",
        lang=info.language, invariant=1, pageCompression=1,
        initialFontName=th.font.regular, initialFontSize=11, initialLeading=15.2,
    )
    frame = Frame(MARGIN, FOOTER, frame_w, page_h - HEADER - FOOTER, id="body",
                  leftPadding=0, rightPadding=0, topPadding=4, bottomPadding=0)
    doc.addPageTemplates([PageTemplate("page", [frame], onPage=header)])
    doc.build(story, canvasmaker=canvas_class)
    return out.getvalue()


def _header(clinic: Clinic, th: Theme, logo_path: Path, page_w: float, page_h: float,
            frame_w: float) -> Callable[[Canvas, Any], None]:
    image = logo(logo_path)
    name = Paragraph(escape(clinic.name), th.styles["header_name"])
    details = Paragraph(
        "<br/>".join([escape(", ".join(clinic.address)),
                      escape(f"{clinic.phone} \u00b7 {clinic.email}"),
                      escape(clinic.website.removeprefix("https://").removesuffix("/"))]),
        th.styles["header"])
    text_w = frame_w - LOGO_W - 6 * mm

    def draw(canv: Canvas, _doc: Any) -> None:
        # The header is the same on every page: draw it once into a form, reuse it per page.
        if not canv.hasForm("header"):
            canv.beginForm("header")
            draw_once(canv)
            canv.endForm()
        canv.doForm("header")

    def draw_once(canv: Canvas) -> None:
        canv.saveState()
        top = page_h - 9 * mm
        if logo_path.suffix.lower() == ".svg":
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
            iw, ih = image.getSize()
            w, h = _fit(iw, ih, LOGO_W, LOGO_H)
            canv.drawImage(image, MARGIN, top - h, w, h, mask="auto")
        _, nh = name.wrap(text_w, 30)
        name.drawOn(canv, page_w - MARGIN - text_w, top - nh)
        _, dh = details.wrap(text_w, 30)
        details.drawOn(canv, page_w - MARGIN - text_w, top - nh - dh - 1)
        canv.setStrokeColor(th.primary)
        canv.setLineWidth(1.6)
        y = page_h - HEADER + 2 * mm
        canv.line(MARGIN, y, page_w - MARGIN, y)
        canv.restoreState()

    return draw


def _draw_footer(canv: Canvas, th: Theme, info: b.DocumentInfo, clinic: Clinic,
                 labels: dict[str, str], number: int, total: int, page_w: float) -> None:
    canv.saveState()
    canv.setStrokeColor(RULE)
    canv.setLineWidth(0.5)
    canv.line(MARGIN, FOOTER - 4 * mm, page_w - MARGIN, FOOTER - 4 * mm)
    canv.setFillColor(GREY)
    canv.setFont(th.font.regular, 8)
    left = clinic.name + (f" \u00b7 {info.footer}" if info.footer else "")
    canv.drawString(MARGIN, FOOTER - 8 * mm, left)
    form = fill(labels["form_version"], version=info.version, kind=info.kind,
                treatment=info.treatment)
    content = fill(labels["content_fingerprint"], fingerprint=info.fingerprint)
    page = fill(labels["page_of"], page=str(number), pages=str(total))
    canv.drawString(MARGIN, FOOTER - 12 * mm, f"{form} \u00b7 {content}")
    canv.setFont(th.font.bold, 8)
    canv.drawRightString(page_w - MARGIN, FOOTER - 12 * mm, page)
    canv.restoreState()
