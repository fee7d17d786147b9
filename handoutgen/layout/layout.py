"""Render stage: a Document and the clinic's branding -> reportlab flowables -> PDF bytes.

The page template draws the branded header on every page; the footer (clinic, form version,
content fingerprint, "Page X of Y") is drawn once the page count is known.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
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

from ..compose import blocks as b
from ..errors import RenderError
from ..library.branding import Clinic, FontEntry
from ..library.fonts import Registered, register
from ..library.gather import ClinicEntry
from ..library.styles import NAMED, Cells, SignaturePart, Styles, Stylesheet, Text
from ..reportlab_private import (
    DecoratedTable,
    draw_image,
    font_subsets,
    form_name,
    form_state,
    frame_cursor,
    image_size,
    kept_flowables,
    page_state,
    row_count,
    row_heights,
    start_page,
)
from ..values import Value, frozen
from .flowables import (
    AnswerBox,
    BoxedItem,
    DocumentStart,
    FieldCell,
    InitialsBox,
    ListItem,
    QrCode,
    SectionHeading,
    TaggedParagraph,
    WriteLines,
)
from .page import (
    FOOTER,
    HEADER,
    MARGIN,
    Footer,
    Form,
    Layout,
    Page,
    fill,
)
from .tagging import LANGUAGE_MARK, Node, artifact, begin, end, escape, mark_language

PAPER = {"a4": A4, "letter": LETTER}
LOGO_W = 44 * mm
LOGO_H = 15 * mm


@frozen
class Theme(Value):
    """Fonts, colours and paragraph styles of one clinic, built once per process."""

    font: Registered
    sheet: Stylesheet
    palette: dict[str, colors.Color]  # every colour a stylesheet may name
    tint: colors.Color
    warn_tint: colors.Color
    styles: dict[str, ParagraphStyle]

    @property
    def primary(self) -> colors.Color:
        """The clinic's primary colour."""
        return self.palette["primary"]

    def colour(self, name: str) -> colors.Color:
        """A stylesheet's colour: #rrggbb or a name."""
        return _colour(name, self.palette)


def _mix(colour: colors.Color, amount: float) -> colors.Color:
    """Blend a colour with white (amount 0 = white, 1 = the colour)."""
    return colors.Color(*(1 - amount + amount * c for c in (colour.red, colour.green, colour.blue)))


# The print rules (issue 12) whatever a stylesheet says: the smallest size of each kind of text.
LARGE_BODY, LARGE_HEADING = 16, 20  # the large-print edition (RNIB Clear Print)
LARGE_SMALLEST = 14  # labels and captions in large print
SMALLEST = 9  # no text is smaller


def _size(body: float, factor: float, floor: float = SMALLEST) -> float:
    """A size relative to the body size, to the half point, never under `floor`."""
    return max(floor, round(body * factor * 2) / 2)


@lru_cache(maxsize=32)
def theme(clinic: Clinic, sheet: Stylesheet, font_entry: FontEntry, large: bool = False) -> Theme:
    """Build the paragraph styles for a clinic's font, colours and body size (or large print)."""
    font = register(font_entry)
    palette = {name: colors.HexColor(sheet.hex(name, clinic.colours)) for name in NAMED if name != "white"}
    palette["white"] = colors.white
    body = LARGE_BODY if large else clinic.body_size
    spacing = sheet.text.large_print_leading if large else sheet.text.leading
    floors = {"body": body, "heading": LARGE_HEADING if large else body + 1,
              "label": LARGE_SMALLEST if large else SMALLEST}  # labels, captions and notes
    looks = sheet.styles
    base = ParagraphStyle("body", fontName=font.regular, fontSize=body, leading=body * spacing,
                          textColor=palette["text"], spaceAfter=body * (looks.body.space_after or 0))

    def style(name: str, look: Text) -> ParagraphStyle:
        size_pt = getattr(look, "size_pt", None)
        size = max(floors[look.FLOOR], size_pt) if size_pt is not None else \
            body if look.size == 1 and look.FLOOR == "body" else _size(body, look.size, floors[look.FLOOR])
        kw: dict[str, Any] = {"leading": size * (look.leading or spacing),
                              "textColor": _colour(look.colour, palette),
                              "fontName": font.bold if look.bold else font.regular}
        if look.space_after_pt is not None:
            kw["spaceAfter"] = look.space_after_pt
        elif look.space_after is not None:  # else the body's
            kw["spaceAfter"] = body * look.space_after
        if look.space_before:
            kw["spaceBefore"] = body * look.space_before
        if look.indent:
            kw["leftIndent"] = body * look.indent
        if look.bullet_indent:
            kw["bulletIndent"] = body * look.bullet_indent
        if look.align == "right":
            kw["alignment"] = TA_RIGHT
        return ParagraphStyle(name, parent=base, fontSize=size, **kw)

    styles = {name: style(name, getattr(looks, name)) for name in Styles.__dataclass_fields__}
    styles["body"] = base
    styles["bullet"].bulletFontName, styles["bullet"].bulletFontSize = font.regular, body
    styles["box"].leftIndent = sheet.checklist.box + body * looks.box.indent
    styles["header_name"] = ParagraphStyle("header_name", parent=base, fontSize=12, leading=12 * spacing,
                                           fontName=font.bold, textColor=palette["primary"],
                                           alignment=TA_RIGHT, spaceAfter=0)
    styles["header"] = ParagraphStyle("header", parent=base, fontSize=SMALLEST,
                                      leading=SMALLEST * spacing, textColor=palette["grey"],
                                      alignment=TA_RIGHT, spaceAfter=0)
    return Theme(font, sheet, palette, _mix(palette["accent"], sheet.callout.tint),
                 _mix(palette["warning"], sheet.callout.warning_tint), styles)


def _colour(name: str, palette: dict[str, colors.Color]) -> colors.Color:
    """A stylesheet's colour: #rrggbb or a name."""
    return colors.HexColor(name) if name.startswith("#") else palette[name]


def measure(th: Theme, available: float) -> float:
    """The width of the body text: about `text.measure` characters of the body font, or the page's."""
    sample = "Write your initials in the box beside each risk to show that you understand it."
    average = float(stringWidth(sample, th.font.regular, th.styles["body"].fontSize)) / len(sample)
    return min(available, th.sheet.text.measure * average)


def inline_markup(inline: b.Inline) -> str:
    """Turn inline runs into reportlab paragraph markup; all text is escaped here."""
    parts: list[str] = []
    for text, bold, italic, language in inline:
        if text == "\n":
            parts.append("<br/>")
            continue
        piece = escape(text)
        if italic:
            piece = f"<i>{piece}</i>"
        if bold:
            piece = f"<b>{piece}</b>"
        if language:  # tagged as a Span with its own /Lang when drawn (tagging.split_languages)
            piece = (f'<onDraw name="{LANGUAGE_MARK}" label="{language}"/>{piece}'
                     f'<onDraw name="{LANGUAGE_MARK}" label="-"/>')
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


class RoomFor(CondPageBreak):  # type: ignore[misc]
    """A page break unless `lead` fits on this page with the start of what follows it.

    The start is the first two flowables that follow (two list items, say), or the header and
    first two rows of a table, or the first three lines of a long paragraph: a heading or an
    introduction never ends a page alone.
    """

    def __init__(self, lead: list[Flowable], follow: list[Flowable]) -> None:
        super().__init__(0)
        self.lead, self.follow = lead, follow

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        def tall(f: Flowable) -> float:
            if isinstance(f, KeepTogether):
                return sum(tall(part) for part in kept_flowables(f))
            return float(f.wrap(avail_width, avail_height)[1] + f.getSpaceBefore() + f.getSpaceAfter())

        need = sum(tall(f) for f in self.lead)
        for f in self.follow[:2]:
            height = tall(f)
            if isinstance(f, KeptTable):
                head = f.repeatRows if isinstance(f.repeatRows, int) else len(f.repeatRows)
                height = min(height, sum(row_heights(f)[:head + KeptTable.LEAST]))
            elif isinstance(f, Paragraph):
                height = min(height, 3 * f.style.leading)
            need += height
        self.height = need
        result: tuple[float, float] = super().wrap(avail_width, avail_height)
        return result


class KeptTable(DecoratedTable, Table):  # type: ignore[misc]
    """A table that never leaves a lone row on a page, above a page end or under a repeated header."""

    LEAST = 2  # rows of the body kept together at either side of a page end

    def begin_decoration(self) -> None:
        artifact(self.canv)  # backgrounds and rules are decoration

    def end_decoration(self) -> None:
        end(self.canv)

    def split(self, avail_width: float, avail_height: float) -> list[Any]:
        parts: list[Any] = super().split(avail_width, avail_height)
        while len(parts) == 2:
            head = self.repeatRows if isinstance(self.repeatRows, int) else len(self.repeatRows)
            first, rest = row_count(parts[0]) - head, row_count(parts[1]) - head
            if first < self.LEAST:
                return []  # the whole table moves on
            if rest >= self.LEAST:
                return parts
            # Too little left for the next page: end this page a row earlier.
            avail_height = sum(row_heights(self)[:row_count(parts[0]) - 1]) + 0.01
            parts = super().split(avail_width, avail_height)
        return parts


class Builder:
    """Turns blocks into flowables with one clinic's theme."""

    def __init__(self, th: Theme, frame_width: float, labels: dict[str, str], section_level: int = 0,
                 large: bool = False, breaks: frozenset[int] = frozenset()) -> None:
        self.th = th
        self.labels = labels
        self.root = Node("Document")  # the structure tree: elements in reading order
        self.parent = self.root  # where the next block's elements go
        self.depth = 0  # sections open around the next block
        self.logos: list[Node] = []  # each document's logo (a Figure)
        self.width = frame_width
        self.large = large  # large print: one column everywhere
        self.breaks = breaks  # numbers of the sections that start a new page
        self.section_level = section_level  # 1 in a packet, under each document's bookmark
        self.sections = 0
        self.slots = 0

    def table(self, rows: list[list[Any]], widths: list[float], style: list[tuple[Any, ...]],
              repeat: int = 0) -> Table:
        """A left-aligned table in the clinic's font (reportlab's default font is never used)."""
        table = KeptTable(rows, colWidths=widths, hAlign="LEFT", repeatRows=repeat)
        size = self.th.styles["body"].fontSize
        table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), self.th.font.regular, size), *style]))
        return table

    def para(self, markup: str, style: str, tag: str = "P", node: Node | None = None) -> Paragraph:
        """A paragraph, tagged as a new `tag` element or as content of `node`."""
        return TaggedParagraph(markup, self.th.styles[style], node or self.parent.add(tag))

    def heading_tag(self) -> str:
        """H2 for a section's title, H3 for a heading inside it."""
        return f"H{min(6, 2 + self.depth)}"

    def start(self, info: b.DocumentInfo, clinic_name: str, packet: bool) -> None:
        """Begin a document's elements: a Part of a packet, its logo first."""
        self.parent = self.root.add("Part", Lang=info.language) if packet else self.root
        self.depth = 0
        self.logos.append(self.parent.add("Figure", Alt=fill(self.labels["logo_alt"],
                                                             clinic=clinic_name)))

    def blocks(self, items: tuple[b.Block, ...]) -> Iterator[Flowable]:
        pending: list[Flowable] = []  # a sub-heading waits to start where the next block starts
        for block in items:
            made = list(self.block(block))
            if pending:
                yield RoomFor(pending, made)
                yield from pending
                pending = []
            if isinstance(block, b.Heading):
                pending = made
            else:
                yield from made
        yield from pending

    def block(self, block: b.Block) -> Iterator[Flowable]:
        handler: Callable[[Any], Iterator[Flowable]] = getattr(self, "_" + type(block).__name__)
        yield from handler(block)

    def _Section(self, block: b.Section) -> Iterator[Flowable]:
        self.sections += 1
        outer = self.parent
        self.parent = outer.add("Sect")
        heading = SectionHeading(escape(block.title), self.th.styles["section"],
                                 f"s{self.sections}", block.title, self.section_level)
        heading.node = self.parent.add(self.heading_tag())
        self.depth += 1
        # A heading never ends a page: it starts where its first block can start too, and the
        # second's when the first only introduces it.
        if self.sections in self.breaks:
            yield RLPageBreak()
        opening = 2 if len(block.blocks) > 1 and isinstance(block.blocks[0], b.Paragraph) else 1
        lead: list[Flowable] = [heading]
        for child in block.blocks[:opening - 1]:
            lead += self.block(child)
        follow = list(self.blocks(block.blocks[opening - 1:opening]))
        yield RoomFor(lead, follow)
        yield from lead
        yield from follow
        yield from self.blocks(block.blocks[opening:])
        self.parent = outer  # the blocks are made as they are asked for, in order
        self.depth -= 1

    def _Heading(self, block: b.Heading) -> Iterator[Flowable]:
        yield self.para(inline_markup(block.text), "heading", self.heading_tag())

    def _Paragraph(self, block: b.Paragraph) -> Iterator[Flowable]:
        yield self.para(inline_markup(block.text), block.style)

    def _Bullets(self, block: b.Bullets) -> Iterator[Flowable]:
        style = self.th.styles["bullet"]
        listing = self.parent.add("L", ListNumbering="Decimal") if block.numbered else self.parent.add("L")
        if block.numbered:  # room for the widest number
            widest = stringWidth(f"{len(block.items)}.", style.bulletFontName, style.bulletFontSize)
            style = ParagraphStyle("numbered", parent=style,
                                   leftIndent=max(style.leftIndent, style.bulletIndent + widest + 4))
        for number, item in enumerate(block.items, 1):
            element = listing.add("LI")
            label = element.add("Lbl")
            paragraph = ListItem(inline_markup(item), style, element.add("LBody"),
                                 bulletText=f"{number}." if block.numbered else "\u2022")
            paragraph.label = label
            yield paragraph

    def _Checklist(self, block: b.Checklist) -> Iterator[Flowable]:
        look = self.th.sheet.checklist
        colour = self.th.colour(look.dont_colour if block.mark == "dont" else look.colour)
        listing = self.parent.add("L")
        alt = self.labels["tick_box" if block.mark == "box" else block.mark]
        items = []
        for item in block.items:
            element = listing.add("LI")
            label = element.add("Lbl", Alt=alt)
            items.append(BoxedItem(inline_markup(item), self.th.styles["box"], colour, block.mark,
                                   (look.box, look.line, look.mark_line), node=element.add("LBody")))
            items[-1].label = label
        # The last two items travel together: no item is left alone at the top of a page.
        yield from items[:-2]
        yield KeepTogether(items[-2:])

    def _YesNo(self, block: b.YesNo) -> Iterator[Flowable]:
        # A table without a header row: each question names its row, each answer is a tick box
        # (a Figure that says so) with its word beside it.
        table = self.parent.add("Table")
        style = self.th.styles["cell"]
        alt = self.labels["tick_box"]
        look, box = self.th.sheet.yesno, self.th.sheet.checklist
        mark = (box.box, box.line, look.answer_gap)
        answer_w = max(AnswerBox.width_for(word, style, mark) for word in block.answers) \
            + 2 * look.answer_padding
        rows = []
        for question in block.questions:
            row = table.add("TR")
            cells: list[Flowable] = [self.para(inline_markup(question), "cell",
                                               node=row.add("TH", Scope="Row"))]
            for word in block.answers:
                cell = row.add("TD")
                figure = cell.add("Figure", Alt=alt)
                answer = self.para(escape(word), "cell", node=cell.add("P"))
                cells.append(AnswerBox(answer, self.th.colour(look.box_colour), mark, figure))
            rows.append(cells)
        yield self.table(rows, [self.width - 2 * answer_w, answer_w, answer_w], [
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, -1), look.rule, self.th.colour(look.rule_colour)),
            ("LEFTPADDING", (0, 0), (0, -1), 0), ("LEFTPADDING", (1, 0), (-1, -1), look.answer_padding),
            ("TOPPADDING", (0, 0), (-1, -1), look.padding_top),
            ("BOTTOMPADDING", (0, 0), (-1, -1), look.padding_bottom)])
        yield Spacer(1, look.space_after)

    def _Table(self, block: b.Table) -> Iterator[Flowable]:
        if not block.rows:
            return
        cols = len(block.rows[0])
        table = self.parent.add("Table")
        rows = []
        for r, row in enumerate(block.rows):
            head = block.header and r == 0
            element = table.add("TR")
            cells = []
            for c, cell in enumerate(row):
                # A table without a header row names its rows in its first column.
                node = element.add("TH", Scope="Column") if head else \
                    element.add("TH", Scope="Row") if not block.header and c == 0 else element.add("TD")
                cells.append(self.para(inline_markup(cell), "cell_head" if head else "cell", node=node))
            rows.append(cells)
        look = self.th.sheet.table
        style: list[tuple[Any, ...]] = [
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, -1), look.rule, self.th.colour(look.rule_colour)),
            ("TOPPADDING", (0, 0), (-1, -1), look.padding_top),
            ("BOTTOMPADDING", (0, 0), (-1, -1), look.padding_bottom)]
        if block.header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), self.th.colour(look.header_background)))
        yield self.table(rows, [self.width / cols] * cols, style, repeat=1 if block.header else 0)
        yield Spacer(1, look.space_after)

    def _field(self, label: str, value: str, look: Cells, min_height: float | None = None,
               slot: int | None = None, markup: str = "") -> FieldCell:
        """A field cell; a slot cell's value may instead be drawn in when a layout is filled in.

        `label` is plain text; `markup` is paragraph markup (already escaped) to print instead.
        """
        outer, self.parent = self.parent, self.parent.add("Div")
        caption = self.para(markup or escape(label), "label")
        tags = (self.parent.add("P", slot=slot),
                self.parent.add("Figure", Alt=fill(self.labels["write_in"], field=label)))
        self.parent = outer
        rule = (look.rule, self.th.colour(look.rule_colour))
        return FieldCell(caption, escape(value), self.th.styles["value"], rule,
                         (min_height or look.height, look.label_gap, look.value_rise), slot, tags)

    def _slots(self, block: b.Fields | b.Signature) -> int:
        """Number the block's slots, one for each of its values (blocks.SLOTTED); the first one's."""
        first = self.slots
        self.slots += len(block.values())
        return first

    def _grid(self, cells: list[Flowable], columns: int, look: Cells, widths: list[float] | None = None,
              fixed: bool = False) -> Table:
        """Cells in rows of `columns`; large print has one column unless the columns are `fixed`."""
        if self.large and not fixed:
            columns, widths = 1, None
        rows = [cells[i:i + columns] for i in range(0, len(cells), columns)]
        rows[-1] = rows[-1] + [Spacer(0, 0) for _ in range(columns - len(rows[-1]))]
        return self.table(rows, widths or [self.width / columns] * columns, [
            ("VALIGN", (0, 0), (-1, -1), "BOTTOM"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), look.column_gap),
            ("TOPPADDING", (0, 0), (-1, -1), look.padding_top),
            ("BOTTOMPADDING", (0, 0), (-1, -1), look.padding_bottom)])

    def _Fields(self, block: b.Fields) -> Iterator[Flowable]:
        if block.fields:
            look = self.th.sheet.fields
            first = self._slots(block)
            cells: list[Flowable] = [self._field(f.label, f.value, look, slot=first + i)
                                     for i, f in enumerate(block.fields)]
            yield self._grid(cells, block.columns, look)
            yield Spacer(1, look.space_after)

    def _Lines(self, block: b.Lines) -> Iterator[Flowable]:
        look = self.th.sheet.lines
        alt = fill(self.labels["lines_alt"], count=str(block.count))
        yield WriteLines(block.count, self.th.colour(look.rule_colour), look.gap, look.rule,
                         node=self.parent.add("Figure", Alt=alt))
        yield Spacer(1, look.space_after)

    def _Initials(self, block: b.Initials) -> Iterator[Flowable]:
        look = self.th.sheet.initials
        rows = []
        outer = self.parent
        for item in block.items:
            self.parent = outer.add("Div")
            markup = f"<b>{inline_markup(item.title)}</b><br/>{inline_markup(item.text)}"
            statement = self.para(markup, "cell")
            caption = self.para(escape(block.box_label), "label")
            box = self.parent.add("Figure", Alt=fill(self.labels["write_in"], field=block.box_label))
            rows.append([statement, InitialsBox(caption, self.th.colour(look.box_colour), look.box_width,
                                                look.box_height, look.box_line, node=box)])
        self.parent = outer
        table = self.table(rows, [self.width - look.column, look.column], [
            ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("LEFTPADDING", (1, 0), (1, -1), look.box_padding),
            ("TOPPADDING", (0, 0), (-1, -1), look.padding_top),
            ("BOTTOMPADDING", (0, 0), (-1, -1), look.padding_bottom),
            ("LINEBELOW", (0, 0), (-1, -1), look.rule, self.th.colour(look.rule_colour))])
        yield table
        yield Spacer(1, look.space_after)

    def _Signature(self, block: b.Signature) -> Iterator[Flowable]:
        look = self.th.sheet.signature
        first = self._slots(block)

        def cell(part: SignaturePart) -> Flowable:
            label = block.label(part)
            slot = first + block.SLOTS.index(part) if part in block.SLOTS else None
            value = block.values()[slot - first] if slot is not None else ""
            if part != "sign":
                return self._field(label, value, look, slot=slot)
            # The role leads the signature's label.
            role = f"<b>{escape(block.role)}</b>: {escape(label)}"
            return self._field(f"{block.role}: {label}", value, look, look.sign_height, slot, role)

        # Made in the order of its lines, so the structure tree reads as the page does. A row
        # keeps its columns in large print: a long printed name has a row to itself.
        rows = [self._grid([cell(part) for part in parts], len(parts), look,
                           [self.width * share / sum(shares) for share in shares], fixed=True)
                for parts, shares in zip(look.rows, look.widths, strict=True)]
        yield KeepTogether(rows)

    def title_block(self, info: b.DocumentInfo, clinic_name: str, note: str) -> Flowable:
        """The document title and subtitle, with the QR code beside them when there is one."""
        # The languages it is also in, each offered in its own words (and tagged with its /Lang).
        offers = "".join(" " + inline_markup(((sentence, False, False, language),))
                         for language, sentence in info.offers)
        heading = [self.para(escape(info.title), "title", "H1"),
                   self.para(escape(f"{info.subtitle} \u00b7 {clinic_name}"), "subtitle"),
                   self.para(escape(note) + offers, "on_request")]
        if not info.qr:
            return KeepTogether(heading)
        look = self.th.sheet.qr
        size = look.title_size_mm * mm
        caption = self.para(escape(info.qr_caption), "qr_caption")
        widths = [self.width - size - (look.title_caption_mm + look.title_gap_mm) * mm,
                  look.title_caption_mm * mm, size + look.title_gap_mm * mm]
        return self.table([[heading, caption, self.qr(info.qr, size)]], widths, [
            ("VALIGN", (0, 0), (-1, -1), "TOP"), ("VALIGN", (1, 0), (1, 0), "MIDDLE"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ("LEFTPADDING", (2, 0), (2, 0), look.title_gap_mm * mm), ("TOPPADDING", (0, 0), (-1, -1), 0),
            ("BOTTOMPADDING", (0, 0), (-1, -1), look.title_padding_bottom)])

    def qr(self, data: str, size: float) -> QrCode:
        """A QR code, tagged as a Figure that says what it opens."""
        return QrCode(data, size, self.parent.add("Figure", Alt=fill(self.labels["qr_alt"], target=data)))

    def _Qr(self, block: b.Qr) -> Iterator[Flowable]:
        look = self.th.sheet.qr
        size = look.size_mm * mm
        cells = [[self.qr(block.data, size), self.para(escape(block.caption), "body")]]
        table = self.table(cells, [size + look.gap, self.width - size - look.gap],
                           [("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
        yield KeepTogether([Spacer(1, look.space_before), table])

    def _Spacer(self, block: b.Spacer) -> Iterator[Flowable]:
        yield Spacer(1, block.size)

    def _PageBreak(self, _block: b.PageBreak) -> Iterator[Flowable]:
        yield RLPageBreak()

    def _Callout(self, block: b.Callout) -> Iterator[Flowable]:
        inner: list[Flowable] = []
        outer, self.parent = self.parent, self.parent.add("Div")
        if block.title:  # the title heads the callout: headings inside it sit one level below
            inner.append(self.para(escape(block.title), "callout_title", self.heading_tag()))
            self.depth += 1
        inner.extend(self.blocks(block.blocks))
        self.depth -= 1 if block.title else 0
        self.parent = outer
        warn = block.tone == "warning"
        look = self.th.sheet.callout
        table = self.table([[inner]], [self.width], [
            ("BACKGROUND", (0, 0), (-1, -1), self.th.warn_tint if warn else self.th.tint),
            ("LINEBEFORE", (0, 0), (0, -1), look.edge, self.th.palette["warning" if warn else "accent"]),
            ("LEFTPADDING", (0, 0), (-1, -1), look.padding_side),
            ("RIGHTPADDING", (0, 0), (-1, -1), look.padding_side),
            ("TOPPADDING", (0, 0), (-1, -1), look.padding_top),
            ("BOTTOMPADDING", (0, 0), (-1, -1), look.padding_bottom)])
        yield table
        yield Spacer(1, look.space_after)

    def _Keep(self, block: b.Keep) -> Iterator[Flowable]:
        # Keeps inside stay: when the whole is too tall for a page, each part still holds together.
        yield KeepTogether(list(self.blocks(block.blocks)))


class _RecordingCanvas(Canvas):  # type: ignore[misc]
    """Records each finished page instead of writing it, so pages can be replayed later.

    The footer ("Page X of Y") needs the page count, bookmarks need the final page objects,
    and a cached layout is replayed for every patient: all happen when a Layout is filled in
    (emit/fill.py).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pages: list[Page] = []
        self.marks: list[tuple[str, str, float, int]] = []
        self.slots: list[tuple[int, int, float, float]] = []
        self.doc_index = 0
        self.blank = False
        self.forms: dict[str, Form] = {}
        self.images: list[tuple[Any, Any, str, list[str]]] | None = None  # drawn in a form
        self.page_fill = 0.0  # share of the body frame used on this page, set at its end
        self.fills: list[float] = []
        self.mcids = 0  # marked-content ids used on this page
        self.logo_due: int | None = None  # a document starts on this page: its logo is content
        self.setNamedCB(LANGUAGE_MARK, mark_language)

    def beginForm(self, name: str, *args: Any, **kwargs: Any) -> None:
        super().beginForm(name, *args, **kwargs)
        self.images = []

    def endForm(self, **kwargs: Any) -> None:
        """Record the form as well, so a Layout can make it again without drawing it."""
        self.forms[form_name(self)] = Form(form_state(self), self.images or [])
        self.images = None
        super().endForm(**kwargs)

    def showPage(self) -> None:
        self.pages.append(Page(page_state(self), self.slots, self.marks,
                               -1 if self.blank else self.doc_index, self.mcids))
        self.fills.append(0.0 if self.blank else self.page_fill)
        self.marks, self.slots, self.blank, self.page_fill, self.mcids = [], [], False, 0.0, 0
        start_page(self)

    def save(self) -> None:
        """Nothing to write: a Layout is drawn into a PDF by `fill`."""


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


MIN_FILL = 0.4  # the least share of a page a document's last page holds: no page of a few lines


def layout(documents: tuple[b.Document, ...], entry: ClinicEntry, font_entry: FontEntry,
           labels: dict[str, str], duplex: bool = False) -> Layout:
    """Lay documents out, one after the other: branded pages, recorded for `fill`.

    Several documents make a packet: each starts on a new page (on a front side when
    `duplex`), keeps its own footer and page numbers, and gets a bookmark above its sections.
    A document whose last page would hold only a few lines is laid out again with a section
    moved to that page, so its last two pages share the text. The documents' edition (standard
    or large print) decides the type.
    """
    large = documents[0].info.large_print
    breaks: frozenset[int] = frozenset()
    lay, pages = _lay(documents, entry, font_entry, labels, duplex, large, breaks)
    for index in range(len(documents)):
        moved = True
        while moved:  # one page at a time, as long as a move helps
            moved = False
            for section in _sections_to_move(pages, index):
                trial, trial_pages = _lay(documents, entry, font_entry, labels, duplex, large,
                                          breaks | {section})
                if _balanced(trial_pages, pages, index):
                    lay, pages, breaks, moved = trial, trial_pages, breaks | {section}, True
                    break
    return lay


@frozen
class _PageFacts(Value):
    """What the rebalancing needs of one laid-out page."""

    document: int  # -1 for a blank duplex page
    fill: float  # share of the body frame used
    sections: tuple[int, ...]  # numbers of the sections that start on it


def _doc_pages(pages: list[_PageFacts], index: int) -> list[_PageFacts]:
    return [p for p in pages if p.document == index]


def _sections_to_move(pages: list[_PageFacts], index: int) -> list[int]:
    """Sections to start on a new page, nearest the end first, when a page after the first is too empty.

    Moving a section that starts on the page before the emptier one shares the text between them.
    """
    mine = _doc_pages(pages, index)
    for before, page in itertools.pairwise(mine):
        if page.fill < MIN_FILL:
            return list(reversed(before.sections))
    return []


def _balanced(trial: list[_PageFacts], before: list[_PageFacts], index: int) -> bool:
    """The same number of pages, and fewer of them too empty."""
    mine, old = _doc_pages(trial, index), _doc_pages(before, index)

    def empty(pages: list[_PageFacts]) -> int:
        return sum(p.fill < MIN_FILL for p in pages[1:])

    return len(mine) == len(old) and empty(mine) < empty(old)


def _lay(documents: tuple[b.Document, ...], entry: ClinicEntry, font_entry: FontEntry,
         labels: dict[str, str], duplex: bool, large: bool,
         breaks: frozenset[int]) -> tuple[Layout, list[_PageFacts]]:
    """Lay the documents out once, starting the sections numbered in `breaks` on a new page."""
    clinic = entry.clinic
    th = theme(clinic, entry.styles, font_entry, large)
    page_w, page_h = PAPER[clinic.paper]
    frame_w = measure(th, page_w - 2 * MARGIN)
    left = (page_w - frame_w) / 2
    packet = len(documents) > 1
    builder = Builder(th, frame_w, labels, 1 if packet else 0, large, breaks)
    story: list[Flowable] = []
    for index, document in enumerate(documents):
        if index:
            story += [_DuplexPad()] if duplex else []
            story += [NextPageTemplate("page"), RLPageBreak()]
        info = document.info
        builder.start(info, clinic.name, packet)
        story += [DocumentStart(index, f"d{index}", info.title if packet else None),
                  builder.title_block(info, clinic.name, labels["on_request"]),
                  *builder.blocks(document.blocks)]
    header = _Header(clinic, th, entry.logo, page_w, page_h, page_w - 2 * MARGIN)
    meta = _metadata(documents, clinic, labels, th)
    doc = BaseDocTemplate(io.BytesIO(), leftMargin=left, rightMargin=left, topMargin=HEADER,
                          bottomMargin=FOOTER, **meta)
    body_h = page_h - HEADER - FOOTER
    frame = Frame(left, FOOTER, frame_w, body_h, id="body",
                  leftPadding=0, rightPadding=0, topPadding=4, bottomPadding=0)
    blank = _BlankPage(th, labels["blank_page"], page_w, page_h)

    def page_end(canv: Canvas, doc: BaseDocTemplate) -> None:
        canv.page_fill = (FOOTER + body_h - frame_cursor(doc.frame)) / body_h
        # The logo is content on the page where a document starts, and decoration on the others.
        if canv.logo_due is None:
            artifact(canv, "Pagination", "Header")
        else:
            begin(canv, builder.logos[canv.logo_due])
        canv.doForm("logo")
        end(canv)
        canv.logo_due = None

    doc.addPageTemplates([PageTemplate("page", [frame], onPage=header, onPageEnd=page_end),
                          PageTemplate("blank", [Frame(0, 0, page_w, page_h, id="blank")],
                                       onPage=blank)])
    doc.build(story, canvasmaker=_RecordingCanvas)
    fonts, states = font_subsets(doc.canv)

    def footer(info: b.DocumentInfo) -> Footer:
        # The content fingerprint is for staff: it is in the PDF's keywords, not on the page.
        form = fill(labels["form_version"], version=info.version, form=info.form)
        return Footer(th.font.regular, th.font.bold,
                      clinic.name + (f" \u00b7 {info.footer}" if info.footer else ""),
                      form, labels["page_of"], page_w, (th.palette["grey"], th.palette["rule"]),
                      (labels["identifier_name"], labels["identifier_birth"]), info.identifier)

    recorded: list[Page] = doc.canv.pages
    facts = [_PageFacts(page.document, fill_, tuple(int(key[1:]) for key, *_ in page.marks
                                                    if key.startswith("s")))
             for page, fill_ in zip(recorded, doc.canv.fills, strict=True)]
    forms = {name: doc.canv.forms[name] for name in ("header", "logo")}
    lay = Layout(recorded, fonts, states, meta, forms,
                 [footer(d.info) for d in documents], th.styles["value"], builder.root)
    return lay, facts


class _BlankPage:
    """The back of a duplex page left empty on purpose, saying so."""

    def __init__(self, th: Theme, text: str, page_w: float, page_h: float) -> None:
        self.th, self.text, self.page_w, self.page_h = th, text, page_w, page_h

    def __call__(self, canv: Canvas, _doc: Any) -> None:
        canv.blank = True
        artifact(canv, "Pagination")
        canv.saveState()
        canv.setFillColor(self.th.palette["grey"])
        canv.setFont(self.th.font.regular, 11)
        canv.drawCentredString(self.page_w / 2, self.page_h / 2, self.text)
        canv.restoreState()
        end(canv)


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
        artifact(canv, "Pagination", "Header")
        canv.doForm("header")
        end(canv)

    def define(self, canv: Canvas) -> None:
        """Draw the header into the form named "header" of this PDF, and the logo into "logo"."""
        canv.beginForm("header")
        self._draw(canv)
        canv.endForm()
        canv.beginForm("logo")
        self._logo(canv)
        canv.endForm()

    def _logo(self, canv: Canvas) -> None:
        th, image = self.th, self.image
        top = self.page_h - 9 * mm
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

    def _draw(self, canv: Canvas) -> None:
        th, page_w, page_h = self.th, self.page_w, self.page_h
        canv.saveState()
        top = page_h - 9 * mm
        _, nh = self.name.wrap(self.text_w, 30)
        self.name.drawOn(canv, page_w - MARGIN - self.text_w, top - nh)
        _, dh = self.details.wrap(self.text_w, 30)
        self.details.drawOn(canv, page_w - MARGIN - self.text_w, top - nh - dh - 1)
        canv.setStrokeColor(th.primary)
        canv.setLineWidth(1.6)
        y = page_h - HEADER + 2 * mm
        canv.line(MARGIN, y, page_w - MARGIN, y)
        canv.restoreState()
