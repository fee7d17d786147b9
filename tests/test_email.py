"""Email against a real SMTP server (aiosmtpd on 127.0.0.1, STARTTLS and login required):
messages parsed back, attachments decrypted, faults injected, reruns checked against the ledger."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from conftest import REPO, Run, cli, edit, flat, line_of, text_of
from pypdf import PdfReader
from pypdf.generic import DictionaryObject
from servers import ALDER, BIRCH, PASSWORD, USER, SmtpServer, free_port, use_server
from test_batch import write_csv

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS",
                                        "ignore:Session.login_data is deprecated")]

NAME, ADDRESS = "Ana Lima", "ana.lima@patients.test"
ONE = ("email", "--clinic", "alder", "--treatment", "needling", "--kind", "consent",
       "--kind", "aftercare", "--patient-name", NAME, "--field", "appointment_date=2026-12-01",
       "--to", ADDRESS, "--appointment-id", "A1001")
HEADER = ["appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
          "practitioner", "email", "language"]
ROWS = [
    ["A1001", "alder", NAME, "needling", "consent;aftercare", "2026-12-01", "10:30",
     "ann-ash", ADDRESS, ""],
    ["A1002", "birch", "Lucía Fernández", "needling", "aftercare", "2026-12-02", "14:00",
     "cara-cole", "lucia@patients.test", "es"],
    ["A1003", "birch", "Tom Baker", "needling", "pre-treatment", "2026-12-02", "15:00",
     "cara-cole", "", ""],
]


DETAILED = {"body": "detailed"}  # the body names the patient and the appointment (test_privacy: minimal)


@pytest.fixture
def mail_settings() -> dict[str, str]:
    return DETAILED


def ledger(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]


def passcodes(out: Path) -> dict[str, str]:
    with (out / "passcodes.csv").open(encoding="utf-8", newline="") as handle:
        return {row["appointment_id"]: row["passcode"] for row in csv.DictReader(handle)}


def pdfs(message: EmailMessage) -> dict[str, bytes]:
    return {str(part.get_filename()): part.get_content() for part in message.iter_attachments()}


def no_patient_data(run: Run, *values: str) -> None:
    for value in (NAME, ADDRESS, *values):
        assert value not in run.out + run.err


def test_one_patient_gets_one_message_with_encrypted_attachments(lib: Path, tmp_path: Path,
                                                                 smtp: SmtpServer) -> None:
    out = tmp_path / "mail"
    run = cli(lib, *ONE, "--out", str(out))
    assert run.code == 0, run.err
    assert run.out.startswith("Sent 1 message, skipped 0 (already sent), failed 0, unknown 0")
    no_patient_data(run)
    (received,) = smtp.messages
    message = received.message
    assert received.recipients == [ADDRESS] and received.sender == "handouts@clinic.test"
    assert message["From"] == "Alder Test Clinic <handouts@clinic.test>"
    assert message["Reply-To"] == "desk@alder.example"
    assert message["Subject"] == "Alder Test Clinic: your Needling documents"
    assert re.fullmatch(r"<handout-[0-9a-f]{32}@clinic\.test>", message["Message-ID"])
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Hello Ana Lima," in text and "Hello Ana Lima," in html
    assert "locked with a passcode" in text and "1 December 2026" in text
    passcode = passcodes(out)["A1001"]
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", passcode)
    raw = message.as_string()
    assert passcode not in raw and passcode.replace(" ", "") not in raw
    attached = pdfs(message)
    assert sorted(attached) == ["needling-aftercare.pdf", "needling-consent-form.pdf"]  # kinds by their names
    for data in attached.values():
        reader = PdfReader(io.BytesIO(data))
        assert reader.is_encrypted
        assert not reader.decrypt("WRONG-PASS-CODE")
        assert not PdfReader(io.BytesIO(data)).decrypt("")
        assert reader.decrypt(passcode)
        encrypt = reader.trailer["/Encrypt"].get_object()  # AES-256: V 5, R 6, AESV3 filter
        assert isinstance(encrypt, DictionaryObject)
        filters = encrypt["/CF"]
        assert isinstance(filters, DictionaryObject)
        standard = filters["/StdCF"]
        assert isinstance(standard, DictionaryObject)
        assert [str(encrypt["/V"]), str(encrypt["/R"]), str(standard["/CFM"])] == ["5", "6", "/AESV3"]
        assert NAME in flat(reader.pages[0].extract_text())
    (sending, sent) = ledger(out)
    assert (sending["status"], sent["status"]) == ("sending", "sent")
    assert sent["message_id"] == message["Message-ID"] and sent["appointment_id"] == "A1001"
    recorded = (out / "ledger.jsonl").read_text()
    assert NAME not in recorded and ADDRESS not in recorded
    assert oct((out / "passcodes.csv").stat().st_mode & 0o777) == "0o600"


def test_batch_sends_each_appointment_once_in_its_language(lib: Path, tmp_path: Path,
                                                           smtp: SmtpServer) -> None:
    appointments = write_csv(tmp_path / "day.csv", ROWS, HEADER)
    out = tmp_path / "mail"
    run = cli(lib, "email", "--appointments", str(appointments), "--out", str(out), "--packet")
    assert run.code == 0, run.err
    read, sent = run.out.splitlines()
    assert read == f"Read 3 rows of {appointments} (UTF-8, comma-separated): 3 ready, 0 failed, 0 skipped"
    assert sent.startswith("Sent 2 messages, skipped 0 (already sent), failed 0, unknown 0")
    assert sent.endswith("; 1 appointment has no email address")
    no_patient_data(run, "Lucía", "lucia@patients.test")
    by_address = {r.recipients[0]: r.message for r in smtp.messages}
    assert sorted(by_address) == [ADDRESS, "lucia@patients.test"]
    spanish = by_address["lucia@patients.test"]
    assert spanish["Content-Language"] == "es"
    body = spanish.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hola Lucía Fernández" in body and "contraseña" in body
    assert "De lunes a sábado" in body and "Monday" not in body  # the clinic's words in Spanish
    assert list(pdfs(spanish)) == ["needling-packet.pdf"]
    codes = passcodes(out)
    reader = PdfReader(io.BytesIO(pdfs(spanish)["needling-packet.pdf"]))
    assert reader.decrypt(codes["A1002"]) and not PdfReader(io.BytesIO(
        pdfs(spanish)["needling-packet.pdf"])).decrypt(codes["A1001"])
    english = by_address[ADDRESS]
    english_body = english.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hello Ana Lima" in english_body
    # consent and aftercare print no time, but the appointment has one: the email and the
    # front desk's passcode list keep it
    assert "on 1 December 2026 at 10:30." in english_body
    with (out / "passcodes.csv").open(encoding="utf-8", newline="") as handle:
        times = {row["appointment_id"]: row["appointment_time"] for row in csv.DictReader(handle)}
    assert times == {"A1001": "10:30", "A1002": "14:00"}
    packet = PdfReader(io.BytesIO(pdfs(english)["needling-packet.pdf"]))
    packet.decrypt(codes["A1001"])
    tops = [item.title for item in packet.outline if not isinstance(item, list)]
    assert tops == ["Consent to needling", "Aftercare after needling"]

    again = cli(lib, "email", "--appointments", str(appointments), "--out", str(out), "--packet")
    assert again.code == 0
    assert "Sent 0 messages, skipped 2 (already sent), failed 0, unknown 0" in again.out
    assert len(smtp.messages) == 2


def test_temporary_failure_is_retried_and_delivered_once(lib: Path, tmp_path: Path,
                                                         smtp: SmtpServer) -> None:
    smtp.fail_next("451")
    out = tmp_path / "mail"
    run = cli(lib, *ONE, "--out", str(out))
    assert run.code == 0, run.err
    assert smtp.handler.attempts == 2 and len(smtp.messages) == 1
    assert ledger(out)[-1]["status"] == "sent" and ledger(out)[-1]["attempts"] == 2


def test_permanent_failure_is_not_retried(lib: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.fail_next("550")
    appointments = write_csv(tmp_path / "day.csv", ROWS[:1], HEADER)
    out = tmp_path / "mail"
    run = cli(lib, "email", "--appointments", str(appointments), "--out", str(out))
    assert run.code == 2
    assert smtp.handler.attempts == 1 and smtp.messages == []
    assert run.errors[0] == (f"error: {appointments}:2: email: not sent: 550 5.7.1 <recipient> rejected "
                             "(the server refused it for good: check the address, then rerun)")
    assert "Sent 0 messages, skipped 0 (already sent), failed 1, unknown 0" in run.out
    no_patient_data(run)
    assert ledger(out)[-1]["status"] == "failed"


def test_connection_dropped_after_data_is_unknown_and_never_resent(lib: Path, tmp_path: Path,
                                                                    smtp: SmtpServer) -> None:
    smtp.fail_next("drop")
    appointments = write_csv(tmp_path / "day.csv", ROWS[:1], HEADER)
    out = tmp_path / "mail"
    args = ("email", "--appointments", str(appointments), "--out", str(out))
    first = cli(lib, *args)
    assert first.code == 2
    assert len(smtp.messages) == 1  # it did arrive
    assert "failed 0, unknown 1" in first.out
    assert first.errors[0].startswith(f"warning: {appointments}:2: email: connection lost after the "
                                      "message was handed over")
    assert ledger(out)[-1]["status"] == "unknown"
    rerun = cli(lib, *args)
    assert rerun.code == 2 and "Sent 0 messages, skipped 0 (already sent), failed 0, unknown 1" in rerun.out
    assert len(smtp.messages) == 1
    resend = cli(lib, *args, "--resend-unknown")
    assert resend.code == 0 and "Sent 1" in resend.out
    first_copy, second_copy = (r.message for r in smtp.messages)
    assert first_copy["Message-ID"] == second_copy["Message-ID"]  # the same message: mail can dedupe
    code = passcodes(out)["A1001"]
    for copy in (first_copy, second_copy):  # the same passcode opens both copies
        assert all(PdfReader(io.BytesIO(pdf)).decrypt(code) for pdf in pdfs(copy).values())


def test_unreachable_server_stops_the_run_and_a_rerun_sends(lib: Path, tmp_path: Path,
                                                             smtp: SmtpServer) -> None:
    appointments = write_csv(tmp_path / "day.csv", ROWS[:2], HEADER)
    out = tmp_path / "mail"
    text = text_of(lib, ALDER)
    closed = free_port()  # nothing listens there
    edit(lib, ALDER, f"port: {smtp.port}", f"port: {closed}")
    down = cli(lib, "email", "--appointments", str(appointments), "--out", str(out))
    assert down.code == 3
    line = line_of(text, "  smtp:\n")
    assert down.errors == [f"error: {ALDER}:{line}: mail.smtp: cannot reach 127.0.0.1:{closed}: Connection "
                           "refused (after 4 tries) (a reachable mail server: check mail.smtp host and port)"]
    assert smtp.messages == []
    # "the email summary says what the ledger records": the first failed, the second was not tried
    assert [entry["status"] for entry in ledger(out)] == ["sending", "failed"]
    assert down.out.splitlines()[-1].startswith("Sent 0 messages, skipped 0 (already sent), failed 1, "
                                                "unknown 0, not tried 1 (the run stopped) in ")
    edit(lib, ALDER, f"port: {closed}", f"port: {smtp.port}")
    up = cli(lib, "email", "--appointments", str(appointments), "--out", str(out))
    assert up.code == 0 and "Sent 2" in up.out and len(smtp.messages) == 2


def test_login_and_certificate_problems_stop_before_anything_is_sent(
        lib: Path, tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    run = cli(lib, *ONE, "--out", str(tmp_path / "a"))
    assert run.code == 3
    assert run.errors[0].endswith(f"mail.smtp: 127.0.0.1:{smtp.port} refused the login of '{USER}': "
                                  "535 (the right user, and its password in $TEST_SMTP_PASSWORD)")
    monkeypatch.delenv("TEST_SMTP_PASSWORD")
    run = cli(lib, *ONE, "--out", str(tmp_path / "b"))
    line = line_of(text_of(lib, ALDER), "password_env:")
    assert run.code == 1 and run.errors == [
        f"error: {ALDER}:{line}: mail.smtp.password_env: $TEST_SMTP_PASSWORD is not set "
        "(export TEST_SMTP_PASSWORD=<the mail password> before sending)"]
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    edit(lib, ALDER, "    ca_file: smtp-cert.pem\n", "")
    run = cli(lib, *ONE, "--out", str(tmp_path / "c"))
    assert run.code == 3 and "secure connection to 127.0.0.1" in run.errors[0]
    assert "CERTIFICATE_VERIFY_FAILED" in run.errors[0]
    assert smtp.messages == []


def test_implicit_tls(lib: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    with SmtpServer(tmp_path, security="tls") as server:
        use_server(lib, server, security="tls", **DETAILED)
        run = cli(lib, *ONE, "--out", str(tmp_path / "mail"))
        assert run.code == 0, run.err
        assert len(server.messages) == 1


def test_unencrypted_connection_only_to_this_computer(lib: Path) -> None:
    text = edit(lib, ALDER, "security: starttls", "security: none")
    run = cli(lib, "check")
    assert run.code == 1
    assert run.errors == [
        f"error: {ALDER}:{line_of(text, 'security: none')}: mail.smtp.security: 'none' would send "
        "passwords and patient data unencrypted to smtp.alder.example (starttls or tls; none only "
        "for localhost or 127.0.0.1)"]
    edit(lib, ALDER, "host: smtp.alder.example", "host: 127.0.0.1")
    assert cli(lib, "check").code == 0


@pytest.mark.parametrize("policy", ["unprotected", "date-of-birth"])
def test_weaker_protection_warns_on_every_run(lib: Path, tmp_path: Path, smtp: SmtpServer,
                                              policy: str) -> None:
    use_server(lib, smtp, attachments=policy, **DETAILED)
    line = line_of(text_of(lib, ALDER), f"attachments: {policy}")
    for attempt in range(2):
        run = cli(lib, *ONE, "--date-of-birth", "1980-03-07", "--out", str(tmp_path / "mail"))
        assert run.code == 0, run.err
        assert run.errors[0].startswith(f"warning: {ALDER}:{line}: mail.attachments: ")
        assert run.out.startswith(f"Sent {1 - attempt}")
    (received,) = smtp.messages
    for data in pdfs(received.message).values():
        reader = PdfReader(io.BytesIO(data))
        if policy == "unprotected":
            assert not reader.is_encrypted
        else:
            assert reader.is_encrypted and reader.decrypt("07031980")  # the clinic's day-month-year
    assert not (tmp_path / "mail" / "passcodes.csv").exists()


def test_date_of_birth_policy_needs_a_date_of_birth(lib: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    use_server(lib, smtp, attachments="date-of-birth", **DETAILED)
    run = cli(lib, *ONE, "--out", str(tmp_path / "mail"))
    assert run.code == 1
    assert run.errors[-1] == ("error: <command line>:14: date_of_birth: is needed: the clinic uses it as "
                              "the passcode (a date as YYYY-MM-DD)")
    assert smtp.messages == []


def test_dry_run_writes_complete_messages_and_sends_nothing(lib: Path, tmp_path: Path,
                                                            smtp: SmtpServer) -> None:
    appointments = write_csv(tmp_path / "day.csv", ROWS, HEADER)
    out = tmp_path / "mail"
    run = cli(lib, "email", "--appointments", str(appointments), "--out", str(out), "--dry-run")
    assert run.code == 0, run.err
    assert run.out.splitlines()[-1].startswith(f"Wrote 2 messages to {out}/outbox/ (nothing sent)")
    assert smtp.messages == [] and not (out / "ledger.jsonl").exists()
    written = sorted(p.name for p in (out / "outbox").iterdir())
    assert written == ["A1001.eml", "A1002.eml", "passcodes.csv"]
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in (out / "outbox").iterdir())
    message = BytesParser(policy=policy.default).parsebytes((out / "outbox/A1001.eml").read_bytes())
    assert isinstance(message, EmailMessage) and message["To"] == ADDRESS
    code = passcodes(out / "outbox")["A1001"]
    assert all(PdfReader(io.BytesIO(pdf)).decrypt(code) for pdf in pdfs(message).values())
    sent = cli(lib, "email", "--appointments", str(appointments), "--out", str(out))
    assert sent.code == 0 and "Sent 2" in sent.out  # a dry run does not count as sent


def test_bad_addresses_and_arguments_are_reported(lib: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    rows = [[*ROWS[0][:8], "ana@example.org, boss@example.org", ""],
            ["A1009", "alder", "Bo", "needling", "aftercare", "2026-12-01", "10:30", "",
             "bo@patients.test", ""]]
    appointments = write_csv(tmp_path / "day.csv", rows, HEADER)
    run = cli(lib, "email", "--appointments", str(appointments), "--out", str(tmp_path / "mail"))
    assert run.code == 2
    assert [e for e in run.errors if e.startswith("error")] == [
        f"error: {appointments}:2: email: is not an email address (an email address "
        "such as name@example.org, or empty)"]
    assert [r.recipients for r in smtp.messages] == [["bo@patients.test"]]
    single = cli(lib, "email", "--clinic", "alder", "--treatment", "needling", "--kind",
                 "aftercare", "--to", "not-an-address")
    assert single.code == 1 and single.errors == [
        "error: <command line>:8: --to: is not an email address (an email address such as "
        "name@example.org, or --appointments FILE.csv)"]
    mixed = cli(lib, "email", "--appointments", str(appointments), "--to", ADDRESS)
    assert mixed.code == 1 and mixed.errors == [
        "error: <command line>:4: --to: cannot be used with --appointments (the file names the "
        "patients and documents)"]


@pytest.mark.slow  # runs many processes or long files: the full run only
def test_two_runs_at_once_send_each_message_once(lib: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    rows = [[f"C{i:03d}", "alder", f"Patient {i}", "needling", "aftercare", "2026-12-01",
             "10:30", "", f"p{i}@patients.test", ""] for i in range(12)]
    appointments = write_csv(tmp_path / "day.csv", rows, HEADER)
    command = [sys.executable, str(REPO / "generate.py"), "email", "--appointments", str(appointments),
               "--out", str(tmp_path / "mail")]
    runs = [subprocess.Popen(command, cwd=lib, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sorted(r.recipients[0] for r in smtp.messages) == sorted(f"p{i}@patients.test" for i in range(12))
    found = [re.search(r"^Sent (\d+) messages?,", out, re.MULTILINE) for out, _err in outputs]
    sent = [int(match.group(1)) for match in found if match]
    assert len(sent) == 2 and sum(sent) == 12


def test_a_server_without_starttls_is_refused(lib: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    with SmtpServer(tmp_path, security="none") as server:
        use_server(lib, server, **DETAILED)  # the clinic asks for starttls; this server cannot encrypt
        run = cli(lib, *ONE, "--out", str(tmp_path / "mail"))
        assert run.code == 3
        assert run.errors[0].endswith(f"mail.smtp: 127.0.0.1:{server.port} does not offer STARTTLS (a "
                                      "server that encrypts the connection, or security: tls)")
        assert server.messages == [] and server.handler.attempts == 0
        use_server(lib, server, security="none", **DETAILED)  # allowed: 127.0.0.1 is this computer
        plain = cli(lib, *ONE, "--out", str(tmp_path / "mail"))
        assert plain.code == 0, plain.err
        assert len(server.messages) == 1


def test_email_refuses_an_unencrypted_connection_to_another_computer(lib: Path, tmp_path: Path,
                                                                     smtp: SmtpServer) -> None:
    use_server(lib, smtp, security="none", host="mail.example.org", **DETAILED)
    run = cli(lib, *ONE, "--out", str(tmp_path / "mail"))
    assert run.code == 1
    assert run.errors[0].endswith("mail.smtp.security: 'none' would send passwords and patient data "
                                  "unencrypted to mail.example.org (starttls or tls; none only for "
                                  "localhost or 127.0.0.1)")
    assert smtp.messages == []


def test_a_server_problem_mid_batch_keeps_the_summary(lib: Path, tmp_path: Path,
                                                      smtp: SmtpServer) -> None:
    edit(lib, BIRCH, f"port: {smtp.port}", f"port: {free_port()}")  # Maple's server is down
    appointments = write_csv(tmp_path / "day.csv", ROWS[:2], HEADER)
    out = tmp_path / "mail"
    run = cli(lib, "email", "--appointments", str(appointments), "--out", str(out))
    assert run.code == 3
    # the summary counts what the ledger records: one sent, one failed
    assert run.out.splitlines()[-1].startswith("Sent 1 message, skipped 0 (already sent), failed 1, "
                                               "unknown 0 in ")
    assert next(e for e in run.errors if e.startswith("error")).endswith(
        "(after 4 tries) (a reachable mail server: check mail.smtp host and port)")
    statuses = {line["appointment_id"]: line["status"] for line in ledger(out)}
    assert statuses == {"A1001": "sent", "A1002": "failed"}


def test_still_failing_after_every_retry_then_a_rerun_sends(lib: Path, tmp_path: Path,
                                                           smtp: SmtpServer) -> None:
    smtp.fail_next("451", "451", "451", "451")
    out = tmp_path / "mail"
    first = cli(lib, *ONE, "--out", str(out))
    assert first.code == 2 and smtp.messages == [] and smtp.handler.attempts == 4
    assert first.errors[-1].endswith("email: not sent: 451 4.3.0 Try again later (still failing after 4 "
                                     "tries) (rerun later: a message not sent is tried again)")
    again = cli(lib, *ONE, "--out", str(out))
    assert again.code == 0 and len(smtp.messages) == 1
    with (out / "passcodes.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1  # the same passcode opens the message that finally went out
    assert all(PdfReader(io.BytesIO(pdf)).decrypt(rows[0]["passcode"])
               for pdf in pdfs(smtp.messages[0].message).values())


def test_a_run_stopped_while_sending_is_not_resent(lib: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    out = tmp_path / "mail"
    args = (*ONE, "--out", str(out))
    first = cli(lib, *args)
    assert first.code == 0
    sent = ledger(out)[-1]
    (out / "ledger.jsonl").write_text(  # as if the run had been killed mid-send
        json.dumps({**sent, "status": "sending", "owner": "elsewhere:1"}) + "\n", encoding="utf-8")
    rerun = cli(lib, *args)
    assert rerun.code == 2 and "unknown 1" in rerun.out
    assert len(smtp.messages) == 1


def test_a_changed_document_is_sent_again_and_said_so(lib: Path, tmp_path: Path, smtp: SmtpServer) -> None:
    out = tmp_path / "mail"
    assert cli(lib, *ONE, "--out", str(out)).code == 0
    moved = [arg if arg != "appointment_date=2026-12-01" else "appointment_date=2026-12-08" for arg in ONE]
    run = cli(lib, *moved, "--out", str(out))
    assert run.code == 0
    assert run.out.startswith("Sent 1 message (1 replaces an earlier version), skipped 0")
    assert len(smtp.messages) == 2
    first, second = (r.message["Message-ID"] for r in smtp.messages)
    assert first != second  # a new version is a new message
