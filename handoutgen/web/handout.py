"""One patient's handouts from the web form: read and check the form, render, preview, email.

The library is loaded and checked once, when the server starts, and kept: a preview only
composes and replays layouts that are already in memory. reportlab keeps global state, so
rendering is serialised by one lock; a front desk makes one handout at a time anyway.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..compose.compose import Request, compose
from ..errors import HandoutError, Problem, UsageError
from ..library.gather import Library
from ..library.patient import ADDRESS_DOC, is_address, is_date
from ..library.selection import appointment_id, select
from ..pipeline import check_patient, render_documents

FORM = "the form"  # where a problem with a form value comes from
PAPERS: dict[str, str] = {"a4": "A4 (210 by 297 mm)", "letter": "US Letter (8.5 by 11 in)"}
MAX_EXTRA = 200  # characters in the email, appointment and date-of-birth fields


@dataclass
class Choice:
    """What the front desk asked for, as typed (kept to show the form again)."""

    clinic: str
    treatment: str = ""
    language: str = ""
    kinds: tuple[str, ...] = ()
    paper: str = ""
    duplex: bool = False
    values: dict[str, str] = field(default_factory=dict)  # patient fields, raw
    email: str = ""
    appointment_id: str = ""
    date_of_birth: str = ""
    large_print: bool = False

    @property
    def packet(self) -> bool:
        return len(self.kinds) > 1


@dataclass
class Findings:
    """What is wrong with a form: messages per field, and those that belong to no field."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def take(self, problems: Sequence[Problem], names: Sequence[str]) -> None:
        """File each problem beside its field when it has one, else in the general list."""
        for problem in problems:
            if problem.path in names:
                self.add(problem.path, readable(problem))
            else:
                self.general.append(located(problem))


ADVICE_VERBS = ("add", "ask", "check", "choose", "create", "enter", "export", "rerun", "see", "set",
                "split", "start", "try", "use", "wait")


def readable(problem: Problem) -> str:
    """A problem as a sentence for the page: what is wrong, then what to do or what is allowed."""
    message = problem.message[:1].upper() + problem.message[1:]
    allowed = problem.allowed.removeprefix("expected ")
    if allowed.split(" ", 1)[0] in ADVICE_VERBS:  # already advice: "wait until ...", "split ..."
        return f"{message}. {allowed[:1].upper()}{allowed[1:]}."
    return f"{message}. Use {allowed}."


def located(problem: Problem) -> str:
    """A problem that belongs to no form field: it keeps its file and line."""
    if problem.file == FORM:
        return f"{problem.path}: {readable(problem)}"
    return f"{problem.file}:{problem.line}: {problem.path}: {readable(problem)}"


class Engine:
    """The loaded library, a variant of it per paper size, and the render lock."""

    def __init__(self, library: Library, dpi: int = 60) -> None:
        self.library = library
        self.dpi = dpi
        self.lock = threading.Lock()
        self._papers: dict[str, Library] = {}

    def library_for(self, paper: str) -> Library:
        """The library whose clinics print on `paper`: the loaded one, or a copy set to that size."""
        if paper not in self._papers:
            size: Literal["a4", "letter"] = "letter" if paper == "letter" else "a4"
            clinics = {cid: dataclasses.replace(entry, clinic=dataclasses.replace(entry.clinic, paper=size))
                       if entry.clinic.paper != size else entry
                       for cid, entry in self.library.clinics.items()}
            self._papers[paper] = dataclasses.replace(self.library, clinics=clinics)
        return self._papers[paper]

    def read(self, clinic: str, form: Mapping[str, str], kinds: Sequence[str],
             action: str) -> tuple[Choice, Findings, tuple[Request, ...]]:
        """Check a submitted form; the requests to build when it is fine."""
        entry = self.library.clinics[clinic]
        registry = self.library.registry
        findings = Findings()
        choice = Choice(clinic, form.get("treatment", ""), form.get("language", ""),
                        tuple(k for k in registry.kinds if k in kinds), form.get("paper", entry.clinic.paper),
                        form.get("duplex") == "yes",
                        {name: form.get(name, "") for name in registry.fields},
                        form.get("email", "").strip()[:MAX_EXTRA],
                        form.get("appointment_id", "").strip()[:MAX_EXTRA],
                        form.get("date_of_birth", "").strip()[:MAX_EXTRA],
                        form.get("large_print") == "yes")
        chosen, issues = select(self.library, clinic, clinic, choice.treatment, kinds, choice.language,
                                choice.large_print)
        for issue in issues:
            findings.add(issue.choice, readable(Problem(FORM, 1, issue.choice, issue.message, issue.allowed)))
        if choice.paper not in PAPERS:
            findings.add("paper", "Choose A4 or US Letter.")
        used = registry.allowed_fields(choice.kinds or registry.kinds)
        if not choice.values["patient_name"].strip():
            findings.add("patient_name", "Enter the patient's name.")
        if action == "email":
            self._check_email(choice, findings)
        values = [(name, choice.values[name], FORM, 1) for name in used
                  if choice.values[name].strip()]
        try:
            checked = check_patient(self.library, clinic, choice.kinds or registry.kinds, values)
        except UsageError as err:
            findings.take(err.problems, list(registry.fields))
            checked = {}
        if findings or chosen is None:
            return choice, findings, ()
        requests = tuple(Request(clinic, chosen.treatment, kind, chosen.language,
                                 registry.for_kind(checked, kind), chosen.large_print)
                         for kind in registry.in_packet_order(chosen.kinds))
        return choice, findings, requests

    def _check_email(self, choice: Choice, findings: Findings) -> None:
        mail = self.library.clinics[choice.clinic].clinic.mail
        if mail is None:
            findings.general.append("This clinic does not send email: its clinic.yaml has no mail "
                                    "section.")
        if not choice.email:
            findings.add("email", "Enter the patient's email address to send the documents.")
        elif not is_address(choice.email):
            findings.add("email", f"This is not an email address. Use {ADDRESS_DOC}.")
        issue = appointment_id(choice.appointment_id) if choice.appointment_id else None
        if issue is not None:
            findings.add(issue.choice, readable(Problem(FORM, 1, issue.choice, issue.message, issue.allowed)))
        if mail is not None and mail.attachments == "date-of-birth" and not is_date(choice.date_of_birth):
            findings.add("date_of_birth", "Enter the date of birth: the clinic uses it as the "
                             "passcode.")

    def pdf(self, requests: tuple[Request, ...], paper: str, duplex: bool = False) -> bytes:
        """Render the chosen documents (several make one packet) on the chosen paper."""
        library = self.library_for(paper)
        with self.lock:
            documents = tuple(compose(library, r) for r in requests)
            return render_documents(library, requests, documents, duplex and len(requests) > 1)

    def pages(self, pdf: bytes) -> list[bytes]:
        """Each page of a PDF as a PNG (poppler's pdftoppm), for the preview."""
        with tempfile.TemporaryDirectory(prefix="handoutgen-preview-") as folder:
            source = Path(folder) / "handout.pdf"
            source.write_bytes(pdf)
            subprocess.run(["pdftoppm", "-r", str(self.dpi), "-png", str(source), str(Path(folder) / "p")],
                           check=True, capture_output=True, timeout=60)
            return [path.read_bytes() for path in sorted(Path(folder).glob("p-*.png"),
                                                         key=lambda p: int(p.stem.rsplit("-", 1)[1]))]

    def warm(self) -> None:
        """Lay out every blank document once, so that the first preview is as quick as the next."""
        for clinic_id, entry in self.library.clinics.items():
            for treatment in self.library.treatments:
                for language in self.library.offered(clinic_id, treatment)[:1]:
                    for kind in self.library.registry.kinds:
                        # a broken layout is reported when someone asks for it
                        with contextlib.suppress(HandoutError):
                            self.pdf((Request(clinic_id, treatment, kind, language),), entry.clinic.paper)


def page_names(library: Library, requests: tuple[Request, ...], pdf: bytes, duplex: bool) -> list[str]:
    """What each page of a PDF shows, for the preview's alternative text: "Consent to needling, page 2
    of 3", or "Blank back page" for the page a duplex packet adds after a document."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    titles = [library.treatments[r.treatment].languages[r.language].kinds[r.kind].title for r in requests]
    starts = [0]
    if len(requests) > 1:  # a packet's top-level bookmarks are its documents, its headings below them
        starts = [page for item in reader.outline if not isinstance(item, list)
                  and (page := reader.get_destination_page_number(item)) is not None]
        if len(starts) != len(titles):  # bookmarks that do not say: name the pages by the packet
            starts, titles = [0], [" and ".join(titles)]
    blank = library.labels[requests[0].language].text["blank_page"]
    names: list[str] = []
    ends = [*starts[1:], len(reader.pages)]
    for number, (title, start, end) in enumerate(zip(titles, starts, ends, strict=True), 1):
        # only the last page of a document before another may be blank: no other page is read
        padded = int(duplex and number < len(titles)
                     and reader.pages[end - 1].extract_text().strip() == blank)
        count = end - start - padded
        names += [f"{title}, page {n} of {count}" for n in range(1, count + 1)] + ["Blank back page"] * padded
    return names
