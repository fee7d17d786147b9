"""Run the pipeline: patient values -> compose -> render, for one document or for all of them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .compose import TEMPLATE_SUFFIX, Request, compose, template_dirs
from .content import KINDS
from .errors import HandoutError, Problem, Problems, RenderError, UsageError
from .fonts import describe, register, uncovered
from .library import Library
from .load import display
from .output import confined, write_atomic
from .patient import FIELDS, KIND_FIELDS, SOURCE, allowed_fields, check_value, normalise
from .render import render

# (field name, raw value, where it came from: file and line, e.g. the argument's position)
PatientInput = tuple[str, str, str, int]


@dataclass(frozen=True)
class Summary:
    """What a build run did."""

    built: int
    clinics: int
    seconds: float
    out: Path


def check_patient(library: Library, clinic_id: str, kinds: Iterable[str],
                  values: Iterable[PatientInput]) -> dict[str, str]:
    """Check patient values for these kinds; every problem is reported at once."""
    entry = library.clinics[clinic_id]
    font = register(library.fonts[entry.clinic.font])
    kinds = tuple(kinds)
    allowed = allowed_fields(kinds)
    problems = Problems()
    checked: dict[str, str] = {}
    for name, raw, source, line in values:
        if name not in allowed:
            where = "unknown field" if name not in FIELDS else f"not used by {', '.join(kinds)}"
            problems.add(source, line, name, where, "expected one of: " + ", ".join(allowed))
            continue
        found = check_value(name, raw, entry.clinic)
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


def build_document(library: Library, request: Request) -> bytes:
    """Compose and render one document."""
    entry = library.clinics[request.clinic]
    document = compose(library, request)
    source = display(next((d / (request.kind + TEMPLATE_SUFFIX)
                           for d in template_dirs(library.root, entry)
                           if (d / (request.kind + TEMPLATE_SUFFIX)).is_file()),
                          Path(request.kind + TEMPLATE_SUFFIX)))
    return render(document, entry, library.fonts[entry.clinic.font],
                  library.labels[request.language].text, source)


def all_requests(library: Library) -> list[Request]:
    """Every (clinic, treatment, kind, language) the library can build, without patient data."""
    requests: list[Request] = []
    for clinic_id, entry in sorted(library.clinics.items()):
        for treatment_id, treatment in sorted(library.treatments.items()):
            for language in entry.clinic.languages:
                if language in treatment.languages:
                    requests.extend(Request(clinic_id, treatment_id, kind, language)
                                    for kind in KINDS)
    return requests


def output_name(library: Library, request: Request) -> str:
    """out/<clinic>/<treatment>-<kind>.pdf, with .<language> for a clinic's extra languages."""
    default = library.clinics[request.clinic].clinic.languages[0]
    lang = "" if request.language == default else f".{request.language}"
    return f"{request.clinic}/{request.treatment}-{request.kind}{lang}.pdf"


def build_many(library: Library, requests: list[Request]) -> dict[Request, bytes]:
    """Build every request in memory first, so one bad document means no files at all."""
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


def build_all(library: Library, out: Path) -> Summary:
    """Build every handout for every clinic into `out`."""
    start = time.perf_counter()
    built = build_many(library, all_requests(library))
    for request, pdf in built.items():
        write_atomic(confined(out, output_name(library, request)), pdf)
    return Summary(len(built), len({r.clinic for r in built}), time.perf_counter() - start, out)


def patient_inputs(pairs: Mapping[str, tuple[str, int]]) -> list[PatientInput]:
    """Tag values from the command line with their argument positions."""
    return [(name, value, SOURCE, pos) for name, (value, pos) in pairs.items()]


__all__ = ["KIND_FIELDS", "Summary", "all_requests", "build_all", "build_document",
           "check_patient", "output_name", "patient_inputs"]
