"""Registries: the document kinds and patient fields of a library, each declared once, as data.

handouts/kinds.yaml declares every kind of document (its layout, the patient fields it prints,
its place in a packet, its names) and handouts/fields.yaml every patient field (how a value is
checked and printed, its label, its input on the web page, its column in appointment files).
The command line, the appointment files, the web page, email, print, packets and `check` all
read these declarations, so a content library adds a kind or a field without touching Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import field
from typing import Any, Literal

from ..errors import Problems
from ..load import Loaded
from ..values import Frozen, Value, frozen
from .content import MODELS, Check, NamedText, Texts
from .schema import BAD, Converter, spec

FieldType = Literal["text", "date", "time", "practitioner", "birth"]
Display = Literal["plain", "date", "time", "practitioner"]
WebInput = Literal["text", "date", "time", "select"]
PartType = Literal["text", "texts", "named-texts"]
NAME: dict[str, Any] = {"pattern": r"^[a-z][a-z0-9_]*$", "pattern_doc": "lower-case letters, digits and '_'",
                        "max_len": 40}
# How a value of each type prints, and which input the web page offers, unless a field says.
DISPLAY: dict[str, Display] = {"text": "plain", "date": "date", "time": "time",
                               "practitioner": "practitioner", "birth": "date"}
# The inputs that can take a value of each type (the first is the default): a select offers the
# clinic's practitioners, a date input gives YYYY-MM-DD, a time input HH:MM.
INPUTS_FOR: dict[str, tuple[WebInput, ...]] = {
    "text": ("text",), "date": ("date", "text"), "time": ("time", "text"),
    "practitioner": ("select", "text"), "birth": ("date", "text")}
# The columns of an appointment file that hold no patient field (fields.yaml names the others),
# with what they hold; and those of them every file must have and every row fill in.
APPOINTMENT_COLUMNS = {
    "appointment_id": "letters, digits, '.', '_' and '-'", "clinic": "the clinic's id or name",
    "treatment": "the treatment's id", "documents": "the documents, separated by ';'",
    "language": "a language the clinic offers", "email": "the patient's email address",
    "large_print": "yes for the large-print edition"}
REQUIRED_COLUMNS = ("appointment_id", "clinic", "treatment", "documents")
MASTER = "en"  # the language every kind has a name in (others fall back to it)
PART_TYPES: dict[str, Any] = {"text": str, "texts": tuple[str, ...], "named-texts": tuple[NamedText, ...]}


def column_key(name: str) -> str:
    """A column name as it is matched: case, spaces, '_', '-' and a byte-order mark do not count."""
    return re.sub(r"[\s_\-\ufeff]+", "", name).casefold()


def id_key(text: str) -> str:
    """An id as it is matched loosely: case and spaces do not count ("Harbour Skin" is harbour-skin)."""
    return re.sub(r"[\s_-]+", "-", text.strip().casefold()).strip("-")


@frozen
class FieldWeb(Value):
    """How the front-desk page asks for a field."""

    label: str = spec("the label beside the input, e.g. Patient's full name", max_len=80)
    hint: str | None = spec("a line under the label that helps fill it in", default=None, max_len=300)
    input: WebInput | None = spec("the input: text, date, time or select (a practitioner); default: "
                                  "from the type", default=None)


@frozen
class FieldColumn(Value):
    """The column of appointment files (CSV or Excel) that holds a field."""

    column: str = spec("the column's name in the header row", **NAME)
    required: bool = spec("true if every appointment file must have this column", default=False)
    filled: bool = spec("true if every row must have a value in it", default=False)


@frozen
class FieldDecl(Value):
    """One patient field (fields.yaml): how its value is checked, printed and asked for."""

    type: FieldType = spec("how a value is checked: text, date (YYYY-MM-DD), time (HH:MM), practitioner "
                           "(an id from clinic.yaml) or birth (a past date, never echoed in messages)")
    doc: str = spec("what the value is, for messages, e.g. the patient's full name", max_len=120)
    label: str = spec("the label in handouts/labels/<language>.yaml printed beside the value", **NAME)
    web: FieldWeb = spec("how the front-desk page asks for it: label, hint, input")
    display: Display | None = spec("how it prints: plain, date (in the clinic's order), time (24h or "
                                   "12h) or practitioner (name, role); default: from the type",
                                   default=None)
    csv: FieldColumn | None = spec("its column in appointment files (none: files cannot give it)",
                                   default=None)

    def check(self) -> Check:
        allowed = INPUTS_FOR[self.type]
        if self.web.input is not None and self.web.input not in allowed:
            yield ("web", "input"), f"{self.web.input!r} cannot take a {self.type} value", \
                "an input that takes it: " + " or ".join(allowed)

    @property
    def shown_as(self) -> Display:
        """How the value prints."""
        return self.display or DISPLAY[self.type]

    @property
    def web_input(self) -> WebInput:
        """The web page's input for it."""
        return self.web.input or INPUTS_FOR[self.type][0]


@frozen
class KindWeb(Value):
    """How the front-desk page offers a kind."""

    label: str = spec("its name on the page, e.g. Consent form", max_len=80)
    chosen: bool = spec("true to tick it when the page opens", default=False)


@frozen
class KindDecl(Value):
    """One kind of document (kinds.yaml): its layout, fields, place in a packet and names."""

    template: str = spec("its layout in templates/ (a clinic's templates/ may override it)",
                         pattern=r"^[a-z0-9][a-z0-9-]*\.xml\.j2$", max_len=60,
                         pattern_doc="a name such as consent.xml.j2")
    fields: Texts = spec("the patient fields it prints, from fields.yaml", min_items=1, **NAME)
    packet: int = spec("its place in a packet: the order a patient meets the documents, lowest first",
                       min_value=1, max_value=99)
    letter: str = spec("what it adds to the form code, e.g. C for MESO-C", pattern=r"^[A-Z0-9]{1,3}$",
                       pattern_doc="1 to 3 capital letters or digits")
    labels: dict[str, str] = spec("its name per language, e.g. en: Consent form (a language without "
                                  "one uses the English name)", max_len=80)
    web: KindWeb = spec("how the front-desk page offers it: label, chosen")
    identified: bool = spec("true if every page prints the patient's name and date of birth",
                            default=False)
    csv: Texts = spec("other names the documents column of appointment files may use for it (its id "
                      "always works)", default=(), max_len=60)
    model: str | None = spec("a built-in content model for <kind>.yaml: " + ", ".join(MODELS),
                             default=None)
    parts: dict[str, PartType] = spec("its own text in <kind>.yaml when it has no built-in model: "
                                      "name -> text, texts or named-texts (title is needed)",
                                      default={}, compare=False)

    def check(self) -> Check:
        if (self.model is None) == (not self.parts):
            yield (), "needs either 'model' or 'parts'", \
                "model: one of " + ", ".join(MODELS) + "; or parts: name -> text, texts or named-texts"
        elif self.model is not None and self.model not in MODELS:
            yield ("model",), f"unknown model {self.model!r}", "expected one of: " + ", ".join(MODELS)
        elif self.parts and self.parts.get("title") != "text":
            yield ("parts",), "has no 'title: text'", "a title part: the document's title"
        for i, name in enumerate(self.fields):
            if name in self.fields[:i]:
                yield ("fields", i), f"{name!r} is listed twice", "each field once"
        for i, name in enumerate(self.csv):  # a documents cell is split at ';' and ','
            if not id_key(name) or re.search("[;,]", name):
                yield ("csv", i), f"{name!r} cannot be told apart in a documents cell", \
                    "a name with a letter or digit and no ';' or ','"


@frozen
class Part(Value):
    """A kind's own text read by the `parts` kinds.yaml declares (templates: treatment.part.<name>)."""

    names: tuple[str, ...] = field(metadata={"reword": False})  # names, not words: never reworded
    values: tuple[Any, ...]

    def __getattr__(self, name: str) -> Any:
        names = self.__dict__.get("names", ())
        if name in names:
            return self.__dict__["values"][names.index(name)]
        raise AttributeError(name)


@frozen
class Registry(Frozen):
    """Every kind and field of a library, in declaration order."""

    kinds: dict[str, KindDecl]
    fields: dict[str, FieldDecl]
    source: str = "handouts/kinds.yaml"  # for messages

    def in_packet_order(self, kinds: Iterable[str]) -> list[str]:
        """Known kinds in the order a patient meets them (the order of a packet)."""
        return sorted((k for k in kinds if k in self.kinds), key=lambda k: self.kinds[k].packet)

    def for_kind(self, values: Mapping[str, str], kind: str) -> tuple[tuple[str, str], ...]:
        """The values a kind prints, sorted: a document's patient part (other kinds' values left out)."""
        used = self.kinds[kind].fields
        return tuple(sorted((k, v) for k, v in values.items() if k in used))

    def allowed_fields(self, kinds: Iterable[str]) -> list[str]:
        """The fields any of these kinds uses, in declaration order."""
        kinds = tuple(kinds)
        return [name for name in self.fields if any(name in self.kinds[k].fields for k in kinds)]

    def kinds_using(self, name: str) -> list[str]:
        """The kinds that print a field."""
        return [kind for kind, decl in self.kinds.items() if name in decl.fields]

    def kind_named(self, text: str) -> str | None:
        """The kind a documents cell names by its id or another name, in any case and spacing."""
        wanted = id_key(text)
        for kind, decl in self.kinds.items():
            if wanted in (id_key(kind), *(id_key(name) for name in decl.csv)):
                return kind
        return None

    def label(self, kind: str, language: str) -> str:
        """A kind's name in a language (kinds.yaml's labels; the master language's when it has none)."""
        labels = self.kinds[kind].labels
        return labels.get(language) or labels.get(MASTER) or kind  # check: the master's is there

    def columns(self) -> dict[str, str]:
        """Appointment-file column -> the field it holds."""
        return {decl.csv.column: name for name, decl in self.fields.items() if decl.csv is not None}

    def all_columns(self) -> tuple[str, ...]:
        """Every column an appointment file may have."""
        return (*APPOINTMENT_COLUMNS, *self.columns())

    def required_columns(self) -> tuple[str, ...]:
        """The columns every appointment file must have."""
        return (*REQUIRED_COLUMNS, *(f.csv.column for f in self.fields.values() if f.csv and f.csv.required))

    def filled_columns(self) -> tuple[str, ...]:
        """The columns every row of an appointment file must fill in."""
        return (*REQUIRED_COLUMNS, *(f.csv.column for f in self.fields.values() if f.csv and f.csv.filled))

    def column_docs(self) -> list[tuple[str, str, bool]]:
        """Every column an appointment file may have: its name, what it holds, and whether every
        file must have it (for the web page's help)."""
        required, filled = self.required_columns(), self.filled_columns()
        docs = [*APPOINTMENT_COLUMNS.items(), *((f.csv.column, f.doc) for f in self.fields.values() if f.csv)]
        return [(column, doc + ("; may be empty" if column in required and column not in filled else ""),
                 column in required) for column, doc in docs]

    def alias_problems(self, aliases: Mapping[str, str]) -> Check:
        """What is wrong with a clinic's own names for the columns (clinic.yaml's appointments.columns)."""
        columns = self.all_columns()
        own = {column_key(c): c for c in columns}
        for name, column in aliases.items():
            if column not in columns:
                yield ("columns", name), f"{column!r} is not allowed", \
                    "expected one of: " + ", ".join(columns)
            elif own.get(column_key(name), column) != column:
                yield ("columns", name), f"{name!r} is the name of handoutgen's own column", \
                    "another name, or leave it out"

    def identified(self) -> Iterator[str]:
        """Kinds that print the patient's name and date of birth on every page."""
        return (kind for kind, decl in self.kinds.items() if decl.identified)


def convert_part(parts: Mapping[str, str], loaded: Loaded, problems: Problems) -> Part | None:
    """Check a kind's own text against the parts kinds.yaml declares for it; all problems at once."""
    converter = Converter(loaded, problems)
    data = loaded.data
    if not isinstance(data, dict):
        converter.fail((), "expected a mapping", "fields: " + ", ".join(parts))
        return None
    ok = True
    for key in data:
        if key not in parts:
            converter.fail((key,), "unknown field", "allowed: " + ", ".join(parts))
            ok = False
    values: list[Any] = []
    for name, kind in parts.items():
        meta = spec(f"the {name.replace('_', ' ')}: {kind}").metadata
        if name not in data:
            converter.fail((), f"missing field '{name}'", meta["doc"])
            ok = False
            continue
        value = converter.value(PART_TYPES[kind], data[name], (name,), meta)
        ok = ok and value is not BAD
        values.append(value)
    return Part(tuple(parts), tuple(values)) if ok else None
