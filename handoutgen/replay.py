"""Emit stage: a recorded Layout and a patient's values -> PDF bytes.

A Layout is plain data (each page's drawing operations, the header form's operations, where
each patient value goes, the font subsets so far), so it can be kept for the process or on
disk. Nothing here imports reportlab.platypus unless a patient value has to be drawn, which
keeps the cold start of a `build` that reuses a stored layout small.
"""

from __future__ import annotations

import copy
import dataclasses
import io
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from . import blocks as b
from .coverage import check_coverage, uses_italic
from .fonts import register, register_italic
from .speed import import_platypus, register_image
from .tagging import MCR, Node, artifact, end, escape, write_tree

if TYPE_CHECKING:
    from reportlab.lib.styles import ParagraphStyle

    from .library import ClinicEntry, FontEntry

MARGIN = 18 * mm
HEADER = 31 * mm
FOOTER = 22 * mm  # the footer's lowest mark stays inside a printer's 8 mm margin
SAFE = 8 * mm  # nothing is drawn closer than this to any edge of the paper
GREY = colors.HexColor("#5a5a5a")  # 6.9:1 on white
RULE = colors.HexColor("#767676")  # writing lines and boxes: 4.5:1 on white (at least 3:1)

# Canvas attributes that belong to one page (content, resources in use, graphics state).
PAGE_STATE = (
    "_code", "_psCommandsAfterPage", "_psCommandsBeforePage", "_currentPageHasImages",
    "_formsinuse", "_annotationrefs", "_formData", "_colorsUsed", "_shadingUsed", "_x", "_y",
    "_fontname", "_fontsize", "_textMode", "_leading", "_currentMatrix", "_fillMode",
    "_charSpace", "_wordSpace", "_horizScale", "_textRenderMode", "_rise", "_textLineMatrix",
    "_textMatrix", "_lineCap", "_lineJoin", "_lineDash", "_lineWidth", "_mitreLimit",
    "_fillColorObj", "_strokeColorObj", "_extgstate", "state_stack", "_pageNumber",
)
# Canvas attributes a form's XObject is made from when it ends (its content and resources).
FORM_STATE = ("_code", "_formsinuse", "_annotationrefs", "_colorsUsed", "_shadingUsed", "_extgstate")


@dataclass
class Page:
    """One laid-out page: its content and where patient values go into it."""

    state: dict[str, Any]
    slots: list[tuple[int, int, float]]  # (slot id, position in the page's code, width)
    marks: list[tuple[str, str, float, int]]  # bookmarks: (key, title, top, outline level)
    document: int  # index of the document the page belongs to; -1 for a blank duplex page
    mcids: int  # marked-content ids used on the page; values drawn in at emit take the next


@dataclass
class Form:
    """A recorded form XObject: its operations and resources, and the images it registered.

    Each image is (image object, soft mask, name, the forms in use when it was drawn).
    """

    state: dict[str, Any]
    images: list[tuple[Any, Any, str, list[str]]]

    def define(self, canv: Canvas, name: str) -> None:
        """Make the same form in another PDF, as drawing it again would."""
        canv.beginForm(name)
        for image, smask, image_name, in_use in self.images:
            canv._formsinuse = list(in_use)
            register_image(canv, image, smask, image_name)
        canv.__dict__.update({key: copy.copy(value) for key, value in self.state.items()})
        canv.endForm()


@dataclass(frozen=True)
class Footer:
    """A document's footer: clinic and legal line, form version and fingerprint, page X of Y."""

    regular: str
    bold: str
    left: str
    middle: str
    page_of: str  # the label, with {page} and {pages}
    page_w: float
    id_labels: tuple[str, str] = ("", "")  # "Patient name", "Date of birth"
    identifier: tuple[str, str] | None = None  # (name, date of birth); None: no identifier line

    def __call__(self, canv: Canvas, number: int, total: int,
                 identifier: tuple[str, str] | None = None) -> None:
        ident = identifier if identifier is not None else self.identifier
        # With an identifier the footer takes three lines; the lowest stays where it always is.
        top = 1.5 * mm if ident is not None else 4 * mm
        artifact(canv, "Pagination", "Footer")
        canv.saveState()
        canv.setStrokeColor(RULE)
        canv.setLineWidth(0.5)
        canv.line(MARGIN, FOOTER - top, self.page_w - MARGIN, FOOTER - top)
        if ident is not None:
            self._identifier(canv, ident, FOOTER - 5.5 * mm)
        canv.setFillColor(GREY)
        canv.setFont(self.regular, 9)
        canv.drawString(MARGIN, FOOTER - (9 if ident is not None else 8.5) * mm, self.left)
        canv.drawString(MARGIN, FOOTER - 12.5 * mm, self.middle)
        canv.setFont(self.bold, 9)
        page = fill(self.page_of, page=str(number), pages=str(total))
        canv.drawRightString(self.page_w - MARGIN, FOOTER - 12.5 * mm, page)
        canv.restoreState()
        end(canv)

    def _identifier(self, canv: Canvas, ident: tuple[str, str], y: float) -> None:
        """The patient's name and date of birth, or lines to write them on."""
        canv.setFillColor(colors.black)
        width = self.page_w - 2 * MARGIN
        if not any(ident):
            canv.setFont(self.regular, 9)
            canv.setStrokeColor(RULE)
            for i, label in enumerate(self.id_labels):
                x = MARGIN + i * width / 2
                canv.drawString(x, y, label + ":")
                start = x + pdfmetrics.stringWidth(label + ": ", self.regular, 9)
                canv.line(start, y - 1, x + width / 2 - 6 * mm, y - 1)
            return
        # Regular weight: a name must not look like a heading to a screen reader or a test of headings.
        parts = [(self.id_labels[0] + ": ", self.regular), (ident[0] or "____________", self.regular),
                 ("   " + self.id_labels[1] + ": ", self.regular), (ident[1] or "____________", self.regular)]
        total = sum(pdfmetrics.stringWidth(text, font, 9.5) for text, font in parts)
        text_obj = canv.beginText(MARGIN, y)
        # A very long name is drawn narrower, never smaller than 9.5 pt and never past the margin.
        text_obj.setHorizScale(min(100.0, 100.0 * width / total))
        for text, font in parts:
            text_obj.setFont(font, 9.5)
            text_obj.textOut(text)
        canv.drawText(text_obj)


@dataclass
class Layout:
    """Laid-out documents, ready to be emitted any number of times with different values."""

    pages: list[Page]
    fonts: list[tuple[str, str]]  # font name -> internal PDF name, in order of first use
    states: dict[str, Any]  # font name -> subset state (which glyph has which code)
    meta: dict[str, Any]  # canvas settings and metadata
    forms: dict[str, Form]  # the page header and the logo, drawn once per PDF
    footers: list[Footer]  # one per document
    value_style: ParagraphStyle
    tree: Node  # the structure tree, with the content recorded for each element
    # A footer's page code, by (document, page, pages): the same for every patient's copy
    # unless it holds the patient's name (see draw_footer).
    footer_code: dict[tuple[int, int, int], list[str]] = field(default_factory=dict)


def fill(label: str, **values: str) -> str:
    """Put values into a label's {placeholders} (plain replacement, never str.format)."""
    for key, value in values.items():
        label = label.replace("{" + key + "}", value)
    return label


@lru_cache(maxsize=64)  # dates, areas and practitioners recur from patient to patient
def _fitted(value: str, style: ParagraphStyle, width: float) -> Any:
    """A value drawn as a full layout draws it, or None when it needs more room than its field."""
    import_platypus()  # only to draw a value
    from .flowables import fitted_value, value_room

    para = fitted_value(escape(value), style, width)
    return None if para.wrap(width, 1e6)[1] > value_room(style) + 0.01 else para


def snapshot(state: Any) -> Any:
    """Copy a TTFont subset state, so each PDF starts from the layout's glyph codes."""
    copied = TTFont.State.__new__(TTFont.State)
    copied.__dict__.update(state.__dict__)
    copied.assignments = dict(state.assignments)
    copied.subsets = [list(subset) for subset in state.subsets]
    copied.frozen = 0
    return copied


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
        canv._code.extend(found)
        return
    start, glyphs = len(canv._code), _glyphs(canv)
    footer(canv, number, total, identifier)
    if _glyphs(canv) == glyphs:
        lay.footer_code[key] = canv._code[start:]


def _glyphs(canv: Canvas) -> int:
    """How many glyphs have a code in this PDF's font subsets."""
    return sum(len(font.state[canv._doc].assignments) for font in canv._doc.delayedFonts)


def emit(lay: Layout, values: tuple[str, ...] = (),
         identifiers: tuple[tuple[str, str] | None, ...] = ()) -> bytes | None:
    """Write a laid-out document as PDF, with `values` drawn into its empty slots.

    A value is drawn as a full layout draws it (shrunk to fit its line, or over two lines at
    the smallest size). Returns None when a value needs more room than its field keeps: the
    layout would change, so the caller lays the document out with the values instead.
    """
    filled: dict[int, Any] = {}
    for page in lay.pages:
        for slot, _index, width in page.slots:
            if slot < len(values) and values[slot]:
                para = _fitted(values[slot], lay.value_style, width)
                if para is None:
                    return None
                filled[slot] = para
    out = io.BytesIO()
    meta = dict(lay.meta)
    canv = Canvas(out, pdfVersion=(1, 7), pagesize=meta.pop("pagesize"), invariant=meta.pop("invariant"),
                  pageCompression=meta.pop("pageCompression"), lang=meta.pop("lang"),
                  initialFontName=meta.pop("initialFontName"),
                  initialFontSize=meta.pop("initialFontSize"),
                  initialLeading=meta.pop("initialLeading"))
    for key, value in meta.items():
        getattr(canv, "set" + key.capitalize())(value)
    pdf = canv._doc
    for name, internal in lay.fonts:  # same internal names and glyph codes as the layout
        pdf.fontMapping[name] = internal
        font = pdfmetrics.getFont(name)
        pdf.delayedFonts.append(font)
        font.state[pdf] = snapshot(lay.states[name])
    for name, form in lay.forms.items():
        form.define(canv, name)
    extra: dict[int, MCR] = {}  # slot -> the content of the value drawn into it
    totals = Counter(page.document for page in lay.pages)
    numbers: Counter[int] = Counter()
    for number, page in enumerate(lay.pages):
        canv.__dict__.update(page.state)
        code = page.state["_code"]
        canv._code = []
        start, mcid = 0, page.mcids
        for slot, index, _width in page.slots:
            canv._code.extend(code[start:index])
            start = index
            if slot in filled:
                extra[slot], mcid = (number, mcid), mcid + 1
                canv._code.append(f"/P <</MCID {extra[slot][1]}>> BDC")
                filled[slot].drawOn(canv, 0, 3)
                end(canv)
        canv._code.extend(code[start:])
        canv._formsinuse = list(page.state["_formsinuse"])
        for key, title, top, level in page.marks:
            canv.bookmarkHorizontalAbsolute(key, top, left=0)
            canv.addOutlineEntry(title, key, level=level)
        if page.document >= 0:
            numbers[page.document] += 1
            draw_footer(canv, lay, page.document, numbers[page.document], totals[page.document],
                        identifiers[page.document] if identifiers else None)
        Canvas.showPage(canv)
    write_tree(canv, lay.tree, len(lay.pages), extra, lay.meta["title"], lay.meta["lang"])
    canv.save()
    return out.getvalue()


def strip(document: b.Document) -> tuple[b.Document, tuple[str, ...]]:
    """Split a document into its layout (slot values emptied) and the slot values, in order.

    The order is the order in which render.Builder numbers its slots: fields, and the printed
    name of each signature.
    """
    values: list[str] = []

    def walk(items: tuple[b.Block, ...]) -> tuple[b.Block, ...]:
        out: list[b.Block] = []
        for block in items:
            if isinstance(block, b.Fields):
                values.extend(f.value for f in block.fields)
                block = dataclasses.replace(block, fields=tuple(
                    dataclasses.replace(f, value="") for f in block.fields))
            elif isinstance(block, b.Signature):
                values.append(block.name)
                block = dataclasses.replace(block, name="")
            elif isinstance(block, b.Section | b.Callout | b.Keep):
                block = dataclasses.replace(block, blocks=walk(block.blocks))
            out.append(block)
        return tuple(out)

    info = document.info
    if info.identifier is not None:  # every patient's copy shares the layout with write-in lines
        info = dataclasses.replace(info, identifier=("", ""))
    blank = b.Document(info, walk(document.blocks))
    return blank, tuple(values)


class LayoutStore(Protocol):
    """Somewhere to keep blank layouts between processes (see cache.py)."""

    def load(self, blanks: tuple[b.Document, ...], labels: dict[str, str], duplex: bool) -> Layout | None:
        ...

    def save(self, blanks: tuple[b.Document, ...], labels: dict[str, str], duplex: bool,
             layout: Layout) -> None:
        ...


@lru_cache(maxsize=64)
def _cached_layout(blanks: tuple[b.Document, ...], entry: ClinicEntry, font_entry: FontEntry,
                   labels: tuple[tuple[str, str], ...], duplex: bool) -> Layout:
    from .render import layout  # only when a layout has to be made

    return layout(blanks, entry, font_entry, dict(labels), duplex)


def render(documents: tuple[b.Document, ...], entry: ClinicEntry, font_entry: FontEntry,
           labels: dict[str, str], source: str, duplex: bool = False,
           store: LayoutStore | None = None) -> bytes:
    """Draw composed documents (one, or several as a packet) and return the PDF bytes.

    Most of a personalised handout is the same for every patient of a clinic, treatment and
    kind: the layout with empty patient fields is made once per process (and, with a `store`,
    kept between processes) and reused, and the patient's values are drawn into their boxes.
    A value too long for its box falls back to a full layout, so the result is always what a
    full layout would give.
    """
    italic = any(uses_italic(d.blocks) for d in documents)
    font = register_italic(font_entry) if italic else register(font_entry)
    for document in documents:
        check_coverage(document, entry, font, source)
    stripped = [strip(d) for d in documents]
    blanks = tuple(blank for blank, _ in stripped)
    values = tuple(v for _, doc_values in stripped for v in doc_values)
    lay = store.load(blanks, labels, duplex) if store is not None else None
    if lay is None:
        lay = _cached_layout(blanks, entry, font_entry, tuple(labels.items()), duplex)
        if store is not None:
            store.save(blanks, labels, duplex, lay)
    pdf = emit(lay, values, tuple(d.info.identifier for d in documents))
    if pdf is None:
        from .render import layout

        pdf = emit(layout(documents, entry, font_entry, labels, duplex))
    assert pdf is not None  # a layout with its values inline has no slots left to fill
    return pdf

