"""Which characters a document draws, and whether the clinic's font can draw them all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..compose import blocks as b
from ..errors import RenderError
from ..library.branding import Clinic
from ..library.fonts import Registered, describe, uncovered
from ..library.gather import ClinicEntry


def document_text(document: b.Document, clinic: Clinic) -> Iterator[str]:
    """Every string that will be drawn, for the font coverage check."""
    info = document.info
    yield from (info.title, info.subtitle, info.footer, clinic.name, *clinic.address, clinic.phone,
                clinic.email, clinic.website)
    yield from _block_text(document.blocks)


def _block_text(items: tuple[b.Block, ...]) -> Iterator[str]:
    for block in items:
        for value in vars(block).values():
            yield from _value_text(value)


def _value_text(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _value_text(item)
    elif hasattr(value, "__dataclass_fields__"):
        for item in vars(value).values():
            yield from _value_text(item)


def uses_italic(items: tuple[Any, ...]) -> bool:
    """True when any inline run of these blocks is italic."""
    for item in items:
        if isinstance(item, tuple):
            if len(item) == 4 and isinstance(item[0], str) and item[2] is True:
                return True
            if uses_italic(item):
                return True
        elif hasattr(item, "__dataclass_fields__") and uses_italic(tuple(vars(item).values())):
            return True
    return False


def check_coverage(document: b.Document, entry: ClinicEntry, font: Registered, source: str) -> None:
    """Fail with every character of the document that the clinic's font cannot draw."""
    missing: list[str] = []
    for text in document_text(document, entry.clinic):
        for ch in uncovered(text, font):
            if ch not in missing:
                missing.append(ch)
    if missing:
        raise RenderError([RenderError.one(source, 1, "text", f"character {describe(ch)} cannot be "
                                           f"drawn by font {font.family}",
                                           "characters the font covers").problems[0]
                           for ch in missing])
