"""The branding model: what a clinic edits in assets/clinics/<clinic>/clinic.yaml."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

from ..values import Frozen, Value, frozen
from .content import Check
from .registry import column_key
from .schema import ID, spec

COLOUR: dict[str, Any] = {"pattern": r"^#[0-9a-fA-F]{6}$", "pattern_doc": "a colour as #rrggbb", "max_len": 7}
PHONE: dict[str, Any] = {"pattern": r"^[0-9+() .-]{3,30}$", "pattern_doc": "digits, spaces and + ( ) . -",
         "max_len": 30}


@frozen
class Practitioner(Value):
    """Someone who treats patients at the clinic."""

    id: str = spec("short id used on the command line", **ID)
    name: str = spec("name as printed", max_len=80)
    role: str = spec("job title, e.g. Aesthetic nurse", max_len=80)


@frozen
class Colours(Value):
    """Brand colours."""

    primary: str = spec("headings, tick boxes, initials boxes and the header rule", **COLOUR)
    accent: str = spec("the edge and tint of callouts (decoration only)", **COLOUR)
    text: str = spec("body text", default="#1f1f1f", **COLOUR)

    def check(self) -> Check:
        # Headings and the boxes a patient writes in must read well on white paper (WCAG 1.4.3).
        for name in ("primary", "text"):
            ratio = contrast(getattr(self, name))
            if ratio < MIN_CONTRAST:
                yield (name,), f"{getattr(self, name)} is too light to read on white ({ratio:.1f}:1)", \
                    f"a colour with at least {MIN_CONTRAST:g}:1 contrast against white"


MIN_CONTRAST = 4.5


def contrast(colour: str, against: str = "#ffffff") -> float:
    """The WCAG contrast ratio of two #rrggbb colours (by default, of one against white)."""
    lighter, darker = sorted((_luminance(colour), _luminance(against)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(colour: str) -> float:
    """The WCAG relative luminance of a #rrggbb colour."""
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


EMAIL: dict[str, Any] = {"pattern": r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$",
                         "pattern_doc": "an email address", "max_len": 120}


def is_loopback(host: str) -> bool:
    """True for a host name or address that never leaves this computer."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        import ipaddress  # only for a mail server given by address

        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@frozen
class Smtp(Value):
    """How to reach the clinic's mail server. The password is never stored here."""

    host: str = spec("mail server name or address", pattern=r"^[A-Za-z0-9.:\[\]-]+$",
                     pattern_doc="a host name or IP address", max_len=253)
    port: int = spec("mail server port: usually 587 for starttls, 465 for tls", min_value=1,
                     max_value=65535)
    security: Literal["starttls", "tls", "none"] = spec(
        "starttls or tls; none only for a server on this computer")
    user: str | None = spec("login name; leave out when the server needs no login", default=None,
                            max_len=200)
    password_env: str | None = spec("name of the environment variable that holds the password",
                                    default=None, pattern=r"^[A-Z_][A-Z0-9_]*$",
                                    pattern_doc="an environment variable name such as SMTP_PASSWORD",
                                    max_len=64)
    ca_file: str | None = spec("extra certificate authority file (PEM) to trust, inside the clinic "
                               "folder", default=None, max_len=200)
    timeout_seconds: int = spec("seconds to wait for the server", default=30, min_value=1,
                                max_value=300)

    def check(self) -> Check:
        if self.security == "none" and not is_loopback(self.host):
            yield ("security",), f"'none' would send passwords and patient data unencrypted to " \
                f"{self.host}", "starttls or tls; none only for localhost or 127.0.0.1"
        if self.user is not None and self.password_env is None:
            yield ("password_env",), "a login needs a password", \
                "the name of an environment variable that holds it"


@frozen
class Mail(Value):
    """Sending handouts by email: sender, server and how attachments are protected."""

    smtp: Smtp = spec("the mail server")
    sender: str | None = spec("address the email comes from (default: the clinic's email)",
                              default=None, **EMAIL)
    reply_to: str | None = spec("address replies go to (default: the clinic's email)",
                                default=None, **EMAIL)
    attachments: Literal["passcode", "date-of-birth", "unprotected"] = spec(
        "passcode: AES-256 with a random passcode per appointment (default); date-of-birth and "
        "unprotected are unsafe and warn on every run", default="passcode")
    body: Literal["minimal", "detailed"] = spec(
        "minimal: the email names no patient, treatment or date, they are in the attachment "
        "(default); detailed: it greets the patient by name and gives the treatment, date and "
        "document titles, which anyone who sees the email can read", default="minimal")
    attempts: int = spec("tries per message when the server says 'try again later'", default=4,
                         min_value=1, max_value=10)
    retry_delay_seconds: float = spec("wait before the second try; doubles each time", default=5.0,
                                      min_value=0.0, max_value=600.0)


@frozen
class Appointments(Value):
    """How the clinic's own software names the columns of the appointment lists it exports."""

    columns: dict[str, str] = spec(
        "another program's column name -> the column it is, e.g. Client Name: patient_name (the "
        "columns are checked against handouts/fields.yaml)", default={}, max_len=80, compare=False)

    def check(self) -> Check:
        seen: dict[str, str] = {}
        for name in self.columns:
            key = column_key(name)
            if not key:
                yield ("columns", name), "is not a column name", "the name as the export's header has it"
            elif key in seen:
                yield ("columns", name), f"{name!r} is the same name as {seen[key]!r}", \
                    "each name once (case, spaces, '_' and '-' do not count)"
            seen.setdefault(key, name)


@frozen
class ClinicWords(Value):
    """A clinic's own words in one of its other languages (the first is in the fields above)."""

    opening_hours: str = spec("when the phone line is answered, in this language", max_len=120)
    roles: dict[str, str] = spec("practitioner id -> job title in this language", default={},
                                 max_len=80)
    footer: str | None = spec("the footer's legal line in this language", default=None, max_len=160)


@frozen
class Clinic(Value):
    """clinic.yaml: one clinic's identity, contacts and branding."""

    id: str = spec("the clinic's id, the same as its folder name", **ID)
    name: str = spec("clinic name as printed", max_len=80)
    address: tuple[str, ...] = spec("address lines", min_items=1, max_items=5, max_len=80)
    phone: str = spec("main phone number", **PHONE)
    out_of_hours_phone: str = spec("out-of-hours phone number", **PHONE)
    emergency_number: str = spec("local emergency number, e.g. 999 or 911", **PHONE)
    email: str = spec("contact email", **EMAIL)
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
    country: str = spec("the clinic's country as an ISO code, e.g. GB or US: decides spelling and idiom",
                        pattern=r"^[A-Z]{2}$", pattern_doc="two capital letters, e.g. GB or US",
                        max_len=2)
    cooling_off_days: int = spec("days a patient is given to think between getting the information and "
                                 "treatment (0: no set period)", min_value=0, max_value=60)
    date_style: Literal["day-month-year", "month-day-year", "iso"] = spec("how dates print")
    time_style: Literal["24h", "12h"] = spec("how times print")
    opening_hours: str = spec("when the phone line is answered", max_len=120)
    example: bool = spec("true for a fictional example clinic", default=False)
    footer: str | None = spec("legal line printed in the footer", default=None, max_len=160)
    qr: Literal["website", "document-id", "none"] = spec("what the QR code holds", default="website")
    body_size: int = spec("size of body text in points (the large-print edition uses 16)", default=12,
                          min_value=12, max_value=14)
    mail: Mail | None = spec("email settings; leave out if the clinic does not email handouts",
                             default=None)
    translations: dict[str, ClinicWords] = spec(
        "the clinic's words (opening hours, roles, footer) in each of its other languages",
        default={}, compare=False)
    appointments: Appointments | None = spec(
        "the column names of the clinic's appointment exports, when they are not handoutgen's own",
        default=None, compare=False)
    printer: str | None = spec("default printer (CUPS queue name) for the print command",
                               default=None, pattern=r"^[A-Za-z0-9_.@-]{1,127}$",
                               pattern_doc="a CUPS printer name")

    def check(self) -> Check:
        seen: set[str] = set()
        for i, person in enumerate(self.practitioners):
            if person.id in seen:
                yield ("practitioners", i, "id"), f"duplicate practitioner id {person.id!r}", \
                    "each id once"
            seen.add(person.id)
        for lang, words in self.translations.items():
            if lang not in self.languages[1:]:
                yield ("translations", lang), f"{lang!r} is not one of the clinic's other languages", \
                    "languages listed after the first in languages: " + (", ".join(self.languages[1:])
                                                                         or "none")
                continue
            for key in words.roles:
                if key not in seen:
                    yield ("translations", lang, "roles", key), f"no practitioner {key!r}", \
                        "practitioner ids: " + ", ".join(sorted(seen))
            for key in sorted(seen - set(words.roles)):
                yield ("translations", lang, "roles"), f"the role of {key!r} is not translated", \
                    "a job title for every practitioner"
            if self.footer and not words.footer:
                yield ("translations", lang), "the footer is not translated", \
                    "footer: the legal line in this language"

    def in_language(self, language: str) -> Clinic:
        """The clinic with its own words (opening hours, roles, footer) in `language`."""
        words = self.translations.get(language)
        if words is None:
            return self
        people = tuple(dataclasses.replace(p, role=words.roles.get(p.id, p.role))
                       for p in self.practitioners)
        return dataclasses.replace(self, opening_hours=words.opening_hours, practitioners=people,
                                   footer=words.footer or self.footer)

    def practitioner(self, key: str) -> Practitioner | None:
        """Find a practitioner by id or by exact name."""
        for person in self.practitioners:
            if key in (person.id, person.name):
                return person
        return None


@frozen
class FontFamily(Value):
    """One family in assets/fonts/fonts.yaml: four TrueType files and their licence."""

    name: str = spec("family name as shown to people", max_len=60)
    regular: str = spec("regular .ttf file, relative to assets/fonts")
    bold: str = spec("bold .ttf file")
    italic: str = spec("italic .ttf file")
    bold_italic: str = spec("bold italic .ttf file")
    licence: str = spec("licence file shipped with the font")


@frozen
class FontEntry(Frozen):
    """A font family with its files resolved (hashed by identity, for caches)."""

    id: str
    family: FontFamily
    files: dict[str, Path]
    source: str  # fonts.yaml, for messages
    lines: dict[str, int]
