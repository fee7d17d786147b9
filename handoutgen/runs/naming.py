"""Every name the program gives what it makes: files it writes, attachments it sends, downloads,
print jobs.

One scheme: <clinic>/<treatment>-<kind or packet>, then .<language> for a clinic's other
languages and .large for the large-print edition. What a patient or the front desk reads (an
attachment, a print job) names each document by its kind's name in the document's language
(kinds.yaml's labels). No name ever holds a patient value: a personalised file carries a short
keyed hash of its bytes instead (secret.py), and an appointment's files sit under its appointment id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..compose.compose import Request
from ..library.gather import Library
from ..secret import keyed_hash

PACKET = "packet"  # the name of a file binding several documents
JOB = "handout"  # what an appointment's print job is called, before its appointment id


def language_suffix(library: Library, request: Request) -> str:
    """"" for a clinic's first language, ".<language>" for its others."""
    default = library.clinics[request.clinic].clinic.languages[0]
    return "" if request.language == default else f".{request.language}"


def edition_suffix(request: Request) -> str:
    """".large" for the large-print edition, "" for the standard one."""
    return ".large" if request.large_print else ""


def _what(requests: Sequence[Request], packet: bool) -> str:
    """<treatment>-<kind>, or <treatment>-packet."""
    return f"{requests[0].treatment}-{PACKET if packet else requests[0].kind}"


def handout(library: Library, request: Request) -> str:
    """<clinic>/<treatment>-<kind>[.<language>][.large].pdf: a document for no one in particular."""
    return f"{request.clinic}/{_what((request,), False)}{language_suffix(library, request)}" \
           f"{edition_suffix(request)}.pdf"


def personal(library: Library, request: Request, pdf: bytes) -> str:
    """A patient's document: the handout's name with a short keyed hash of its bytes."""
    return handout(library, request).removesuffix(".pdf") + "-" + keyed_hash(pdf)[:10] + ".pdf"


def appointment(library: Library, requests: Sequence[Request], appointment_id: str, packet: bool) -> str:
    """<clinic>/<appointment>/<treatment>-<kind or packet>[.<language>][.large].pdf."""
    first = requests[0]
    return f"{first.clinic}/{appointment_id}/{_what(requests, packet)}{language_suffix(library, first)}" \
           f"{edition_suffix(first)}.pdf"


def label(library: Library, request: Request) -> str:
    """The document's kind by its name in the document's language, e.g. Formulario de consentimiento."""
    return library.registry.label(request.kind, request.language)


def attachment(library: Library, requests: Sequence[Request], packet: bool, detailed: bool) -> str:
    """<treatment or clinic>-<the kind's name or packet>.pdf, e.g. birch-consent-form.pdf: the name
    is in clear in the email, so it names the treatment only when the clinic chose a detailed body."""
    first = requests[0]
    prefix = first.treatment if detailed else first.clinic
    # the name as a file name: lower case, words joined by '-', letters of any script kept
    what = PACKET if packet else re.sub(r"[\W_]+", "-", label(library, first).casefold()).strip("-")
    return f"{prefix}-{what or first.kind}.pdf"


def print_job(library: Library, requests: Sequence[Request], appointment_id: str | None) -> str:
    """What the print spooler shows for a job: `handout <appointment>` for an appointment's packet,
    else the treatment and each document's name, e.g. needling: Consent form, Aftercare."""
    if appointment_id is not None:
        return f"{JOB} {appointment_id}"
    return f"{requests[0].treatment}: " + ", ".join(label(library, r) for r in requests)


def download(library: Library, requests: Sequence[Request], paper: str) -> str:
    """<clinic>-<treatment>-<kinds>[-<paper>][.<language>][.large].pdf: from the web page."""
    first = requests[0]
    entry = library.clinics[first.clinic]
    name = f"{first.clinic}-{first.treatment}-" + "-".join(r.kind for r in requests)
    if paper != entry.clinic.paper:
        name += f"-{paper}"
    return name + language_suffix(library, first) + edition_suffix(first) + ".pdf"


def message(appointment_id: str) -> str:
    """A message written by `email --dry-run`: <appointment>.eml."""
    return f"{appointment_id}.eml"


def archive(job_id: str) -> str:
    """A web batch's files, downloaded as one archive."""
    return f"handouts-{job_id[:8]}.zip"
