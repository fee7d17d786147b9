"""Register the shipped TrueType families with reportlab (once per process) and check coverage."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from .errors import BrandingError
from .library import FontEntry

STYLES = (("regular", 0, 0), ("bold", 1, 0), ("italic", 0, 1), ("bold_italic", 1, 1))
# Characters layouts draw themselves never reach a font: line breaks only.
_ALWAYS = frozenset("\n")


@dataclass(frozen=True)
class Registered:
    """Names of a registered family's four faces and the characters all of them can draw."""

    regular: str
    bold: str
    italic: str
    bold_italic: str
    covered: frozenset[int]
    family: str


@lru_cache(maxsize=16)
def register(entry: FontEntry) -> Registered:
    """Register a family's four faces under `<id>`, `<id>-bold`, ... and return their names."""
    names: dict[str, str] = {}
    covered: frozenset[int] | None = None
    for style, bold, italic in STYLES:
        name = entry.id if style == "regular" else f"{entry.id}-{style.replace('_', '-')}"
        try:
            font = TTFont(name, str(entry.files[style]))
        except (TTFError, OSError, ValueError) as err:
            raise BrandingError.one(f"assets/fonts/{entry.id}", 1, f"{entry.id}.{style}",
                                    f"cannot load font: {err}", "a TrueType (.ttf) font") from err
        pdfmetrics.registerFont(font)
        addMapping(entry.id, bold, italic, name)
        cmap = frozenset(font.face.charToGlyph)
        covered = cmap if covered is None else covered & cmap
        names[style] = name
    return Registered(names["regular"], names["bold"], names["italic"], names["bold_italic"],
                      covered or frozenset(), entry.family.name)


def uncovered(text: str, font: Registered) -> list[str]:
    """The distinct characters of `text` that the family cannot draw, in order of appearance."""
    missing: list[str] = []
    for ch in text:
        if ord(ch) not in font.covered and ch not in _ALWAYS and ch not in missing:
            missing.append(ch)
    return missing


def describe(ch: str) -> str:
    """Name a character for an error message: U+4E2D '中'."""
    return f"U+{ord(ch):04X} {ch!r}"
