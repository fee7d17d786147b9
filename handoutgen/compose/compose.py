"""Compose stage: render a kind's template (templating.py) into block markup and parse it into a
Document.

Templates are looked up in the clinic's own templates/ folder first, then in the built-in one.
What a template sees is the content merged with the clinic's additions (content_view) and the
patient's values; a document is composed once per process for every patient (opaque.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import TemplateError
from ..library.branding import Clinic
from ..library.content import Source, mark_spans
from ..library.gather import MAX_TEMPLATE_BYTES, TEMPLATES_DIR, ClinicEntry, Labels, Library, Wording
from ..library.patient import display_values, format_date, nobreak, unbroken
from ..load import display, failing, read_limited
from ..values import Value, frozen
from .blocks import Block, Document, DocumentInfo
from .opaque import Kept, Memo

TEMPLATE_SUFFIX = ".xml.j2"
_COMPOSED = Memo()  # each template rendered once per document with markers for patient values


@frozen
class Request(Value):
    """What to build: one kind of one treatment for one clinic, optionally for one patient."""

    clinic: str
    treatment: str
    kind: str
    language: str
    patient: tuple[tuple[str, str], ...] = ()
    large_print: bool = False  # the large-print edition: the same content in larger type


def template_dirs(root: Path, entry: ClinicEntry) -> list[Path]:
    """The template lookup order: the clinic's overrides, then the built-in layouts."""
    return [entry.templates, root / TEMPLATES_DIR]


@lru_cache(maxsize=64)
def templates_digest(dirs: tuple[Path, ...]) -> str:
    """Hash every layout in the lookup order: layout text is part of what the patient saw.

    Email templates are not part of it: rewording an email does not change the documents.
    """
    digest = hashlib.sha256()
    for folder in dirs:
        for path in sorted(folder.rglob("*" + TEMPLATE_SUFFIX)) if folder.is_dir() else ():
            data = read_limited(path, MAX_TEMPLATE_BYTES,
                                failing(TemplateError, display(path), 1, "(template)"),
                                "template file", within=folder)
            digest.update(path.name.encode() + b"\0" + data)
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _unbroken_numbers(clinic: Clinic) -> Clinic:
    """The clinic with its phone numbers joined by no-break spaces: a number is never split."""
    return dataclasses.replace(clinic, phone=nobreak(clinic.phone),
                               out_of_hours_phone=nobreak(clinic.out_of_hours_phone),
                               emergency_number=nobreak(clinic.emergency_number))


def content_view(library: Library, request: Request) -> dict[str, Any]:
    """Everything a template sees except the patient: content merged with the clinic's additions.

    The same for every patient, so made once (templates run in an immutable sandbox: no template
    can change it for the next document).
    """
    return _content_view(library, dataclasses.replace(request, patient=()))


@lru_cache(maxsize=64)
def _content_view(library: Library, request: Request) -> dict[str, Any]:
    entry = library.clinics[request.clinic]
    treatment = library.treatments[request.treatment]
    content = treatment.languages[request.language]
    extra = entry.additions_for(request.treatment, request.language)
    facts = content.facts
    if extra is not None and extra.risk_lasts:
        facts = dataclasses.replace(facts, risks=tuple(
            dataclasses.replace(r, lasts=extra.risk_lasts.get(r.id, r.lasts)) for r in facts.risks))
    labels = library.labels[request.language]
    part = content.kinds[request.kind]
    facts, part = spans_marked(facts), spans_marked(part)  # words in another language
    extra = None if extra is None else _texts_mapped(extra, mark_spans)
    text = labels.text
    wording = library.wording.get(f"{request.language}-{entry.clinic.country}")
    if wording is not None:  # the clinic's country: its spelling and idiom over the shared text
        facts, part = reword(facts, wording), reword(part, wording)
        text = {key: _swap(value, wording) for key, value in {**text, **wording.labels}.items()}
    return {
        "treatment": {"id": treatment.meta.id, "version": treatment.meta.version,
                      "review_date": format_date(treatment.meta.review_date, "day-month-year",
                                                 labels.months, labels.text),
                      "review_due": format_date(treatment.meta.review_due, "day-month-year",
                                                labels.months, labels.text),
                      "sources": [_cited(s, n, labels, treatment.meta.languages[0])
                                  for n, s in enumerate(treatment.meta.sources, 1)], "facts": facts,
                      "part": part, "extra": extra},
        "clinic": _unbroken_numbers(entry.clinic.in_language(request.language)),
        "labels": text,
        "months": labels.months,
    }


@lru_cache(maxsize=16)
def _pattern(wording: Wording) -> tuple[re.Pattern[str], dict[str, str]]:
    """One pattern for every word of a wording layer, longest first, and what each becomes."""
    swaps = {**wording.words, **{k[:1].upper() + k[1:]: v[:1].upper() + v[1:]
                                 for k, v in wording.words.items()}}
    alternatives = "|".join(re.escape(k) for k in sorted(swaps, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)"), swaps


def _swap(text: str, wording: Wording) -> str:
    if not wording.words:
        return text
    pattern, swaps = _pattern(wording)
    return pattern.sub(lambda m: swaps[m.group(0)], text)


@lru_cache(maxsize=256)
def reword(value: Any, wording: Wording) -> Any:
    """A content model with every text in the country's words (models are frozen, so cached)."""
    return _texts_mapped(value, lambda text: _swap(text, wording))


@lru_cache(maxsize=256)
def spans_marked(value: Any) -> Any:
    """A content model whose <span lang="..."> words survive escaping (mark_spans)."""
    return _texts_mapped(value, mark_spans)


def _texts_mapped(value: Any, change: Callable[[str], str]) -> Any:
    """A content model with `change` applied to each of its texts."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, tuple):
        return tuple(_texts_mapped(item, change) for item in value)
    if isinstance(value, dict):
        return {key: _texts_mapped(item, change) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _texts_mapped(getattr(value, f.name), change)
                                             for f in dataclasses.fields(value)
                                             if f.metadata.get("reword", True)})
    return value


def _cited(source: Source, number: int, labels: Labels, master: str) -> dict[str, Any]:
    """A source as the handout lists it: its number (risks cite it by that), title (and its
    language), website (a full address would not wrap) and date read."""
    site = urlsplit(source.url).netloc.removeprefix("www.")
    return {"id": source.id, "number": number, "title": source.title,
            "language": source.language or master, "site": site, "url": source.url,
            "accessed": format_date(source.accessed, "day-month-year", labels.months, labels.text)}


def fingerprint(library: Library, request: Request) -> str:
    """A short hash of the exact content, branding, labels and layouts a document is made from.

    Patient values are not part of it: every copy of the same form has the same fingerprint.
    """
    return _fingerprint(library, dataclasses.replace(request, patient=()))


@lru_cache(maxsize=256)
def _fingerprint(library: Library, request: Request) -> str:
    entry = library.clinics[request.clinic]
    view = content_view(library, request)
    import json  # only when a frame is made, not when it is kept

    payload = json.dumps({k: _plain(v) for k, v in view.items()}, sort_keys=True,
                         ensure_ascii=False)
    digest = hashlib.sha256(payload.encode())
    digest.update(request.kind.encode())
    digest.update(templates_digest(tuple(template_dirs(library.root, entry))).encode())
    return digest.hexdigest()[:10]


# What a document shows besides its template's blocks, the same for every patient: its info, the
# labels in its language and country, and the month names.
Frame = tuple[DocumentInfo, dict[str, str], tuple[str, ...]]


def frame(library: Library, request: Request, kept: Kept | None = None) -> Frame:
    """A document's frame: made once per process and, with `kept`, kept between processes (a
    cold `build` then skips the content view and the fingerprint)."""
    anonymous = dataclasses.replace(request, patient=())
    if kept is None:
        return _frame(library, anonymous)
    name = repr(("frame", anonymous))
    found: Frame | None = kept.composed(name)
    if found is None:
        found = _frame(library, anonymous)
        kept.keep_composed(name, found)
    return found


@lru_cache(maxsize=64)
def _frame(library: Library, request: Request) -> Frame:
    entry = library.clinics[request.clinic]
    treatment = library.treatments[request.treatment]
    kind = library.registry.kinds[request.kind]
    view = content_view(library, request)
    fp = fingerprint(library, request)
    clinic = entry.clinic.in_language(request.language)
    labels = view["labels"]
    doc_id = f"{clinic.id}/{treatment.meta.id}/{request.kind}/{request.language}/" \
             f"v{treatment.meta.version}/{fp}"
    info = DocumentInfo(
        title=view["treatment"]["part"].title,
        subtitle=view["treatment"]["facts"].name,
        kind=request.kind,
        treatment=treatment.meta.id,
        language=request.language,
        version=treatment.meta.version,
        fingerprint=fp,
        doc_id=doc_id,
        footer=clinic.footer or "",
        qr=_qr_data(clinic.qr, clinic.website, doc_id),
        qr_caption=labels["qr_website"] if clinic.qr == "website" else labels["qr_document"],
        large_print=request.large_print,
        form=f"{treatment.meta.form_code}-{kind.letter}",
        offers=tuple((language, library.labels[language].text["in_this_language"])
                     for language in library.offered(request.clinic, request.treatment)
                     if language != request.language),
    )
    return info, labels, view["months"]


def compose(library: Library, request: Request, kept: Kept | None = None) -> Document:
    """Render the kind's template for this request and parse the result into blocks."""
    entry = library.clinics[request.clinic]
    dirs = tuple(template_dirs(library.root, entry))
    kind = library.registry.kinds[request.kind]
    info, labels, months = frame(library, request, kept)
    clinic = entry.clinic.in_language(request.language)
    registry = library.registry
    patient = unbroken(display_values(dict(request.patient), clinic, months, labels, registry), registry)
    identified = kind.identified

    def render(values: Mapping[str, Any]) -> tuple[Block, ...]:
        from . import markup  # only when rendering: a kept document is filled in without parsing
        from .templating import in_template_lines, render_template  # Jinja2 too

        shown = dataclasses.replace(info, identifier=(values["patient_name"], values["date_of_birth"])) \
            if identified else info
        view = content_view(library, request)
        context = {**view, "patient": dict(values), "document": dataclasses.asdict(shown), "labels": labels}
        template, text = render_template(dirs, (kind.template,), context)
        source_file = display(Path(template.filename or kind.template))
        try:
            return markup.parse(text, source_file)
        except TemplateError as err:
            raise in_template_lines(err, template, context, source_file) from err

    anonymous = dataclasses.replace(request, patient=())
    blocks = _COMPOSED.blocks((library, repr(anonymous)), patient, render, kept)
    if identified:
        info = dataclasses.replace(info, identifier=(patient["patient_name"], patient["date_of_birth"]))
    return Document(info, blocks)


def _qr_data(policy: str, website: str, doc_id: str) -> str:
    return {"website": website, "document-id": doc_id}.get(policy, "")
