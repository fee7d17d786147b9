"""Property tests: random appointment files in every supported encoding, delimiter, quoting, BOM
and line ending, with random Unicode names. Every data row is built or reported, the counts add up,
and reading never fails with anything but the project's own errors."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from conftest import copy_library
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from handoutgen.library.gather import Library, load_library
from handoutgen.runs.appointments import AppointmentsFile, Directory, Plan, Shard, directory, good_rows

HEADER = ["appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
          "practitioner", "language", "email"]
FORMATS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", "xlsx"]
BREAKS = re.compile("\r\n|\r|\n")  # the line breaks a text file is read by
ILLEGAL_IN_XLSX = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Sample:
    """A generated file's rows and how it is written."""

    rows: list[list[str]]
    blanks: list[bool]  # a blank line before each row
    format: str
    delimiter: str
    ending: str
    quote_all: bool  # else only cells that need it
    header: list[str]
    broken: int | None  # the row whose first quote is left open


def cells(draw: Callable[..., Any], index: int) -> list[str]:
    """One row: sometimes good, often not, with names in any script (and characters no font has)."""
    name = draw(st.one_of(st.sampled_from(["Ana Lima", "Nguyễn Thị Lan", "José Müller", "O'Brien, Pat"]),
                          st.text(max_size=30)))
    return [
        draw(st.sampled_from([f"R{index}", f"r{index}", "R0", "", "../x", f"R {index}"])),
        draw(st.sampled_from(["alder", "ALDER", " Birch ", "birch", "nowhere", ""])),
        name,
        draw(st.sampled_from(["needling", "Needling", "peel", "PEEL ", "botox", ""])),
        draw(st.sampled_from(["consent", "Consent; Aftercare", "pre treatment,consent", "aftercare;aftercare",
                              "leaflet", ""])),
        draw(st.sampled_from(["2026-12-01", "01/12/2026", "12/31/2026", "31/12/2026", "2026-02-30", "soon",
                              ""])),
        draw(st.sampled_from(["10:30", "9:30 AM", "12:05 pm", "09:30:00", "25:99", "13:00 PM", ""])),
        draw(st.sampled_from(["", "ann-ash", "Cara Cole, MD", "DAN-DALE", "nobody"])),
        draw(st.sampled_from(["", "en", "ES", "fr"])),
        draw(st.sampled_from(["", "ana@example.org", "not an address"])),
    ]


@st.composite
def samples(draw: Callable[..., Any]) -> Sample:
    count = draw(st.integers(min_value=0, max_value=6))
    rows = [cells(draw, i) for i in range(count)]
    header = [draw(st.sampled_from([c, c.upper(), c.replace("_", " ").title(), f" {c} "])) for c in HEADER]
    broken = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=max(count - 1, 0))))
    return Sample(rows, [draw(st.booleans()) for _ in rows], draw(st.sampled_from(FORMATS)),
                  draw(st.sampled_from([",", ";", "\t"])), draw(st.sampled_from(["\n", "\r\n", "\r"])),
                  draw(st.booleans()), header,
                  broken if count else None)


def write(sample: Sample, folder: Path) -> tuple[Path, list[int]]:
    """Write the sample; return its path and the line (or sheet row) each data row starts on."""
    if sample.format == "xlsx":
        return write_workbook(sample, folder)
    buffer = io.StringIO()
    quoting: Literal[0, 1] = csv.QUOTE_ALL if sample.quote_all else csv.QUOTE_MINIMAL
    csv.writer(buffer, delimiter=sample.delimiter, lineterminator=sample.ending,
               quoting=quoting).writerow(sample.header)
    text, starts = buffer.getvalue(), []
    for index, (row, blank) in enumerate(zip(sample.rows, sample.blanks, strict=True)):
        if blank:
            text += sample.ending
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=sample.delimiter, lineterminator=sample.ending,
                   quoting=quoting).writerow(row)
        line = buffer.getvalue()
        if index == sample.broken and '"' in line:  # leave its last quote open
            cut = line.rindex('"')
            line = line[:cut] + line[cut + 1:]
        starts.append(len(BREAKS.findall(text)) + 1)
        text += line
    path = folder / "day.csv"
    path.write_bytes(text.encode(sample.format, errors="replace"))
    return path, starts


def write_workbook(sample: Sample, folder: Path) -> tuple[Path, list[int]]:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([ILLEGAL_IN_XLSX.sub("", cell) for cell in sample.header])
    starts = []
    for row, blank in zip(sample.rows, sample.blanks, strict=True):
        if blank:
            sheet.append([None])
        sheet.append([ILLEGAL_IN_XLSX.sub("?", cell) or None for cell in row])
        starts.append(sheet.max_row)
    path = folder / "day.xlsx"
    book.save(path)
    return path, starts


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Library, Directory]:
    root = copy_library(tmp_path_factory.mktemp("properties") / "lib")
    return load_library(root), directory(root)


def check(loaded: tuple[Library, Directory], sample: Sample) -> None:
    """Every data row is built or reported, and the row counts add up."""
    library, clinics = loaded
    with tempfile.TemporaryDirectory() as folder:
        path, starts = write(sample, Path(folder))
        sheet = AppointmentsFile(library.root, path, clinics=clinics)
        counts = Plan()
        good = list(good_rows(sheet, library, False, False, Shard(), counts))
    built = {appointment.line for appointment in good}
    reported = {problem.line for problem in counts.problems}
    assert not built & reported  # a row is built only when nothing is wrong with it
    written = {start for start, row in zip(starts, sample.rows, strict=True) if any(c.strip() for c in row)}
    assert written <= built | reported, (starts, built, reported)  # blank rows are only counted
    assert counts.rows == len(good) + counts.refused + counts.empty + counts.elsewhere
    assert counts.refused == len(reported)
    assert all(problem.line > 1 for problem in counts.problems)  # never blamed on the header


PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                         HealthCheck.too_slow])


@settings(PROPERTY, max_examples=500)
@given(sample=samples())
def test_every_row_of_any_file_is_built_or_reported(library: tuple[Library, Directory],
                                                     sample: Sample) -> None:
    check(library, sample)


@pytest.mark.slow
@settings(PROPERTY, max_examples=5000)
@given(sample=samples())
def test_every_row_of_any_file_is_built_or_reported_many_more(library: tuple[Library, Directory],
                                                               sample: Sample) -> None:
    check(library, sample)
