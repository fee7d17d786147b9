"""Run the pipeline: patient values -> compose -> render, for one document or for all of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .blocks import Document
from .compose import Request, compose, template_dirs
from .coverage import check_coverage, uses_italic
from .errors import HandoutError, Problem, Problems, RenderError, UsageError
from .fonts import describe, register, register_italic, uncovered
from .library import Library
from .load import display
from .naming import handout
from .patient import check_value, normalise
from .replay import render, strip

if TYPE_CHECKING:
    from .cache import LayoutCache
    from .runner import Summary

# (field name, raw value, where it came from: file and line, e.g. the argument's position)
PatientInput = tuple[str, str, str, int]


def check_patient(library: Library, clinic_id: str, kinds: Iterable[str],
                  values: Iterable[PatientInput]) -> dict[str, str]:
    """Check patient values for these kinds; every problem is reported at once."""
    entry = library.clinics[clinic_id]
    font = register(library.fonts[entry.clinic.font])
    kinds = tuple(kinds)
    fields = library.registry.fields
    allowed = library.registry.allowed_fields(kinds)
    problems = Problems()
    checked: dict[str, str] = {}
    for name, raw, source, line in values:
        if name not in allowed:
            where = "unknown field" if name not in fields else f"not used by {', '.join(kinds)}"
            problems.add(source, line, name, where, "expected one of: " + ", ".join(allowed))
            continue
        found = check_value(fields[name], raw, entry.clinic)
        if found is not None:
            problems.add(source, line, name, *found)
            continue
        missing = uncovered(raw, font)
        for ch in missing:
            problems.add(source, line, name, f"character {describe(ch)} cannot be drawn by font "
                         f"{font.family}", "characters the clinic's font covers")
        if not missing:
            checked[name] = raw
    problems.raise_if_any(UsageError)
    return normalise(checked)


def template_source(library: Library, request: Request) -> str:
    """The template file a request's document comes from, for messages."""
    entry = library.clinics[request.clinic]
    name = library.registry.kinds[request.kind].template
    found = next((d / name for d in template_dirs(library.root, entry) if (d / name).is_file()),
                 Path(name))
    return display(found)


def render_documents(library: Library, requests: tuple[Request, ...],
                     documents: tuple[Document, ...], duplex: bool = False,
                     store: LayoutCache | None = None) -> bytes:
    """Render composed documents of one clinic: one handout, or several as a packet."""
    entry = library.clinics[requests[0].clinic]
    return render(documents, entry, library.fonts[entry.clinic.font],
                  library.labels[requests[0].language].text,
                  template_source(library, requests[0]), duplex, store)


def build_document(library: Library, request: Request, store: LayoutCache | None = None) -> bytes:
    """Compose and render one document; with a `store`, its blank layout (and the document
    composed with markers for patient values) is kept between runs."""
    document = compose(library, request, store)
    if store is not None and request.patient:
        # Keep a layout only when the patient's values are all in its empty fields: the same
        # document composed without a patient must give the same blank layout.
        def patient_free() -> bool:
            anonymous = compose(library, dataclasses.replace(request, patient=()))
            return strip(anonymous)[0] == strip(document)[0]

        store = dataclasses.replace(store, may_keep=patient_free)
    return render_documents(library, (request,), (document,), store=store)


def all_requests(library: Library) -> list[Request]:
    """Every (clinic, treatment, kind, language) the library can build, without patient data."""
    requests: list[Request] = []
    for clinic_id in sorted(library.clinics):
        for treatment_id in sorted(library.treatments):
            for language in library.offered(clinic_id, treatment_id):
                requests.extend(Request(clinic_id, treatment_id, kind, language)
                                for kind in library.registry.kinds)
    return requests


def build_many(library: Library, requests: list[Request]) -> dict[Request, bytes]:
    """Build every request in memory; every problem of every document is reported together."""
    problems: list[Problem] = []
    built: dict[Request, bytes] = {}
    for request in requests:
        try:
            built[request] = build_document(library, request)
        except HandoutError as err:
            problems.extend(err.problems)
    if problems:
        raise RenderError(problems)
    return built


def build_all(library: Library, out: Path, jobs: int, force: bool = False) -> Summary:
    """Build every handout for every clinic into `out`, skipping what is up to date.

    Every document is composed and checked first: if any of them has a problem, nothing is
    written.
    """
    from . import runner  # parallel runs are only for building everything

    requests = all_requests(library)
    problems: list[Problem] = []
    for request in requests:
        try:
            validate(library, request, compose(library, request))
        except HandoutError as err:
            problems.extend(err.problems)
    if problems:
        raise RenderError(problems)
    tasks = [runner.Task(handout(library, r), (r,), inputs=runner.inputs_key(library, (r,), False))
             for r in requests]
    return runner.run(library, tasks, out, jobs, force, label="handouts", total=len(tasks))


def validate(library: Library, request: Request, document: Document) -> None:
    """Check a composed document can be drawn with its clinic's font."""
    entry = library.clinics[request.clinic]
    font_entry = library.fonts[entry.clinic.font]
    font = register_italic(font_entry) if uses_italic(document.blocks) else register(font_entry)
    check_coverage(document, entry, font, template_source(library, request))
