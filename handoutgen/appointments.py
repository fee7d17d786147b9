"""Read an appointments export (CSV) into build tasks: one per appointment, or per document.

Columns may come in any order and the file may start with a byte-order mark. A bad header stops
everything; a bad row is reported (one line per problem) and skipped, and every other row is
still built.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .build import check_patient, language_suffix
from .compose import Request
from .content import KINDS
from .errors import HandoutError, Problem, UsageError
from .library import Library, load_library
from .load import display, read_text
from .patient import ADDRESS_DOC, KIND_FIELDS, allowed_fields, for_kind, is_address, is_date
from .runner import Summary, Task, inputs_key, run

REQUIRED = ("appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
            "practitioner")
OPTIONAL = ("language", "email", "area", "date_of_birth")
PACKET_ORDER = ("pre-treatment", "consent", "aftercare")  # the order a patient meets them
FIELD_OF = {"patient_name": "patient_name", "date": "appointment_date",
            "time": "appointment_time", "practitioner": "practitioner", "area": "treatment_area"}
COLUMN_OF = {value: key for key, value in FIELD_OF.items()}
MAX_BYTES = 64 * 1024 * 1024
MAX_ROWS = 200_000
MAX_CELL = 500
BadCell = Callable[[str, str, str], None]  # records a problem in a column of the current row
APPOINTMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CLINIC_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass
class Plan:
    """Counts and problems of a batch's rows, filled in as its tasks are read."""

    problems: list[Problem] = field(default_factory=list)
    rows: int = 0  # rows of this shard, good and bad
    documents: int = 0  # documents the rows of this shard ask for
    failed_documents: int = 0  # documents asked for by bad rows


@dataclass(frozen=True)
class Shard:
    """The K-th of N disjoint slices of a batch (1-based K)."""

    index: int = 1
    count: int = 1

    def holds(self, key: str) -> bool:
        """Whether the row with this key belongs to this slice (stable across runs and hosts)."""
        if self.count == 1:
            return True
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
        return number % self.count == self.index - 1


def packet_order(kinds: Sequence[str]) -> list[str]:
    """Known kinds in the order a patient meets them (the order of a packet)."""
    return [k for k in PACKET_ORDER if k in kinds]


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, row) for every data row; raise on a file or header that cannot be used."""
    name = display(path)
    text = read_text(path, MAX_BYTES, UsageError, "(file)", "CSV file", "; split it or use --shard")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [cell.strip().lower() for cell in next(reader)]
    except StopIteration:
        raise UsageError.one(name, 1, "(header)", "the file is empty",
                             "a header row naming the columns") from None
    missing = [c for c in REQUIRED if c not in header]
    duplicated = sorted({c for c in header if c and header.count(c) > 1})
    problems = [Problem(name, 1, column, "missing column", "required: " + ", ".join(REQUIRED))
                for column in missing]
    problems += [Problem(name, 1, column, "column appears twice", "each column once")
                 for column in duplicated]
    if problems:
        raise UsageError(problems)
    line = 1
    try:
        for count, cells in enumerate(reader, 1):
            start, line = line + 1, reader.line_num
            if count > MAX_ROWS:
                raise UsageError.one(name, start, "(row)", f"more than {MAX_ROWS} rows",
                                     "split the file or use --shard")
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                yield start, {"": f"{len(cells)} cells"}
                continue
            yield start, {column: cell.strip() for column, cell in zip(header, cells, strict=True)}
    except csv.Error as err:
        raise UsageError.one(name, line + 1, "(row)", f"not valid CSV: {err}",
                             "comma-separated values with a header row") from err


def survey(path: Path, shard: Shard) -> tuple[set[str], int]:
    """Read the file once, cheaply: the clinic ids it names and how many documents it asks for.

    This also checks the header, so a bad header stops a batch before any work.
    """
    clinics: set[str] = set()
    documents = 0
    for line, row in read_rows(path):
        if shard.holds(_row_key(row, line)):
            if _CLINIC_ID.match(row.get("clinic", "")):
                clinics.add(row["clinic"])
            documents += len(listed(row))
    return clinics, documents


def _row_key(row: dict[str, str], line: int) -> str:
    return row.get("appointment_id") or f"line {line}"


def listed(row: dict[str, str]) -> list[str]:
    """The kinds a row's documents column lists ([""] when it lists none)."""
    return [k.strip() for k in row.get("documents", "").split(";") if k.strip()] or [""]


def plan(path: Path, library: Library, packet: bool, duplex: bool, shard: Shard,
         counts: Plan) -> Iterator[Task]:
    """Check every row of this shard and yield tasks for the good ones, as the file is read.

    Problems and counts go into `counts`.
    """
    for _line, _row, tasks in good_rows(path, library, packet, duplex, shard, counts):
        yield from tasks


def good_rows(path: Path, library: Library, packet: bool, duplex: bool, shard: Shard,
              counts: Plan) -> Iterator[tuple[int, dict[str, str], list[Task]]]:
    """Like plan, but yield each good row with its line and tasks."""
    name = display(path)
    first_seen: dict[str, int] = {}
    for line, row in read_rows(path):
        if not shard.holds(_row_key(row, line)):
            continue
        counts.rows += 1
        problems: list[Problem] = []

        def bad(column: str, problem: str, allowed: str, line: int = line,
                problems: list[Problem] = problems) -> None:
            problems.append(Problem(name, line, column, problem, allowed))

        tasks: list[Task] = []
        if "" in row:
            bad("(row)", f"has {row['']}", "as many cells as the header has columns")
        else:
            tasks = _row_tasks(library, row, line, bad, first_seen, packet, duplex)
        if problems:
            counts.problems.extend(problems)
            counts.failed_documents += len(listed(row))
        else:
            yield line, row, tasks


def _row_tasks(library: Library, row: dict[str, str], line: int, bad: BadCell,
               first_seen: dict[str, int], packet: bool, duplex: bool) -> list[Task]:
    for column, value in row.items():
        if len(value) > MAX_CELL and column not in FIELD_OF:
            bad(column, f"is {len(value)} characters long", f"at most {MAX_CELL}")
    for column in ("appointment_id", "clinic", "patient_name", "treatment", "documents", "date"):
        if not row[column]:
            bad(column, "is empty", "a value in every row")
    appointment = row["appointment_id"]
    if appointment and not APPOINTMENT_ID.match(appointment):
        bad("appointment_id", f"{appointment[:40]!r} is not allowed",
            "letters, digits, '.', '_' and '-', at most 64, for use in file names")
    elif appointment in first_seen:
        bad("appointment_id", f"{appointment!r} appears twice (first on line "
            f"{first_seen[appointment]})", "one row per appointment")
    else:
        first_seen[appointment] = line
    clinic, treatment = row["clinic"], row["treatment"]
    entry = library.clinics.get(clinic)
    if clinic and entry is None:
        bad("clinic", f"unknown clinic {clinic[:40]!r}",
            "expected one of: " + ", ".join(library.clinic_ids))
    if treatment and treatment not in library.treatments:
        bad("treatment", f"unknown treatment {treatment[:40]!r}",
            "expected one of: " + ", ".join(sorted(library.treatments)))
    kinds = [k.strip() for k in row["documents"].split(";") if k.strip()]
    for kind in kinds:
        if kind not in KINDS:
            bad("documents", f"unknown document {kind[:40]!r}",
                "kinds separated by ';' from: " + ", ".join(KINDS))
    if len(set(kinds)) != len(kinds):
        bad("documents", "a document is listed twice", "each kind once")
    email = row.get("email", "")
    if email and not is_address(email):
        bad("email", "is not an email address", ADDRESS_DOC + ", or empty")
    birth = row.get("date_of_birth", "")
    if birth and not is_date(birth):
        bad("date_of_birth", "is not a date", "a date as YYYY-MM-DD, or empty")  # never echo it
    if entry is None or treatment not in library.treatments or not kinds:
        return []
    language = row.get("language") or entry.clinic.languages[0]
    offered = [lang for lang in entry.clinic.languages
               if lang in library.treatments[treatment].languages]
    if language not in offered:
        bad("language", f"unknown language {language[:20]!r}", "expected one of: " + ", ".join(offered))
        return []
    kinds = packet_order(kinds) if packet else [k for k in kinds if k in KIND_FIELDS]
    checked_for = tuple(kinds) or tuple(KINDS)  # with no usable kind, still check every value
    wanted = allowed_fields(checked_for)
    inputs = [(FIELD_OF[c], row.get(c, ""), "", line) for c in FIELD_OF
              if FIELD_OF[c] in wanted and row.get(c, "")]
    try:
        values = check_patient(library, clinic, checked_for, inputs)
    except HandoutError as err:
        for problem in err.problems:
            bad(COLUMN_OF.get(problem.path, problem.path), problem.message, problem.allowed)
        return []
    if not kinds:
        return []
    requests = [Request(clinic, treatment, kind, language, for_kind(values, kind)) for kind in kinds]
    suffix = language_suffix(library, requests[0])
    folder = f"{clinic}/{appointment}/{treatment}"
    if packet:
        batch = tuple(requests)
        return [Task(f"{folder}-packet{suffix}.pdf", batch, duplex, appointment,
                     inputs_key(library, batch, duplex))]
    return [Task(f"{folder}-{r.kind}{suffix}.pdf", (r,), False, appointment,
                 inputs_key(library, (r,), False)) for r in requests]


def run_batch(root: Path, path: Path, out: Path, packet: bool, duplex: bool, shard: Shard, jobs: int,
              force: bool, clinics: Collection[str] | None = None) -> Summary:
    """Build an appointments file into `out` (as `generate.py batch` does).

    Every row problem is among the summary's problems, and the documents of bad rows count as
    failed. `clinics` limits the clinics loaded (default: those the file names).
    """
    named, documents = survey(path, shard)
    library = load_library(root, clinics=named if clinics is None else clinics)
    counts = Plan()
    tasks = plan(path, library, packet, duplex, shard, counts)
    summary = run(library, tasks, out, jobs, force, label="batch", total=documents)
    summary.problems = [*counts.problems, *summary.problems]
    summary.failed += counts.failed_documents
    return summary
