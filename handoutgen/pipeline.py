"""The pipeline for one request: patient values -> compose (compose/) -> layout (layout/, made once
with empty fields and kept) -> fill (emit/fill.py: the pages drawn, with the patient's values)
-> finish (emit/finish.py: the catalog and metadata, the PDF written)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .compose import blocks as b
from .compose.blocks import Document
from .compose.compose import Request, compose, template_dirs
from .emit.fill import fill, strip
from .emit.finish import finish
from .errors import Problems, UsageError
from .layout.coverage import check_coverage, uses_italic
from .layout.page import Layout
from .library.branding import FontEntry
from .library.fonts import describe, register, register_italic, uncovered
from .library.gather import ClinicEntry, Library
from .library.patient import check_value, normalise
from .load import display

if TYPE_CHECKING:
    from .cache import LayoutCache

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


def validate(library: Library, request: Request, document: Document) -> None:
    """Check a composed document can be drawn with its clinic's font."""
    entry = library.clinics[request.clinic]
    font_entry = library.fonts[entry.clinic.font]
    font = register_italic(font_entry) if uses_italic(document.blocks) else register(font_entry)
    check_coverage(document, entry, font, template_source(library, request))


class LayoutStore(Protocol):
    """Somewhere to keep blank layouts between processes (see cache.py)."""

    def load(self, blanks: tuple[b.Document, ...], labels: dict[str, str], duplex: bool) -> Layout | None:
        ...

    def save(self, blanks: tuple[b.Document, ...], labels: dict[str, str], duplex: bool,
             layout: Layout) -> None:
        ...


@lru_cache(maxsize=64)
def _cached_layout(blanks: tuple[b.Document, ...], entry: ClinicEntry, font_entry: FontEntry,
                   labels: tuple[tuple[str, str], ...], duplex: bool) -> Layout:
    from .layout.layout import layout  # only when a layout has to be made

    return layout(blanks, entry, font_entry, dict(labels), duplex)


def render(documents: tuple[b.Document, ...], entry: ClinicEntry, font_entry: FontEntry,
           labels: dict[str, str], source: str, duplex: bool = False,
           store: LayoutStore | None = None) -> bytes:
    """Draw composed documents (one, or several as a packet) and return the PDF bytes.

    Most of a personalised handout is the same for every patient of a clinic, treatment and
    kind: the layout with empty patient fields is made once per process (and, with a `store`,
    kept between processes) and reused, and the patient's values are drawn into their boxes.
    A value too long for its box falls back to a full layout, so the result is always what a
    full layout would give.
    """
    italic = any(uses_italic(d.blocks) for d in documents)
    font = register_italic(font_entry) if italic else register(font_entry)
    for document in documents:
        check_coverage(document, entry, font, source)
    stripped = [strip(d) for d in documents]
    blanks = tuple(blank for blank, _ in stripped)
    values = tuple(v for _, doc_values in stripped for v in doc_values)
    lay = store.load(blanks, labels, duplex) if store is not None else None
    if lay is None:
        lay = _cached_layout(blanks, entry, font_entry, tuple(labels.items()), duplex)
        if store is not None:
            store.save(blanks, labels, duplex, lay)
    filled = fill(lay, values, tuple(d.info.identifier for d in documents))
    if filled is None:
        from .layout.layout import layout

        filled = fill(layout(documents, entry, font_entry, labels, duplex))
    assert filled is not None  # a layout with its values inline has no slots left to fill
    return finish(filled)
