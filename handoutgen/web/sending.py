"""The email area of the web page: send one patient's documents, and learn the passcode to read out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flask import Blueprint, request

from ..compose.compose import Request
from ..deliver.ledger import PasscodeList
from ..deliver.mail import Outgoing, check_item, deliver, message_id, message_key, sender_address, walk_in_id
from ..errors import HandoutError
from . import state
from .form import form_page
from .handout import FORM, Choice, Engine, located

blueprint = Blueprint("email", __name__)


@dataclass
class Sent:
    """What happened to one message, for the page (the passcode is shown once, never kept)."""

    status: str  # sent, skipped (sent before), unknown, failed
    protection: str = "passcode"
    passcode: str = ""
    appointment_id: str = ""
    problems: list[str] = field(default_factory=list)


def send(engine: Engine, choice: Choice, requests: tuple[Request, ...], folder: Path) -> Sent:
    """Send the documents to the patient's address through the clinic's mail server."""
    library = engine.library_for(choice.paper)
    appointment = choice.appointment_id or walk_in_id(choice.email, requests)
    packet = len(requests) > 1
    item = Outgoing(appointment, choice.email, requests, packet, choice.duplex and packet,
                    choice.date_of_birth, FORM, 1)
    entry = library.clinics[choice.clinic]
    problems = check_item(library, item)  # also: a clinic without mail settings
    if problems or entry.clinic.mail is None:
        return Sent("failed", problems=[located(p) for p in problems])
    protection = entry.clinic.mail.attachments
    try:
        summary = deliver(library, [item], folder, render_lock=engine.lock)
    except HandoutError as err:
        return Sent("failed", protection, appointment_id=appointment,
                    problems=[located(p) for p in err.problems])
    status = "sent" if summary.sent else "skipped" if summary.skipped else \
        "unknown" if summary.unknown else "failed"
    passcode = ""
    if protection == "passcode" and status == "sent":  # shown once, to the sender: never on a resend
        mid = message_id(message_key(library, item), sender_address(entry))
        passcode = PasscodeList(folder).known.get(mid, "")
    return Sent(status, protection, passcode, appointment,
                [located(p) for p in summary.problems] + summary.notes)


@blueprint.post("/c/<clinic_id>/email", endpoint="send")
def send_form(clinic_id: str) -> tuple[str, int]:
    """Check the form as for sending, send, and show the outcome (and the passcode, once)."""
    state.clinic_or_404(clinic_id)
    engine = state.engine()
    choice, findings, requests = engine.read(clinic_id, request.form, request.form.getlist("documents"),
                                             "email")
    if findings:
        return form_page(clinic_id, choice, findings, status=422)
    sent = send(engine, choice, requests, state.settings().mail_folder)
    return form_page(clinic_id, choice, findings, sent=sent,
                     status=200 if sent.status in ("sent", "skipped") else 502)
