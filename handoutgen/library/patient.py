"""Patient values: how they are checked and printed (fields.yaml declares which fields exist).

Patient values are data, never markup: they are checked here and escaped by the templates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, time

from .branding import Clinic
from .registry import FieldDecl, Registry

MAX_VALUE = 120
SOURCE = "<command line>"


OLDEST = 130  # years: an older date of birth is a typing mistake

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


def check_value(spec: FieldDecl, raw: str, clinic: Clinic | None,
                today: date | None = None) -> tuple[str, str] | None:
    """Check one value of a field (its type says how); return (problem, allowed) or None when it
    is fine.

    Without a clinic (it is not known yet), a practitioner cannot be checked.
    """
    value = unicodedata.normalize("NFC", raw.strip())
    if not value:
        return "is empty", spec.doc
    if len(value) > MAX_VALUE:
        return f"is {len(value)} characters long", f"at most {MAX_VALUE}"
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            return f"contains the control character U+{ord(ch):04X}", "printable text"
    if spec.type == "birth":
        return _check_birth(value, today or date.today())
    if spec.type == "date" and not is_date(value):
        return f"{value!r} is not a date", "a date as YYYY-MM-DD"
    elif spec.type == "time" and not _TIME.match(value):
        return f"{value!r} is not a time", "a time as HH:MM, 00:00 to 23:59"
    elif spec.type == "practitioner" and clinic is not None and clinic.practitioner(value) is None:
        return f"{value!r} is not a practitioner of {clinic.id}", "expected one of: " + ", ".join(
            p.id for p in clinic.practitioners)
    return None


def normalise(values: Mapping[str, str]) -> dict[str, str]:
    """Strip and NFC-normalise checked values."""
    return {k: unicodedata.normalize("NFC", v.strip()) for k, v in values.items()}


def nobreak(text: str) -> str:
    """Join the words of a phone number, date or time with no-break spaces, so no line splits it."""
    return text.replace(" ", "\u00a0")


def unbroken(values: Mapping[str, str], registry: Registry) -> dict[str, str]:
    """Printable values with each date and time kept on one line."""
    fields = registry.fields
    return {name: nobreak(value) if name in fields and fields[name].shown_as in ("date", "time")
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
                   words: Mapping[str, str], registry: Registry) -> dict[str, str]:
    """Turn checked values into printable text, every declared field present ('' when not given).

    `months` and `words` (the labels) are in the document's language.
    """
    out: dict[str, str] = {}
    for name, spec in registry.fields.items():
        value = values.get(name, "")
        shown_as = spec.shown_as
        if value and shown_as == "date":
            value = format_date(value, clinic.date_style, months, words)
        elif value and shown_as == "time":
            value = format_time(value, clinic.time_style, words)
        elif value and shown_as == "practitioner":
            person = clinic.practitioner(value)
            value = f"{person.name}, {person.role}" if person else value
        out[name] = value
    person = clinic.practitioner(values.get("practitioner", ""))
    out["practitioner_name"] = person.name if person else ""
    return out
