"""One selection service: the command line, an appointment file and the web page give the same
message for the same wrong choice (each says only where the choice came from)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from conftest import cli
from flask.testing import FlaskClient
from test_batch import write_csv

from handoutgen.errors import Problem
from handoutgen.library.gather import load_library
from handoutgen.web import Settings, create_app
from handoutgen.web.handout import readable

HEADER = ["appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
          "practitioner", "language"]
ROW = {"appointment_id": "A1", "clinic": "alder", "patient_name": "Ana Lima", "treatment": "needling",
       "documents": "consent", "date": "2026-12-01", "time": "", "practitioner": "", "language": "en"}
ERROR = re.compile(r"^error: .+?:\d+: (\S+): (.*) \((.*)\)$")
# (what is wrong, the command-line option, the column and form field, the wrong value)
CASES = [("unknown language", "--language", "language", "fr"),
         ("unknown document", "--kind", "documents", "leaflet"),
         ("unknown treatment", "--treatment", "treatment", "botox"),
         ("bad appointment id", "--appointment-id", "appointment_id", "../evil")]


def parts(line: str) -> tuple[str, str, str]:
    """(where, message, allowed) of one error line."""
    found = ERROR.match(line)
    assert found, line
    return found[1], found[2], found[3]


def from_command_line(lib: Path, option: str, value: str) -> tuple[str, str, str]:
    choice = {"--language": "en", "--kind": "consent", "--treatment": "needling", "--appointment-id": "A1",
              option: value}
    run = cli(lib, "email", "--clinic", "alder", "--to", "ana@patients.test", "--dry-run",
              "--out", str(lib / "mail"), *(arg for pair in choice.items() for arg in pair))
    assert run.code == 1
    (line,) = run.errors
    return parts(line)


def from_file(lib: Path, tmp_path: Path, column: str, value: str) -> tuple[str, str, str]:
    row = {**ROW, column: value}
    day = write_csv(tmp_path / "day.csv", [[row[c] for c in HEADER]], HEADER)
    run = cli(lib, "batch", "--appointments", str(day), "--out", str(tmp_path / "out"), "--jobs", "1")
    assert run.code == 2
    (line,) = run.errors
    return parts(line)


def from_web(client: FlaskClient, field: str, value: str) -> str:
    """The page the front desk sees after sending the form with one wrong choice."""
    form = {"treatment": "needling", "language": "en", "documents": "consent", "paper": "a4",
            "patient_name": "Ana Lima", "email": "ana@patients.test", "appointment_id": "A1",
            "action": "email", field: value}
    page = client.get("/c/alder/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    reply = client.post("/c/alder/", data={**form, "csrf_token": token[1]})
    assert reply.status_code == 422
    return html.unescape(reply.get_data(as_text=True))


@pytest.fixture
def client(lib: Path) -> FlaskClient:
    app = create_app(Settings(lib, warm=False), load_library(lib))
    client = app.test_client()
    client.get(f"/?token={app.extensions['handoutgen']['token']}")  # as the browser `serve` opens
    return client


@pytest.mark.parametrize(("problem", "option", "field", "value"), CASES)
def test_the_same_wrong_choice_reads_the_same_everywhere(lib: Path, tmp_path: Path, client: FlaskClient,
                                                         problem: str, option: str, field: str,
                                                         value: str) -> None:
    where, message, allowed = from_command_line(lib, option, value)
    assert where == option
    assert message.startswith(f"{value!r}" if field == "appointment_id" else problem)
    assert from_file(lib, tmp_path, field, value) == (field, message, allowed)
    page = from_web(client, field, value)
    assert readable(Problem("the form", 1, field, message, allowed)) in page
