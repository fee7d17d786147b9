"""The branding model: what a clinic edits in assets/clinics/<clinic>/clinic.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .content import Check
from .schema import ID, spec

COLOUR: dict[str, Any] = {"pattern": r"^#[0-9a-fA-F]{6}$", "pattern_doc": "a colour as #rrggbb", "max_len": 7}
PHONE: dict[str, Any] = {"pattern": r"^[0-9+() .-]{3,30}$", "pattern_doc": "digits, spaces and + ( ) . -",
         "max_len": 30}


@dataclass(frozen=True)
class Practitioner:
    """Someone who treats patients at the clinic."""

    id: str = spec("short id used on the command line", **ID)
    name: str = spec("name as printed", max_len=80)
    role: str = spec("job title, e.g. Aesthetic nurse", max_len=80)


@dataclass(frozen=True)
class Colours:
    """Brand colours."""

    primary: str = spec("headings, header band and rules", **COLOUR)
    accent: str = spec("callouts and boxes", **COLOUR)
    text: str = spec("body text", default="#1f1f1f", **COLOUR)


@dataclass(frozen=True)
class Clinic:
    """clinic.yaml: one clinic's identity, contacts and branding."""

    id: str = spec("the clinic's id, the same as its folder name", **ID)
    name: str = spec("clinic name as printed", max_len=80)
    address: tuple[str, ...] = spec("address lines", min_items=1, max_items=5, max_len=80)
    phone: str = spec("main phone number", **PHONE)
    out_of_hours_phone: str = spec("out-of-hours phone number", **PHONE)
    emergency_number: str = spec("local emergency number, e.g. 999 or 911", **PHONE)
    email: str = spec("contact email", pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                      pattern_doc="an email address", max_len=120)
    website: str = spec("website address", pattern=r"^https?://[^\s<>\"]+$",
                        pattern_doc="an http(s) address", max_len=200)
    practitioners: tuple[Practitioner, ...] = spec("people who treat patients", min_items=1)
    logo: str = spec("logo file inside the clinic folder (.png, .jpg or .svg)", max_len=200)
    colours: Colours = spec("brand colours")
    font: str = spec("font family id from assets/fonts/fonts.yaml", **ID)
    paper: Literal["a4", "letter"] = spec("paper size")
    languages: tuple[str, ...] = spec("languages the clinic hands out, first is the default",
                                      min_items=1, pattern=r"^[a-z]{2}(-[A-Z]{2})?$",
                                      pattern_doc="a language code such as en")
    date_style: Literal["day-month-year", "month-day-year", "iso"] = spec("how dates print")
    time_style: Literal["24h", "12h"] = spec("how times print")
    opening_hours: str = spec("when the phone line is answered", max_len=120)
    example: bool = spec("true for a fictional example clinic", default=False)
    footer: str | None = spec("legal line printed in the footer", default=None, max_len=160)
    qr: Literal["website", "document-id", "none"] = spec("what the QR code holds", default="website")

    def check(self) -> Check:
        seen: set[str] = set()
        for i, person in enumerate(self.practitioners):
            if person.id in seen:
                yield ("practitioners", i, "id"), f"duplicate practitioner id {person.id!r}", \
                    "each id once"
            seen.add(person.id)

    def practitioner(self, key: str) -> Practitioner | None:
        """Find a practitioner by id or by exact name."""
        for person in self.practitioners:
            if key in (person.id, person.name):
                return person
        return None


@dataclass(frozen=True)
class FontFamily:
    """One family in assets/fonts/fonts.yaml: four TrueType files and their licence."""

    name: str = spec("family name as shown to people", max_len=60)
    regular: str = spec("regular .ttf file, relative to assets/fonts")
    bold: str = spec("bold .ttf file")
    italic: str = spec("italic .ttf file")
    bold_italic: str = spec("bold italic .ttf file")
    licence: str = spec("licence file shipped with the font")
