"""Deliver stage (email): one message per appointment, attachments protected, each sent once.

For every appointment with an address: build its documents (or its packet), encrypt them with
AES-256 and a random passcode (written to the passcode list, never into the email), write the
message from the clinic's email templates, and hand it to the clinic's mail server, recording
every step in the send ledger so that a rerun sends nothing twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Any

from ..compose.compose import Request, compose, fingerprint, template_dirs
from ..compose.templating import render_template
from ..emit.finish import protect
from ..errors import BrandingError, DeliveryError, HandoutError, Problem, Problems, TemplateError
from ..library.branding import Clinic, Mail
from ..library.gather import ClinicEntry, Library, inside
from ..library.patient import display_values
from ..load import display
from ..output import confined, write_atomic
from ..pipeline import render_documents
from ..runs import naming
from ..runs.runner import plural
from ..secret import keyed_hash
from ..values import Value, frozen
from .ledger import IN_DOUBT, SETTLED, Ledger, PasscodeList
from .smtp import Outcome, Sender

OUTBOX = "outbox"
# Digits only: one case, nothing that looks or sounds like something else, in any language, and
# a number pad will do. 16 digits are 53 bits; shown in groups of four.
PASSCODE_DIGITS = 16
PASSCODE_GROUP = 4
DOB_FORMAT = {"day-month-year": "%d%m%Y", "month-day-year": "%m%d%Y", "iso": "%Y%m%d"}
TEMPLATES = ("subject.txt.j2", "body.txt.j2", "body.html.j2")


@frozen
class Outgoing(Value):
    """One message to send: an appointment's documents for one address."""

    appointment_id: str
    recipient: str
    requests: tuple[Request, ...]  # in the order they are attached (or bound, in a packet)
    packet: bool = False
    duplex: bool = False
    date_of_birth: str = ""  # YYYY-MM-DD; only for clinics that chose it as the passcode
    source: str = ""  # where the appointment came from (CSV file or command line) and its line
    line: int = 1
    values: tuple[tuple[str, str], ...] = ()  # every patient value, also those no document prints


@dataclass
class MailSummary:
    """What an email run did, in messages."""

    sent: int = 0
    skipped: int = 0  # already sent
    failed: int = 0
    unknown: int = 0  # may or may not have arrived: not resent
    written: int = 0  # --dry-run: messages written as .eml files
    untried: int = 0  # not tried: the run stopped first
    stopped: bool = False  # a problem every message would have (server, login) ended the run
    newer: int = 0  # sent to appointments that had received an earlier version before
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def line(self, folder: Path, dry_run: bool) -> str:
        """The one summary line an email run ends with."""
        untried = f", not tried {self.untried} (the run stopped)" if self.untried else ""
        if dry_run:
            return (f"Wrote {plural(self.written, 'message')} to {display(folder / OUTBOX)}/ (nothing "
                    f"sent), skipped {self.skipped} (already sent), unknown {self.unknown}{untried} "
                    f"in {self.seconds:.1f} s")
        newer = ""
        if self.newer:
            newer = f" ({self.newer} {'replaces' if self.newer == 1 else 'replace'} an earlier version)"
        return (f"Sent {plural(self.sent, 'message')}{newer}, skipped {self.skipped} (already sent), "
                f"failed {self.failed}, unknown {self.unknown}{untried} in {self.seconds:.1f} s; "
                f"passcodes in {display(folder / 'passcodes.csv')}")

    def tried(self) -> int:
        """Messages this run dealt with, whatever became of them."""
        return self.sent + self.skipped + self.failed + self.unknown + self.written


def message_key(library: Library, item: Outgoing) -> str:
    """What makes a message the same message: appointment, address and document versions.

    Keyed with the installation secret: the key covers patient values, and a plain hash would
    let anyone with the library confirm a guess. The program's own version is not part of it,
    so upgrading handoutgen resends nothing.
    """
    return keyed_hash(_message_payload(library, item))[:32]


def legacy_key(library: Library, item: Outgoing) -> str:
    """The key versions before the installation secret gave a message (a plain SHA-256).

    Only used to recognise the messages a ledger of such a version recorded, so that they are
    never sent again.
    """
    return hashlib.sha256(_message_payload(library, item)).hexdigest()[:32]


def _message_payload(library: Library, item: Outgoing) -> bytes:
    versions = [(r.clinic, r.treatment, r.kind, r.language,
                 library.treatments[r.treatment].meta.version, fingerprint(library, r), r.patient)
                for r in item.requests]
    return json.dumps([item.appointment_id, item.recipient.lower(), versions, item.packet,
                       item.duplex], ensure_ascii=False).encode()


def walk_in_id(address: str, requests: tuple[Request, ...]) -> str:
    """An appointment id for a message sent without one: same address and documents, same id."""
    return "walk-in-" + keyed_hash(repr((address.lower(), requests)).encode())[:10]


def message_id(key: str, sender: str) -> str:
    """A stable Message-ID: the same message always carries the same one."""
    return f"<handout-{key}@{sender.rpartition('@')[2]}>"


def new_passcode() -> str:
    """A random passcode of 16 digits in groups of four, e.g. 4829 1137 5520 9381 (53 bits)."""
    digits = f"{secrets.randbelow(10 ** PASSCODE_DIGITS):0{PASSCODE_DIGITS}d}"
    return " ".join(digits[i:i + PASSCODE_GROUP] for i in range(0, PASSCODE_DIGITS, PASSCODE_GROUP))


def attachments(library: Library, item: Outgoing) -> list[tuple[str, bytes]]:
    """The PDFs of a message with their file names (no patient name in them).

    The names are in clear in the email: they name the treatment only when the clinic chose a
    detailed body, else the clinic.
    """
    documents = tuple(compose(library, r) for r in item.requests)
    detailed = settings(library.clinics[item.requests[0].clinic]).body == "detailed"
    if item.packet:
        return [(naming.attachment(library, item.requests, True, detailed),
                 render_documents(library, item.requests, documents, item.duplex))]
    return [(naming.attachment(library, (r,), False, detailed), render_documents(library, (r,), (d,)))
            for r, d in zip(item.requests, documents, strict=True)]


def settings(entry: ClinicEntry) -> Mail:
    """A clinic's mail settings (check_item reports a clinic without them before a run)."""
    if entry.clinic.mail is None:
        raise BrandingError.one(*entry.place(("mail",)), "mail",
                                f"clinic {entry.clinic.id} does not send email",
                                "add a mail: section to its clinic.yaml (see docs/admin.md)")
    return entry.clinic.mail


def sender_address(entry: ClinicEntry) -> str:
    return settings(entry).sender or entry.clinic.email


def compose_message(library: Library, item: Outgoing, files: list[tuple[str, bytes]], mid: str,
                    protection: str) -> EmailMessage:
    """Write the message from the clinic's email templates, in the patient's language if it has one."""
    first = item.requests[0]
    entry = library.clinics[first.clinic]
    clinic = entry.clinic.in_language(first.language)
    context: dict[str, Any] = {
        "clinic": clinic,
        "details": settings(entry).body == "detailed",
        "count": len(item.requests),
        "files": [name for name, _ in files],
        "packet": item.packet,
        "protection": protection,
        "passcode_format": DOB_FORMAT[clinic.date_style].replace("%d", "DD").replace("%m", "MM")
        .replace("%Y", "YYYY"),
        "passcode_digits": PASSCODE_DIGITS,
        "language": first.language,
    }
    if context["details"]:  # a minimal body's templates are not even given the patient's details
        context |= details(library, item, clinic)
    dirs = tuple(template_dirs(library.root, entry))
    languages = dict.fromkeys((first.language, clinic.languages[0]))
    subject, text, html = (render_template(dirs, tuple(f"email/{lang}/{name}" for lang in languages),
                                           context)[1] for name in TEMPLATES)
    mail = settings(entry)
    message = EmailMessage()
    message["From"] = formataddr((clinic.name, sender_address(entry)))
    message["Reply-To"] = mail.reply_to or clinic.email
    message["To"] = item.recipient
    message["Subject"] = " ".join(subject.split())
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = mid
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    for name, data in files:
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    message["Content-Language"] = first.language  # after the body: set_content drops Content-*
    return message


def details(library: Library, item: Outgoing, clinic: Clinic) -> dict[str, Any]:
    """What a detailed email body may show: the patient's values, the treatment, the documents."""
    first = item.requests[0]
    content = library.treatments[first.treatment].languages[first.language]
    labels = library.labels[first.language]
    return {"patient": display_values(patient_values(item), clinic, labels.months, labels.text,
                                      library.registry),
            "treatment": {"id": first.treatment, "name": content.facts.name},
            "documents": [{"title": content.kinds[r.kind].title, "kind": r.kind} for r in item.requests]}


def check_templates(library: Library) -> None:
    """Write an example message for every clinic that emails, in each of its languages.

    Run by `check`, so a broken email template is found before a real send.
    """
    problems = Problems()
    for clinic_id, entry in sorted(library.clinics.items()):
        if entry.clinic.mail is None:
            continue
        for treatment_id in sorted(library.treatments):
            for language in library.offered(clinic_id, treatment_id):
                requests = tuple(Request(clinic_id, treatment_id, kind, language)
                                 for kind in library.registry.kinds)
                example = Outgoing("check", "patient@example.org", requests)
                try:
                    compose_message(library, example, [("example.pdf", b"%PDF-")], "<check@example.org>",
                                    entry.clinic.mail.attachments)
                except HandoutError as err:
                    problems.extend(err)
    problems.raise_if_any(TemplateError)


def check_item(library: Library, item: Outgoing) -> list[Problem]:
    """Problems that stop one appointment's message: no mail settings, no date of birth."""
    clinic = library.clinics[item.requests[0].clinic].clinic
    if clinic.mail is None:
        return [Problem(item.source, item.line, "clinic", f"clinic {clinic.id} does not send email",
                        "add a mail: section to its clinic.yaml (see docs/admin.md)")]
    if clinic.mail.attachments == "date-of-birth" and not item.date_of_birth:
        return [Problem(item.source, item.line, "date_of_birth",
                        "is needed: the clinic uses it as the passcode", "a date as YYYY-MM-DD")]
    return []


def check_senders(library: Library, clinic_ids: Iterable[str],
                  dry_run: bool = False) -> dict[str, str | None]:
    """Check every clinic that will send has its password and files; return the passwords.

    Also prints the warning a clinic gets on every run when it chose weaker protection.
    """
    problems = Problems()
    passwords: dict[str, str | None] = {}
    for clinic_id in sorted(set(clinic_ids)):
        entry = library.clinics[clinic_id]
        mail = settings(entry)
        smtp = mail.smtp
        password = None
        if smtp.password_env is not None and not dry_run:
            password = os.environ.get(smtp.password_env)
            if not password:
                problems.add(*entry.place(("mail", "smtp", "password_env")),
                             "mail.smtp.password_env", f"${smtp.password_env} is not set",
                             f"export {smtp.password_env}=<the mail password> before sending")
        if smtp.ca_file is not None:
            path = inside(entry.folder, smtp.ca_file)
            if path is None or not path.is_file():
                problems.add(*entry.place(("mail", "smtp", "ca_file")), "mail.smtp.ca_file",
                             f"no file {smtp.ca_file!r} in the clinic folder", "a PEM certificate file")
        passwords[clinic_id] = password
        _warn_protection(entry, mail)
    problems.raise_if_any(BrandingError)
    return passwords


def _warn_protection(entry: ClinicEntry, mail: Mail) -> None:
    warning = {
        "unprotected": "attachments are sent WITHOUT encryption: anyone who sees the email can "
                       "read them",
        "date-of-birth": "the passcode is the patient's date of birth, which others often know or "
                         "can guess",
    }.get(mail.attachments)
    if warning:
        file, line = entry.place(("mail", "attachments"))
        print(f"warning: {file}:{line}: mail.attachments: {warning} (passcode is the safe choice)",
              file=sys.stderr)


class Postbox:
    """Sends (or, in a dry run, writes) messages, keeping the ledger and the passcode list."""

    def __init__(self, library: Library, folder: Path, passwords: dict[str, str | None],
                 dry_run: bool = False, resend_unknown: bool = False,
                 render_lock: AbstractContextManager[Any] | None = None) -> None:
        self.library, self.folder, self.passwords = library, folder, passwords
        self.render_lock = render_lock or contextlib.nullcontext()
        self.dry_run, self.resend_unknown = dry_run, resend_unknown
        self.ledger = Ledger(folder)
        self.passcodes = PasscodeList(folder / OUTBOX if dry_run else folder)
        self.senders: dict[str, Sender] = {}
        self.summary = MailSummary()

    def sender(self, entry: ClinicEntry) -> Sender:
        clinic_id = entry.clinic.id
        if clinic_id not in self.senders:
            mail = settings(entry)
            ca = inside(entry.folder, mail.smtp.ca_file) if mail.smtp.ca_file else None
            self.senders[clinic_id] = Sender(mail.smtp, self.passwords.get(clinic_id), ca,
                                             entry.place(("mail", "smtp")), mail.attempts,
                                             mail.retry_delay_seconds)
        return self.senders[clinic_id]

    def post(self, item: Outgoing) -> None:
        """Send one appointment's message unless it was sent (or may have been) before.

        The ledger is held while the message is checked and marked "sending", so another run
        sharing the folder skips it; it is released while the server is talked to.
        """
        entry = self.library.clinics[item.requests[0].clinic]
        key = message_key(self.library, item)
        with self.ledger.claim():
            # A message recorded by a version before keyed hashes keeps its Message-ID (and so its
            # passcode), and is never sent twice.
            old = self.ledger.adopt(key, legacy_key(self.library, item)) if self.ledger.legacy else None
            mid = old.message_id if old else message_id(key, sender_address(entry))
            message = self.prepare(item, entry, key, mid)
            if message is None or self.dry_run:
                return
            details = self.details(item, mid)
            self.ledger.record(key, "sending", details)
        self.send(entry, item, key, details, message)

    def prepare(self, item: Outgoing, entry: ClinicEntry, key: str, mid: str) -> EmailMessage | None:
        """The message to send, or None when it was sent (or may have been) before."""
        seen = self.ledger.entry(key)
        status = seen.status if seen else None
        if status in SETTLED or (seen is not None and seen.in_flight()):
            self.summary.skipped += 1  # sent, or being sent by another run right now
            return None
        if status in IN_DOUBT and not self.resend_unknown:
            self.summary.unknown += 1
            self.warn(item, "an earlier run lost the connection after handing this message over, or "
                      "was stopped while sending it; it may have arrived, so it is not sent again",
                      "ask the patient, then rerun with --resend-unknown to send it")
            return None
        protection = settings(entry).attachments
        passcode = self.passcode(item, mid, protection, entry)
        with self.render_lock:  # only the drawing is shared; sending happens outside it
            files = attachments(self.library, item)
            if passcode:
                files = [(name, protect(data, passcode)) for name, data in files]
            message = compose_message(self.library, item, files, mid, protection)
        if protection == "passcode" and self.passcodes.known.get(mid) != passcode:
            self.passcodes.add(_passcode_row(item, passcode, mid))  # before sending: never lost
        if self.dry_run:
            write_atomic(confined(self.folder / OUTBOX, naming.message(item.appointment_id)),
                         message.as_bytes(), mode=0o600)
            self.summary.written += 1
        return message

    def details(self, item: Outgoing, mid: str) -> dict[str, Any]:
        """What the ledger records of a message: no name, no address."""
        return {"message_id": mid, "appointment_id": item.appointment_id,
                "documents": [{"kind": r.kind, "treatment": r.treatment, "language": r.language,
                               "form_version": self.library.treatments[r.treatment].meta.version,
                               "fingerprint": fingerprint(self.library, r)} for r in item.requests]}

    def send(self, entry: ClinicEntry, item: Outgoing, key: str, details: dict[str, Any],
             message: EmailMessage) -> None:
        sender = self.sender(entry)
        try:
            outcome = sender.send(message, sender_address(entry), item.recipient)
        except BaseException as err:  # the run stops; the ledger and the summary still say what happened
            handed_over = sender.connection is not None and sender.connection.handed_over
            reply = err.problems[0].message if isinstance(err, DeliveryError) else type(err).__name__
            self.ledger.record(key, "unknown" if handed_over else "failed", {**details, "reply": reply})
            if handed_over:
                self.summary.unknown += 1
            else:
                self.summary.failed += 1
            raise
        self.ledger.record(key, outcome.status, {**details, "reply": outcome.reply,
                                                 "attempts": outcome.attempts})
        self.count(item, outcome)

    def count(self, item: Outgoing, outcome: Outcome) -> None:
        if outcome.status == "sent":
            self.summary.sent += 1
            newer = item.appointment_id in self.ledger.sent_to
            self.summary.newer += newer
            print(f"sent {item.appointment_id}" + (" (a newer version of what it was sent before)"
                                                  if newer else ""), file=sys.stderr)
        elif outcome.status == "unknown":
            self.summary.unknown += 1
            self.warn(item, outcome.reply + "; it may have arrived, so it is not sent again",
                      "ask the patient, then rerun with --resend-unknown to send it")
        else:
            self.summary.failed += 1
            self.summary.problems.append(Problem(item.source, item.line, "email",
                                                 f"not sent: {outcome.reply}", _advice(outcome)))

    def warn(self, item: Outgoing, message: str, advice: str) -> None:
        self.summary.notes.append(f"warning: {item.source}:{item.line}: email: {message} ({advice})")

    def passcode(self, item: Outgoing, mid: str, protection: str, entry: ClinicEntry) -> str:
        if protection == "unprotected":
            return ""
        if protection == "date-of-birth":
            return date.fromisoformat(item.date_of_birth).strftime(DOB_FORMAT[entry.clinic.date_style])
        self.passcodes.refresh()  # another run may have made this message's passcode
        return self.passcodes.known.get(mid) or new_passcode()

    def close(self) -> None:
        for sender in self.senders.values():
            sender.close()
        self.ledger.close()


def _advice(outcome: Outcome) -> str:
    """What to do about a message the server did not take, by its reply code."""
    if not outcome.permanent:
        return "rerun later: a message not sent is tried again"
    code = outcome.reply[:3]
    if code in ("550", "551", "553"):
        return "the server refused it for good: check the address, then rerun"
    if code in ("552", "554"):
        return "the server refused it for good: it may be too large or look like spam; ask the " \
            "server's administrator"
    return "the server refused it for good: see its reply"


def patient_values(item: Outgoing) -> dict[str, str]:
    """Every patient value of an appointment: its own, else those of its documents, merged."""
    if item.values:
        return dict(item.values)
    values: dict[str, str] = {}
    for request in item.requests:
        values.update(request.patient)
    return values


def _passcode_row(item: Outgoing, passcode: str, mid: str) -> dict[str, str]:
    values = patient_values(item)
    return {"appointment_id": item.appointment_id,
            "appointment_date": values.get("appointment_date", ""),
            "appointment_time": values.get("appointment_time", ""),
            "patient_name": values.get("patient_name", ""), "passcode": passcode, "message_id": mid}


def deliver(library: Library, items: list[Outgoing], folder: Path, dry_run: bool = False,
            resend_unknown: bool = False,
            render_lock: AbstractContextManager[Any] | None = None) -> MailSummary:
    """Send (or write) every message; stop at a problem that would fail all the others.

    `render_lock` is held while attachments are drawn (a server shares reportlab between
    threads), never while the mail server is talked to.
    """
    start = time.perf_counter()
    passwords = check_senders(library, (i.requests[0].clinic for i in items), dry_run)
    postbox = Postbox(library, folder, passwords, dry_run, resend_unknown, render_lock)
    try:
        for item in items:
            postbox.post(item)
    except DeliveryError as err:  # the server cannot be used: what was done so far still counts
        postbox.summary.problems.extend(err.problems)
        postbox.summary.stopped = True
    finally:
        postbox.close()
    postbox.summary.untried = len(items) - postbox.summary.tried()
    postbox.summary.seconds = time.perf_counter() - start
    return postbox.summary
