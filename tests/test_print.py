"""Printing through a real CUPS scheduler (private cupsd on a unix socket) to file-backed queues
with the generic PDF printer driver: what arrives is the job, on the clinic's paper, duplex or not."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import cli, flat, script
from pypdf import PdfReader
from servers import Cups
from test_batch import write_csv

ONE = ("print", "--treatment", "mesotherapy", "--patient-name", "Ana Lima", "--kind", "consent",
       "--kind", "aftercare")
POINTS = {"a4": (595, 842), "letter": (612, 792)}


@pytest.fixture(scope="module")
def cups() -> Iterator[Cups]:
    server = Cups().start()
    server.add_printer("frontdesk")
    server.add_printer("backoffice")
    yield server
    server.stop()


@pytest.fixture
def spooler(cups: Cups, monkeypatch: pytest.MonkeyPatch) -> Cups:
    monkeypatch.setenv("CUPS_SERVER", str(cups.socket))
    for queue in cups.out.glob("*.prn"):
        queue.unlink()
    return cups


def printed(cups: Cups, queue: str) -> tuple[bytes, PdfReader]:
    """The PJL header and the PDF a queue's driver wrote, once every job has finished."""
    cups.wait_idle()
    data = (cups.out / f"{queue}.prn").read_bytes()
    start, end = data.index(b"%PDF"), data.rindex(b"%%EOF") + 5
    return data[:start], PdfReader(io.BytesIO(data[start:end]))


def pages_of(lib: Path, clinic: str, kind: str) -> int:
    """The page count of a document built without a printer."""
    result = script(lib, "build", "--clinic", clinic, "--treatment", "mesotherapy", "--kind", kind,
                    "-o", "-")
    assert result.returncode == 0, result.stderr
    return len(PdfReader(io.BytesIO(result.stdout)).pages)


@pytest.mark.parametrize(("clinic", "paper"), [("harbour-skin", "a4"), ("maple-street", "letter")])
def test_one_patient_prints_on_the_clinic_paper(lib: Path, spooler: Cups, clinic: str, paper: str) -> None:
    run = cli(lib, *ONE, "--clinic", clinic, "--printer", "frontdesk")
    assert run.code == 0, run.err
    assert run.out == "Printed 1 jobs (1 copy each) on frontdesk\n"
    assert "Ana" not in run.out + run.err
    header, pdf = printed(spooler, "frontdesk")
    assert f"@PJL SET PAPER={paper.upper()}".encode() in header
    assert b"@PJL SET DUPLEX=OFF" in header
    assert b"Ana Lima" not in header  # the job title is not the patient's name
    assert b'@PJL JOB NAME = "mesotherapy consent aftercare"' in header
    assert len(pdf.pages) == pages_of(lib, clinic, "consent") + pages_of(lib, clinic, "aftercare")
    for page in pdf.pages:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == POINTS[paper]
    assert "Ana Lima" in flat(pdf.pages[0].extract_text())


def test_duplex_copies_and_the_clinic_default_printer(lib: Path, spooler: Cups) -> None:
    with (lib / "assets/clinics/harbour-skin/clinic.yaml").open("a", encoding="utf-8") as handle:
        handle.write("printer: backoffice\n")
    run = cli(lib, *ONE, "--clinic", "harbour-skin", "--duplex", "--copies", "2")
    assert run.code == 0, run.err
    assert run.out == "Printed 1 jobs (2 copies each) on backoffice\n"
    header, pdf = printed(spooler, "backoffice")
    assert b"@PJL SET DUPLEX=ON" in header and b"@PJL SET BINDING=LONGEDGE" in header
    # consent (odd page count) gets a blank back page, so aftercare starts on a front side
    consent, aftercare = pages_of(lib, "harbour-skin", "consent"), pages_of(lib, "harbour-skin", "aftercare")
    one_copy = consent + consent % 2 + aftercare
    assert len(pdf.pages) == 2 * one_copy
    assert "Aftercare after mesotherapy" in flat(pdf.pages[consent + consent % 2].extract_text())


def test_a_batch_prints_one_packet_per_appointment(lib: Path, tmp_path: Path, spooler: Cups) -> None:
    header = ["appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
              "practitioner"]
    rows = [["P1", "harbour-skin", "Ana Lima", "mesotherapy", "aftercare", "2026-12-01", "10:30", ""],
            ["P2", "harbour-skin", "Bo Chan", "mesotherapy", "consent;pre-treatment", "2026-12-01",
             "11:00", ""],
            ["P3", "harbour-skin", "Cy", "mesotherapy", "nothing", "2026-12-01", "11:00", ""]]
    appointments = write_csv(tmp_path / "day.csv", rows, header)
    spooler.wait_idle()
    before = len(spooler.completed())
    run = cli(lib, "print", "--appointments", str(appointments), "--printer", "frontdesk")
    assert run.code == 2
    assert run.out == "Printed 2 jobs (1 copy each) on frontdesk; 1 problems in rows\n"
    assert run.errors[0].startswith(f"error: {appointments}:4: documents: unknown document 'nothing'")
    header_of_last, pdf = printed(spooler, "frontdesk")  # the queue's file holds the last job
    assert len(spooler.completed()) == before + 2
    assert b'@PJL JOB NAME = "handout P2"' in header_of_last
    text = flat(pdf.pages[0].extract_text())
    assert "Getting ready for mesotherapy" in text and "Bo Chan" in text  # packet order: pre-treatment first


def test_unknown_printer_lists_the_printers(lib: Path, spooler: Cups) -> None:
    run = cli(lib, *ONE, "--clinic", "harbour-skin", "--printer", "nowhere")
    assert run.code == 1
    assert run.errors == ["error: <command line>:12: --printer: no printer named 'nowhere' "
                          "(printers here: backoffice, frontdesk)"]


def test_no_spooler_is_a_clear_error(lib: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUPS_SERVER", str(tmp_path / "no-cups.sock"))
    run = cli(lib, *ONE, "--clinic", "harbour-skin", "--printer", "frontdesk")
    assert run.code == 3
    assert run.errors == [f"error: <command line>:1: print: the print spooler on {tmp_path}/no-cups.sock "
                          "is not running (start CUPS, or set CUPS_SERVER to a running one)"]


def test_lp_missing_is_a_clear_error(lib: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    run = cli(lib, *ONE, "--clinic", "harbour-skin", "--printer", "frontdesk")
    assert run.code == 3
    assert run.errors == ["error: <command line>:1: print: the print spooler is not installed (lpstat "
                          "not found) (CUPS: apt-get install cups cups-client)"]


def test_copies_must_be_sensible(lib: Path) -> None:
    run = cli(lib, *ONE, "--clinic", "harbour-skin", "--copies", "0")
    assert run.code == 1 and run.errors == ["error: <command line>:12: --copies: 0 is not allowed (1 to 99)"]


def test_a_printer_that_stops_taking_jobs_is_reported_with_its_row(lib: Path, tmp_path: Path,
                                                                    spooler: Cups) -> None:
    spooler.add_printer("closed")
    subprocess.run(["cupsreject", "closed"], env=spooler.env(), check=True, capture_output=True)
    header = ["appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
              "practitioner"]
    rows = [["P1", "harbour-skin", "Ana Lima", "mesotherapy", "aftercare", "2026-12-01", "10:30", ""],
            ["P2", "harbour-skin", "Bo Chan", "mesotherapy", "consent", "2026-12-01", "11:00", ""]]
    appointments = write_csv(tmp_path / "day.csv", rows, header)
    run = cli(lib, "print", "--appointments", str(appointments), "--printer", "closed")
    assert run.code == 3
    assert run.errors[0].startswith(f"error: {appointments}:2: print: closed did not take the job: ")
    assert run.out == "Printed 0 of 2 jobs (1 copy each); not queued: P1, P2\n"
    assert "Ana" not in run.out + run.err
