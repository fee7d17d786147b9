"""Compose stage: render a kind's Jinja2 template into block markup and parse it into a Document.

Templates are looked up in the clinic's own templates/ folder first, then in the built-in one.
Jinja2 runs sandboxed with autoescape on and StrictUndefined, so every value reaches the block
markup escaped, and a misspelt name is an error rather than an empty space. The sandbox also
limits sizes and time (see sandbox.py), and templates are read only from inside their folders.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import jinja2
from jinja2.loaders import split_template_path

from . import markup, sandbox
from .blocks import Block, Document, DocumentInfo
from .branding import Clinic
from .content import Source
from .errors import TemplateError
from .library import TEMPLATES_DIR, ClinicEntry, Labels, Library, Wording
from .load import display, failing, read_limited, read_text
from .opaque import Memo
from .patient import display_values, format_date, nobreak, unbroken

TEMPLATE_SUFFIX = ".xml.j2"
MAX_TEMPLATE_BYTES = 256 * 1024
_COMPOSED = Memo()  # each template rendered once per document with markers for patient values


@dataclass(frozen=True)
class Request:
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


class _UndefinedAt(jinja2.UndefinedError):
    """An undefined name, with the template file and line where it was looked up."""

    def __init__(self, message: str, origin: tuple[str, int] | None) -> None:
        super().__init__(message)
        self.origin = origin


class _Undefined(jinja2.StrictUndefined):
    """StrictUndefined that remembers where the missing name was used, for the error line."""

    __slots__ = ("_origin",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and "__jinja_template__" not in frame.f_globals:
            frame = frame.f_back
        self._origin: tuple[str, int] | None = None
        if frame is not None:
            template = frame.f_globals["__jinja_template__"]
            self._origin = (template.filename or template.name,
                            template.get_corresponding_lineno(frame.f_lineno))

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        try:
            super()._fail_with_undefined_error(*args, **kwargs)
        except jinja2.UndefinedError as err:
            raise _UndefinedAt(str(err.message), self._origin) from None

    __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = __contains__ = (
        _fail_with_undefined_error)
    __getattr__ = jinja2.StrictUndefined.__getattr__


@lru_cache(maxsize=64)
def environment(dirs: tuple[Path, ...]) -> jinja2.Environment:
    """Build the one Jinja2 environment used for a template lookup order."""
    env = sandbox.LimitedSandbox(
        loader=_ConfinedLoader([str(d) for d in dirs if d.is_dir()]),
        bytecode_cache=_bytecode_cache(),
        autoescape=lambda name: name is None or not name.endswith(".txt.j2"),  # plain text: email
        undefined=_Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    return env


class _ConfinedLoader(jinja2.FileSystemLoader):
    """Templates only from inside their lookup folders: regular files of limited size, no links
    out of the folder (a template linked to /etc/shadow is refused, never read)."""

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)
        for folder in self.searchpath:
            path = Path(folder, *pieces)
            if path.exists() or path.is_symlink():
                text = read_text(path, MAX_TEMPLATE_BYTES, TemplateError, "(template)", "template file",
                                 within=Path(folder))
                return text, str(path), lambda: True  # auto_reload is off
        raise jinja2.TemplateNotFound(template)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Keep compiled templates between runs (keyed by source checksum), when a cache folder works."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "handoutgen" / "jinja"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _QuietCache(str(base)) if os.access(base, os.W_OK) else None


class _QuietCache(jinja2.FileSystemBytecodeCache):
    """A bytecode cache is only a speed-up: failing to read or write it must never fail a build."""

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        # The sandbox's limits are compiled into the code: code cached before them has none.
        return super().get_cache_key(f"limited-sandbox-2|{name}", filename)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError):
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


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
    """Everything a template sees except the patient: content merged with the clinic's additions."""
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
                      "sources": [_cited(s, labels) for s in treatment.meta.sources], "facts": facts,
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
    if isinstance(value, str):
        return _swap(value, wording)
    if isinstance(value, tuple):
        return tuple(reword(item, wording) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: reword(getattr(value, f.name), wording)
                                             for f in dataclasses.fields(value)
                                             if f.metadata.get("reword", True)})
    return value


def _cited(source: Source, labels: Labels) -> dict[str, str]:
    """A source as the handout lists it: title, website (a full address would not wrap) and date read."""
    site = urlsplit(source.url).netloc.removeprefix("www.")
    return {"title": source.title, "site": site, "url": source.url,
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
    payload = json.dumps({k: _plain(v) for k, v in view.items()}, sort_keys=True,
                         ensure_ascii=False)
    digest = hashlib.sha256(payload.encode())
    digest.update(request.kind.encode())
    digest.update(templates_digest(tuple(template_dirs(library.root, entry))).encode())
    return digest.hexdigest()[:10]


def compose(library: Library, request: Request) -> Document:
    """Render the kind's template for this request and parse the result into blocks."""
    entry = library.clinics[request.clinic]
    treatment = library.treatments[request.treatment]
    dirs = tuple(template_dirs(library.root, entry))
    kind = library.registry.kinds[request.kind]
    view = content_view(library, request)
    fp = fingerprint(library, request)
    clinic = entry.clinic.in_language(request.language)
    labels = view["labels"]
    part = view["treatment"]["part"]
    doc_id = f"{clinic.id}/{treatment.meta.id}/{request.kind}/{request.language}/" \
             f"v{treatment.meta.version}/{fp}"
    info = DocumentInfo(
        title=part.title,
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
    )
    registry = library.registry
    patient = unbroken(display_values(dict(request.patient), clinic, view["months"], labels, registry),
                       registry)
    identified = kind.identified

    def render(values: Mapping[str, Any]) -> tuple[Block, ...]:
        shown = dataclasses.replace(info, identifier=(values["patient_name"], values["date_of_birth"])) \
            if identified else info
        context = {**view, "patient": dict(values), "document": dataclasses.asdict(shown), "labels": labels}
        template, text = render_template(dirs, (kind.template,), context)
        source_file = display(Path(template.filename or kind.template))
        try:
            return markup.parse(text, source_file)
        except TemplateError as err:
            raise _in_template_lines(err, template, context, source_file) from err

    blocks = _COMPOSED.blocks((library, dataclasses.replace(request, patient=())), patient, render)
    if identified:
        info = dataclasses.replace(info, identifier=(patient["patient_name"], patient["date_of_birth"]))
    return Document(info, blocks)


def render_template(dirs: tuple[Path, ...], names: tuple[str, ...],
                    context: dict[str, Any]) -> tuple[jinja2.Template, str]:
    """Render the first of `names` found in the lookup order; problems point at template lines."""
    env = environment(dirs)
    try:
        template = env.select_template(list(names))
        return template, _render(template, context)
    except sandbox.LimitExceeded as err:
        raise TemplateError.one(*_error_place(err, dirs, names[0]), "(template)", err.message or "",
                                err.allowed) from err
    except RecursionError as err:
        raise TemplateError.one(*_error_place(err, dirs, names[0]), "(template)",
                                "macros or loops call themselves too deeply",
                                "recursion that ends within a few hundred levels") from err
    except jinja2.TemplateNotFound as err:
        raise TemplateError.one(display(dirs[-1] / names[0]), 1, "(template)", "template is missing",
                                f"create {names[0]} in templates/") from err
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError.one(display(Path(err.filename or names[0])), err.lineno or 1, "(template)",
                                f"syntax error: {err.message}", "Jinja2 syntax") from err
    except jinja2.UndefinedError as err:
        origin = getattr(err, "origin", None)
        place: tuple[str, int] = (display(Path(origin[0])), origin[1]) if origin \
            else _error_place(err, dirs, names[0])
        raise TemplateError.one(*place, "(template)",
                                f"undefined value: {err.message}",
                                "names listed in the README's template reference") from err
    except jinja2.TemplateError as err:
        raise TemplateError.one(*_error_place(err, dirs, names[0]), "(template)",
                                f"template failed: {err}",
                                "Jinja2 templates over the documented data") from err


def _render(template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render within the time budget and output limit (sandbox.LIMITS)."""
    limits = sandbox.LIMITS
    out: list[str] = []
    size = 0
    with sandbox.rendering(limits) as budget:
        pieces = template.generate(context)
        for piece in pieces:
            size += len(piece)
            if size > limits.output:
                inner = getattr(pieces, "gi_yieldfrom", None)  # the template's own code
                line = template.get_corresponding_lineno(inner.gi_frame.f_lineno) if inner else 1
                raise TemplateError.one(display(Path(template.filename or template.name or "")), line,
                                        "(template)", f"output is more than {limits.output} characters",
                                        f"at most {limits.output} characters per document")
            budget.tick()
            out.append(piece)
    return "".join(out)


def _in_template_lines(err: TemplateError, template: jinja2.Template, context: dict[str, Any],
                       source_file: str) -> TemplateError:
    """Re-point markup problems from lines of the rendered output to lines of the template.

    Rendering again chunk by chunk tells which template line wrote each output line. It only
    happens when there is an error to report.
    """
    origin: list[int] = []
    generator: Any = template.root_render_func(template.new_context(context))
    with sandbox.rendering(sandbox.LIMITS):
        for chunk in generator:
            line = template.get_corresponding_lineno(generator.gi_frame.f_lineno)
            if not origin:
                origin.append(line)
            origin.extend(line + k for k in range(1, chunk.count("\n") + 1))
    return TemplateError([
        dataclasses.replace(p, line=origin[min(p.line, len(origin)) - 1])
        if p.file == source_file and origin else p for p in err.problems])


def _qr_data(policy: str, website: str, doc_id: str) -> str:
    return {"website": website, "document-id": doc_id}.get(policy, "")


def _error_place(err: Exception, dirs: tuple[Path, ...], name: str) -> tuple[str, int]:
    """The template file and line an exception was raised from: the innermost template frame."""
    place = (name, 1)
    tb = err.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            place = (display(Path(filename)), tb.tb_lineno)
        tb = tb.tb_next
    if place[0] == name:
        for folder in dirs:
            if (folder / name).is_file():
                return display(folder / name), 1
    return place
