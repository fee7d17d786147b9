"""What a laid-out page is: the page's margins, and the recorded Layout that the fill stage
(fill.py) turns into PDFs."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from ..reportlab_private import register_image, restore_state, set_forms_in_use
from ..values import Value, frozen
from .tagging import Node, artifact, end

if TYPE_CHECKING:
    from reportlab.lib.styles import ParagraphStyle


MARGIN = 18 * mm


HEADER = 31 * mm


FOOTER = 22 * mm  # the footer's lowest mark stays inside a printer's 8 mm margin


SAFE = 8 * mm  # nothing is drawn closer than this to any edge of the paper


@dataclass(eq=False, repr=False)  # compared and printed as itself, not field by field
class Page:
    """One laid-out page: its content and where patient values go into it."""

    state: dict[str, Any]  # the canvas's state at the page's end (reportlab_private.page_state)
    # (slot id, position in the page's code, width, the value's height above its line)
    slots: list[tuple[int, int, float, float]]
    marks: list[tuple[str, str, float, int]]  # bookmarks: (key, title, top, outline level)
    document: int  # index of the document the page belongs to; -1 for a blank duplex page
    mcids: int  # marked-content ids used on the page; values drawn in by fill take the next


@dataclass(eq=False, repr=False)  # compared and printed as itself, not field by field
class Form:
    """A recorded form XObject: its operations and resources, and the images it registered.

    Each image is (image object, soft mask, name, the forms in use when it was drawn).
    """

    state: dict[str, Any]  # reportlab_private.form_state at the form's end
    images: list[tuple[Any, Any, str, list[str]]]

    def define(self, canv: Canvas, name: str) -> None:
        """Make the same form in another PDF, as drawing it again would."""
        canv.beginForm(name)
        for image, smask, image_name, in_use in self.images:
            set_forms_in_use(canv, list(in_use))
            register_image(canv, image, smask, image_name)
        restore_state(canv, {key: copy.copy(value) for key, value in self.state.items()})
        canv.endForm()


@frozen
class Footer(Value):
    """A document's footer: clinic and legal line, form version and fingerprint, page X of Y."""

    regular: str
    bold: str
    left: str
    middle: str
    page_of: str  # the label, with {page} and {pages}
    page_w: float
    colours: tuple[colors.Color, colors.Color]  # the stylesheet's grey (text) and rule (lines)
    id_labels: tuple[str, str] = ("", "")  # "Patient name", "Date of birth"
    identifier: tuple[str, str] | None = None  # (name, date of birth); None: no identifier line

    def __call__(self, canv: Canvas, number: int, total: int,
                 identifier: tuple[str, str] | None = None) -> None:
        ident = identifier if identifier is not None else self.identifier
        # With an identifier the footer takes three lines; the lowest stays where it always is.
        top = 1.5 * mm if ident is not None else 4 * mm
        artifact(canv, "Pagination", "Footer")
        canv.saveState()
        grey, rule = self.colours
        canv.setStrokeColor(rule)
        canv.setLineWidth(0.5)
        canv.line(MARGIN, FOOTER - top, self.page_w - MARGIN, FOOTER - top)
        if ident is not None:
            self._identifier(canv, ident, FOOTER - 5.5 * mm)
        canv.setFillColor(grey)
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
            canv.setStrokeColor(self.colours[1])
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


@dataclass(eq=False, repr=False)  # compared and printed as itself, not field by field
class Layout:
    """Laid-out documents, ready to be filled in any number of times with different values."""

    pages: list[Page]
    fonts: list[tuple[str, str]]  # font name -> internal PDF name, in order of first use
    states: dict[str, Any]  # font name -> its subsets (which glyph has which code)
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
