"""Register the shipped TrueType families with reportlab (once per process) and check coverage."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from ..errors import BrandingError
from ..reportlab_private import font_from, font_parts, remember_subsets
from ..store import remembered
from ..values import Value, frozen
from .branding import FontEntry

UPRIGHT = (("regular", 0, 0), ("bold", 1, 0))
SLANTED = (("italic", 0, 1), ("bold_italic", 1, 1))
# Characters layouts draw themselves never reach a font: line breaks only.
_ALWAYS = frozenset("\n")


@frozen
class Registered(Value):
    """Names of a registered family's faces and the characters they can all draw."""

    regular: str
    bold: str
    covered: frozenset[int]
    family: str


def _face_name(entry: FontEntry, style: str) -> str:
    return entry.id if style == "regular" else f"{entry.id}-{style.replace('_', '-')}"


def _register_faces(entry: FontEntry, styles: tuple[tuple[str, int, int], ...]) -> frozenset[int]:
    covered: frozenset[int] | None = None
    for style, bold, italic in styles:
        name = _face_name(entry, style)
        try:
            font = _load(name, entry.files[style])
        except (TTFError, OSError, ValueError, KeyError, IndexError) as err:
            raise BrandingError.one(entry.source, entry.lines[style], f"{entry.id}.{style}",
                                    f"cannot load font {entry.files[style].name!r}: damaged or "
                                    "not TrueType", "a TrueType (.ttf) font") from err
        font.face.makeSubset = remember_subsets(font.face.makeSubset)
        pdfmetrics.registerFont(font)
        addMapping(entry.id, bold, italic, name)
        cmap = frozenset(font.face.charToGlyph)
        covered = cmap if covered is None else covered & cmap
    return covered or frozenset()


@lru_cache(maxsize=16)
def register(entry: FontEntry) -> Registered:
    """Register a family's upright faces (italic ones load only when a document needs them)."""
    covered = _register_faces(entry, UPRIGHT)
    return Registered(_face_name(entry, "regular"), _face_name(entry, "bold"), covered,
                      entry.family.name)


def _load(name: str, path: Path) -> TTFont:
    """A TrueType font, parsed once and kept in the cache folder (parsing takes most of a
    cold start's font time; reading back the parsed tables is several times faster)."""
    parts: dict[str, Any] = remembered(("ttf", name), path, lambda: font_parts(TTFont(name, str(path))))
    return font_from(parts)


@lru_cache(maxsize=16)
def register_italic(entry: FontEntry) -> Registered:
    """Register the italic faces too; the coverage becomes what all four faces can draw."""
    upright = register(entry)
    return Registered(upright.regular, upright.bold, upright.covered & _register_faces(entry, SLANTED),
                      upright.family)


def uncovered(text: str, font: Registered) -> list[str]:
    """The distinct characters of `text` that the family cannot draw, in order of appearance."""
    if font.covered.issuperset(map(ord, text)):  # nearly always: decided without a Python loop
        return []
    missing: list[str] = []
    for ch in text:
        if ord(ch) not in font.covered and ch not in _ALWAYS and ch not in missing:
            missing.append(ch)
    return missing


def describe(ch: str) -> str:
    """Name a character for an error message: U+4E2D '中'."""
    return f"U+{ord(ch):04X} {ch!r}"
