"""Fill stage: a recorded Layout and a patient's values -> a PDF with its pages drawn, which the
finish stage (finish.py) completes and writes.

A Layout is plain data (each page's drawing operations, the header form's operations, where
each patient value goes, the font subsets so far), so it can be kept for the process or on
disk. Nothing here imports reportlab.platypus unless a patient value has to be drawn, which
keeps the cold start of a `build` that reuses a stored layout small.
"""

from __future__ import annotations

import dataclasses
import io
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from reportlab.pdfgen.canvas import Canvas

from ..compose import blocks as b
from ..layout.page import Layout
from ..layout.tagging import MCR, end, escape
from ..reportlab_private import (
    coded_glyphs,
    import_paragraphs,
    page_code,
    recorded_code,
    recorded_forms_in_use,
    restore_state,
    set_forms_in_use,
    set_page_code,
    use_font_subsets,
)

if TYPE_CHECKING:
    from reportlab.lib.styles import ParagraphStyle


@lru_cache(maxsize=64)  # dates, areas and practitioners recur from patient to patient
def _fitted(value: str, style: ParagraphStyle, width: float) -> Any:
    """A value drawn as a full layout draws it, or None when it needs more room than its field."""
    import_paragraphs()  # only to draw a value
    from ..layout.flowables import fitted_value, value_room

    para = fitted_value(escape(value), style, width)
    return None if para.wrap(width, 1e6)[1] > value_room(style) + 0.01 else para


def draw_footer(canv: Canvas, lay: Layout, document: int, number: int, total: int,
                identifier: tuple[str, str] | None) -> None:
    """Draw a document's footer on a page; its code is kept for the next copy of the layout.

    The code can be kept when drawing it gave no glyph a new code: every copy starts from the
    layout's glyph codes, so it then draws the same. A footer with a patient's name is drawn
    each time.
    """
    footer = lay.footers[document]
    if identifier is not None and any(identifier):
        footer(canv, number, total, identifier)
        return
    key = (document, number, total)
    found = lay.footer_code.get(key)
    if found is not None:
        page_code(canv).extend(found)
        return
    start, glyphs = len(page_code(canv)), coded_glyphs(canv)
    footer(canv, number, total, identifier)
    if coded_glyphs(canv) == glyphs:
        lay.footer_code[key] = page_code(canv)[start:]


@dataclass(eq=False, repr=False)  # compared and printed as itself, not field by field
class Filled:
    """A PDF with every page drawn, not yet finished (the catalog, metadata and file are to come)."""

    canv: Canvas
    out: io.BytesIO  # where the canvas writes the file
    layout: Layout
    extra: dict[int, MCR]  # slot -> the content of the value drawn into it


def fill(lay: Layout, values: tuple[str, ...] = (),
         identifiers: tuple[tuple[str, str] | None, ...] = ()) -> Filled | None:
    """Draw a laid-out document's pages into a new PDF, with `values` drawn into its empty slots.

    A value is drawn as a full layout draws it (shrunk to fit its line, or over two lines at
    the smallest size). Returns None when a value needs more room than its field keeps: the
    layout would change, so the caller lays the document out with the values instead.
    """
    filled: dict[int, Any] = {}
    for page in lay.pages:
        for slot, _index, width, _rise in page.slots:
            if slot < len(values) and values[slot]:
                para = _fitted(values[slot], lay.value_style, width)
                if para is None:
                    return None
                filled[slot] = para
    out = io.BytesIO()
    meta = lay.meta
    canv = Canvas(out, pdfVersion=(1, 7), pagesize=meta["pagesize"], invariant=meta["invariant"],
                  pageCompression=meta["pageCompression"], initialFontName=meta["initialFontName"],
                  initialFontSize=meta["initialFontSize"], initialLeading=meta["initialLeading"])
    use_font_subsets(canv, lay.fonts, lay.states)  # same internal names and glyph codes as the layout
    for name, form in lay.forms.items():
        form.define(canv, name)
    extra: dict[int, MCR] = {}  # slot -> the content of the value drawn into it
    totals = Counter(page.document for page in lay.pages)
    numbers: Counter[int] = Counter()
    for number, page in enumerate(lay.pages):
        restore_state(canv, page.state)
        code = recorded_code(page.state)
        drawn: list[str] = []
        set_page_code(canv, drawn)  # values are drawn into it between the recorded pieces
        start, mcid = 0, page.mcids
        for slot, index, _width, rise in page.slots:
            drawn.extend(code[start:index])
            start = index
            if slot in filled:
                extra[slot], mcid = (number, mcid), mcid + 1
                drawn.append(f"/P <</MCID {extra[slot][1]}>> BDC")
                filled[slot].drawOn(canv, 0, rise)
                end(canv)
        drawn.extend(code[start:])
        set_forms_in_use(canv, list(recorded_forms_in_use(page.state)))
        for key, title, top, level in page.marks:
            canv.bookmarkHorizontalAbsolute(key, top, left=0)
            canv.addOutlineEntry(title, key, level=level)
        if page.document >= 0:
            numbers[page.document] += 1
            draw_footer(canv, lay, page.document, numbers[page.document], totals[page.document],
                        identifiers[page.document] if identifiers else None)
        Canvas.showPage(canv)
    return Filled(canv, out, lay, extra)


def strip(document: b.Document) -> tuple[b.Document, tuple[str, ...]]:
    """Split a document into its layout (slot values emptied) and the slot values, in order.

    The order is the blocks' own (blocks.SLOTTED), the order layout.Builder numbers slots in.
    """
    values: list[str] = []

    def walk(items: tuple[b.Block, ...]) -> tuple[b.Block, ...]:
        out: list[b.Block] = []
        for block in items:
            if isinstance(block, b.SLOTTED):
                values.extend(block.values())
                block = block.blank()
            elif isinstance(block, b.Section | b.Callout | b.Keep):
                block = dataclasses.replace(block, blocks=walk(block.blocks))
            out.append(block)
        return tuple(out)

    info = document.info
    if info.identifier is not None:  # every patient's copy shares the layout with write-in lines
        info = dataclasses.replace(info, identifier=("", ""))
    blank = b.Document(info, walk(document.blocks))
    return blank, tuple(values)


