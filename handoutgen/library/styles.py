"""The stylesheet: the sizes, spacing and colours of blocks, as data a designer edits.

Three files make a clinic's stylesheet, each changing the one before key by key: the program's
own (assets/styles.yaml as shipped, complete), the library's assets/styles.yaml and the clinic's
assets/clinics/<id>/styles.yaml (each may hold only what it changes). The three are merged and
checked as one, and each problem names the file and line the value came from. It is read when the
library is loaded, so it is part of the cached library.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_args

from ..errors import Problems
from ..load import Loaded, PathT, path_text
from ..values import Value, frozen
from .branding import COLOUR, Colours, contrast
from .content import Check
from .schema import Converter, spec

FILE = "styles.yaml"
# The lines of a signature block: the stylesheet arranges them, a layout's <signature> labels them.
SignaturePart = Literal["sign", "printed", "date", "time"]
SIGNATURE_PARTS: tuple[SignaturePart, ...] = get_args(SignaturePart)
BRAND = ("primary", "accent", "text")  # colours named from clinic.yaml
PALETTE = ("grey", "rule", "warning")  # colours named from the stylesheet's own `colours`
NAMED = (*BRAND, "white", *PALETTE)
COLOUR_REF: dict[str, Any] = {"pattern": r"^(#[0-9a-fA-F]{6}|" + "|".join(NAMED) + ")$",
                              "pattern_doc": "#rrggbb or one of " + ", ".join(NAMED), "max_len": 7}
MIN_TEXT_CONTRAST = 4.5  # WCAG 1.4.3: text, as clinic.yaml's colours
MIN_LINE_CONTRAST = 3.0  # WCAG 1.4.11: lines and boxes a patient writes on or in


def _length(doc: str, low: float, high: float) -> Any:
    return spec(doc, min_value=low, max_value=high)


def _colour(doc: str) -> Any:
    return spec(doc, **COLOUR_REF)


@frozen
class Text(Value):
    """A paragraph style of text a patient reads: never smaller than the body size."""

    FLOOR: ClassVar[str] = "body"  # the smallest size render.theme allows it, whatever it says

    size: float = spec("size, as a multiple of the body size", default=1.0, min_value=1.0, max_value=1.5)
    bold: bool = spec("bold face", default=False)
    colour: str = spec("text colour", default="text", **COLOUR_REF)
    leading: float | None = spec("line spacing, as a multiple of the size (default: text.leading)",
                                 default=None, min_value=1.1, max_value=2.5)
    space_before: float = spec("space above, as a multiple of the body size", default=0.0,
                               min_value=0.0, max_value=3.0)
    space_after: float | None = spec("space below, as a multiple of the body size (default: body's)",
                                     default=None, min_value=0.0, max_value=3.0)
    space_after_pt: float | None = spec("space below in points, whatever the body size", default=None,
                                        min_value=0.0, max_value=36.0)
    indent: float = spec("left indent, as a multiple of the body size", default=0.0, min_value=0.0,
                         max_value=5.0)
    bullet_indent: float = spec("where a bullet stands, as a multiple of the body size", default=0.0,
                                min_value=0.0, max_value=5.0)
    align: Literal["left", "right"] = spec("alignment", default="left")

    def check(self) -> Check:
        if self.space_after is not None and self.space_after_pt is not None:
            yield ("space_after_pt",), "is given with space_after", "one of space_after and space_after_pt"


@frozen
class Heading(Text):
    """A heading's paragraph style: larger than the body (render.theme keeps it so)."""

    FLOOR: ClassVar[str] = "heading"

    size: float = spec("size, as a multiple of the body size", default=1.0, min_value=1.0, max_value=3.0)


@frozen
class Label(Text):
    """A label's or caption's paragraph style: never under 9 pt (14 pt in large print)."""

    FLOOR: ClassVar[str] = "label"

    size: float = spec("size, as a multiple of the body size", default=1.0, min_value=0.75, max_value=1.5)
    size_pt: float | None = spec("size in points, whatever the body size (instead of size)",
                                 default=None, min_value=9.0, max_value=24.0)


@frozen
class Palette(Value):
    """Colours blocks use besides the clinic's brand colours."""

    grey: str = spec("subtitles, labels and captions", **COLOUR)
    rule: str = spec("lines to write on, rules between rows, empty boxes", **COLOUR)
    warning: str = spec("a warning callout's edge and the don't sign", **COLOUR)


@frozen
class TextSettings(Value):
    """What every paragraph style shares."""

    leading: float = spec("line spacing, as a multiple of the size", min_value=1.2, max_value=2.0)
    large_print_leading: float = spec("line spacing in the large-print edition (Clear Print: 1.5 or more)",
                                      min_value=1.5, max_value=2.0)
    measure: int = spec("average characters a line of body text is made for (real lines stay within 75)",
                        min_value=50, max_value=70)


@frozen
class Styles(Value):
    """The paragraph styles, by name."""

    body: Text = spec("body text; the others take what they leave out from it")
    lead: Text = spec("an introduction")
    small: Label = spec("small print")
    title: Heading = spec("the document's title")
    subtitle: Text = spec("the line under the title")
    on_request: Label = spec("the note on other formats and languages under the title")
    section: Heading = spec("a section's title")
    heading: Heading = spec("a heading inside a section")
    bullet: Text = spec("a bullet or numbered item")
    box: Text = spec("a checklist item (its indent is after the box)")
    cell: Text = spec("a table cell")
    cell_head: Text = spec("a table's header cell")
    label: Label = spec("a field's label and an initials box's caption")
    value: Text = spec("a field's value, such as the printed name")
    qr_caption: Label = spec("the caption beside the title's QR code")
    callout_title: Heading = spec("a callout's title")


@frozen
class Checklist(Value):
    """Tick boxes and do / don't signs."""

    box: float = _length("the side of a tick box (room for a pen: 15 pt, 5.3 mm, or more)", 15.0, 30.0)
    line: float = _length("the box's outline", 0.5, 4.0)
    mark_line: float = _length("the tick of do and the stroke of don't", 0.5, 4.0)
    colour: str = _colour("boxes and the do sign")
    dont_colour: str = _colour("the don't sign")


@frozen
class RuledRows(Value):
    """Rows with a line under each: screening questions, tables, initials boxes."""

    rule: float = _length("the line under each row", 0.25, 4.0)
    rule_colour: str = _colour("that line")
    padding_top: float = _length("above each row's text", 0.0, 30.0)
    padding_bottom: float = _length("below each row's text", 0.0, 30.0)
    space_after: float = _length("below the block", 0.0, 40.0)


@frozen
class YesNo(RuledRows):
    """Screening questions with a tick box for each answer."""

    box_colour: str = _colour("the tick boxes")
    answer_gap: float = _length("between a tick box and its word", 2.0, 20.0)
    answer_padding: float = _length("before each answer (an answer's column is its box, gap and word, "
                                    "and twice this)", 0.0, 30.0)


@frozen
class TableLook(RuledRows):
    """Tables."""

    header_background: str = _colour("the header row's background (its text is cell_head's colour)")


@frozen
class Cells(Value):
    """Write-in cells: a label above a line, the patient's value on the line."""

    height: float = _length("the least height of a cell", 20.0, 80.0)
    rule: float = _length("the line written on", 0.25, 4.0)
    rule_colour: str = _colour("that line")
    label_gap: float = _length("between the label and the room kept for the value", 0.0, 20.0)
    value_rise: float = _length("the value above its line", 0.0, 10.0)
    column_gap: float = _length("between columns", 0.0, 40.0)
    padding_top: float = _length("above each row", 0.0, 30.0)
    padding_bottom: float = _length("below each row", 0.0, 30.0)


@frozen
class FieldsLook(Cells):
    """Labelled values."""

    space_after: float = _length("below the block", 0.0, 40.0)


@frozen
class SignatureLook(Cells):
    """The whole look of a signature block."""

    rows: tuple[tuple[SignaturePart, ...], ...] = spec(
        "its lines, row by row, left to right: each of " + ", ".join(SIGNATURE_PARTS) + " once",
        min_items=1, max_items=4)
    widths: tuple[tuple[float, ...], ...] = spec("each row's column widths, as shares of the text's width",
                                                 min_items=1, max_items=4, min_value=0.1, max_value=10.0)
    sign_height: float = _length("the least height of the line signed on", 20.0, 120.0)

    def check(self) -> Check:
        parts = [part for row in self.rows for part in row]
        for part in SIGNATURE_PARTS:
            if parts.count(part) != 1:
                yield ("rows",), f"has {part!r} {parts.count(part)} times" if part in parts \
                    else f"lacks {part!r}", "each of " + ", ".join(SIGNATURE_PARTS) + " once"
        for i, (row, widths) in enumerate(zip(self.rows, self.widths, strict=False)):
            if len(row) != len(widths):
                yield ("widths", i), f"has {len(widths)} widths for {len(row)} lines", \
                    "a width for each line of the same row of rows"
        if len(self.rows) != len(self.widths):
            yield ("widths",), f"has {len(self.widths)} rows of widths for {len(self.rows)} rows of lines", \
                "a row of widths for each row of rows"


@frozen
class LinesLook(Value):
    """Ruled lines to write on."""

    gap: float = _length("between lines", 15.0, 60.0)
    rule: float = _length("each line", 0.25, 4.0)
    rule_colour: str = _colour("the lines")
    space_after: float = _length("below the block", 0.0, 40.0)


@frozen
class InitialsLook(RuledRows):
    """Statements with an initials box beside each."""

    box_width: float = _length("the box's width", 30.0, 150.0)
    box_height: float = _length("the box's height", 20.0, 80.0)
    box_line: float = _length("the box's outline", 0.25, 4.0)
    box_colour: str = _colour("the box")
    column: float = _length("the column the box stands in (the box and box_padding fit it)", 40.0, 200.0)
    box_padding: float = _length("before the box", 0.0, 40.0)

    def check(self) -> Check:
        if self.box_width + self.box_padding > self.column:
            yield ("column",), f"{self.column:g} is narrower than box_width and box_padding " \
                f"({self.box_width + self.box_padding:g})", "at least box_width + box_padding"


@frozen
class CalloutLook(Value):
    """A tinted box around other blocks."""

    edge: float = _length("the coloured edge at its left", 0.0, 12.0)
    tint: float = _length("its background: this much of the accent colour on white", 0.0, 0.3)
    warning_tint: float = _length("a warning's background: this much of the warning colour", 0.0, 0.3)
    padding_side: float = _length("left and right inside it", 0.0, 40.0)
    padding_top: float = _length("above its text", 0.0, 40.0)
    padding_bottom: float = _length("below its text", 0.0, 40.0)
    space_after: float = _length("below it", 0.0, 40.0)


@frozen
class QrLook(Value):
    """QR codes: a qr block, and the code beside a document's title."""

    size_mm: float = _length("a qr block's code, in mm", 15.0, 60.0)
    gap: float = _length("between that code and its caption", 0.0, 40.0)
    space_before: float = _length("above a qr block", 0.0, 40.0)
    title_size_mm: float = _length("the code beside a document's title, in mm", 15.0, 40.0)
    title_caption_mm: float = _length("the caption's column beside the title, in mm", 15.0, 60.0)
    title_gap_mm: float = _length("between that caption and the code, in mm", 0.0, 20.0)
    title_padding_bottom: float = _length("below the title", 0.0, 40.0)


@frozen
class Stylesheet(Value):
    """styles.yaml: how blocks look."""

    colours: Palette = spec("colours besides the clinic's brand colours")
    text: TextSettings = spec("what every paragraph style shares")
    styles: Styles = spec("the paragraph styles")
    checklist: Checklist = spec("tick boxes and do / don't signs")
    yesno: YesNo = spec("screening questions")
    table: TableLook = spec("tables")
    fields: FieldsLook = spec("labelled values")
    signature: SignatureLook = spec("signature blocks")
    lines: LinesLook = spec("lines to write on")
    initials: InitialsLook = spec("initials boxes")
    callout: CalloutLook = spec("callouts")
    qr: QrLook = spec("QR codes")

    def hex(self, name: str, brand: Colours) -> str:
        """A colour (#rrggbb or a name) as #rrggbb, for a clinic's brand colours."""
        if name.startswith("#"):
            return name
        if name == "white":
            return "#ffffff"
        return str(getattr(brand if name in BRAND else self.colours, name))


class Layers:
    """A stylesheet's files, each changing the one before key by key, checked as one."""

    def __init__(self, files: list[Loaded]) -> None:
        self.files = files
        self.data: Any = {}
        for loaded in files:
            self.data = _merge(self.data, loaded.data)

    def source(self, path: PathT) -> Loaded:
        """The file a value comes from: the one that holds most of its path (the last, of equals)."""
        return max(reversed(self.files), key=lambda loaded: _depth(loaded.data, path))

    def fail(self, problems: Problems, path: PathT, message: str, allowed: str) -> None:
        """Record a problem at the line of the file that set `path`."""
        loaded = self.source(path)
        problems.add(loaded.file, loaded.line(path), path_text(path), message, allowed)

    def convert(self, problems: Problems) -> Stylesheet | None:
        """The merged stylesheet, or None with every problem recorded."""
        return _LayeredConverter(self, problems).model(Stylesheet, self.data, ())

    def check_colours(self, sheet: Stylesheet, brand: Colours, clinic: str, problems: Problems) -> bool:
        """Text reads on its background (4.5:1) and lines and boxes show on white paper (3:1)."""
        def describe(name: str) -> str:
            if name.startswith("#") or name == "white":
                return name
            return f"{name} ({sheet.hex(name, brand)}{f' in clinic {clinic}' if name in BRAND else ''})"

        ok = True
        for path, colour, ground_path, ground, least in _contrasts(sheet):
            ratio = contrast(sheet.hex(colour, brand), sheet.hex(ground, brand))
            if ratio < least:
                ok = False
                on = "white paper" if ground_path is None else describe(ground)
                where = self._chosen([path, ("colours", colour), ground_path, ("colours", ground)])
                self.fail(problems, where, f"{describe(colour)} on {on} has {ratio:.1f}:1 contrast",
                          f"colours with at least {least:g}:1 contrast, as {WCAG[least]}")
        return ok

    def _chosen(self, paths: list[PathT | None]) -> PathT:
        """Of the entries that decide a contrast, the one set in the latest file (the first, of equals)."""
        order = {id(loaded): i for i, loaded in enumerate(self.files)}
        found = [p for p in paths if p is not None and (p[0] != "colours" or p[1] in PALETTE)]
        return max(reversed(found), key=lambda p: order[id(self.source(p))])


WCAG = {MIN_TEXT_CONTRAST: "WCAG 1.4.3 asks of text",
        MIN_LINE_CONTRAST: "WCAG 1.4.11 asks of lines and boxes"}


def _contrasts(sheet: Stylesheet) -> list[tuple[PathT, str, PathT | None, str, float]]:
    """Each colour, what it is seen on (None: the paper) and the least contrast it needs."""
    found: list[tuple[PathT, str, PathT | None, str, float]] = []
    for name in Styles.__dataclass_fields__:
        style: Text = getattr(sheet.styles, name)
        ground: tuple[PathT | None, str] = (("table", "header_background"), sheet.table.header_background) \
            if name == "cell_head" else (None, "white")
        found.append((("styles", name, "colour"), style.colour, *ground, MIN_TEXT_CONTRAST))
    lines = [("checklist", "colour"), ("checklist", "dont_colour"), ("yesno", "box_colour"),
             ("yesno", "rule_colour"), ("table", "rule_colour"), ("fields", "rule_colour"),
             ("signature", "rule_colour"), ("lines", "rule_colour"), ("initials", "box_colour"),
             ("initials", "rule_colour")]
    found += [(path, getattr(getattr(sheet, str(path[0])), str(path[1])), None, "white", MIN_LINE_CONTRAST)
              for path in lines]
    return found


class _LayeredConverter(Converter):
    """The schema's converter over merged files: each problem names the file its value is in."""

    def __init__(self, layers: Layers, problems: Problems) -> None:
        super().__init__(Loaded("", layers.data, {}), problems)
        self.layers = layers

    def fail(self, path: PathT, message: str, allowed: str) -> None:
        self.layers.fail(self.problems, path, message, allowed)


def _merge(base: Any, change: Any) -> Any:
    """`base` with the entries of `change`: mappings merge key by key, anything else replaces."""
    if not (isinstance(base, dict) and isinstance(change, dict)):
        return change
    merged = dict(base)
    for key, value in change.items():
        merged[key] = _merge(base.get(key), value) if key in base else value
    return merged


def _depth(data: Any, path: PathT) -> int:
    """How much of `path` a file's data holds."""
    depth = 0
    for key in path:
        held = key in data if isinstance(data, dict) else \
            isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data)
        if not held:
            break
        data = data[key]
        depth += 1
    return depth
