"""Patient values: which fields exist, which kind uses which, and how they are checked and printed.

Patient values are data, never markup: they are checked here and escaped by the templates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import Literal

from .branding import Clinic

MAX_VALUE = 120
SOURCE = "<command line>"


@dataclass(frozen=True)
class FieldSpec:
    """One patient field: its name, what it holds and what it is for."""

    name: str
    kind: Literal["text", "date", "time", "practitioner", "birth"]
    doc: str


FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in (
    FieldSpec("patient_name", "text", "the patient's full name"),
    FieldSpec("date_of_birth", "birth", "the patient's date of birth, YYYY-MM-DD"),
    FieldSpec("practitioner", "practitioner", "practitioner id or name from clinic.yaml"),
    FieldSpec("treatment_area", "text", "the area to be treated"),
    FieldSpec("appointment_date", "date", "treatment date, YYYY-MM-DD"),
    FieldSpec("appointment_time", "time", "treatment time, HH:MM"),
    FieldSpec("next_appointment_date", "date", "next appointment date, YYYY-MM-DD"),
    FieldSpec("next_appointment_time", "time", "next appointment time, HH:MM"),
)}

IDENTIFIED_KINDS = ("consent",)  # kinds that print the patient's name and date of birth on every page
OLDEST = 130  # years: an older date of birth is a typing mistake

KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "consent": ("patient_name", "date_of_birth", "practitioner", "treatment_area", "appointment_date"),
    "pre-treatment": ("patient_name", "practitioner", "treatment_area", "appointment_date",
                      "appointment_time"),
    "aftercare": ("patient_name", "practitioner", "treatment_area", "appointment_date",
                  "next_appointment_date", "next_appointment_time"),
}

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
ADDRESS_DOC = "an email address such as name@example.org"


def is_address(text: str) -> bool:
    """Whether `text` is one plain email address (no name, no list, no spaces)."""
    return bool(_ADDRESS.match(text))


def is_date(text: str) -> bool:
    """Whether `text` is a real date written YYYY-MM-DD."""
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text))


def for_kind(values: Mapping[str, str], kind: str) -> tuple[tuple[str, str], ...]:
    """The values a kind prints, sorted: a document's patient part (other kinds' values left out)."""
    return tuple(sorted((k, v) for k, v in values.items() if k in KIND_FIELDS[kind]))


def allowed_fields(kinds: tuple[str, ...]) -> list[str]:
    """The fields any of these kinds uses, in declaration order."""
    return [name for name in FIELDS if any(name in KIND_FIELDS[k] for k in kinds)]


def _check_birth(value: str, today: date) -> tuple[str, str] | None:
    """A date of birth is a real past date; the value itself never goes into the message."""
    if not is_date(value):
        return "is not a date", "a date of birth as YYYY-MM-DD"
    born = date.fromisoformat(value)
    if born > today:
        return "is in the future", "a date of birth on or before today"
    if born.year < today.year - OLDEST:
        return f"is more than {OLDEST} years ago", "a date of birth as YYYY-MM-DD"
    return None


def check_value(name: str, raw: str, clinic: Clinic | None,
                today: date | None = None) -> tuple[str, str] | None:
    """Check one value; return (problem, allowed) or None when it is fine.

    Without a clinic (it is not known yet), a practitioner cannot be checked.
    """
    spec = FIELDS[name]
    value = unicodedata.normalize("NFC", raw.strip())
    if not value:
        return "is empty", spec.doc
    if len(value) > MAX_VALUE:
        return f"is {len(value)} characters long", f"at most {MAX_VALUE}"
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            return f"contains the control character U+{ord(ch):04X}", "printable text"
    if spec.kind == "birth":
        return _check_birth(value, today or date.today())
    if spec.kind == "date" and not is_date(value):
        return f"{value!r} is not a date", "a date as YYYY-MM-DD"
    elif spec.kind == "time" and not _TIME.match(value):
        return f"{value!r} is not a time", "a time as HH:MM, 00:00 to 23:59"
    elif spec.kind == "practitioner" and clinic is not None and clinic.practitioner(value) is None:
        return f"{value!r} is not a practitioner of {clinic.id}", "expected one of: " + ", ".join(
            p.id for p in clinic.practitioners)
    return None


def normalise(values: Mapping[str, str]) -> dict[str, str]:
    """Strip and NFC-normalise checked values."""
    return {k: unicodedata.normalize("NFC", v.strip()) for k, v in values.items()}


def nobreak(text: str) -> str:
    """Join the words of a phone number, date or time with no-break spaces, so no line splits it."""
    return text.replace(" ", "\u00a0")


def unbroken(values: Mapping[str, str]) -> dict[str, str]:
    """Printable values with each date and time kept on one line."""
    return {name: nobreak(value) if name in FIELDS and FIELDS[name].kind in ("date", "time", "birth")
            else value
            for name, value in values.items()}


def format_date(value: str, style: str, months: tuple[str, ...], words: Mapping[str, str]) -> str:
    """Print an ISO date in the clinic's date order, in the words of the document's language."""
    day = date.fromisoformat(value)
    if style == "iso":
        return day.isoformat()
    pattern = words["date_" + style.replace("-", "_")]
    return pattern.format(day=day.day, month=months[day.month - 1], year=day.year)


def format_time(value: str, style: str, words: Mapping[str, str]) -> str:
    """Print HH:MM in the clinic's 24h or 12h style (AM/PM in the document's language)."""
    moment = time.fromisoformat(value)
    if style == "24h":
        return moment.strftime("%H:%M")
    half = words["time_am"] if moment.hour < 12 else words["time_pm"]
    return f"{moment.hour % 12 or 12}:{moment.minute:02d} {half}"


def display_values(values: Mapping[str, str], clinic: Clinic, months: tuple[str, ...],
                   words: Mapping[str, str]) -> dict[str, str]:
    """Turn checked values into printable text, every known field present ('' when not given).

    `months` and `words` (the labels) are in the document's language.
    """
    out: dict[str, str] = {}
    for name, spec in FIELDS.items():
        value = values.get(name, "")
        if value and spec.kind in ("date", "birth"):
            value = format_date(value, clinic.date_style, months, words)
        elif value and spec.kind == "time":
            value = format_time(value, clinic.time_style, words)
        elif value and spec.kind == "practitioner":
            person = clinic.practitioner(value)
            value = f"{person.name}, {person.role}" if person else value
        out[name] = value
    person = clinic.practitioner(values.get("practitioner", ""))
    out["practitioner_name"] = person.name if person else ""
    return out
