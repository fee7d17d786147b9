"""The block vocabulary: what templates produce and the renderer draws. Plain data only."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

from ..library.styles import SIGNATURE_PARTS, SignaturePart
from ..values import Value, frozen

# Inline text: runs of (text, bold, italic, language); a run of "\n" is a line break. The
# language is "" for the document's own, or the code of the language a run's words are in.
Run = tuple[str, bool, bool, str]
Inline = tuple[Run, ...]


@frozen
class Heading(Value):
    """A sub-heading inside a section."""

    text: Inline


@frozen
class Paragraph(Value):
    """Body text."""

    text: Inline
    style: Literal["body", "lead", "small"] = "body"


@frozen
class Bullets(Value):
    """A bulleted list, or a numbered one."""

    items: tuple[Inline, ...]
    numbered: bool = False


@frozen
class Checklist(Value):
    """Items each with an empty tick box (or a do/don't mark)."""

    items: tuple[Inline, ...]
    mark: Literal["box", "do", "dont"] = "box"


@frozen
class YesNo(Value):
    """Questions answered by ticking one of two boxes, e.g. Yes or No, beside each question."""

    questions: tuple[Inline, ...]
    answers: tuple[str, str]  # the words beside the two boxes


@frozen
class Table(Value):
    """Rows of cells; the first row is a header when `header` is set."""

    rows: tuple[tuple[Inline, ...], ...]
    header: bool = True


@frozen
class Field(Value):
    """A labelled value, or a write-in line when the value is empty."""

    label: str
    value: str


@frozen
class Fields(Value):
    """A grid of labelled values / write-in lines."""

    fields: tuple[Field, ...]
    columns: int = 2

    def values(self) -> tuple[str, ...]:
        """The patient values it holds, one for each field in order."""
        return tuple(f.value for f in self.fields)

    def blank(self) -> Fields:
        """The same block without its patient values."""
        return dataclasses.replace(self, fields=tuple(dataclasses.replace(f, value="") for f in self.fields))


@frozen
class Lines(Value):
    """Empty ruled lines for the patient to write on."""

    count: int


@frozen
class InitialItem(Value):
    """One statement or risk with a box for the patient's initials."""

    title: Inline
    text: Inline


@frozen
class Initials(Value):
    """A list of statements, each with an initials box."""

    items: tuple[InitialItem, ...]
    box_label: str


@frozen
class Signature(Value):
    """Signature, printed name, date and time lines for one person."""

    role: str
    name: str
    labels: tuple[str, str, str, str]  # each line's label, in SIGNATURE_PARTS order

    SLOTS: ClassVar[tuple[SignaturePart, ...]] = ("printed",)  # the lines a patient value goes on

    def label(self, part: SignaturePart) -> str:
        """The label of one of its lines."""
        return self.labels[SIGNATURE_PARTS.index(part)]

    def values(self) -> tuple[str, ...]:
        """The patient values it holds, one for each of SLOTS."""
        return (self.name,)

    def blank(self) -> Signature:
        """The same block without its patient values."""
        return dataclasses.replace(self, name="")


@frozen
class Qr(Value):
    """A QR code with a caption."""

    data: str
    caption: str


@frozen
class Spacer(Value):
    """Vertical space in points."""

    size: float


@frozen
class PageBreak(Value):
    """Start a new page."""


@frozen
class Callout(Value):
    """A tinted box that draws attention, e.g. when to call the clinic."""

    title: str
    blocks: tuple[Block, ...]
    tone: Literal["info", "warning"] = "info"


@frozen
class Keep(Value):
    """Blocks kept together on one page."""

    blocks: tuple[Block, ...]


@frozen
class Section(Value):
    """A titled section; it gets a bookmark."""

    title: str
    blocks: tuple[Block, ...]


# The blocks that hold patient values. Their `values()` are the one statement of the slot order:
# the layout numbers a block's slots by it (layout.Builder) and the fill draws the values into
# those slots by it (fill.strip), whatever order the block's lines are drawn in.
SLOTTED = (Fields, Signature)

Block = (Heading | Paragraph | Bullets | Checklist | YesNo | Table | Fields | Lines | Initials
         | Signature | Qr | Spacer | PageBreak | Callout | Keep | Section)


@frozen
class DocumentInfo(Value):
    """Who and what a document is for: printed in header, footer and metadata."""

    title: str
    subtitle: str
    kind: str
    treatment: str
    language: str
    version: str
    fingerprint: str
    doc_id: str
    footer: str
    qr: str
    qr_caption: str
    large_print: bool = False  # laid out as the large-print edition
    form: str = ""  # the form code patients can read, e.g. MESO-C
    # (patient name, date of birth) printed on every page; ("", "") gives write-in lines; None: none
    identifier: tuple[str, str] | None = None
    # (language, sentence in that language): the document is also available in it
    offers: tuple[tuple[str, str], ...] = ()


@frozen
class Document(Value):
    """A composed handout: its identity and its blocks, ready to render."""

    info: DocumentInfo
    blocks: tuple[Block, ...]
