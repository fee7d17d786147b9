"""Custom reportlab flowables for the parts a patient writes on: boxes, lines, fields."""

from __future__ import annotations

import copy
import itertools
from functools import lru_cache
from typing import Any

from reportlab.lib.colors import Color, black
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus.flowables import Flowable
from reportlab.platypus.paragraph import Paragraph, ParagraphStyle

from ..reportlab_private import page_code
from .tagging import Marked, Node, begin, end, split_languages

MIN_VALUE_PT = 9.0  # a value too long for its line shrinks, never below this size
SHRINK = 0.875  # nor below this share of its style's size (14 pt in large print)
VALUE_LINES = 2  # lines a value may take at the smallest size: a cell always keeps room for them


class TaggedParagraph(Marked, Paragraph):  # type: ignore[misc]
    """A paragraph drawn as content of its structure element (`node`)."""

    def __init__(self, text: str | None, style: ParagraphStyle, node: Node | None = None,
                 **kw: Any) -> None:
        super().__init__(text, style, **kw)
        self.node = node

    def drawOn(self, canvas: Canvas, x: float, y: float, _sW: float = 0) -> None:
        start = len(page_code(canvas))
        super().drawOn(canvas, x, y, _sW)
        split_languages(canvas, start, self.node)

    def split(self, avail_width: float, avail_height: float) -> list[Any]:
        parts: list[Any] = super().split(avail_width, avail_height)
        for part in parts:  # one element, with content on each page
            part.node = self.node
            for frag in part.frags:  # a simple paragraph's part is laid out again from its words:
                words = getattr(frag, "words", None)  # without the spaces breakLines gave them
                if words:
                    frag.words = [w[:-1] if type(w) is str and w.endswith(" ") else w for w in words]
        return parts

    def breakLines(self, width: Any) -> Any:
        """reportlab's lines, each but the last ending in the space it broke at.

        Without it, text read through the tags runs the last word of a line into the first of
        the next. The space paints nothing, and left and right alignment ignore it.
        """
        para = super().breakLines(width)
        lines = para.lines
        for index in range(len(lines) - 1):
            if para.kind == 0:
                extra, words = lines[index]
                # (a part split off a paragraph keeps the spaces it was given: add none twice)
                if words and not words[-1].endswith(" "):
                    lines[index] = (extra, [*words[:-1], words[-1] + " "])
                continue
            words = lines[index].words
            if words and hasattr(words[-1], "text") and not hasattr(words[-1], "cbDefn") \
                    and not words[-1].text.endswith(" "):
                words[-1] = copy.copy(words[-1])
                words[-1].text += " "
        return para


class ListItem(TaggedParagraph):
    """A list item: its bullet or mark is drawn as the item's label (Lbl), its text as the body (LBody)."""

    label: Node | None = None  # the item's Lbl; only the first part of a split item has it

    def split(self, avail_width: float, avail_height: float) -> list[Any]:
        parts = super().split(avail_width, avail_height)
        for index, part in enumerate(parts):
            part.__dict__.update({key: value for key, value in self.__dict__.items()
                                  if key in self.CARRIED})
            part.label = self.label if index == 0 else None
        return parts

    CARRIED: tuple[str, ...] = ()  # attributes a split part keeps

    def drawOn(self, canvas: Canvas, x: float, y: float, _sW: float = 0) -> None:
        start = len(page_code(canvas))
        Paragraph.drawOn(self, canvas, x, y, _sW)
        split_languages(canvas, start, self.node)

    def draw(self) -> None:
        canv: Canvas = self.canv
        if self.label is not None and self.bulletText:
            # reportlab draws the bullet as its own text object before the text: tag it there.
            real = canv.drawText

            def bullet(text: Any) -> None:
                del canv.drawText
                begin(canv, self.label)
                real(text)
                end(canv)
                begin(canv, self.node)

            canv.drawText = bullet
            try:
                super().draw()
            finally:
                canv.__dict__.pop("drawText", None)
        else:
            if self.label is not None:
                begin(canv, self.label)
                self.draw_label()
                end(canv)
            begin(canv, self.node)
            super().draw()
        end(canv)

    def draw_label(self) -> None:
        """Draw the item's own mark (none: the bullet is reportlab's)."""


class SectionHeading(TaggedParagraph):
    """A section title that leaves a bookmark (at outline `level`) where it is drawn."""

    def __init__(self, text: str, style: ParagraphStyle, key: str, title: str, level: int) -> None:
        super().__init__(text, style)
        self.key = key
        self.title = title
        self.level = level

    def draw(self) -> None:
        _mark(self.canv, self.key, self.title, self.height, self.level)
        super().draw()


class DocumentStart(Flowable):  # type: ignore[misc]
    """Marks where a document of a packet begins: its pages, and its bookmark when `title` is set."""

    def __init__(self, index: int, key: str, title: str | None) -> None:
        super().__init__()
        self.index = index
        self.key = key
        self.title = title
        self.width = self.height = 0

    def draw(self) -> None:
        self.canv.doc_index = self.index
        self.canv.logo_due = self.index
        if self.title is not None:
            _mark(self.canv, self.key, self.title, 0, 0)


def _mark(canv: Canvas, key: str, title: str, height: float, level: int) -> None:
    """Record a bookmark on the page being drawn (the recording canvas binds it later)."""
    marks = getattr(canv, "marks", None)
    if marks is not None:
        marks.append((key, title, canv.absolutePosition(0, height)[1], level))


class BoxedItem(ListItem):
    """A list item with a mark in its left indent: an empty tick box, or a do / don't sign.

    "do" is a tick in a circle and "dont" a circle crossed through: told apart by shape, so
    they differ on a black-and-white print too, not only by colour.
    """

    CARRIED = ("colour", "mark", "look")

    def __init__(self, text: str | None, style: ParagraphStyle, colour: Color, mark: str,
                 look: tuple[float, float, float], **kw: Any) -> None:
        super().__init__(text, style, **kw)
        self.colour = colour
        self.mark = mark
        self.look = look  # the box's side, its outline, the do / don't stroke

    def draw_label(self) -> None:
        canv: Canvas = self.canv
        box, line, stroke = self.look
        lead = self.style.leading
        size = min(box, lead)
        x, y = 1.0, self.height - lead + (lead - size) / 2 - 1
        canv.saveState()
        canv.setStrokeColor(self.colour)
        canv.setLineWidth(line)
        if self.mark == "box":
            canv.rect(x, y, size, size, stroke=1, fill=0)
        else:
            r = size / 2
            cx, cy = x + r, y + r
            canv.circle(cx, cy, r, stroke=1, fill=0)
            canv.setLineWidth(stroke)
            if self.mark == "do":
                canv.lines([(cx - 0.5 * r, cy, cx - 0.12 * r, cy - 0.42 * r),
                            (cx - 0.12 * r, cy - 0.42 * r, cx + 0.52 * r, cy + 0.42 * r)])
            else:
                d = r * 0.7071
                canv.line(cx - d, cy + d, cx + d, cy - d)
        canv.restoreState()


class AnswerBox(Flowable):  # type: ignore[misc]
    """A tick box with its answer beside it ("[ ] Yes"), level with the first line of the question.

    The box is a Figure whose alternative text says it is a tick box; the word is its own P.
    """

    def __init__(self, word: TaggedParagraph, colour: Color, look: tuple[float, float, float],
                 node: Node | None = None) -> None:
        super().__init__()
        self.word = word
        self.colour = colour
        self.look = look  # the box's side, its outline, the gap between the box and its word
        self.node = node

    @staticmethod
    def width_for(word: str, style: ParagraphStyle, look: tuple[float, float, float]) -> float:
        """The width a box with `word` beside it takes."""
        return look[0] + look[2] + float(stringWidth(word, style.fontName, style.fontSize))

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        box, _, gap = self.look
        self.word.wrap(max(1.0, avail_width - box - gap), avail_height)
        self.width = avail_width
        self.height = max(box, self.word.height)
        return self.width, self.height

    def draw(self) -> None:
        canv: Canvas = self.canv
        box, line, gap = self.look
        lead = self.word.style.leading
        size = min(box, lead)
        y = self.height - lead + (lead - size) / 2 - 1  # as a checklist's box beside its first line
        begin(canv, self.node)
        canv.saveState()
        canv.setStrokeColor(self.colour)
        canv.setLineWidth(line)
        canv.rect(1.0, y, size, size, stroke=1, fill=0)
        canv.restoreState()
        end(canv)
        self.word.drawOn(canv, box + gap + 1.0, self.height - self.word.height)


class WriteLines(Marked, Flowable):  # type: ignore[misc]
    """Ruled lines to write on."""

    def __init__(self, count: int, colour: Color, gap: float, line: float, node: Node | None = None) -> None:
        super().__init__()
        self.node = node
        self.count = count
        self.colour = colour
        self.gap = gap
        self.line = line

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width = avail_width
        return avail_width, self.count * self.gap

    def draw(self) -> None:
        canv: Canvas = self.canv
        canv.saveState()
        canv.setStrokeColor(self.colour)
        canv.setLineWidth(self.line)
        for i in range(self.count):
            y = i * self.gap + 2
            canv.line(0, y, self.width, y)
        canv.restoreState()


def smallest(style: ParagraphStyle) -> float:
    """The size a value may shrink to, to fit its field."""
    return float(max(MIN_VALUE_PT, style.fontSize * SHRINK))


def value_room(style: ParagraphStyle) -> float:
    """The height a field keeps for its value: one line at full size or two at the smallest."""
    return float(max(style.leading, VALUE_LINES * smallest(style) * style.leading / style.fontSize))


def fitted_value(markup: str, style: ParagraphStyle, width: float) -> Paragraph:
    """The value on one line at its style's size, or shrunk (to its smallest) until it fits.

    A long name then takes the same room as a short one, so it never moves the rest of the page.
    """
    para = Paragraph(markup, style)
    if para.wrap(width, 1e6)[1] <= style.leading + 0.01:
        return para
    size = style.fontSize
    ratio = style.leading / style.fontSize
    least = smallest(style)
    while size > least:
        size = max(least, size - 0.5)
        para = Paragraph(markup, ParagraphStyle(f"{style.name}-{size}", parent=style, fontSize=size,
                                                leading=size * ratio))
        if para.wrap(width, 1e6)[1] <= size * ratio + 0.01:
            return para
    return para  # at the smallest size, over up to VALUE_LINES lines


class FieldCell(Flowable):  # type: ignore[misc]
    """A label above a value, or above an empty line to write on.

    The cell keeps room for its value (value_room), so it is as tall with a value, short or
    long, as without one. An empty cell with a slot number records where its value would be
    drawn, which lets a layout made once be filled in for each patient.
    """

    def __init__(self, label: Paragraph, value: str, style: ParagraphStyle, rule: tuple[float, Color],
                 geometry: tuple[float, float, float], slot: int | None = None,
                 tags: tuple[Node, Node] | None = None) -> None:
        super().__init__()
        # The value's element, and the write-in line's (a Figure with its alternative text).
        self.value_node: Node | None = tags[0] if tags else None
        self.line_node: Node | None = tags[1] if tags else None
        self.label = label
        self.markup = value
        self.style = style
        self.value: Paragraph | None = None
        self.rule, self.colour = rule
        # the least height, the gap under the label, and the value's height above its line
        self.min_height, self.label_gap, self.rise = geometry
        self.slot = slot
        self._label_h = 0.0

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width = avail_width
        self._label_h = self.label.wrap(avail_width, avail_height)[1]
        value_h = 0.0
        if self.markup:
            self.value = fitted_value(self.markup, self.style, avail_width)
            value_h = self.value.wrap(avail_width, 1e6)[1]
        # Only a value too long even for two lines at the smallest size makes the cell taller.
        self.height = max(self.min_height,
                          self._label_h + max(value_room(self.style), value_h) + self.label_gap)
        return avail_width, self.height

    def draw(self) -> None:
        canv: Canvas = self.canv
        self.label.drawOn(canv, 0, self.height - self._label_h)
        if self.value is not None:
            begin(canv, self.value_node)
            self.value.drawOn(canv, 0, self.rise)
            end(canv)
        elif self.slot is not None and hasattr(canv, "slots"):
            canv.slots.append((self.slot, len(page_code(canv)), self.width, self.rise))
        begin(canv, self.line_node)
        canv.saveState()
        canv.setStrokeColor(self.colour)
        canv.setLineWidth(self.rule)
        canv.line(0, 1, self.width, 1)
        canv.restoreState()
        end(canv)

    def split(self, avail_width: float, avail_height: float) -> list[Any]:
        return []


class InitialsBox(Flowable):  # type: ignore[misc]
    """A box for the patient's initials with a small caption."""

    def __init__(self, caption: Paragraph, colour: Color, width: float, height: float, line: float,
                 node: Node | None = None) -> None:
        super().__init__()
        self.node = node  # the box's element: a Figure with its alternative text
        self.caption = caption
        self.colour = colour
        self.width = width
        self.height = height
        self.line = line

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self._caption_h = self.caption.wrap(self.width, avail_height)[1]
        return self.width, self.height + self._caption_h

    def draw(self) -> None:
        canv: Canvas = self.canv
        self.caption.drawOn(canv, 0, self.height)
        begin(canv, self.node)
        canv.saveState()
        canv.setStrokeColor(self.colour)
        canv.setLineWidth(self.line)
        canv.rect(0, 0, self.width, self.height - 2, stroke=1, fill=0)
        canv.restoreState()
        end(canv)


@lru_cache(maxsize=256)
def qr_runs(data: str) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """Encode `data` once: the module count and the dark runs as (row, column, length)."""
    from qrcode.main import QRCode as Encoder  # imported on first use: keeps cold start small

    encoder = Encoder(border=0)
    encoder.add_data(data)
    encoder.make(fit=True)
    matrix = encoder.get_matrix()
    runs: list[tuple[int, int, int]] = []
    for r, row in enumerate(matrix):
        c = 0
        for dark, group in itertools.groupby(row):
            count = len(list(group))
            if dark:
                runs.append((r, c, count))
            c += count
    return len(matrix), tuple(runs)


class QrCode(Marked, Flowable):  # type: ignore[misc]
    """A QR code drawn as one filled path (fast, and sharp at any zoom)."""

    def __init__(self, data: str, size: float, node: Node | None = None) -> None:
        super().__init__()
        self.node = node
        self.data = data
        self.width = self.height = size

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        count, runs = qr_runs(self.data)
        box = self.width / count
        canv: Canvas = self.canv
        path = canv.beginPath()
        for r, c, length in runs:
            path.rect(c * box, self.height - (r + 1) * box, length * box, box)
        canv.saveState()
        canv.setFillColor(black)
        canv.drawPath(path, stroke=0, fill=1)
        canv.restoreState()
