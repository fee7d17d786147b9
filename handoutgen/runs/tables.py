"""Read a table a clinic exported: CSV as spreadsheets and practice software write it, or an Excel
workbook. Rows stream one at a time, each with the line (or sheet row) it starts on.

CSV: UTF-8 (with or without a byte-order mark), UTF-16 (Excel's "Unicode text") or, when the file
is not valid UTF-8, Windows-1252; comma, semicolon or tab, whichever the header row uses. Every
data line comes out as a row or as a problem on its own line: an unclosed quote is reported where
it opened, and the lines after it are read as rows again instead of disappearing into one cell.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import re
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Protocol

from ..errors import UsageError
from ..load import display, failing, open_limited
from ..values import Value, frozen

MAX_BYTES = 256 * 1024 * 1024
MAX_RECORD_LINES = 20  # a quoted cell longer than this is taken for a quote left open
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-16-le": "UTF-16",
         "utf-16-be": "UTF-16", "cp1252": "Windows-1252"}
_MARK = "handoutgen-mark"  # decoding error handler: a bad byte becomes a lone surrogate
_BAD = re.compile("[\ud800-\udfff]")
_SEP = re.compile(r"^sep=(.)\r?\n?$")  # Excel's hint line naming the delimiter
Score = Callable[[list[str]], int]  # how many cells of a header row name a known column


def _mark(error: UnicodeError) -> tuple[str, int]:
    """Decode each byte that cannot be read as a lone surrogate naming it (found and reported later)."""
    assert isinstance(error, UnicodeDecodeError)  # registered for decoding only
    bad = error.object[error.start:error.end]
    return "".join(chr(0xDC00 + b) for b in bad), error.end


codecs.register_error(_MARK, _mark)


@frozen
class Line(Value):
    """One row as read: the line it starts on and its cells, or why it could not be read."""

    number: int
    cells: tuple[str, ...]
    problem: tuple[str, str] | None = None  # (what is wrong, what is allowed)


def encoding_name(name: str) -> str:
    """A codec as people know it (UTF-8, Windows-1252), for messages and summaries."""
    canonical = codecs.lookup(name).name
    return NAMES.get(canonical, canonical)


def check_encoding(name: str) -> str | None:
    """The codec for an --encoding value, or None when Python has no such text encoding."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


class Table(Protocol):
    """An opened table file: how it is read, and its rows (readable more than once)."""

    file: str  # the file, for the summary
    name: str  # for messages: the file, or the file and sheet
    description: str  # for the summary: "UTF-8, semicolon-separated"
    header: tuple[str, ...]
    header_line: int

    def rows(self, width: int, free: frozenset[int]) -> Iterator[Line]:
        """Every data row after the header; `free` columns may hold line breaks."""


def open_table(path: Path, encoding: str | None, score: Score, name: str | None = None) -> Table:
    """Open a CSV file or Excel workbook; raise UsageError when it cannot be read as a table.

    Messages name the file as `name` (default: its path from the working folder).
    """
    name = name or display(path)
    # a device (/dev/zero never ends), a pipe or a folder is refused before a byte is read
    with open_limited(path, MAX_BYTES, failing(UsageError, name, 1, "(file)"), "CSV file or Excel workbook",
                      hint="; split it or use --shard") as handle:
        start = handle.read(8)
    if start.startswith(b"PK\x03\x04"):

        return Workbook(path, name)
    if start.startswith(b"\xd0\xcf\x11\xe0"):
        raise UsageError.one(name, 1, "(file)", "is an old Excel .xls workbook",
                             "save it as an Excel workbook (.xlsx) or as CSV")
    return CsvTable(path, name, encoding or _guess(path, start), score)


def _guess(path: Path, start: bytes) -> str:
    """The file's encoding: a byte-order mark's, else UTF-8 when it is valid, else Windows-1252."""
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(start) >= 2 and start[0] and not start[1]:
        return "utf-16-le"  # "a\0b\0": UTF-16 without its mark
    if len(start) >= 2 and start[1] and not start[0]:
        return "utf-16-be"
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(1 << 16):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


class CsvTable:
    """A CSV file in a known encoding, split by the delimiter its header row uses."""

    def __init__(self, path: Path, name: str, encoding: str, score: Score) -> None:
        self.path, self.file, self.name, self.encoding = path, name, name, encoding
        lines = self._lines()
        try:
            number, first = next(lines, (1, ""))
            hint = _SEP.match(first)
            if hint and hint.group(1) in DELIMITERS:
                self.delimiter, self.skip = hint.group(1), 1
                number, first = next(lines, (2, ""))
            else:
                self.delimiter, self.skip = _delimiter(first, score), 0
        finally:
            lines.close()
        self.header_line = number
        self.header = tuple(_split(first, self.delimiter)) if first.strip() else ()
        kind = "UTF-16 text" if encoding.startswith("utf-16") else encoding_name(encoding)
        self.description = f"{kind}, {DELIMITERS[self.delimiter]}-separated"

    def _lines(self) -> Generator[tuple[int, str]]:
        """The physical lines with their numbers; a byte the encoding cannot read stops the run."""
        codec = "utf-16" if self.encoding == "utf-16" else self.encoding
        with self.path.open("r", encoding=codec, errors=_MARK, newline="") as handle:
            for number, text in enumerate(handle, 1):
                bad = _BAD.search(text)
                if bad:
                    raise self._bad_byte(number, ord(bad.group()) - 0xDC00)
                yield number, text.removeprefix("\ufeff") if number == 1 else text

    def _bad_byte(self, number: int, byte: int) -> UsageError:
        name = encoding_name(self.encoding)
        advice = "a file saved as UTF-8, or --encoding with the encoding it was saved in"
        return UsageError.one(self.name, number, "(file)", f"byte 0x{byte:02X} is not {name} text",
                              advice)

    def rows(self, width: int, free: frozenset[int]) -> Iterator[Line]:
        lines = self._lines()
        for _ in range(self.skip + 1):
            next(lines, None)
        try:
            yield from _records(lines, self.delimiter, width, free)
        finally:
            lines.close()


def _split(line: str, delimiter: str) -> list[str]:
    """The cells of one line (a quote left open keeps the rest of the line as one cell)."""
    return next(csv.reader([line], delimiter=delimiter), [])


def _delimiter(first: str, score: Score) -> str:
    """The delimiter whose header cells name the most known columns (then: the most cells)."""
    ranked = sorted(DELIMITERS, key=lambda d: (score(_split(first, d)), len(_split(first, d))),
                    reverse=True)
    return ranked[0]


class _TooLong(Exception):
    """A quoted cell ran over MAX_RECORD_LINES lines: its quote was left open."""


def _records(lines: Iterator[tuple[int, str]], delimiter: str, width: int,
             free: frozenset[int]) -> Iterator[Line]:
    """Parse records; a record that is not a well-formed row is reported at its first line and
    the lines after that line are parsed again."""
    pending: deque[tuple[int, str]] = deque()
    taken: list[tuple[int, str]] = []

    def feed() -> Iterator[str]:
        while True:
            if pending:
                item = pending.popleft()
            else:
                got = next(lines, None)
                if got is None:
                    return
                item = got
            if len(taken) >= MAX_RECORD_LINES:
                pending.appendleft(item)
                raise _TooLong
            taken.append(item)
            yield item[1]

    while True:
        taken.clear()
        reader = csv.reader(feed(), delimiter=delimiter, strict=True)
        problem: tuple[str, str] | None = None
        try:
            for cells in reader:
                if len(taken) > 1 and not _spans_well(cells, width, free):
                    problem = _open_quote()
                    break
                yield Line(taken[0][0], tuple(cells))
                taken.clear()
            else:
                return
        except _TooLong:
            problem = _open_quote()
        except csv.Error as err:  # over several lines, it is a quote that was opened and not closed
            problem = _open_quote() if len(taken) > 1 or "end of data" in str(err) else (
                f"is not valid CSV: {err}", "quotes only around a whole cell, doubled inside it")
        if not taken:
            return
        yield Line(taken[0][0], (), problem)
        pending.extendleft(reversed(taken[1:]))


def _spans_well(cells: list[str], width: int, free: frozenset[int]) -> bool:
    """A record over several lines is a row only when its line breaks are in free-text columns."""
    if len(cells) != width and not (len(cells) > width and not any(c.strip() for c in cells[width:])):
        return False
    return all(i in free for i, cell in enumerate(cells[:width]) if "\n" in cell or "\r" in cell)


def _open_quote() -> tuple[str, str]:
    return ("a quote opened on this line is not closed on it",
            "close the quote, or double a quote inside a quoted cell (\"\")")


# Excel workbooks (.xlsx), read with openpyxl in read-only mode: the sheet's rows stream instead of
# every cell being built in memory, so a list of 100,000 appointments reads in flat memory. Excel's
# own date and time cells arrive as dates and times and are written out as YYYY-MM-DD and HH:MM.
XLSX_ALLOWED = "an Excel workbook (.xlsx) saved by a spreadsheet program"


class Workbook:
    """The first sheet of an .xlsx file; its first row is the header."""

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.file = path, name
        with self._sheet() as sheet:
            self.sheet = str(sheet.title)
            self.name = f"{name}[{self.sheet}]"
            first = next(self._numbered(sheet), None)
        self.header_line, cells = first or (1, ())
        self.header = tuple(cell_text(value).strip() for value in cells)
        self.description = f"Excel workbook, sheet {self.sheet}"

    @contextmanager
    def _sheet(self) -> Iterator[Any]:
        from openpyxl import load_workbook

        try:
            book = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as err:  # a damaged or foreign zip file: openpyxl raises many kinds
            problem = f"cannot be read as a workbook ({type(err).__name__})"
            raise UsageError.one(self.file, 1, "(file)", problem, XLSX_ALLOWED) from err
        try:
            if not book.worksheets:
                raise UsageError.one(self.file, 1, "(file)", "has no sheet", XLSX_ALLOWED)
            sheet = book.worksheets[0]
            sheet.reset_dimensions()  # some programs record a wrong size: read every row there is
            yield sheet
        finally:
            close_quietly(book.close)

    def _numbered(self, sheet: Any) -> Iterator[tuple[int, tuple[object, ...]]]:
        """(sheet row number, values) for every row, empty rows included."""
        number = 0
        rows = sheet.iter_rows()
        while True:
            try:
                row = next(rows, None)
            except Exception as err:  # damaged sheet XML: name the row where reading stopped
                raise UsageError.one(self.name, number + 1, "(row)",
                                     f"cannot be read ({type(err).__name__})", XLSX_ALLOWED) from err
            if row is None:
                return
            found = next((cell.row for cell in row if getattr(cell, "row", None)), None)
            number = found if isinstance(found, int) else number + 1
            yield number, tuple(cell.value for cell in row)

    def rows(self, width: int, free: frozenset[int]) -> Iterator[Line]:
        """Every row after the header, as wide as the header (cells never span rows in a workbook)."""
        with self._sheet() as sheet:
            numbered = self._numbered(sheet)
            next(numbered, None)
            for number, values in numbered:
                cells = tuple(cell_text(value) for value in values)
                yield Line(number, cells + ("",) * (width - len(cells)))  # empty cells at the end


def cell_text(value: object) -> str:
    """A workbook cell as text the way the columns expect it: dates ISO, times HH:MM."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def close_quietly(closer: Callable[[], object]) -> None:
    """Close a resource whose close may fail after a read error (nothing is left to report)."""
    with contextlib.suppress(Exception):
        closer()
