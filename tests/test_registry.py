"""Kinds and patient fields are declared once, as data: a library adds a fourth kind (a
medical-history questionnaire) and a new field (allergies) with no Python change, and every way
out (build, batch packets, email, print, the web page) takes them; a kind or field that lacks a
piece is a `check` error at its line."""

from __future__ import annotations

import email
import io
import re
import shutil
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from conftest import bookmarks, cli, copy_library, edit, flat, line_of, pdf_text, text_of
from playwright.sync_api import Browser
from pypdf import PdfReader
from servers import Cups, SmtpServer
from test_batch import write_csv
from test_email import passcodes, pdfs
from test_print import cups, printed, spooler
from test_web import CLINICS, browser, choose, download
from web_helpers import DESKTOP, serving

__all__ = ["browser", "cups", "spooler"]  # fixtures of other modules, used here
MORE = Path(__file__).resolve().parent / "library-more"
KINDS, FIELDS = "handouts/kinds.yaml", "handouts/fields.yaml"
HISTORY = ("build", "--clinic", "alder", "--treatment", "needling", "--kind", "medical-history")
HEADER = ["appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
          "practitioner", "allergies", "email"]


def lay_more(root: Path) -> Path:
    """Lay tests/library-more over a copy of tests/library."""
    shutil.copytree(MORE / "handouts", root / "handouts", dirs_exist_ok=True)
    shutil.copytree(MORE / "templates", root / "templates", dirs_exist_ok=True)
    return root


def more_library(root: Path) -> Path:
    """A copy of tests/library with tests/library-more laid over it."""
    return lay_more(copy_library(root))


@pytest.fixture
def more(tmp_path: Path) -> Path:
    return more_library(tmp_path / "more")


def test_check_builds_the_fourth_kind_everywhere(more: Path) -> None:
    run = cli(more, "check")
    assert (run.code, run.err) == (0, "")
    assert run.out == "OK: 2 treatments, 2 clinics, 20 documents checked\n"
    listed = cli(more, "list").out
    assert "medical-history      patient_name, date_of_birth, allergies, appointment_date" in listed


def test_build_prints_the_new_field_on_the_new_kind(more: Path, tmp_path: Path) -> None:
    out = tmp_path / "history.pdf"
    run = cli(more, *HISTORY, "--patient-name", "Ana Lima", "--field", "allergies=Penicillin",
              "--field", "date_of_birth=1980-02-03", "-o", str(out))
    assert run.code == 0, run.err
    text = flat(pdf_text(out))
    assert "Your medical history before needling" in text
    assert "Do you take medicines that thin the blood?" in text
    assert "Allergies you have" in text and "Penicillin" in text and "Ana Lima" in text
    assert "NEED-H" in text  # the kind's letter in the form code
    not_used = cli(more, "build", "--clinic", "alder", "--treatment", "needling", "--kind", "aftercare",
                   "--field", "allergies=Penicillin", "-o", str(tmp_path / "x.pdf"))
    assert not_used.errors == ["error: <command line>:8: allergies: not used by aftercare (expected one of: "
                               "patient_name, practitioner, treatment_area, appointment_date, "
                               "next_appointment_date, next_appointment_time)"]


def test_batch_packet_puts_the_new_kind_first_and_reads_the_new_column(more: Path, tmp_path: Path) -> None:
    rows = [["A1", "alder", "Ana Lima", "needling", "aftercare; Medical History", "2026-12-01", "10:30",
             "ann-ash", "Latex", ""]]
    out = tmp_path / "out"
    run = cli(more, "batch", "--appointments", str(write_csv(tmp_path / "day.csv", rows, HEADER)),
              "--out", str(out), "--packet", "--jobs", "1")
    assert run.code == 0, run.err
    packet = PdfReader(out / "alder/A1/needling-packet.pdf")
    assert [title for title, _page in bookmarks(packet)] == [
        "Your medical history before needling", "Aftercare after needling"]
    assert "Latex" in flat(packet.pages[0].extract_text())


def test_a_clinic_may_give_the_new_column_its_own_name(more: Path, tmp_path: Path) -> None:
    with (more / "assets/clinics/alder/clinic.yaml").open("a", encoding="utf-8") as handle:
        handle.write("appointments:\n  columns:\n    Allergy Notes: allergies\n")
    rows = [["A1", "alder", "Ana Lima", "needling", "history", "2026-12-01", "10:30", "ann-ash", "Nuts", ""]]
    day = write_csv(tmp_path / "day.csv", rows, [*HEADER[:-2], "Allergy Notes", "email"])
    out = tmp_path / "out"
    run = cli(more, "batch", "--appointments", str(day), "--out", str(out), "--jobs", "1")
    assert (run.code, run.err) == (0, "")
    assert "Nuts" in flat(pdf_text(out / "alder/A1/needling-medical-history.pdf"))


def test_an_unknown_column_is_reported_not_ignored(more: Path, tmp_path: Path) -> None:
    rows = [["A1", "alder", "Ana Lima", "needling", "history", "2026-12-01", "10:30", "ann-ash", "", "",
             "VIP"]]
    day = write_csv(tmp_path / "day.csv", rows, [*HEADER, "Notes"])
    run = cli(more, "batch", "--appointments", str(day), "--out", str(tmp_path / "out"), "--jobs", "1")
    assert run.code == 0
    assert run.errors == [f"warning: {day}:1: Notes: unknown column, not read (columns: appointment_id, "
                          "clinic, treatment, documents, language, email, large_print, patient_name, "
                          "date_of_birth, practitioner, area, date, time, allergies)"]


def test_email_dry_run_sends_the_new_kind_in_a_packet(more: Path, tmp_path: Path) -> None:
    run = cli(more, "email", "--clinic", "birch", "--treatment", "needling", "--kind", "aftercare",
              "--kind", "medical-history", "--patient-name", "Ana Lima", "--field", "allergies=Latex",
              "--to", "ana@patients.test", "--packet", "--dry-run", "--out", str(tmp_path / "mail"))
    assert run.code == 0, run.err
    (eml,) = (tmp_path / "mail/outbox").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    ((name, data),) = pdfs(message).items()
    assert name == "birch-packet.pdf"
    reader = PdfReader(io.BytesIO(data))
    (passcode,) = passcodes(tmp_path / "mail/outbox").values()
    reader.decrypt(passcode.replace(" ", ""))
    assert [title for title, _page in bookmarks(reader)] == [
        "Your medical history before needling", "Aftercare after needling"]
    assert "Latex" in flat(reader.pages[0].extract_text())


@pytest.mark.parametrize(("file", "old", "new", "at", "path", "message", "allowed"), [
    (KINDS, "  template: medical-history.xml.j2\n", "", "medical-history:", "medical-history",
     "missing field 'template'", "its layout in templates/ (a clinic's templates/ may override it)"),
    (KINDS, "  web: {label: Medical history form}\n", "", "medical-history:", "medical-history",
     "missing field 'web'", "how the front-desk page offers it: label, chosen"),
    (KINDS, "  packet: 5\n", "  packet: 30 # same\n", "30 # same", "medical-history.packet",
     "'30' is also aftercare's packet", "a packet of its own for each kind"),
    (KINDS, "allergies, appointment_date]", "allergies, shoe_size]", "shoe_size]",
     "medical-history.fields[3]", "unknown field 'shoe_size'",
     "a field of handouts/fields.yaml: patient_name, date_of_birth, "
     "practitioner, treatment_area, appointment_date, appointment_time, next_appointment_date, "
     "next_appointment_time, allergies"),
    (FIELDS, '  web: {label: Known allergies, hint: "For example: penicillin, latex. Empty leaves a line '
     'to write on."}\n', "", "allergies:\n", "allergies", "missing field 'web'",
     "how the front-desk page asks for it: label, hint, input"),
    (FIELDS, "  label: allergies\n", "  label: allergy\n", "label: allergy\n", "allergies.label",
     "no label 'allergy' in labels/en.yaml", "a label of text: in every handouts/labels file"),
])
def test_a_kind_or_field_lacking_a_piece_fails_check_at_its_line(
        more: Path, file: str, old: str, new: str, at: str, path: str, message: str, allowed: str) -> None:
    text = edit(more, file, old, new)
    run = cli(more, "check")
    assert run.code == 1
    assert run.errors == [f"error: {file}:{line_of(text, at)}: {path}: {message} ({allowed})"]


def test_a_kind_without_its_content_fails_check_not_a_later_command(more: Path, tmp_path: Path) -> None:
    (more / "handouts/peel/en/medical-history.yaml").unlink()
    for command in (("check",), ("email", "--clinic", "alder", "--treatment", "peel", "--kind",
                                 "medical-history", "--kind", "consent", "--patient-name", "Ana",
                                 "--to", "a@patients.test", "--packet", "--dry-run", "--out",
                                 str(tmp_path / "mail"))):
        run = cli(more, *command)
        assert run.code == 1
        assert run.errors == ["error: handouts/peel/en/medical-history.yaml:1: (document): file is missing "
                              "(create medical-history.yaml in handouts/peel/en)"]


def test_content_for_an_undeclared_kind_fails_check(lib: Path) -> None:
    shutil.copy(MORE / "handouts/peel/en/medical-history.yaml", lib / "handouts/peel/en")
    run = cli(lib, "check")
    assert run.code == 1
    assert run.errors == ["error: handouts/peel/en/medical-history.yaml:1: (document): no kind "
                          "'medical-history' in kinds.yaml (declare it in handouts/kinds.yaml, or name "
                          "the file after a kind: consent, pre-treatment, aftercare)"]


def test_text_of_a_declared_part_is_checked_like_all_content(more: Path) -> None:
    edit(more, "handouts/peel/en/medical-history.yaml", "questions_title: About your health\n",
         "questions_title: About your health\nnotes: one more\n")
    run = cli(more, "check")
    line = line_of(text_of(more, "handouts/peel/en/medical-history.yaml"), "notes:")
    assert run.errors == [f"error: handouts/peel/en/medical-history.yaml:{line}: notes: unknown field "
                          "(allowed: title, intro, questions_title, questions, medicines)"]


@pytest.mark.slow
def test_print_sends_the_new_kind_first_in_the_packet(more: Path, spooler: Cups) -> None:
    run = cli(more, "print", "--clinic", "alder", "--treatment", "needling", "--kind", "consent",
              "--kind", "medical-history", "--patient-name", "Ana Lima", "--field", "allergies=Latex",
              "--printer", "frontdesk")
    assert run.code == 0, run.err
    header, pdf = printed(spooler, "frontdesk")
    assert b'@PJL JOB NAME = "needling: Medical history, Consent form"' in header
    first = flat(pdf.pages[0].extract_text())
    assert "Your medical history before needling" in first and "Latex" in first


@pytest.mark.slow
def test_print_names_the_job_by_the_kinds_in_the_documents_language(more: Path, spooler: Cups) -> None:
    run = cli(more, "print", "--clinic", "birch", "--treatment", "needling", "--language", "es", "--kind",
              "medical-history", "--kind", "aftercare", "--patient-name", "Ana Lima",
              "--printer", "frontdesk")
    assert run.code == 0, run.err
    assert re.fullmatch(r"queued frontdesk-\d+: needling: Historia clínica, Cuidados posteriores\n", run.err)
    header, pdf = printed(spooler, "frontdesk")
    job = max(spooler.jobs(), key=lambda job: job.id)
    assert (job.state, job.name) == ("completed", "needling: Historia clínica, Cuidados posteriores")
    assert b'@PJL JOB NAME = "needling: Historia cl' in header and b"Ana" not in header  # the driver's copy
    assert "Ana Lima" in flat(pdf.pages[0].extract_text())


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_email_names_the_attachment_by_the_kind_in_its_language(lib: Path, smtp: SmtpServer,
                                                                 tmp_path: Path) -> None:
    lay_more(lib)  # the smtp fixture has pointed lib's clinics at the server
    for language, name in (("es", "birch-historia-clínica.pdf"), ("en", "birch-medical-history.pdf")):
        run = cli(lib, "email", "--clinic", "birch", "--treatment", "needling", "--kind", "medical-history",
                  "--language", language, "--patient-name", "Ana Lima", "--field", "allergies=Latex",
                  "--to", "ana@patients.test", "--appointment-id", f"H-{language}", "--out",
                  str(tmp_path / "mail"))
        assert run.code == 0, run.err
        message = smtp.messages[-1].message
        ((attached, data),) = pdfs(message).items()
        assert attached == name
        reader = PdfReader(io.BytesIO(data))
        reader.decrypt(passcodes(tmp_path / "mail")[f"H-{language}"].replace(" ", ""))
        assert "Latex" in flat(reader.pages[0].extract_text())


@pytest.fixture(scope="module")
def more_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The fixture library served on 127.0.0.1; the address that opens it."""
    with serving(more_library(tmp_path_factory.mktemp("web") / "more")) as served:
        yield served.start


@pytest.mark.slow
def test_the_web_page_offers_the_new_kind_and_asks_for_the_new_field(more_site: str, browser: Browser,
                                                                       tmp_path: Path) -> None:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(more_site)
        page.get_by_role("link", name=CLINICS["alder"]).click()
        choose(page, "aftercare")
        assert page.locator("#f-allergies").is_hidden()  # only the new kind uses it
        choose(page, "medical-history", "aftercare")
        assert page.get_by_label("Medical history form", exact=True).is_checked()  # kinds.yaml's web label
        field = page.get_by_label("Known allergies")
        assert field.is_visible()
        assert page.locator("#allergies-hint").inner_text() == (
            "For example: penicillin, latex. Empty leaves a line to write on. Used on: Medical history form.")
        page.get_by_label("Patient's full name").fill("Ana Lima")
        field.fill("Latex")
        name, pdf = download(page, "Download PDF", tmp_path)
        assert name == "alder-needling-medical-history-aftercare.pdf"
        assert [title for title, _page in bookmarks(PdfReader(pdf))] == [
            "Your medical history before needling", "Aftercare after needling"]
        assert "Latex" in flat(pdf_text(pdf))
    finally:
        context.close()


@pytest.mark.slow
def test_the_batch_page_lists_the_new_column_and_kind(more_site: str, browser: Browser) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(more_site)
        page.goto(more_site.split("/?")[0] + "/batch")
        page.get_by_text("Which columns the file needs").click()
        shown = " ".join(page.locator("details").inner_text().split())
        optional = shown[shown.index("Optional:"):shown.index("Documents:")]
        assert "allergies (the patient's known allergies)" in optional
        assert "date (treatment date, YYYY-MM-DD)" in shown[:shown.index("Optional:")]  # required
        assert "medical-history (Medical history form; or history; or medical history)" in shown[
            shown.index("Documents:"):]
    finally:
        context.close()
