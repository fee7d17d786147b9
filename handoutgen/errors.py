"""One exception family for every expected problem, each carrying one or more Problems."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Self


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in one place of the user's input."""

    file: str
    line: int
    path: str
    message: str
    allowed: str

    def __str__(self) -> str:
        return f"error: {self.file}:{self.line}: {self.path}: {self.message} ({self.allowed})"


class HandoutError(Exception):
    """Raised when the user's input cannot produce a correct handout; carries every problem."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def one(cls, file: str, line: int, path: str, message: str, allowed: str) -> Self:
        """Build an error holding a single problem."""
        return cls([Problem(file, line, path, message, allowed)])


class ContentError(HandoutError):
    """Raised when treatment content (handouts/) is malformed or incomplete."""


class BrandingError(HandoutError):
    """Raised when a clinic's branding (clinic.yaml, logo, fonts) is malformed or unsafe."""


class TemplateError(HandoutError):
    """Raised when a layout template fails to render or produces blocks outside the vocabulary."""


class RenderError(HandoutError):
    """Raised when a document cannot be drawn, e.g. a character the font has no glyph for."""


class UsageError(HandoutError):
    """Raised when command-line arguments or patient values are invalid."""


class DeliveryError(HandoutError):
    """Raised when a finished document cannot be written, printed or sent."""


class Problems:
    """Collects problems from many checks so all of them are reported at once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, file: str, line: int, path: str, message: str, allowed: str) -> None:
        """Record one problem."""
        self.items.append(Problem(file, line, path, message, allowed))

    def extend(self, error: HandoutError) -> None:
        """Record every problem of an error raised by a sub-step."""
        self.items.extend(error.problems)

    def raise_if_any(self, kind: type[HandoutError]) -> None:
        """Raise `kind` with everything collected, if anything was."""
        if self.items:
            raise kind(self.items)
