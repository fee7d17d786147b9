"""Read an appointments export into build tasks: one per appointment, or per document.

The export may be CSV or an Excel workbook (see tables.py), its columns in any order and named as
the clinic's software names them (clinic.yaml's `appointments.columns`). Values are read as
clinics write them: dates in ISO form or in the clinic's own order, 12- or 24-hour times, ids in
any case. A bad header stops everything; a bad row is reported (one line per problem) and
skipped, and every other row is still built. Every row is counted: built, failed or skipped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path

from ..compose.compose import Request
from ..errors import BrandingError, HandoutError, Problem, Problems, UsageError
from ..library.branding import Appointments, Clinic
from ..library.gather import CLINICS_DIR, Library, load_library, read_registry
from ..library.patient import ADDRESS_DOC, check_value, is_address
from ..library.registry import APPOINTMENT_COLUMNS, Registry, column_key, id_key
from ..library.schema import convert
from ..library.selection import (
    Issue,
    appointment_id,
    documents,
    edition,
    language,
    loose,
    treatment,
    unknown_clinic,
)
from ..load import load_yaml, path_text
from ..pipeline import check_patient
from ..values import Value, frozen
from . import naming
from .runner import Summary, Task, inputs_key, plural, run
from .tables import Line, Table, open_table

MAX_ROWS = 200_000
MAX_CELL = 500
BadCell = Callable[[str, str, str], None]  # records a problem in a column of the current row
DATE_ORDER = {"day-month-year": ("DD/MM/YYYY", "dmy"), "month-day-year": ("MM/DD/YYYY", "mdy")}
_SLASHED = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00(?::00)?)?$")  # a spreadsheet's midnight too
_TIME24 = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_TIME12 = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*([ap])\.?\s*m\.?$", re.IGNORECASE)
TIME_DOC = "a time as HH:MM, H:MM, HH:MM:SS or 12-hour with AM/PM, e.g. 9:30 AM"


@dataclass
class Plan:
    """What reading a batch's rows found: every row counted once, and every problem."""

    problems: list[Problem] = field(default_factory=list)
    file: str = ""  # the file (and sheet) its rows' messages name
    source: str = ""  # the file and how it was read, for the summary
    rows: int = 0  # data rows read, of every shard
    refused: int = 0  # rows of this shard with a problem: nothing of them is built
    empty: int = 0  # blank rows
    elsewhere: int = 0  # rows of other shards
    documents: int = 0  # documents the rows of this shard ask for
    failed_documents: int = 0  # documents asked for by refused rows
    ignored: list[Problem] = field(default_factory=list)  # header cells naming no column (warnings)

    def line(self, failed: int = 0, done: str = "built") -> str:
        """The row count, in words; `failed` more rows failed after they were read."""
        ready = self.rows - self.refused - self.empty - self.elsewhere - failed
        skipped = [f"{self.empty} empty" if self.empty else "",
                   f"{self.elsewhere} in other shards" if self.elsewhere else ""]
        reasons = ", ".join(s for s in skipped if s)
        return (f"Read {plural(self.rows, 'row')} of {self.source}: {ready} {done}, "
                f"{self.refused + failed} failed, {self.empty + self.elsewhere} skipped"
                + (f" ({reasons})" if reasons else ""))


@frozen
class Shard(Value):
    """The K-th of N disjoint slices of a batch (1-based K)."""

    index: int = 1
    count: int = 1

    def holds(self, key: str) -> bool:
        """Whether the row with this key belongs to this slice (stable across runs and hosts)."""
        if self.count == 1:
            return True
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
        return number % self.count == self.index - 1


@frozen
class Appointment(Value):
    """A good row: its line, its cells (ids in canonical form), its tasks and patient values."""

    line: int
    cells: dict[str, str]
    tasks: tuple[Task, ...]
    values: tuple[tuple[str, str], ...]  # every checked patient value, printed or not

    @property
    def requests(self) -> tuple[Request, ...]:
        """The documents of the appointment, in order."""
        return tuple(r for task in self.tasks for r in task.requests)


@frozen
class Directory(Value):
    """What the clinic.yaml files say about appointment lists, read before any clinic is loaded."""

    columns: dict[str, set[str]]  # another name of a column (by column_key) -> the columns it names
    clinics: dict[str, str]  # a clinic's id or name (by id_key) -> its id
    registry: Registry  # the kinds the documents column names, and the fields' columns

    @property
    def field_of(self) -> dict[str, str]:
        """Column -> the patient field it holds."""
        return self.registry.columns()

    @property
    def required(self) -> tuple[str, ...]:
        """The columns every file must have."""
        return self.registry.required_columns()

    @property
    def filled(self) -> tuple[str, ...]:
        """The columns every row must fill in."""
        return self.registry.filled_columns()

    def clinic(self, text: str) -> str | None:
        """The id of the clinic a cell names by id or by name, in any case and spacing."""
        return self.clinics.get(id_key(text)) if text.strip() else None


def directory(root: Path) -> Directory:
    """Read every clinic's id, name and column names (a clinic.yaml that cannot be read is left
    out here and reported when a row names its clinic)."""
    columns: dict[str, set[str]] = {}
    clinics: dict[str, str] = {}
    problems = Problems()
    registry = read_registry(root)
    base = root / CLINICS_DIR
    for path in sorted(base.glob("*/clinic.yaml")) if base.is_dir() else []:
        clinics[id_key(path.parent.name)] = path.parent.name
        try:
            loaded = load_yaml(path, BrandingError)
        except HandoutError:
            continue
        data = loaded.data if isinstance(loaded.data, dict) else {}
        if isinstance(data.get("name"), str):
            clinics.setdefault(id_key(data["name"]), path.parent.name)
        if not isinstance(data.get("appointments"), dict):
            continue
        settings = convert(Appointments, loaded, problems, ("appointments",))
        if settings is None:
            continue
        for where, message, allowed in registry.alias_problems(settings.columns):
            problems.add(loaded.file, loaded.line(("appointments", *where)),
                         path_text(("appointments", *where)), message, allowed)
        for name, column in settings.columns.items():
            columns.setdefault(column_key(name), set()).add(column)
    problems.raise_if_any(BrandingError)
    return Directory(columns, clinics, registry)


class AppointmentsFile:
    """An appointments export, opened: its table and which column is which."""

    def __init__(self, root: Path, path: Path, encoding: str | None = None, name: str | None = None,
                 clinics: Directory | None = None, large_print: bool = False) -> None:
        self.directory = clinics or directory(root)  # `clinics`: read already, for many files
        self.large_print = large_print  # the edition of a row whose large_print cell is empty
        names = self.directory.columns
        own = {column_key(c): c for c in (*APPOINTMENT_COLUMNS, *self.directory.field_of)}
        self.ignored: list[Problem] = []  # header cells naming no column: reported, never read

        def score(cells: list[str]) -> int:
            return sum(1 for cell in cells if column_key(cell) in own or column_key(cell) in names)

        self.table: Table = open_table(path, encoding, score, name)
        self.name = self.table.name
        self.columns = self._header(own, names)
        self.width = len(self.table.header)
        self.free = frozenset(range(self.width)) - frozenset(self.columns.values())

    def _header(self, own: dict[str, str], names: dict[str, set[str]]) -> dict[str, int]:
        """Which cell of the header is which column; raise on a header that cannot be used."""
        table, line = self.table, self.table.header_line
        if not any(cell.strip() for cell in table.header):
            raise UsageError.one(self.name, line, "(header)", "the file is empty",
                                 "a header row naming the columns")
        found: dict[str, list[int]] = {}
        problems: list[Problem] = []
        for index, cell in enumerate(table.header):
            key = column_key(cell)
            meanings = {own[key]} if key in own else names.get(key, set())
            if not meanings and key:
                self.ignored.append(Problem(self.name, line, cell.strip()[:40], "unknown column, not read",
                                            "columns: " + ", ".join(own.values())))
            if len(meanings) > 1:
                problems.append(Problem(self.name, line, cell.strip(), "clinics give this column "
                                        "different meanings: " + ", ".join(sorted(meanings)),
                                        "one meaning in every clinic.yaml (appointments.columns)"))
            for column in meanings:
                found.setdefault(column, []).append(index)
        required = self.directory.required
        problems += [Problem(self.name, line, column, "missing column", "required: " + ", ".join(required))
                     for column in required if column not in found]
        problems += [Problem(self.name, line, column, "column appears twice", "each column once")
                     for column, places in found.items() if len(places) > 1]
        if problems:
            raise UsageError(problems)
        return {column: places[0] for column, places in found.items()}

    @property
    def description(self) -> str:
        """The file and how it was read, e.g. "day.csv (Windows-1252, semicolon-separated)"."""
        return f"{self.table.file} ({self.table.description})"

    def rows(self) -> Iterator[tuple[Line, dict[str, str]]]:
        """Every data row with its cells by column ({} for a row that could not be read)."""
        for count, line in enumerate(self.table.rows(self.width, self.free), 1):
            if count > MAX_ROWS:
                raise UsageError.one(self.name, line.number, "(row)", f"more than {MAX_ROWS} rows",
                                     "split the file or use --shard")
            cells = line.cells
            extra = cells[self.width:]
            if line.problem is None and len(cells) >= self.width and not any(c.strip() for c in extra):
                yield line, {column: cells[i].strip() for column, i in self.columns.items()}
            else:
                yield line, {}

    def survey(self, shard: Shard) -> tuple[set[str], int]:
        """Read the file once, cheaply: the clinic ids it names and how many documents it asks for."""
        clinics: set[str] = set()
        documents = 0
        for line, row in self.rows():
            if is_blank(line) or not shard.holds(_row_key(row, line.number)):
                continue
            documents += len(listed(row))
            found = self.directory.clinic(row.get("clinic", ""))
            if found:
                clinics.add(found)
        return clinics, documents


def _row_key(row: dict[str, str], line: int) -> str:
    return row.get("appointment_id") or f"line {line}"


def kinds_of(text: str) -> list[str]:
    """The kinds a documents cell lists, separated by ';' or ',' in any case and spacing."""
    return [id_key(k) for k in re.split(r"[;,]", text) if k.strip()]


def listed(row: dict[str, str]) -> list[str]:
    """The kinds a row's documents column lists ([""] when it lists none)."""
    return kinds_of(row.get("documents", "")) or [""]


def is_blank(line: Line) -> bool:
    """A row with no text in any cell (skipped, and counted as skipped)."""
    return line.problem is None and not any(cell.strip() for cell in line.cells)


def plan(sheet: AppointmentsFile, library: Library, packet: bool, duplex: bool, shard: Shard,
         counts: Plan) -> Iterator[Task]:
    """Check every row of this shard and yield tasks for the good ones, as the file is read.

    Problems and counts go into `counts`.
    """
    for appointment in good_rows(sheet, library, packet, duplex, shard, counts):
        yield from appointment.tasks


def good_rows(sheet: AppointmentsFile, library: Library, packet: bool, duplex: bool, shard: Shard,
              counts: Plan) -> Iterator[Appointment]:
    """Check every row; yield the good rows of this shard, counting every row in `counts`."""
    name = sheet.name
    first_seen: dict[str, int] = {}
    counts.file, counts.source, counts.ignored = name, sheet.description, sheet.ignored
    trailing = 0  # blank rows are counted only when a row follows them
    for line, row in sheet.rows():
        if is_blank(line):
            trailing += 1
            continue
        counts.rows += trailing + 1
        counts.empty += trailing
        trailing = 0
        if not shard.holds(_row_key(row, line.number)):
            counts.elsewhere += 1
            continue
        counts.documents += len(listed(row))
        problems: list[Problem] = []

        def bad(column: str, problem: str, allowed: str, line: int = line.number,
                problems: list[Problem] = problems) -> None:
            problems.append(Problem(name, line, column, problem, allowed))

        appointment = None
        if line.problem is not None:
            bad("(row)", *line.problem)
        elif not row:
            bad("(row)", f"has {len(line.cells)} cells", f"{sheet.width}, one per column of the header")
        else:
            appointment = _appointment(library, sheet, row, line.number, bad, first_seen, packet, duplex)
        if problems or appointment is None:
            counts.problems.extend(problems)
            counts.refused += 1
            counts.failed_documents += len(listed(row))
        else:
            yield appointment


def _appointment(library: Library, sheet: AppointmentsFile, row: dict[str, str], line: int, bad: BadCell,
                 first_seen: dict[str, int], packet: bool, duplex: bool) -> Appointment | None:
    """Check one row, every value of it; its tasks when it is good."""
    clinics = sheet.directory
    registry = clinics.registry
    field_of = clinics.field_of
    for column, value in row.items():
        if len(value) > MAX_CELL and column not in field_of:
            bad(column, f"is {len(value)} characters long", f"at most {MAX_CELL}")
    for column in clinics.filled:
        if not row[column]:
            bad(column, "is empty", "a value in every row")
    appointment = _appointment_id(row["appointment_id"], line, bad, first_seen)
    clinic = clinics.clinic(row["clinic"])
    entry = library.clinics.get(clinic or "")
    if row["clinic"] and entry is None:
        bad(*_cell(unknown_clinic(library, row["clinic"])))
    found, issue = treatment(library, row["treatment"], loose) if row["treatment"] else (None, None)
    if issue is not None:
        bad(*_cell(issue))
    kinds = _kinds(registry, row["documents"], bad)
    style = entry.clinic if entry else None
    _other_values(row, bad)
    inputs = _patient_inputs(registry, row, style, line, bad)
    chosen = None
    if entry is not None and found is not None:
        chosen, issue = language(library, entry.clinic.id, found, row.get("language", ""), loose)
        if issue is not None:
            bad(*_cell(issue))
    large, issue = edition(row.get("large_print", ""), sheet.large_print)
    if issue is not None:
        bad(*_cell(issue))
    if entry is None or clinic is None:
        _check_without_clinic(registry, inputs, bad)
        return None
    try:
        values = check_patient(library, clinic, registry.kinds, inputs)
    except HandoutError as err:
        for problem in err.problems:
            bad(_column_of(registry, problem.path), problem.message, problem.allowed)
        return None
    if found is None or chosen is None or not kinds or appointment is None or large is None:
        return None
    cells = {**row, "clinic": clinic, "treatment": found, "language": chosen,
             "date_of_birth": as_date(row.get("date_of_birth", ""), entry.clinic) or ""}
    tasks = _tasks(library, Request(clinic, found, "", chosen, large_print=large), kinds, values,
                   appointment, packet, duplex)
    return Appointment(line, cells, tasks, tuple(sorted(values.items())))


def _appointment_id(text: str, line: int, bad: BadCell, first_seen: dict[str, int]) -> str | None:
    """The appointment id, when it can name files and is not used twice (in any case)."""
    if not text:
        return None
    issue = appointment_id(text)
    if issue is not None:
        bad(*_cell(issue))
        return None
    key = text.casefold()  # A1 and a1 would be one file on many computers
    if key in first_seen:
        bad("appointment_id", f"{text!r} appears twice (first on line {first_seen[key]})",
            "one row per appointment")
        return None
    first_seen[key] = line
    return text


def _cell(issue: Issue) -> tuple[str, str, str]:
    """A problem with a choice, in the column that made it (each choice has a column of its name)."""
    return issue.choice, issue.message, issue.allowed


def _kinds(registry: Registry, text: str, bad: BadCell) -> list[str]:
    """The kinds a documents cell names, by id or by another name kinds.yaml gives them."""
    if not text:
        return []  # reported as empty
    kinds, issues = documents(registry, kinds_of(text), registry.kind_named)
    for issue in issues:
        bad(*_cell(issue))
    return kinds


def _other_values(row: dict[str, str], bad: BadCell) -> None:
    """Check the value no document prints: the email address."""
    email = row.get("email", "")
    if email and not is_address(email):
        bad("email", "is not an email address", ADDRESS_DOC + ", or empty")


def _patient_inputs(registry: Registry, row: dict[str, str], clinic: Clinic | None, line: int,
                    bad: BadCell) -> list[tuple[str, str, str, int]]:
    """The row's patient values in canonical form (ISO dates, HH:MM, practitioner ids)."""
    inputs = []
    for column, name in registry.columns().items():
        value = row.get(column, "")
        if not value:
            continue
        kind = registry.fields[name].type
        if kind == "birth":  # printed on the document; never echoed in a message
            found = as_date(value, clinic)
            if found is None:
                bad(column, "is not a date", date_doc(clinic) + ", or empty")
                continue
            value = found
        elif kind == "date":
            found = as_date(value, clinic)
            if found is None:
                bad(column, f"{value[:40]!r} is not a date", date_doc(clinic))
                continue
            value = found
        elif kind == "time":
            found = as_time(value)
            if found is None:
                bad(column, f"{value[:40]!r} is not a time", TIME_DOC + ", 00:00 to 23:59")
                continue
            value = found
        elif kind == "practitioner" and clinic is not None:
            person = _practitioner(value, clinic)
            value = person or value  # an unknown one is reported by the patient check
        inputs.append((name, value, "", line))
    return inputs


def _check_without_clinic(registry: Registry, inputs: list[tuple[str, str, str, int]],
                          bad: BadCell) -> None:
    """Check what can be checked of a row whose clinic is not known."""
    for name, value, _source, _line in inputs:
        found = check_value(registry.fields[name], value, None)
        if found is not None:
            bad(_column_of(registry, name), *found)


def _column_of(registry: Registry, name: str) -> str:
    """The column that holds a field (a problem's path when it names no field)."""
    field = registry.fields.get(name)
    return field.csv.column if field is not None and field.csv is not None else name


def _practitioner(text: str, clinic: Clinic) -> str | None:
    """The id of the practitioner named by id or by name, in any case and spacing."""
    key, name = id_key(text), " ".join(text.split()).casefold()
    for person in clinic.practitioners:
        if id_key(person.id) == key or " ".join(person.name.split()).casefold() == name:
            return person.id
    return None


def _tasks(library: Library, base: Request, kinds: list[str], values: dict[str, str],
           appointment: str, packet: bool, duplex: bool) -> tuple[Task, ...]:
    """One task per document, or one for the packet."""
    kinds = library.registry.in_packet_order(kinds) if packet else kinds
    requests = [Request(base.clinic, base.treatment, kind, base.language,
                        library.registry.for_kind(values, kind), base.large_print) for kind in kinds]
    if packet:
        batch = tuple(requests)
        return (Task(naming.appointment(library, batch, appointment, True), batch, duplex, appointment,
                     inputs_key(library, batch, duplex), packet=True),)
    return tuple(Task(naming.appointment(library, (r,), appointment, False), (r,), False, appointment,
                      inputs_key(library, (r,), False)) for r in requests)


def date_doc(clinic: Clinic | None) -> str:
    """The date forms a clinic's rows may use."""
    order = DATE_ORDER.get(clinic.date_style if clinic else "")
    if clinic is None:
        return "a date as YYYY-MM-DD, or as the clinic writes it"
    return "a date as YYYY-MM-DD" + (f" or {order[0]}" if order else "")


def as_date(text: str, clinic: Clinic | None) -> str | None:
    """A date as YYYY-MM-DD, read from ISO or the clinic's own order (never guessed).

    Without a clinic (it is not known), a date is taken when either order reads it.
    """
    text = text.strip()
    iso = _ISO.match(text)
    if iso:
        return _real_date(int(iso[1]), int(iso[2]), int(iso[3]))
    slashed = _SLASHED.match(text)
    if slashed is None:
        return None
    first, second, year = int(slashed[1]), int(slashed[2]), int(slashed[3])
    orders = [DATE_ORDER[clinic.date_style][1]] if clinic and clinic.date_style in DATE_ORDER \
        else [] if clinic else ["dmy", "mdy"]
    for order in orders:
        day, month = (first, second) if order == "dmy" else (second, first)
        found = _real_date(year, month, day)
        if found:
            return found
    return None


def _real_date(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def as_time(text: str) -> str | None:
    """A time as HH:MM, from HH:MM, H:MM, HH:MM:SS or 12-hour with AM/PM in any case."""
    text = text.strip()
    plain = _TIME24.match(text)
    if plain:
        hour, minute, second = int(plain[1]), int(plain[2]), int(plain[3] or 0)
    else:
        half = _TIME12.match(text)
        if half is None:
            return None
        hour, minute, second = int(half[1]), int(half[2] or 0), int(half[3] or 0)
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half[4].lower() == "p" else 0)
    try:
        return time(hour, minute, second).strftime("%H:%M")
    except ValueError:
        return None


def run_batch(root: Path, path: Path, out: Path, packet: bool, duplex: bool, shard: Shard, jobs: int,
              force: bool, clinics: Collection[str] | None = None,
              encoding: str | None = None, large_print: bool = False) -> tuple[Summary, Plan]:
    """Build an appointments file into `out` (as `generate.py batch` does).

    Every row problem is among the summary's problems, and the documents of bad rows count as
    failed. `clinics` limits the clinics loaded (default: those the file names).
    """
    sheet = AppointmentsFile(root, path, encoding, large_print=large_print)
    named, documents = sheet.survey(shard)
    library = load_library(root, clinics=named if clinics is None else clinics)
    counts = Plan()
    tasks = plan(sheet, library, packet, duplex, shard, counts)
    summary = run(library, tasks, out, jobs, force, label="batch", total=documents)
    summary.problems = [*counts.problems, *summary.problems]
    summary.failed += counts.failed_documents
    return summary, counts
