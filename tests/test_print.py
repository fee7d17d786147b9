"""Printing through a real CUPS scheduler (private cupsd on a unix socket) to file-backed queues
with the generic PDF printer driver: what arrives is the job, on the clinic's paper, duplex or not.
The tool sees that scheduler's queues only, whatever CUPS settings the machine has."""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import cli, flat, script
from pypdf import PdfReader
from servers import Cups

pytestmark = pytest.mark.slow  # the fast layer (pytest -m "not slow") leaves it out

ONE = ("print", "--treatment", "needling", "--patient-name", "Ana Lima", "--kind", "consent",
       "--kind", "aftercare")
POINTS = {"a4": (595, 842), "letter": (612, 792)}
HEADER = ["appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
          "practitioner"]


@pytest.fixture(scope="module")
def cups() -> Iterator[Cups]:
    server = Cups().start()
    server.add_printer("frontdesk")
    server.add_printer("backoffice")
    yield server
    server.stop()


@pytest.fixture
def spooler(cups: Cups, monkeypatch: pytest.MonkeyPatch) -> Cups:
    """The private scheduler, the only one the tool sees, with empty output files."""
    cups.isolate(monkeypatch)
    cups.clear_output()
    return cups


def printed(cups: Cups, queue: str) -> tuple[bytes, PdfReader]:
    """The PJL header and the PDF a queue's driver wrote, once every job has finished."""
    cups.wait_idle()
    data = (cups.out / f"{queue}.prn").read_bytes()
    start, end = data.index(b"%PDF"), data.rindex(b"%%EOF") + 5
    return data[:start], PdfReader(io.BytesIO(data[start:end]))


def pages_of(lib: Path, clinic: str, kind: str) -> int:
    """The page count of a document built without a printer."""
    result = script(lib, "build", "--clinic", clinic, "--treatment", "needling", "--kind", kind,
                    "-o", "-")
    assert result.returncode == 0, result.stderr
    return len(PdfReader(io.BytesIO(result.stdout)).pages)


def appointments(path: Path, rows: list[list[str]]) -> Path:
    """An appointments CSV with these rows under the usual header."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    return path


@pytest.mark.parametrize(("clinic", "paper"), [("alder", "a4"), ("birch", "letter")])
def test_one_patient_prints_on_the_clinic_paper(lib: Path, spooler: Cups, clinic: str, paper: str) -> None:
    run = cli(lib, *ONE, "--clinic", clinic, "--printer", "frontdesk")
    assert run.code == 0, run.err
    assert run.out == "Printed 1 job (1 copy each) on frontdesk\n"
    assert "Ana" not in run.out + run.err
    header, pdf = printed(spooler, "frontdesk")
    assert f"@PJL SET PAPER={paper.upper()}".encode() in header
    assert b"@PJL SET DUPLEX=OFF" in header
    assert b"Ana Lima" not in header  # the job title is not the patient's name
    assert b'@PJL JOB NAME = "needling: Consent form, Aftercare"' in header  # kinds by their names
    assert len(pdf.pages) == pages_of(lib, clinic, "consent") + pages_of(lib, clinic, "aftercare")
    for page in pdf.pages:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == POINTS[paper]
    assert "Ana Lima" in flat(pdf.pages[0].extract_text())


def test_duplex_copies_and_the_clinic_default_printer(lib: Path, spooler: Cups) -> None:
    with (lib / "assets/clinics/alder/clinic.yaml").open("a", encoding="utf-8") as handle:
        handle.write("printer: backoffice\n")
    run = cli(lib, *ONE, "--clinic", "alder", "--duplex", "--copies", "2")
    assert run.code == 0, run.err
    assert run.out == "Printed 1 job (2 copies each) on backoffice\n"
    header, pdf = printed(spooler, "backoffice")
    assert b"@PJL SET DUPLEX=ON" in header and b"@PJL SET BINDING=LONGEDGE" in header
    # an odd page count for consent gets a blank back page, so aftercare starts on a front side
    consent, aftercare = pages_of(lib, "alder", "consent"), pages_of(lib, "alder", "aftercare")
    one_copy = consent + consent % 2 + aftercare
    # and on duplex paper each copy starts on a new sheet: the spooler pads an odd copy
    assert len(pdf.pages) == 2 * (one_copy + one_copy % 2)
    assert "Aftercare after needling" in flat(pdf.pages[consent + consent % 2].extract_text())


def test_a_batch_prints_one_packet_per_appointment(lib: Path, tmp_path: Path, spooler: Cups) -> None:
    day = appointments(tmp_path / "day.csv", [
        ["P1", "alder", "Ana Lima", "needling", "aftercare", "2026-12-01", "10:30", ""],
        ["P2", "alder", "Bo Chan", "needling", "consent;pre-treatment", "2026-12-01", "11:00", ""],
        ["P3", "alder", "Cy", "needling", "nothing", "2026-12-01", "11:00", ""]])
    spooler.wait_idle()
    before = len(spooler.completed())
    run = cli(lib, "print", "--appointments", str(day), "--printer", "frontdesk")
    assert run.code == 2
    assert run.out == (f"Read 3 rows of {day} (UTF-8, comma-separated): 2 ready, 1 failed, "
                       "0 skipped\nPrinted 2 jobs (1 copy each) on frontdesk; 1 problem in rows\n")
    assert run.errors[0].startswith(f"error: {day}:4: documents: unknown document 'nothing'")
    header_of_last, pdf = printed(spooler, "frontdesk")  # the queue's file holds the last job
    assert len(spooler.completed()) == before + 2
    assert b'@PJL JOB NAME = "handout P2"' in header_of_last
    text = flat(pdf.pages[0].extract_text())
    assert "Getting ready for needling" in text and "Bo Chan" in text  # packet order: pre-treatment first


def test_unknown_printer_lists_the_printers(lib: Path, spooler: Cups) -> None:
    run = cli(lib, *ONE, "--clinic", "alder", "--printer", "nowhere")
    assert run.code == 1
    assert run.errors == ["error: <command line>:12: --printer: no printer named 'nowhere' "
                          "(printers here: backoffice, frontdesk)"]


def test_the_machine_cups_settings_do_not_reach_the_tool(lib: Path, tmp_path: Path, spooler: Cups,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # the machine's own scheduler, with a queue that is its default
    machine = Cups().start()
    try:
        machine.add_printer("elsewhere")
        subprocess.run(["lpadmin", "-d", "elsewhere"], env=machine.env(), check=True, capture_output=True)
        # the machine's client.conf and lpoptions, the user's, and the variables naming a default
        system, home = tmp_path / "etc-cups", tmp_path / "home"
        (home / ".cups").mkdir(parents=True)
        system.mkdir()
        for folder in (system, home / ".cups"):
            (folder / "client.conf").write_text(f"ServerName {machine.socket}\n")
            (folder / "lpoptions").write_text("Default frontdesk\nDest frontdesk/draft sides=one-sided\n")
        for name, value in {"CUPS_SERVERROOT": str(system), "HOME": str(home), "LPDEST": "frontdesk",
                            "PRINTER": "backoffice", "CUPS_SERVER": str(machine.socket)}.items():
            monkeypatch.setenv(name, value)
        before = cli(lib, *ONE, "--clinic", "alder")  # left alone, the tool asks the machine's
        spooler.isolate(monkeypatch)
        run = cli(lib, *ONE, "--clinic", "alder")
    finally:
        machine.stop()
    assert before.errors == ["error: <command line>:1: --printer: no printer given and no default "
                             "printer (printers here: elsewhere)"]
    assert run.code == 1
    assert run.errors == ["error: <command line>:1: --printer: no printer given and no default printer "
                          "(printers here: backoffice, frontdesk)"]


def test_a_job_that_stops_fails_the_wait_at_once_with_the_scheduler_log(spooler: Cups) -> None:
    target = spooler.add_printer("broken")
    target.unlink()  # as before the harness created the output files: every job stops
    try:
        subprocess.run(["lp", "-d", "broken"], input=b"%PDF-1.4\n", env=spooler.env(), check=True,
                       capture_output=True)
        with pytest.raises(RuntimeError, match=r"^printing failed: job \d+ on broken stopped") as failed:
            spooler.wait_idle()
    finally:
        spooler.remove_printer("broken")
    assert "could not open the output file" in str(failed.value)
    spooler.wait_idle()  # the stopped job was cleared away


def test_no_spooler_is_a_clear_error(lib: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUPS_SERVER", str(tmp_path / "no-cups.sock"))
    run = cli(lib, *ONE, "--clinic", "alder", "--printer", "frontdesk")
    assert run.code == 3
    assert run.errors == [f"error: <command line>:1: print: the print spooler on {tmp_path}/no-cups.sock "
                          "is not running (start CUPS, or set CUPS_SERVER to a running one)"]


def test_lp_missing_is_a_clear_error(lib: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    run = cli(lib, *ONE, "--clinic", "alder", "--printer", "frontdesk")
    assert run.code == 3
    assert run.errors == ["error: <command line>:1: print: the print spooler is not installed (lpstat "
                          "not found) (CUPS: apt-get install cups cups-client)"]


def test_copies_must_be_sensible(lib: Path) -> None:
    run = cli(lib, *ONE, "--clinic", "alder", "--copies", "0")
    assert run.code == 1 and run.errors == ["error: <command line>:12: --copies: 0 is not allowed (1 to 99)"]


def test_a_printer_that_stops_taking_jobs_is_reported_with_its_row(lib: Path, tmp_path: Path,
                                                                    spooler: Cups) -> None:
    spooler.add_printer("closed")
    try:
        subprocess.run(["cupsreject", "closed"], env=spooler.env(), check=True, capture_output=True)
        day = appointments(tmp_path / "day.csv", [
            ["P1", "alder", "Ana Lima", "needling", "aftercare", "2026-12-01", "10:30", ""],
            ["P2", "alder", "Bo Chan", "needling", "consent", "2026-12-01", "11:00", ""]])
        run = cli(lib, "print", "--appointments", str(day), "--printer", "closed")
    finally:
        spooler.remove_printer("closed")
    assert run.code == 3
    assert run.errors[0].startswith(f"error: {day}:2: print: closed did not take the job: ")
    assert run.out == (f"Read 2 rows of {day} (UTF-8, comma-separated): 2 ready, 0 failed, "
                       "0 skipped\nPrinted 0 of 2 jobs (1 copy each); not queued: P1, P2\n")
    assert "Ana" not in run.out + run.err
