"""The page in the clinic's colours, with text colours chosen so that they stay readable."""

from __future__ import annotations

from ..library.gather import ClinicEntry
from ..values import Value, frozen


def _luminance(colour: str) -> float:
    """Relative luminance of #rrggbb (WCAG 2)."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def on(colour: str) -> str:
    """White or near-black text, whichever reads better on `colour`."""
    return "#ffffff" if contrast(colour, "#ffffff") >= contrast(colour, "#111111") else "#111111"


def darker(colour: str, amount: float) -> str:
    """`colour` mixed with black."""
    channels = [round(int(colour[i:i + 2], 16) * (1 - amount)) for i in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in channels)


def readable_on_white(colour: str) -> str:
    """`colour`, darkened until text in it has at least 4.5:1 contrast on white."""
    amount = 0.0
    while contrast(colour if not amount else darker(colour, amount), "#ffffff") < 4.5 and amount < 1:
        amount += 0.1
    return darker(colour, amount) if amount else colour


@frozen
class Theme(Value):
    """A clinic's look on the page."""

    id: str
    name: str
    primary: str
    accent: str

    def css(self) -> str:
        """CSS custom properties the stylesheet uses."""
        ink = readable_on_white(self.primary)
        return (":root {\n"
                f"  --primary: {self.primary};\n  --on-primary: {on(self.primary)};\n"
                f"  --accent: {self.accent};\n  --on-accent: {on(self.accent)};\n"
                f"  --ink: {ink};\n  --focus: {darker(self.accent, 0.35)};\n}}\n")


def theme_for(entry: ClinicEntry) -> Theme:
    """The page theme of a clinic."""
    clinic = entry.clinic
    return Theme(clinic.id, clinic.name, clinic.colours.primary, clinic.colours.accent)
