"""Appointment lists as clinics really export them: encodings, delimiters, Excel workbooks, values
written the clinic's way, other programs' column names, broken quotes, and counts that add up."""

from __future__ import annotations

import csv
import io
import stat
import time
import tracemalloc
from datetime import date, datetime
from datetime import time as clock
from pathlib import Path

import pytest
from conftest import REPO, Run, cli, edit, flat, line_of, pdf_text, text_of
from openpyxl import Workbook

from handoutgen.runs.appointments import AppointmentsFile
from handoutgen.web.batch import Jobs

HEADER = ["appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
          "practitioner"]
ALDER = "assets/clinics/alder/clinic.yaml"


def table(rows: list[list[str]], header: list[str] = HEADER, delimiter: str = ",",
          ending: str = "\r\n") -> str:
    """CSV text as a spreadsheet writes it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=ending)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def batch(lib: Path, path: Path, *extra: str) -> Run:
    return cli(lib, "batch", "--appointments", str(path), "--out", str(lib / "out"), "--jobs", "1",
               *extra)


def built(lib: Path) -> list[str]:
    out = lib / "out"
    return sorted(str(p.relative_to(out)) for p in out.rglob("*.pdf")) if out.exists() else []


def counted(run: Run) -> str:
    """The line that counts the rows (the first the command prints)."""
    return run.out.splitlines()[0]


def text(lib: Path, name: str) -> str:
    return flat(pdf_text(lib / "out" / name))


ROW = ["A1", "alder", "José Müller", "needling", "pre-treatment", "2026-12-01", "10:30", "ann-ash"]


@pytest.mark.parametrize(("encoding", "delimiter", "described"), [
    ("utf-8", ",", "UTF-8, comma-separated"),
    ("utf-8-sig", ";", "UTF-8, semicolon-separated"),
    ("utf-16", "\t", "UTF-16 text, tab-separated"),  # Excel's "Unicode text"
    ("cp1252", ";", "Windows-1252, semicolon-separated"),  # Excel's "CSV" in much of Europe
])
def test_encodings_and_delimiters_as_spreadsheets_write_them(lib: Path, encoding: str, delimiter: str,
                                                             described: str) -> None:
    path = lib / "day.csv"
    path.write_bytes(table([ROW], delimiter=delimiter).encode(encoding))
    run = batch(lib, path)
    assert (run.code, run.err) == (0, "")
    assert counted(run) == f"Read 1 row of day.csv ({described}): 1 built, 0 failed, 0 skipped"
    assert "José Müller" in text(lib, "alder/A1/needling-pre-treatment.pdf")


def test_excel_hint_line_names_the_delimiter(lib: Path) -> None:
    path = lib / "day.csv"
    path.write_text("sep=;\n" + table([ROW], delimiter=";"), encoding="utf-8")
    run = batch(lib, path)
    assert run.code == 0, run.err
    assert built(lib) == ["alder/A1/needling-pre-treatment.pdf"]
    # the hint is line 1 and the header line 2: a bad row is reported at its own line
    path.write_text("sep=;\n" + table([[*ROW[:5], "soon", *ROW[6:]]], delimiter=";"), encoding="utf-8")
    assert batch(lib, path).errors[0].startswith("error: day.csv:3: date: 'soon' is not a date")


def test_a_forced_encoding_names_the_line_of_the_first_bad_byte(lib: Path) -> None:
    rows = [[f"A{i}", "alder", "Ann Lee", "needling", "consent", "2026-12-01", "", ""] for i in range(4)]
    rows.append(["A9", "alder", "Renée Roy", "needling", "consent", "2026-12-01", "", ""])
    path = lib / "day.csv"
    path.write_bytes(table(rows).encode("cp1252"))
    run = batch(lib, path, "--encoding", "utf-8")
    assert run.code == 1
    assert run.errors == ["error: day.csv:6: (file): byte 0xE9 is not UTF-8 text (a file saved as UTF-8, "
                          "or --encoding with the encoding it was saved in)"]
    assert built(lib) == []
    named = batch(lib, path, "--encoding", "windows-1252")
    assert named.code == 0 and len(built(lib)) == 5
    unknown = batch(lib, path, "--encoding", "klingon")
    assert unknown.errors == ["error: <command line>:8: --encoding: unknown encoding 'klingon' (utf-8, "
                              "utf-16, windows-1252 or another encoding Python knows)"]


def test_a_file_in_no_known_encoding_stops_at_its_bad_line(lib: Path) -> None:
    path = lib / "day.csv"
    path.write_bytes(table([ROW, ["A2", "alder", "Bad \x81 Byte", *ROW[3:]]]).encode("latin-1"))
    run = batch(lib, path)
    assert run.errors == ["error: day.csv:3: (file): byte 0x81 is not Windows-1252 text (a file saved as "
                          "UTF-8, or --encoding with the encoding it was saved in)"]
    assert built(lib) == []


def test_values_as_clinics_write_them(lib: Path) -> None:
    header = ["Appointment ID", " PATIENT NAME", "\ufeffClinic", "Treatment", "Documents", "Date", "Time",
              "practitioner", "Language"]
    rows = [["A1", "Ann Lee", "ALDER", "Needling ", "Pre-Treatment ; CONSENT", "01/12/2026", "9:30 am",
             "Ann-Ash", ""],
            ["A2", "Bo Chan", "Alder", "needling", "pre treatment", "2026-12-01", "09:30:00", "dr ann ash",
             ""],
            ["B1", "Cy Dee", "birch", "NEEDLING", "pre-treatment", "01/12/2026", "12:15 PM", "cara-cole",
             "EN"],
            ["B2", "Di Eve", " Birch", "needling", "pre-treatment", "12/31/2026", "12:05 a.m.", "", "ES"],
            ["B3", "Ed Fay", "birch", "needling", "pre-treatment", "13/01/2026", "9:30", "", ""]]
    path = lib / "day.csv"
    path.write_text(table(rows, header), encoding="utf-8")
    run = batch(lib, path)
    assert run.errors == [  # a date that the clinic's order cannot read is never guessed the other way
        "error: day.csv:6: date: '13/01/2026' is not a date (a date as YYYY-MM-DD or MM/DD/YYYY)"]
    assert built(lib) == ["alder/A1/needling-consent.pdf", "alder/A1/needling-pre-treatment.pdf",
                          "alder/A2/needling-pre-treatment.pdf", "birch/B1/needling-pre-treatment.pdf",
                          "birch/B2/needling-pre-treatment.es.pdf"]
    first = text(lib, "alder/A1/needling-pre-treatment.pdf")  # day-month-year, 24-hour
    assert "1 December 2026" in first and "09:30" in first and "Dr Ann Ash" in first
    second = text(lib, "alder/A2/needling-pre-treatment.pdf")
    assert "1 December 2026" in second and "09:30" in second and "Dr Ann Ash" in second
    american = text(lib, "birch/B1/needling-pre-treatment.pdf")  # month-day-year, 12-hour
    assert "January 12, 2026" in american and "12:15 PM" in american
    spanish = text(lib, "birch/B2/needling-pre-treatment.es.pdf")
    assert "31 de diciembre de 2026" in spanish and "12:05" in spanish


def test_every_value_is_checked_even_when_no_document_prints_it(lib: Path) -> None:
    rows = [["A1", "alder", "Ann Lee", "needling", "consent", "2026-12-01", "25:99", ""],  # no time printed
            ["A2", "alder", "Bo Chan", "needling", "consent", "2026-12-01", "10:30", ""]]
    path = lib / "day.csv"
    path.write_text(table(rows, [*HEADER]), encoding="utf-8")
    run = batch(lib, path)
    assert run.code == 2
    assert run.errors == ["error: day.csv:2: time: '25:99' is not a time (a time as HH:MM, H:MM, HH:MM:SS "
                          "or 12-hour with AM/PM, e.g. 9:30 AM, 00:00 to 23:59)"]
    assert built(lib) == ["alder/A2/needling-consent.pdf"]
    assert counted(run) == "Read 2 rows of day.csv (UTF-8, comma-separated): 1 built, 1 failed, 0 skipped"


def test_other_programs_column_names_from_clinic_yaml(lib: Path) -> None:
    with (lib / ALDER).open("a", encoding="utf-8") as handle:
        handle.write("appointments:\n  columns:\n    Booking Ref: appointment_id\n    Location: clinic\n"
                     "    Client Name: patient_name\n    Service: treatment\n    Forms: documents\n"
                     "    Appt Date: date\n    Start Time: time\n    Staff: practitioner\n")
    header = ["Booking Ref", "Location", "CLIENT NAME", "Service", "Forms", "Appt Date", "Start Time",
              "Staff", "Notes"]
    path = lib / "export.csv"
    rows = [[*ROW, "first visit"], ["A2", "Alder Test Clinic", *ROW[2:], ""]]  # a clinic by its name too
    path.write_text(table(rows, header), encoding="utf-8")
    run = batch(lib, path)
    assert run.code == 0, run.err
    assert built(lib) == ["alder/A1/needling-pre-treatment.pdf", "alder/A2/needling-pre-treatment.pdf"]
    assert "José Müller" in text(lib, "alder/A1/needling-pre-treatment.pdf")
    with (lib / "assets/clinics/birch/clinic.yaml").open("a", encoding="utf-8") as handle:
        handle.write("appointments:\n  columns:\n    Client-Name: area\n")
    clash = batch(lib, path)
    assert clash.errors == ["error: export.csv:1: CLIENT NAME: clinics give this column different meanings: "
                            "area, patient_name (one meaning in every clinic.yaml (appointments.columns))"]
    edit(lib, ALDER, "    Client Name: patient_name\n", "    Client Name: patient\n")
    line = line_of(text_of(lib, ALDER), "Client Name: patient")
    check = cli(lib, "check")
    assert check.errors == [
        f"error: {ALDER}:{line}: appointments.columns.Client Name: 'patient' is not allowed (expected one "
        "of: appointment_id, clinic, treatment, documents, language, email, large_print, patient_name, "
        "date_of_birth, practitioner, area, date, time)"]


def test_an_unclosed_quote_is_reported_where_it_opened_and_no_row_is_lost(lib: Path) -> None:
    lines = [",".join(HEADER),
             "A1,alder,Ann Lee,needling,consent,2026-12-01,,",
             'A2,alder,"Bo Chan,needling,consent,2026-12-01,,',  # never closed
             "A3,alder,Cy Dee,needling,consent,2026-12-01,,",
             'A4,alder,"Di ""Dot"" Eve",needling,consent,2026-12-01,,',  # a quote doubled inside: fine
             'A5,alder,Ed "the" Fay,needling,consent,2026-12-01,,',
             'A6,alder,"Flo,needling,consent,2026-12-01,,',  # closed by the next row's quote
             'A7,alder,"Gus",needling,consent,2026-12-01,,']
    path = lib / "day.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = batch(lib, path)
    assert run.errors == [
        "error: day.csv:3: (row): a quote opened on this line is not closed on it (close the quote, or "
        'double a quote inside a quoted cell (""))',
        "error: day.csv:7: (row): a quote opened on this line is not closed on it (close the quote, or "
        'double a quote inside a quoted cell (""))']
    assert built(lib) == [f"alder/A{i}/needling-consent.pdf" for i in (1, 3, 4, 5, 7)]
    assert 'Di "Dot" Eve' in text(lib, "alder/A4/needling-consent.pdf")
    assert counted(run) == "Read 7 rows of day.csv (UTF-8, comma-separated): 5 built, 2 failed, 0 skipped"


def test_cells_over_several_lines_are_fine_in_columns_nobody_reads(lib: Path) -> None:
    path = lib / "day.csv"
    rows = [[*ROW, "Prefers mornings.\r\nAllergic to latex."], ["A2", *ROW[1:], ""]]
    path.write_text(table(rows, [*HEADER, "notes"]), encoding="utf-8")
    run = batch(lib, path)
    assert run.code == 0, run.err
    assert built(lib) == ["alder/A1/needling-pre-treatment.pdf", "alder/A2/needling-pre-treatment.pdf"]


def test_counts_add_up_with_blank_rows_and_shards(lib: Path) -> None:
    rows = [f"A{i},alder,Ann Lee,needling,consent,2026-12-01,," for i in range(6)]
    lines = [",".join(HEADER), *rows[:3], ",,,,,,,", "", *rows[3:], "", ""]  # blank at the end: no rows
    path = lib / "day.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    whole = batch(lib, path)
    assert counted(whole) == ("Read 8 rows of day.csv (UTF-8, comma-separated): 6 built, 0 failed, "
                              "2 skipped (2 empty)")
    halves = [batch(lib, path, "--shard", f"{k}/2").out.splitlines()[0] for k in (1, 2)]
    numbers = [[int(word) for word in line.split(":")[1].replace("(", " ").split() if word.isdigit()]
               for line in halves]
    assert sum(n[0] for n in numbers) == 6 and all(n[0] + n[2] == 8 for n in numbers)  # built + skipped
    assert all("in other shards" in line for line in halves)


def workbook(path: Path, rows: list[list[object]], header: list[str] = HEADER,
             sheet: str = "Appointments") -> Path:
    book = Workbook()
    page = book.active
    assert page is not None
    page.title = sheet
    page.append(header)
    for row in rows:
        page.append(row)
    book.save(path)
    return path


def test_an_excel_workbook_with_its_own_date_and_time_cells(lib: Path) -> None:
    rows: list[list[object]] = [
        ["A1", "alder", "José Müller", "needling", "pre-treatment", date(2026, 12, 1), clock(9, 30),
         "ann-ash"],
        ["B1", "birch", "Cy Dee", "needling", "pre-treatment", datetime(2026, 1, 12),
         datetime(1899, 12, 30, 14, 5), ""],  # a time of day on Excel's day 0
        [1001, "birch", "Di Eve", "needling", "consent", "01/12/2026", "9:30 AM", None],
        ["A2", "alder", "Ed Fay", "needling", "consent", "#VALUE!", None, None]]
    path = workbook(lib / "day.xlsx", rows)
    run = batch(lib, path)
    assert run.errors == ["error: day.xlsx[Appointments]:5: date: '#VALUE!' is not a date (a date as "
                          "YYYY-MM-DD or DD/MM/YYYY)"]
    assert counted(run) == ("Read 4 rows of day.xlsx (Excel workbook, sheet Appointments): "
                                       "3 built, 1 failed, 0 skipped")
    assert built(lib) == ["alder/A1/needling-pre-treatment.pdf", "birch/1001/needling-consent.pdf",
                          "birch/B1/needling-pre-treatment.pdf"]
    first = text(lib, "alder/A1/needling-pre-treatment.pdf")
    assert "1 December 2026" in first and "09:30" in first and "José Müller" in first
    american = text(lib, "birch/B1/needling-pre-treatment.pdf")
    assert "January 12, 2026" in american and "2:05 PM" in american
    assert "January 12, 2026" in text(lib, "birch/1001/needling-consent.pdf")


def test_a_workbook_header_problem_names_the_sheet_and_files_that_are_not_workbooks(lib: Path) -> None:
    path = workbook(lib / "day.xlsx", [], header=HEADER[:-1], sheet="Monday")
    run = batch(lib, path)
    assert run.errors == ["error: day.xlsx[Monday]:1: practitioner: missing column (required: "
                          "appointment_id, clinic, treatment, documents, patient_name, practitioner, "
                          "date, time)"]
    (lib / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    assert batch(lib, lib / "old.xls").errors == [
        "error: old.xls:1: (file): is an old Excel .xls workbook (save it as an Excel workbook (.xlsx) or as "
        "CSV)"]
    (lib / "broken.xlsx").write_bytes(b"PK\x03\x04" + bytes(100))
    assert batch(lib, lib / "broken.xlsx").errors == [
        "error: broken.xlsx:1: (file): cannot be read as a workbook (BadZipFile) (an Excel workbook (.xlsx) "
        "saved by a spreadsheet program)"]


def peak_reading(lib: Path, path: Path) -> int:
    """The most memory reading every row of a file takes (in bytes)."""
    tracemalloc.start()
    try:
        count = sum(1 for _ in AppointmentsFile(lib, path).rows())
        assert count > 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def many_rows(count: int) -> list[list[str]]:
    return [[f"R{i:06d}", "alder", f"Patient Number {i}", "needling", "consent;aftercare", "2026-12-01",
             "10:30", "ann-ash"] for i in range(count)]


@pytest.mark.slow  # runs many processes or long files: the full run only
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_hundred_thousand_rows_stream_in_flat_memory(lib: Path, encoding: str) -> None:
    small, large = lib / "small.csv", lib / "large.csv"
    small.write_bytes(table(many_rows(10_000)).encode(encoding))
    large.write_bytes(table(many_rows(100_000)).encode(encoding))
    assert large.stat().st_size > 7_000_000
    assert peak_reading(lib, large) < peak_reading(lib, small) + 256 * 1024  # ten times the rows


def test_the_web_batch_counts_what_really_happened(lib: Path, tmp_path: Path) -> None:
    rows = [["A1", "alder", "Ann Lee", "needling", "consent;aftercare", "2026-12-01", "", ""],
            ["A2", "birch", "Bo Chan", "needling", "consent", "2026-12-01", "", ""],
            ["A3", "alder", "Cy Dee", "needling", "consent", "not a date", "", ""],
            ["", "", "", "", "", "", "", ""],
            ["A4", "nowhere", "Di Eve", "needling", "consent", "2026-12-01", "", ""]]
    jobs = Jobs(lib, None, 1, 60, time.monotonic)
    try:
        job = jobs.start("me", table(rows).encode("cp1252"), True, False, 100)
        assert stat.S_IMODE((job.folder / job.upload).stat().st_mode) == 0o600  # patient data: owner only
        job.process.join(timeout=120)  # the batch's own process: its outcome is sent before it ends
        status = job.status()
        assert status["state"] == "done", job.problems
        keys = ("rows", "built", "failed", "appointments", "failed_rows", "packets")
        assert {k: status[k] for k in keys} == {"rows": 4, "built": 3, "failed": 2, "appointments": 2,
                                                 "failed_rows": 2, "packets": 2}
        records = (job.out / "manifest.jsonl").read_text().splitlines()
        assert len(records) == status["built"]  # the result matches the manifest
        assert [(p.file, p.line) for p in job.problems] == [("appointments.csv", 4), ("appointments.csv", 6)]
    finally:
        jobs.close()


@pytest.mark.slow  # builds the shipped content: the full run only
def test_the_examples_build_for_both_bundled_clinics(shipped: Path) -> None:
    for name in ("appointments.csv", "appointments.xlsx"):
        run = cli(shipped, "batch", "--appointments", str(REPO / "examples" / name), "--out",
                  str(shipped / name), "--packet", "--jobs", "1")
        assert (run.code, run.err) == (0, ""), name
        assert {p.parts[-3] for p in (shipped / name).rglob("*.pdf")} == {"harbour-skin", "maple-street"}
