"""Read the first sheet of an Excel workbook (.xlsx) with openpyxl in read-only mode.

Read-only mode streams the sheet's rows instead of building every cell in memory, so a list of
100,000 appointments reads in flat memory. Excel's own date and time cells arrive as dates and
times and are written out as YYYY-MM-DD and HH:MM. Messages name the sheet and its row number.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from .errors import UsageError
from .tables import Line

ALLOWED = "an Excel workbook (.xlsx) saved by a spreadsheet program"


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
            raise UsageError.one(self.file, 1, "(file)",
                                 f"cannot be read as a workbook ({type(err).__name__})", ALLOWED) from err
        try:
            if not book.worksheets:
                raise UsageError.one(self.file, 1, "(file)", "has no sheet", ALLOWED)
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
                                     f"cannot be read ({type(err).__name__})", ALLOWED) from err
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
