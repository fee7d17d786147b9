"""Email one patient's documents from the page, and learn the passcode to read out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..compose import Request
from ..errors import HandoutError
from ..ledger import PasscodeList
from ..mail import Outgoing, check_item, deliver, message_id, message_key, sender_address
from .handout import FORM, Choice, Engine, located, walk_in_id


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
    assert entry.clinic.mail is not None
    protection = entry.clinic.mail.attachments
    problems = check_item(library, item)
    if problems:
        return Sent("failed", protection, problems=[located(p) for p in problems])
    try:
        with engine.lock:  # deliver renders the attachments
            summary = deliver(library, [item], folder)
    except HandoutError as err:
        return Sent("failed", protection, appointment_id=appointment,
                    problems=[located(p) for p in err.problems])
    status = "sent" if summary.sent else "skipped" if summary.skipped else \
        "unknown" if summary.unknown else "failed"
    passcode = ""
    if protection == "passcode" and status in ("sent", "skipped"):
        mid = message_id(message_key(library, item), sender_address(entry))
        passcode = PasscodeList(folder).known.get(mid, "")
    return Sent(status, protection, passcode, appointment,
                [located(p) for p in summary.problems] + summary.notes)
