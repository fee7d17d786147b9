"""reportlab's internals, reached from this module only, and work done once per process.

Every private attribute of reportlab's objects that handoutgen uses (a canvas's page code and
graphics state, a table's rows, a frame's position, a font face's scale) is read or written
here, behind a function that says what it is for; tests/test_reportlab_private.py fails when
another module reaches one, or when reportlab is a version these were not checked against.

A batch writes thousands of PDFs that share fonts and a logo. reportlab rebuilds them for every
document; these helpers remember the results:

- compressed streams: a font subset or image compressed for one PDF is the same bytes for the
  next, so the compressed form is remembered (by content, in a small LRU);
- font subsets: the TrueType subset for a given set of glyphs is built once;
- the logo: decoded and compressed into an image object once, then shared by every PDF;
- PDF syntax: names are escaped once, ASCII text skips reportlab's codec, and arrays of
  numbers (font widths) are written in one call. The bytes are the same as reportlab's.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import re
import sys
import zlib
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import reportlab
from reportlab import rl_config
from reportlab.lib.rl_accel import fp_str
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfdoc, pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont, TTFontFace
from reportlab.pdfgen.canvas import Canvas

# reportlab's internals this module relies on, as tested with these versions (pyproject.toml
# pins the same); tests/test_reportlab_private.py fails on any other.
TESTED_REPORTLAB = ("5.1",)

rl_config.useA85 = 0  # plain binary streams: smaller and faster than ASCII85
MEMO_MIN_BYTES = 2048  # smaller streams compress faster than they can be looked up
MEMO_ENTRIES = 24  # a few documents: font and image streams recur in every one


class _RememberingCompress(pdfdoc.PDFStreamFilterZCompress):  # type: ignore[misc]
    """reportlab's Flate filter, remembering the output for streams it has seen recently."""

    def __init__(self) -> None:
        self.memo: OrderedDict[bytes, bytes] = OrderedDict()

    def encode(self, text: str | bytes) -> bytes:
        data = text.encode("utf8") if isinstance(text, str) else text
        if len(data) < MEMO_MIN_BYTES:
            return zlib.compress(data)
        found = self.memo.get(data)
        if found is None:
            found = self.memo[data] = zlib.compress(data)
            if len(self.memo) > MEMO_ENTRIES:
                self.memo.popitem(last=False)
        else:
            self.memo.move_to_end(data)
        return found


pdfdoc.PDFZCompress = _RememberingCompress()

# PDFDocEncoding differs from ASCII only at these code points (accents in place of controls).
_NOT_PLAIN = frozenset(map(chr, range(0x18, 0x20)))
_reportlab_encode = pdfdoc.pdfdocEnc


def _pdfdoc_encode(text: str | bytes) -> bytes:
    """reportlab's pdfdocEnc, without its codec for plain ASCII (almost all PDF syntax)."""
    if isinstance(text, str) and text.isascii() and _NOT_PLAIN.isdisjoint(text):
        return text.encode("ascii")
    result: bytes = _reportlab_encode(text)
    return result


def _array_format(self: Any, document: Any, IND: bytes = b"\n ") -> bytes:
    """PDFArray.format, writing an array of plain numbers (font widths) in one call."""
    sequence = self.sequence
    if len(sequence) > 1 and not rl_config.pdfMultiLine and self.multiline != "forced" \
            and all(type(e) in (int, float) for e in sequence):
        # reportlab breaks the line after every tenth element
        rows = [fp_str(*sequence[i:i + 10]).encode("ascii") for i in range(0, len(sequence), 10)]
        return b"[ " + b" \n  ".join(rows) + b" ]"
    result: bytes = _reportlab_array_format(self, document, IND)
    return result


_reportlab_array_format = pdfdoc.PDFArray.format
class RawObject(pdfdoc.PDFObject):  # type: ignore[misc]
    """An object written as bytes made by the caller: far faster than reportlab's formatting of
    many small dictionaries, which a structure tree of a hundred elements would otherwise cost."""

    def __init__(self) -> None:
        self.data = b""

    def format(self, document: Any) -> bytes:
        return self.data


def _indirect_format(self: Any, document: Any) -> bytes:
    """PDFIndirectObject.format, without its general steps for a RawObject in an unencrypted PDF."""
    if type(self.content) is RawObject and type(document.encrypt) is pdfdoc.NoEncryption:
        number, version = document.idToObjectNumberAndVersion[self.name]
        data = self.content.data
        return b"%d %d obj\n%s%sendobj\n" % (number, version, data, b"" if data.endswith(b"\n") else b"\n")
    result: bytes = _reportlab_indirect_format(self, document)
    return result


_reportlab_indirect_format = pdfdoc.PDFIndirectObject.format
pdfdoc.PDFIndirectObject.format = _indirect_format
pdfdoc.pdfdocEnc = _pdfdoc_encode
pdfdoc.PDFName = lru_cache(maxsize=512)(pdfdoc.PDFName)
pdfdoc.PDFArray.format = _array_format


def remember_subsets(make_subset: Callable[[list[int]], bytes]) -> Callable[[list[int]], bytes]:
    """Wrap a font face's makeSubset so each distinct glyph set is subset once."""
    cached = lru_cache(maxsize=32)(lambda glyphs: make_subset(list(glyphs)))

    def make(subset: list[int]) -> bytes:
        result: bytes = cached(tuple(subset))
        return result

    return make


@lru_cache(maxsize=16)
def _image(path: Path) -> tuple[Any, Any, str]:
    """The logo as a reportlab image object (and its transparency mask), built once."""
    name = "logo" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    image = pdfdoc.PDFImageXObject(name, ImageReader(str(path)), mask="auto")
    image.name = name
    smask = getattr(image, "_smask", None)
    if smask is not None:
        del image._smask
    return image, smask, name


def draw_image(canv: Canvas, path: Path, x: float, y: float, width: float, height: float) -> None:
    """Draw a raster image like Canvas.drawImage, sharing one image object between PDFs."""
    image, smask, name = _image(path)
    recording = getattr(canv, "images", None)  # a recording canvas keeps what a form registers
    if recording is not None:
        recording.append((image, smask, name, list(canv._formsinuse)))
    register_image(canv, image, smask, name)
    canv.saveState()
    canv.translate(x, y)
    canv.scale(width, height)
    canv._code.append(f"/{canv._doc.getXObjectName(name)} Do")
    canv.restoreState()
    canv._formsinuse.append(name)  # the page or form drawing it lists it among its resources


def register_image(canv: Canvas, image: Any, smask: Any, name: str) -> None:
    """Register an image object (and its soft mask) in a PDF once, under its own name."""
    doc = canv._doc
    ref = doc.getXObjectName(name)
    if ref not in doc.idToObject:
        # A PDF object is bound to the document it is registered in: register shallow copies,
        # which share the already compressed pixel data.
        image = copy.copy(image)
        canv._setXObjects(image)
        doc.Reference(image, ref)
        doc.addForm(name, image)
        if smask is not None:
            smask = copy.copy(smask)
            canv._setXObjects(smask)
            image.smask = doc.Reference(smask, doc.getXObjectName(smask.name))


def image_size(path: Path) -> tuple[int, int]:
    """Pixel size of a raster image."""
    image = _image(path)[0]
    return int(image.width), int(image.height)


class _LazyPattern:
    """A regular expression compiled the first time it is used."""

    def __init__(self, pattern: str, flags: int) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, name)


# reportlab.platypus.paragraph compiles, at import, a case-insensitive URL pattern with large
# Unicode ranges (about 25 ms, most of the import) that is only used to split long URLs.
_URI_PATTERN_START = "(^(?:[a-z0-9\\.\\-\\+]*)://)"


def import_paragraphs() -> None:
    """Import what draws a paragraph (reportlab.platypus.paragraph), and no more of platypus.

    Importing reportlab.platypus runs its __init__, which imports every flowable, table, frame
    and page template: a twentieth of a cold `build`, which only draws values as paragraphs.
    The package is registered without running __init__ (its modules import as usual), and the
    first name asked of the package itself runs it. The URL pattern is compiled on first use.
    """
    if "reportlab.platypus" in sys.modules:
        return
    spec = importlib.util.find_spec("reportlab.platypus")
    assert spec is not None and spec.loader is not None  # reportlab is installed
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def whole_package(name: str) -> Any:
        del package.__dict__["__getattr__"]
        loader.exec_module(package)
        return getattr(package, name)

    setattr(package, "__getattr__", whole_package)  # noqa: B010 (a module's own __getattr__)
    sys.modules["reportlab.platypus"] = package
    setattr(reportlab, "platypus", package)  # noqa: B010 (as an import would)
    real = re.compile

    def compile_later(pattern: Any, flags: int = 0) -> Any:
        if isinstance(pattern, str) and pattern.startswith(_URI_PATTERN_START):
            return _LazyPattern(pattern, flags)
        return real(pattern, flags)

    re.compile = compile_later
    try:
        importlib.import_module("reportlab.platypus.paragraph")
    finally:
        re.compile = real


# The canvas. A page's content is a list of PDF operators that reportlab appends to; the state
# of a page or form is a set of canvas attributes that reportlab keeps while drawing it.

# Canvas attributes that belong to one page (content, resources in use, graphics state).
_PAGE_STATE = (
    "_code", "_psCommandsAfterPage", "_psCommandsBeforePage", "_currentPageHasImages",
    "_formsinuse", "_annotationrefs", "_formData", "_colorsUsed", "_shadingUsed", "_x", "_y",
    "_fontname", "_fontsize", "_textMode", "_leading", "_currentMatrix", "_fillMode",
    "_charSpace", "_wordSpace", "_horizScale", "_textRenderMode", "_rise", "_textLineMatrix",
    "_textMatrix", "_lineCap", "_lineJoin", "_lineDash", "_lineWidth", "_mitreLimit",
    "_fillColorObj", "_strokeColorObj", "_extgstate", "state_stack", "_pageNumber",
)


# Canvas attributes a form's XObject is made from when it ends (its content and resources).
_FORM_STATE = ("_code", "_formsinuse", "_annotationrefs", "_colorsUsed", "_shadingUsed", "_extgstate")


def pdf_document(canv: Canvas) -> Any:
    """The reportlab PDFDocument a canvas writes into."""
    return canv._doc


def page_code(canv: Canvas) -> list[str]:
    """The operators drawn so far on the page or form being drawn (append to draw more)."""
    code: list[str] = canv._code
    return code


def set_page_code(canv: Canvas, code: list[str]) -> None:
    """Make `code` the operators of the page being drawn."""
    canv._code = code


def text_object_code(canv: Canvas) -> list[str]:
    """The operators of the text object a paragraph is drawing (only while it draws one)."""
    code: list[str] = canv._curr_tx_info["tx"]._code
    return code


def set_forms_in_use(canv: Canvas, names: list[str]) -> None:
    """Set the forms and images the page or form being drawn lists among its resources."""
    canv._formsinuse = names


def page_state(canv: Canvas) -> dict[str, Any]:
    """The canvas's state for the page being drawn: its code, resources and graphics state."""
    return {key: getattr(canv, key) for key in _PAGE_STATE}


def form_state(canv: Canvas) -> dict[str, Any]:
    """What the form being drawn is made from when it ends: its code and resources."""
    return {key: getattr(canv, key) for key in _FORM_STATE}


def restore_state(canv: Canvas, state: dict[str, Any]) -> None:
    """Put back a state taken by page_state or form_state (the values themselves, not copies)."""
    canv.__dict__.update(state)


def recorded_code(state: dict[str, Any]) -> list[str]:
    """The operators of a page or form in a state taken by page_state or form_state."""
    code: list[str] = state["_code"]
    return code


def recorded_forms_in_use(state: dict[str, Any]) -> list[str]:
    """The forms and images listed as resources in a state taken by page_state or form_state."""
    names: list[str] = state["_formsinuse"]
    return names


def form_name(canv: Canvas) -> str:
    """The name of the form being drawn (between beginForm and endForm)."""
    name: str = canv._formData[0]
    return name


def start_page(canv: Canvas) -> None:
    """Begin a new page's state on the canvas, as showPage does once it has written a page."""
    canv._startPage()


# Platypus: frames, tables and kept groups.

def frame_cursor(frame: Any) -> float:
    """The height in a frame below which the next flowable goes (its top is drawn there)."""
    y: float = frame._y
    return y


def kept_flowables(keep: Any) -> list[Any]:
    """The flowables a KeepTogether holds."""
    content: list[Any] = keep._content
    return content


def row_count(table: Any) -> int:
    """How many rows a (laid-out or split) table has."""
    return len(table._cellvalues)


def row_heights(table: Any) -> list[float]:
    """The heights of a wrapped table's rows."""
    heights: list[float] = table._rowHeights
    return heights


class DecoratedTable:
    """Mixin for a reportlab Table that calls `begin_decoration` before it draws the cell
    backgrounds and again before the rules, and `end_decoration` after each."""

    def begin_decoration(self) -> None:
        """Called before the backgrounds or the rules are drawn."""

    def end_decoration(self) -> None:
        """Called after the backgrounds or the rules are drawn."""

    def _drawBkgrnd(self) -> None:
        self.begin_decoration()
        super()._drawBkgrnd()  # type: ignore[misc]
        self.end_decoration()

    def _drawLines(self) -> None:
        self.begin_decoration()
        super()._drawLines()  # type: ignore[misc]
        self.end_decoration()


# Fonts.

def font_parts(font: TTFont) -> dict[str, Any]:
    """A parsed TrueType font's attributes, without what cannot be pickled (the face's scale
    function) or belongs to one PDF (its subsets)."""
    return {"face": {k: v for k, v in vars(font.face).items() if k != "_pdfScale"},
            "font": {k: v for k, v in vars(font).items() if k not in ("face", "state")}}


def font_from(parts: dict[str, Any]) -> TTFont:
    """A TrueType font made from font_parts, without parsing the font file again."""
    face = TTFontFace.__new__(TTFontFace)
    face.__dict__.update(parts["face"])
    unit = 1000 / face.unitsPerEm  # reportlab's scale to PDF glyph space
    face._pdfScale = (lambda x: x) if face.unitsPerEm == 1000 else (lambda x: x * unit)
    font = TTFont.__new__(TTFont)
    font.__dict__.update(parts["font"], face=face, state=WeakKeyDictionary())
    return font


def font_subsets(canv: Canvas) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The fonts a PDF uses so far: (font name, internal PDF name) in order of first use, and a
    copy of each font's subsets (which glyph has which code), by font name."""
    pdf = canv._doc
    states = {font.fontName: _copied(font.state[pdf]) for font in pdf.delayedFonts}
    return list(pdf.fontMapping.items()), states


def use_font_subsets(canv: Canvas, fonts: list[tuple[str, str]], states: dict[str, Any]) -> None:
    """Start a PDF with the fonts of font_subsets: the same internal names and glyph codes."""
    pdf = canv._doc
    for name, internal in fonts:
        pdf.fontMapping[name] = internal
        font = pdfmetrics.getFont(name)
        pdf.delayedFonts.append(font)
        font.state[pdf] = _copied(states[name])


def coded_glyphs(canv: Canvas) -> int:
    """How many glyphs have a code in this PDF's font subsets."""
    pdf = canv._doc
    return sum(len(font.state[pdf].assignments) for font in pdf.delayedFonts)


def _copied(state: Any) -> Any:
    """A copy of a TTFont's subsets in one PDF, so each PDF starts from the same glyph codes."""
    copied = TTFont.State.__new__(TTFont.State)
    copied.__dict__.update(state.__dict__)
    copied.assignments = dict(state.assignments)
    copied.subsets = [list(subset) for subset in state.subsets]
    copied.frozen = 0
    return copied


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    """reportlab's ToUnicode map without entries for unused codes (which it maps to U+0000),
    in blocks of at most 100 as the CMap format allows: text read from a tagged PDF is the
    text drawn."""
    pairs = [f"<{code:02X}> <{char:04X}>" for code, char in enumerate(subset) if char]
    blocks: list[str] = []
    for start in range(0, len(pairs), 100):
        chunk = pairs[start:start + 100]
        blocks += [f"{len(chunk)} beginbfchar", *chunk, "endbfchar"]
    return "\n".join([
        "/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
        f"/CIDSystemInfo\n<< /Registry ({fontname})", f"/Ordering ({fontname})", "/Supplement 0",
        ">> def", f"/CMapName /{fontname} def", "/CMapType 2 def", "1 begincodespacerange",
        f"<00> <{len(subset) - 1:02X}>", "endcodespacerange", *blocks,
        "endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"])


ttfonts.makeToUnicodeCMap = _to_unicode_cmap


# The PDF document: its objects, their numbers, its page objects.

def object_number(doc: Any, name: str) -> int:
    """The object number of a named object of the document (a page is "Page1", "Page2", ...)."""
    number: int = doc.idToObjectNumberAndVersion[name][0]
    return number


def add_object(doc: Any, obj: Any) -> int:
    """Make `obj` an indirect object of the document; return its object number."""
    return object_number(doc, doc.Reference(obj).name)


def add_raw_objects(doc: Any, objects: list[bytes]) -> None:
    """Add indirect objects written as these bytes, in order (numbered as add_object would)."""
    reference = doc.Reference
    for data in objects:
        raw = RawObject()
        raw.data = data
        reference(raw)


def numbering(doc: Any) -> tuple[int, int]:
    """How many objects and pages the document has numbered so far."""
    return doc.objectcounter, doc.pageCounter


def numbered(doc: Any, number: int) -> Any:
    """The document's object with this object number."""
    return doc.idToObject[doc.numberToId[number]]


def set_catalog_entries(canv: Canvas, entries: dict[str, Any]) -> None:
    """Set entries of the PDF's catalog (the document's root dictionary)."""
    catalog = canv._doc.Catalog
    for key, value in entries.items():
        setattr(catalog, key, value)


def add_page_entries(doc: Any, entries: list[dict[str, Any]]) -> None:
    """Add entries to each page's dictionary (reportlab writes only the ones it knows)."""
    for page, extra in zip(doc.Pages.pages, entries, strict=True):
        page.__NoDefault__ = [*pdfdoc.PDFPage.__NoDefault__, *extra]
        for key, value in extra.items():
            setattr(page, key, value)


class _Uncompressed(pdfdoc.PDFStream):  # type: ignore[misc]
    """A stream written as it is."""

    def format(self, document: Any) -> bytes:
        dictionary = pdfdoc.PDFDictionary(self.dictionary.dict.copy())
        content: bytes = document.encrypt.encode(self.content)
        dictionary["Length"] = len(content)
        head: bytes = pdfdoc.format(dictionary, document)
        return head + b"\nstream\n" + content + b"\nendstream\n"


def uncompressed_stream(entries: dict[str, str], content: bytes) -> Any:
    """A stream object written without compression, with these name entries (Type, Subtype)."""
    return _Uncompressed(pdfdoc.PDFDictionary({key: pdfdoc.PDFName(value)
                                               for key, value in entries.items()}), content)
