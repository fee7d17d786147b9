"""Custom reportlab flowables for the parts a patient writes on: boxes, lines, fields."""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Any

from reportlab.lib.colors import Color, black
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph
from reportlab.platypus.paragraph import ParagraphStyle

BOX = 12.0  # tick and initials boxes: big enough for a pen (about 4.2 mm)
VALUE_LINE = 14.0  # the leading of one line of a field's value (render's "value" style)


class SectionHeading(Paragraph):  # type: ignore[misc]
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
        if self.title is not None:
            _mark(self.canv, self.key, self.title, 0, 0)


def _mark(canv: Canvas, key: str, title: str, height: float, level: int) -> None:
    """Record a bookmark on the page being drawn (the recording canvas binds it later)."""
    marks = getattr(canv, "marks", None)
    if marks is not None:
        marks.append((key, title, canv.absolutePosition(0, height)[1], level))


class BoxedItem(Paragraph):  # type: ignore[misc]
    """A paragraph with an empty tick box in its left indent."""

    def __init__(self, text: str, style: ParagraphStyle, colour: Color) -> None:
        super().__init__(text, style)
        self.colour = colour

    def draw(self) -> None:
        super().draw()
        canv: Canvas = self.canv
        lead = self.style.leading
        canv.saveState()
        canv.setStrokeColor(self.colour)
        canv.setLineWidth(1)
        canv.rect(1, self.height - lead + (lead - BOX) / 2 - 1, BOX, BOX, stroke=1, fill=0)
        canv.restoreState()


class WriteLines(Flowable):  # type: ignore[misc]
    """Ruled lines to write on."""

    def __init__(self, count: int, colour: Color, gap: float = 25.0) -> None:
        super().__init__()
        self.count = count
        self.colour = colour
        self.gap = gap

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width = avail_width
        return avail_width, self.count * self.gap

    def draw(self) -> None:
        canv: Canvas = self.canv
        canv.saveState()
        canv.setStrokeColor(self.colour)
        canv.setLineWidth(0.6)
        for i in range(self.count):
            y = i * self.gap + 2
            canv.line(0, y, self.width, y)
        canv.restoreState()


class FieldCell(Flowable):  # type: ignore[misc]
    """A small label above a value, or above an empty line to write on.

    Room for one line of value is always kept, so a cell is as tall with a one-line value as
    without one. An empty cell with a slot number records where its value would be drawn,
    which lets a layout made once be filled in for each patient.
    """

    def __init__(self, label: Paragraph, value: Paragraph | None, colour: Color,
                 min_height: float = 31.0, slot: int | None = None) -> None:
        super().__init__()
        self.label = label
        self.value = value
        self.colour = colour
        self.min_height = min_height
        self.slot = slot
        self._label_h = 0.0

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width = avail_width
        self._label_h = self.label.wrap(avail_width, avail_height)[1]
        value_h = self.value.wrap(avail_width, avail_height)[1] if self.value else 0.0
        self.height = max(self.min_height, self._label_h + max(value_h, VALUE_LINE) + 6)
        return avail_width, self.height

    def draw(self) -> None:
        canv: Canvas = self.canv
        self.label.drawOn(canv, 0, self.height - self._label_h)
        if self.value is not None:
            self.value.drawOn(canv, 0, 3)
        elif self.slot is not None and hasattr(canv, "slots"):
            canv.slots.append((self.slot, len(canv._code), self.width))
        canv.saveState()
        canv.setStrokeColor(self.colour)
        canv.setLineWidth(0.8)
        canv.line(0, 1, self.width, 1)
        canv.restoreState()

    def split(self, avail_width: float, avail_height: float) -> list[Any]:
        return []


class InitialsBox(Flowable):  # type: ignore[misc]
    """A box for the patient's initials with a small caption."""

    def __init__(self, caption: Paragraph, colour: Color, width: float = 54.0,
                 height: float = 30.0) -> None:
        super().__init__()
        self.caption = caption
        self.colour = colour
        self.width = width
        self.height = height

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self._caption_h = self.caption.wrap(self.width, avail_height)[1]
        return self.width, self.height + self._caption_h

    def draw(self) -> None:
        canv: Canvas = self.canv
        self.caption.drawOn(canv, 0, self.height)
        canv.saveState()
        canv.setStrokeColor(self.colour)
        canv.setLineWidth(1)
        canv.rect(0, 0, self.width, self.height - 2, stroke=1, fill=0)
        canv.restoreState()


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


class QrCode(Flowable):  # type: ignore[misc]
    """A QR code drawn as one filled path (fast, and sharp at any zoom)."""

    def __init__(self, data: str, size: float) -> None:
        super().__init__()
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
