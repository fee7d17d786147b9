"""Gather stage: find, load and validate content, clinics, fonts and labels in one pass.

Everything is checked before anything is drawn, and every problem is reported together.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import field, fields
from pathlib import Path
from typing import Any

from ..errors import BrandingError, ContentError, HandoutError, Problems
from ..load import Loaded, PathT, display, failing, load_yaml, open_limited, path_text
from ..program import own_stylesheet
from ..values import Frozen, Value, frozen
from .branding import Clinic, FontEntry, FontFamily
from .content import MODELS, ClinicAdditions, Facts, TreatmentMeta, span_problem
from .registry import (
    APPOINTMENT_COLUMNS,
    MASTER,
    FieldDecl,
    KindDecl,
    Registry,
    column_key,
    convert_part,
    id_key,
)
from .schema import convert, spec
from .styles import FILE as STYLES_FILE
from .styles import Layers, Stylesheet

CONTENT_DIR = "handouts"
LABELS_DIR = "labels"
WORDING_DIR = "wording"
MAX_TEMPLATE_BYTES = 256 * 1024  # a template file larger than this is refused unread
TEMPLATES_DIR = "templates"
KINDS_FILE = "kinds.yaml"
FIELDS_FILE = "fields.yaml"
CLINICS_DIR = Path("assets") / "clinics"
FONTS_DIR = Path("assets") / "fonts"
MAX_FONT_BYTES = 32 * 1024 * 1024  # the largest pan-CJK TrueType fonts are about 20 MB


@frozen
class Labels(Value):
    """handouts/labels/<language>.yaml: the words layouts print around the content."""

    text: dict[str, str] = spec("label name -> text", max_len=200)
    months: tuple[str, ...] = spec("the twelve month names", min_items=12, max_items=12,
                                   max_len=20)
    terms: tuple[str, ...] = spec("words patients may not know: check warns when a treatment's text "
                                  "uses one its glossary does not explain", default=(), max_len=60)


@frozen
class Wording(Frozen):
    """handouts/wording/<language>-<COUNTRY>.yaml: a country's spelling and idiom over the shared text.

    One content source serves every country; this small layer changes words, not meaning.
    """

    words: dict[str, str] = spec("word or phrase -> the country's own (whole words; a capital first "
                                 "letter is kept), e.g. color: colour", default={}, max_len=120)
    labels: dict[str, str] = spec("label name -> the country's own wording of that label", default={},
                                  max_len=200)


@frozen
class LanguageContent(Value):
    """One language of one treatment: shared facts and each kind's own text."""

    facts: Facts
    kinds: dict[str, Any]


@frozen
class Treatment(Value):
    """A treatment's metadata and its content in every language it has."""

    meta: TreatmentMeta
    folder: Path
    languages: dict[str, LanguageContent]


@frozen
class ClinicEntry(Frozen):
    """A clinic's branding with its folder, logo and own additions (hashed by identity)."""

    clinic: Clinic
    folder: Path
    logo: Path
    styles: Stylesheet  # the stylesheet with the clinic's own changes
    # language -> treatment -> the clinic's own lines in that language
    by_language: dict[str, dict[str, ClinicAdditions]] = field(default_factory=dict)
    settings: Loaded | None = None  # clinic.yaml as loaded: where each setting is, for messages

    def place(self, path: PathT) -> tuple[str, int]:
        """clinic.yaml and the line of a setting (of its parent when the setting is left out)."""
        if self.settings is None:
            return display(self.folder / "clinic.yaml"), 1
        return self.settings.file, self.settings.line(path)

    @property
    def templates(self) -> Path:
        """The clinic's template override folder (may not exist)."""
        return self.folder / TEMPLATES_DIR

    def additions_for(self, treatment: str, language: str) -> ClinicAdditions | None:
        """The clinic's own lines for a treatment, in one language (None when it has none)."""
        return self.by_language.get(language, {}).get(treatment)


def offered(clinic: Clinic, treatment: Treatment) -> list[str]:
    """The languages a clinic hands a treatment out in: its languages the treatment has, its first
    language first."""
    return [lang for lang in clinic.languages if lang in treatment.languages]


def additions_file(folder: Path, treatment: str, language: str, default: str) -> Path:
    """content/<treatment>.yaml for a clinic's first language, content/<treatment>.<language>.yaml
    for each other one."""
    suffix = "" if language == default else f".{language}"
    return folder / "content" / f"{treatment}{suffix}.yaml"



@frozen
class Library(Frozen):
    """Everything needed to build handouts, validated (hashed by identity, for caches)."""

    root: Path
    treatments: dict[str, Treatment]
    clinics: dict[str, ClinicEntry]
    fonts: dict[str, FontEntry]
    labels: dict[str, Labels]
    registry: Registry
    wording: dict[str, Wording] = field(default_factory=dict)  # "en-GB" -> that country's words
    clinic_ids: tuple[str, ...] = ()  # every clinic folder, including those not loaded
    treatment_ids: tuple[str, ...] = ()  # every treatment folder, including those not loaded

    def offered(self, clinic: str, treatment: str) -> list[str]:
        """The languages a clinic hands a treatment out in, its first language first."""
        return offered(self.clinics[clinic].clinic, self.treatments[treatment])


class Gather:
    """What a load pass collects: every problem, and every file read (for later checks)."""

    def __init__(self) -> None:
        self.problems = Problems()
        self.files: dict[Path, Loaded] = {}
        self.declared_fonts: set[str] = set()  # in fonts.yaml, loaded or not
        self.treatment_folders: set[str] = set()  # under handouts/, loaded or not


def inside(base: Path, relative: str) -> Path | None:
    """Resolve `relative` against `base`; None when it escapes `base`."""
    target = (base / relative).resolve()
    return target if target.is_relative_to(base.resolve()) else None


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def load_treatment(folder: Path, registry: Registry, g: Gather) -> Treatment | None:
    """Load treatment.yaml and every language folder it names."""
    loaded = _load(folder / "treatment.yaml", ContentError, g)
    meta = convert(TreatmentMeta, loaded, g.problems) if loaded else None
    if meta is None or loaded is None:
        return None
    if meta.id != folder.name:
        g.problems.add(loaded.file, loaded.line(("id",)), "id",
                     f"id {meta.id!r} differs from its folder name", f"use {folder.name!r}")
    languages: dict[str, LanguageContent] = {}
    for lang in meta.languages:
        content = _load_language(folder / lang, registry, g)
        if content is not None and _cites_known_sources(content, meta, folder / lang, g):
            languages[lang] = content
    if len(languages) != len(meta.languages) or not _risks_match_master(languages, meta, folder, g):
        return None
    return Treatment(meta, folder, languages)


def _load_language(folder: Path, registry: Registry, g: Gather) -> LanguageContent | None:
    loaded = _load(folder / "facts.yaml", ContentError, g)
    facts = convert(Facts, loaded, g.problems) if loaded else None
    kinds: dict[str, Any] = {}
    for kind, decl in registry.kinds.items():
        kind_loaded = _load(folder / f"{kind}.yaml", ContentError, g)
        if kind_loaded is None:
            continue
        part = convert(MODELS[decl.model], kind_loaded, g.problems) if decl.model is not None \
            else convert_part(decl.parts, kind_loaded, g.problems)
        if part is not None and _spans_well_formed(kind_loaded, g):
            kinds[kind] = part
    known = {"facts.yaml", *(f"{kind}.yaml" for kind in registry.kinds)}
    for path in sorted(folder.glob("*.yaml")):
        if path.name not in known:  # content of a kind nobody declared would never be built
            g.problems.add(display(path), 1, "(document)", f"no kind {path.stem!r} in {KINDS_FILE}",
                           f"declare it in {CONTENT_DIR}/{KINDS_FILE}, or name the file after a kind: "
                           + ", ".join(registry.kinds))
    if facts is None or not _spans_well_formed(loaded, g) or len(kinds) != len(registry.kinds):
        return None
    return LanguageContent(facts, kinds)


def _cites_known_sources(content: LanguageContent, meta: TreatmentMeta, folder: Path, g: Gather) -> bool:
    """Every source a risk cites is listed in treatment.yaml."""
    known = {source.id for source in meta.sources}
    loaded = g.files[folder / "facts.yaml"]
    ok = True
    for i, risk in enumerate(content.facts.risks):
        for j, cited in enumerate(risk.sources):
            if cited not in known:
                ok = False
                where: PathT = ("risks", i, "sources", j)
                g.problems.add(loaded.file, loaded.line(where), path_text(where),
                               f"unknown source {cited!r}",
                               "a source id from treatment.yaml: " + ", ".join(sorted(known)))
    return ok


def _risks_match_master(languages: dict[str, LanguageContent], meta: TreatmentMeta, folder: Path,
                        g: Gather) -> bool:
    """A translation states the master's medical facts: the same risks, in the same order, with the
    same frequency, seriousness, sources and numbers. Only the words differ."""
    master = meta.languages[0]

    def facts(risk: Any) -> tuple[Any, ...]:
        rate = (risk.rate.one_in, risk.rate.source) if risk.rate else None
        return risk.id, risk.frequency, risk.serious, risk.sources, rate

    expected = [facts(r) for r in languages[master].facts.risks]
    ok = True
    for lang in meta.languages[1:]:
        found = [facts(r) for r in languages[lang].facts.risks]
        if found == expected:
            continue
        ok = False
        loaded = g.files[folder / lang / "facts.yaml"]
        index = next((i for i, (a, b) in enumerate(zip(found, expected, strict=False)) if a != b),
                     min(len(found), len(expected)))
        where: PathT = ("risks", index) if index < len(found) else ("risks",)
        g.problems.add(loaded.file, loaded.line(where), path_text(where),
                       f"differs from the {master} master's risk {index + 1}" if index < len(expected)
                       else f"has more risks than the {master} master",
                       f"the master's risks in its order, with the same id, frequency, serious, "
                       f"sources and rate ({master}/facts.yaml)")
    return ok


def _spans_well_formed(loaded: Loaded | None, g: Gather) -> bool:
    """Words in another language are marked <span lang="code">words</span>, and only so."""
    ok = True
    for where, text in _strings(loaded.data if loaded else None, ()):
        problem = span_problem(text)
        if problem is not None and loaded is not None:
            ok = False
            g.problems.add(loaded.file, loaded.line(where), path_text(where), problem,
                           "<span lang=\"es\">palabras</span> around words in another language")
    return ok


def _load(path: Path, error: type[HandoutError], g: Gather) -> Loaded | None:
    if not path.exists() and not path.is_symlink():  # anything else there is refused by load_yaml
        g.problems.add(display(path), 1, "(document)", "file is missing",
                       f"create {path.name} in {display(path.parent)}")
        return None
    try:
        loaded = load_yaml(path, error)
    except HandoutError as err:
        g.problems.extend(err)
        return None
    g.files[path] = loaded
    return loaded


def load_clinic(folder: Path, library_fonts: dict[str, FontEntry], treatments: dict[str, Treatment],
                labels: dict[str, Labels], registry: Registry, styles: list[Loaded] | None,
                g: Gather) -> ClinicEntry | None:
    """Load and cross-check one clinic folder; `styles` are the library's stylesheet files."""
    loaded = _load(folder / "clinic.yaml", BrandingError, g)
    clinic = convert(Clinic, loaded, g.problems) if loaded else None
    if clinic is None or loaded is None:
        return None
    ok = True

    def fail(path: PathT, message: str, allowed: str) -> None:
        nonlocal ok
        ok = False
        g.problems.add(loaded.file, loaded.line(path), path_text(path), message, allowed)

    if clinic.appointments is not None:
        for path, message, allowed in registry.alias_problems(clinic.appointments.columns):
            fail(("appointments", *path), message, allowed)
    if folder.parent.name == CLINICS_DIR.name and clinic.id != folder.name:
        fail(("id",), f"id {clinic.id!r} differs from its folder name", f"use {folder.name!r}")
    if clinic.font in g.declared_fonts - set(library_fonts):
        ok = False  # the family is declared but broken: fonts.yaml's problem is reported
    elif clinic.font not in library_fonts:
        fail(("font",), f"unknown font {clinic.font!r}",
             "expected one of: " + ", ".join(sorted(g.declared_fonts)))
    for i, lang in enumerate(clinic.languages):
        if lang not in labels:
            fail(("languages", i), f"no labels for language {lang!r}",
                 "expected one of: " + ", ".join(sorted(labels)))
        if i and lang not in clinic.translations:
            fail(("languages", i), f"no translations for {lang!r}",
                 f"translations: {lang}: opening_hours, roles (and footer) in that language")
    from .logo import check_logo  # only when a library is read, not when a cached one is used

    logo = inside(folder, clinic.logo)
    if logo is None:
        fail(("logo",), f"path {clinic.logo!r} leaves the clinic folder",
             "a file inside the clinic folder")
    else:
        for message, allowed in check_logo(logo):
            fail(("logo",), message, allowed)
    by_language = _load_all_additions(folder, clinic, treatments, g)
    sheet = _clinic_styles(folder, clinic, styles, g)
    if not ok or logo is None or sheet is None:
        return None
    return ClinicEntry(clinic, folder, logo, sheet, by_language, loaded)


def load_styles(root: Path, g: Gather) -> list[Loaded] | None:
    """The program's stylesheet and the library's assets/styles.yaml (when it has one), checked;
    None when one of them cannot be read (that problem is reported)."""
    files = [found for path in _style_paths(root) if (found := _load(path, BrandingError, g)) is not None]
    if len(files) < len(_style_paths(root)):
        return None
    Layers(files).convert(g.problems)  # its problems are reported even when no clinic loads
    return files


def _style_paths(root: Path) -> list[Path]:
    own, library = own_stylesheet(), root / "assets" / STYLES_FILE
    present = library.exists() or library.is_symlink()  # anything else there is refused when read
    return [own, library] if present and library.resolve() != own.resolve() else [own]


def _clinic_styles(folder: Path, clinic: Clinic, styles: list[Loaded] | None,
                   g: Gather) -> Stylesheet | None:
    """The stylesheet with the clinic's own styles.yaml over it, checked with its colours."""
    if styles is None:  # the program's or the library's stylesheet could not be read
        return None
    path = folder / STYLES_FILE
    files = list(styles)
    if path.exists() or path.is_symlink():
        found = _load(path, BrandingError, g)
        if found is None:
            return None
        files.append(found)
    layers = Layers(files)
    sheet = layers.convert(g.problems)
    if sheet is None or not layers.check_colours(sheet, clinic.colours, clinic.id, g.problems):
        return None
    return sheet


def _load_all_additions(folder: Path, clinic: Clinic, treatments: dict[str, Treatment],
                        g: Gather) -> dict[str, dict[str, ClinicAdditions]]:
    """Load content/<treatment>.yaml (first language) and content/<treatment>.<language>.yaml.

    Lines in the first language must never reach another language's handout, so a clinic with
    its own lines for a treatment needs them in every other language it offers that treatment in.
    """
    content_dir = folder / "content"
    default = clinic.languages[0]
    by_language: dict[str, dict[str, ClinicAdditions]] = {}
    for path in sorted(content_dir.glob("*.yaml")) if content_dir.is_dir() else ():
        treatment_id, _, language = path.name.removesuffix(".yaml").partition(".")
        if treatment_id in g.treatment_folders and treatment_id not in treatments:
            continue  # that treatment is not loaded (not asked for, or reported broken)
        if language and language not in clinic.languages[1:]:
            problem = (f"{language!r} is the clinic's first language" if language == default
                       else f"the clinic does not offer language {language!r}")
            g.problems.add(display(path), 1, "(document)", problem,
                           f"{treatment_id}.yaml for {default}; {treatment_id}.<language>.yaml for "
                           "another language in clinic.yaml's languages: "
                           + (", ".join(clinic.languages[1:]) or "none"))
            continue
        extra = _load_additions(path, treatment_id, treatments, g)
        if extra is not None:
            by_language.setdefault(language or default, {})[treatment_id] = extra
    for treatment_id, master in sorted(by_language.get(default, {}).items()):
        master_path = additions_file(folder, treatment_id, default, default)
        for language in offered(clinic, treatments[treatment_id]):
            if language == default:
                continue
            path = additions_file(folder, treatment_id, language, default)
            if not path.is_file():
                g.problems.add(display(path), 1, "(document)",
                               f"file is missing: the clinic offers {treatment_id} in {language!r} "
                               f"and has its own lines for it in {master_path.name}",
                               f"create {path.name} in {display(path.parent)} with those lines "
                               f"in {language!r}")
            elif (translation := by_language.get(language, {}).get(treatment_id)) is not None:
                _check_translation(master, master_path.name, translation, g.files[path], g)
    return by_language


def _check_translation(master: ClinicAdditions, master_name: str, translation: ClinicAdditions,
                       loaded: Loaded, g: Gather) -> None:
    """A translation of a clinic's lines has the same fields, as many lines and the same risks."""
    for f in fields(ClinicAdditions):
        want, got = getattr(master, f.name), getattr(translation, f.name)
        if isinstance(want, tuple):
            differs, have, expected = len(want) != len(got), f"{len(got)} lines", f"{len(want)} lines"
        elif isinstance(want, dict):
            differs = sorted(want) != sorted(got)
            have, expected = ", ".join(sorted(got)) or "none", ", ".join(sorted(want)) or "none"
        else:
            differs = (want is None) != (got is None)
            have, expected = ("a paragraph", "none") if got is not None else ("none", "a paragraph")
        if differs:
            g.problems.add(loaded.file, loaded.line((f.name,)), f.name,
                           f"has {have}, but {master_name} has {expected}",
                           f"the same lines as {master_name}, translated")


def _load_additions(path: Path, treatment_id: str, treatments: dict[str, Treatment],
                    g: Gather) -> ClinicAdditions | None:
    loaded = _load(path, BrandingError, g)
    extra = convert(ClinicAdditions, loaded, g.problems) if loaded else None
    if extra is None or loaded is None or not _spans_well_formed(loaded, g):
        return None
    treatment = treatments.get(treatment_id)
    if treatment is None:
        if treatment_id not in g.treatment_folders:
            g.problems.add(loaded.file, 1, "(document)", f"no treatment {treatment_id!r}",
                           "name the file after a treatment: " + ", ".join(sorted(g.treatment_folders)))
        return None
    risk_ids = {r.id for lang in treatment.languages.values() for r in lang.facts.risks}
    bad = False
    for key in extra.risk_lasts:
        if key not in risk_ids:
            bad = True
            g.problems.add(loaded.file, loaded.line(("risk_lasts", key)), f"risk_lasts.{key}",
                         "unknown risk id", "expected one of: " + ", ".join(sorted(risk_ids)))
    return None if bad else extra


def load_fonts(root: Path, g: Gather) -> dict[str, FontEntry]:
    """Load assets/fonts/fonts.yaml and check every file it names."""
    base = root / FONTS_DIR
    loaded = _load(base / "fonts.yaml", BrandingError, g)
    if loaded is None:
        return {}
    if not isinstance(loaded.data, dict):
        g.problems.add(loaded.file, 1, "(document)", "expected a mapping", "font id -> family")
        return {}
    fonts: dict[str, FontEntry] = {}
    g.declared_fonts.update(loaded.data)
    for font_id in loaded.data:
        family = convert(FontFamily, loaded, g.problems, (font_id,))
        if family is None:
            continue
        files: dict[str, Path] = {}
        for style in ("regular", "bold", "italic", "bold_italic", "licence"):
            name = getattr(family, style)
            path = inside(base, name)
            where = f"{font_id}.{style}"
            line = loaded.line((font_id, style))
            if path is None or not (path.exists() or path.is_symlink()):
                g.problems.add(loaded.file, line, where, f"file {name!r} is missing or outside assets/fonts",
                             "a file inside assets/fonts")
                continue
            try:
                with open_limited(path, MAX_FONT_BYTES, failing(BrandingError, loaded.file, line, where),
                                  "file inside assets/fonts", noun=repr(name)) as handle:
                    head = handle.read(4)
            except HandoutError as err:
                g.problems.extend(err)
                continue
            if style != "licence" and head not in (b"\x00\x01\x00\x00", b"true"):
                g.problems.add(loaded.file, line, where, f"{name!r} is not a TrueType font",
                             "a .ttf file with TrueType outlines")
            else:
                files[style] = path
        if len(files) == 5:
            lines = {style: loaded.line((font_id, style)) for style in files}
            fonts[font_id] = FontEntry(font_id, family, files, loaded.file, lines)
    return fonts


def load_labels(root: Path, g: Gather) -> dict[str, Labels]:
    """Load handouts/labels/<language>.yaml; every language must have the master's labels."""
    labels: dict[str, Labels] = {}
    files: dict[str, Loaded] = {}
    for path in sorted((root / CONTENT_DIR / LABELS_DIR).glob("*.yaml")):
        loaded = _load(path, ContentError, g)
        found = convert(Labels, loaded, g.problems) if loaded else None
        if found is not None and loaded is not None:
            labels[path.stem] = found
            files[path.stem] = loaded
    master = labels.get(MASTER)
    if master is not None:
        for key, wanted in LABEL_PLACEHOLDERS.items():
            got = _placeholders(master.text.get(key, ""))
            if key not in master.text:
                g.problems.add(files["en"].file, files["en"].line(("text",)), f"text.{key}",
                               "label is missing", "a label using " + _listing(wanted))
            elif got - wanted or not wanted <= got:
                g.problems.add(files["en"].file, files["en"].line(("text", key)), f"text.{key}",
                               "uses " + _listing(got), "exactly these placeholders: " + _listing(wanted))
    for lang, found in labels.items():
        for key in sorted(set(master.text) - set(found.text) if master else ()):
            g.problems.add(files[lang].file, files[lang].line(("text",)), f"text.{key}", "label is missing",
                         "every label of en.yaml, translated")
        for key in sorted(set(master.text) & set(found.text) if master else ()):
            assert master is not None
            wanted, got = _placeholders(master.text[key]), _placeholders(found.text[key])
            if wanted != got:
                g.problems.add(files[lang].file, files[lang].line(("text", key)), f"text.{key}",
                               "placeholders differ from en.yaml: " + _listing(got),
                               "the same {placeholders} as en.yaml: " + _listing(wanted))
    return labels


LABEL_PLACEHOLDERS = {  # labels the program fills in, with what it fills them with
    "date_day_month_year": {"day", "month", "year"},
    "date_month_day_year": {"day", "month", "year"},
    # alternative text of tagged PDFs
    "logo_alt": {"clinic"},
    "qr_alt": {"target"},
    "write_in": {"field"},
    "lines_alt": {"count"},
    "form_version": {"form", "version"},
    "identifier_name": set(),
    "identifier_birth": set(),
}


def _placeholders(text: str) -> set[str]:
    """The {names} a label is filled in with."""
    return set(re.findall(r"\{(\w*)\}", text))


def _listing(names: set[str]) -> str:
    return ", ".join("{" + name + "}" for name in sorted(names)) or "none"


def load_wording(root: Path, labels: dict[str, Labels], g: Gather) -> dict[str, Wording]:
    """Load handouts/wording/<language>-<COUNTRY>.yaml; overridden labels must exist, with the
    same placeholders."""
    found: dict[str, Wording] = {}
    for path in sorted((root / CONTENT_DIR / WORDING_DIR).glob("*.yaml")):
        loaded = _load(path, ContentError, g)
        wording = convert(Wording, loaded, g.problems) if loaded else None
        if wording is None or loaded is None:
            continue
        language, _, country = path.stem.partition("-")
        base = labels.get(language)
        if base is None or not re.fullmatch(r"[A-Z]{2}", country):
            g.problems.add(loaded.file, 1, "(document)", f"{path.name!r} names no known language "
                           "and country", "<language>-<COUNTRY>.yaml, e.g. en-GB.yaml, for a language "
                           "in handouts/labels: " + ", ".join(sorted(labels)))
            continue
        for key, text in wording.labels.items():
            if key not in base.text:
                g.problems.add(loaded.file, loaded.line(("labels", key)), f"labels.{key}",
                               "unknown label", f"a label of {language}.yaml")
            elif _placeholders(text) != _placeholders(base.text[key]):
                g.problems.add(loaded.file, loaded.line(("labels", key)), f"labels.{key}",
                               "placeholders differ: " + _listing(_placeholders(text)),
                               f"the same {{placeholders}} as {language}.yaml: "
                               + _listing(_placeholders(base.text[key])))
        found[path.stem] = wording
    return found


def load_registry(root: Path, labels: dict[str, Labels], g: Gather) -> Registry | None:
    """Load handouts/kinds.yaml and handouts/fields.yaml; check that each kind and field has every
    piece it needs (layout, fields, labels in every language, a place in a packet)."""
    found_fields = _declarations(root / CONTENT_DIR / FIELDS_FILE, FieldDecl, r"^[a-z][a-z0-9_]*$",
                                 "lower-case letters, digits and '_'", g)
    found_kinds = _declarations(root / CONTENT_DIR / KINDS_FILE, KindDecl, ID_PATTERN,
                                "lower-case letters, digits and dashes", g)
    if found_fields is None or found_kinds is None:
        return None
    fields, fields_file = found_fields
    kinds, kinds_file = found_kinds
    ok = _check_fields(fields, fields_file, labels, g)
    ok = _check_kinds(root, kinds, kinds_file, fields, labels, g) and ok
    unused = [name for name in fields if not any(name in decl.fields for decl in kinds.values())]
    for name in unused:  # the web page would offer it on no document, a column would fill nothing
        g.problems.add(fields_file.file, fields_file.line((name,)), name, "is used by no kind",
                       f"list it in a kind's fields in {CONTENT_DIR}/{KINDS_FILE}, or remove it")
    return Registry(kinds, fields, kinds_file.file) if ok and not unused else None


ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"


def read_registry(root: Path) -> Registry:
    """The kinds and fields alone: appointment files are read before the clinics they name."""
    g = Gather()
    registry = load_registry(root, load_labels(root, g), g)
    g.problems.raise_if_any(HandoutError)
    assert registry is not None  # a registry that does not load always says why
    return registry


def _declarations(path: Path, model: type[Any], pattern: str, pattern_doc: str,
                  g: Gather) -> tuple[dict[str, Any], Loaded] | None:
    """Every entry of a registry file, converted; None when the file cannot be used."""
    loaded = _load(path, ContentError, g)
    if loaded is None:
        return None
    if not isinstance(loaded.data, dict) or not loaded.data:
        g.problems.add(loaded.file, 1, "(document)", "expected a mapping", "id -> its declaration")
        return None
    found: dict[str, Any] = {}
    for key in loaded.data:
        if not isinstance(key, str) or not re.match(pattern, key):
            g.problems.add(loaded.file, loaded.line((key,)), str(key), "is not allowed as an id", pattern_doc)
            continue
        entry = convert(model, loaded, g.problems, (key,))
        if entry is not None:
            found[key] = entry
    return (found, loaded) if len(found) == len(loaded.data) else None


def _check_fields(fields: dict[str, FieldDecl], loaded: Loaded, labels: dict[str, Labels],
                  g: Gather) -> bool:
    """Each field's label exists in every language; no two fields share a column."""
    ok = True
    own = {column_key(c) for c in APPOINTMENT_COLUMNS}
    columns: dict[str, tuple[str, str]] = {}  # column_key -> the column, the field
    # Other languages are checked against the master's labels already (load_labels).
    master = {MASTER: labels[MASTER]} if MASTER in labels else labels
    for name, decl in fields.items():
        for lang, found in sorted(master.items()):
            if decl.label not in found.text:
                ok = False
                g.problems.add(loaded.file, loaded.line((name, "label")), f"{name}.label",
                               f"no label {decl.label!r} in {LABELS_DIR}/{lang}.yaml",
                               f"a label of text: in every {CONTENT_DIR}/{LABELS_DIR} file")
        if decl.csv is None:
            continue
        column = decl.csv.column
        key = column_key(column)  # as a header cell is matched
        if key in own or key in columns:
            ok = False
            g.problems.add(loaded.file, loaded.line((name, "csv", "column")), f"{name}.csv.column",
                           f"column {column!r} is taken by "
                           + (columns[key][1] if key in columns else "the appointment file itself"),
                           "a column of its own, not " + ", ".join(
                               [*APPOINTMENT_COLUMNS, *(c for c, _ in columns.values())])
                           + " (headers are matched whatever their case, spaces, '_' and '-')")
        columns.setdefault(key, (column, name))
    return ok


IDENTIFIERS = ("patient_name", "date_of_birth")  # what an identified kind prints on every page


def _check_kinds(root: Path, kinds: dict[str, KindDecl], loaded: Loaded, fields: dict[str, FieldDecl],
                 labels: dict[str, Labels], g: Gather) -> bool:
    """Each kind's layout exists, its fields are declared, it is named in every language, and no
    two kinds share a place in a packet, a letter or a name."""
    problems: list[tuple[PathT, str, str]] = []
    seen: dict[tuple[str, str], str] = {}
    for kind, decl in kinds.items():
        layout = root / TEMPLATES_DIR / decl.template
        if not (layout.exists() or layout.is_symlink()):  # anything else there is refused when read
            problems.append(((kind, "template"), f"layout {decl.template!r} is missing",
                             f"create {decl.template} in {TEMPLATES_DIR}/"))
        problems += [((kind, "fields", i), f"unknown field {name!r}",
                      f"a field of {CONTENT_DIR}/{FIELDS_FILE}: " + ", ".join(fields))
                     for i, name in enumerate(decl.fields) if name not in fields]
        problems += [((kind, "identified"), f"needs the field {name!r}",
                      f"{name} in {CONTENT_DIR}/{FIELDS_FILE}: every page prints it")
                     for name in IDENTIFIERS if decl.identified and name not in fields]
        problems += [((kind, "labels"), f"no name in {lang!r}",
                      f"labels: {lang}: its name in the master language (others fall back to it)")
                     for lang in sorted({MASTER} & set(labels) - set(decl.labels))]
        problems += [((kind, "labels", lang), f"no language {lang!r} in {CONTENT_DIR}/{LABELS_DIR}",
                      "one of: " + ", ".join(sorted(labels)))  # a misspelt language would never show
                     for lang in decl.labels if lang not in labels]
        for what, value in (("packet", str(decl.packet)), ("letter", decl.letter),
                            *(("csv", key) for key in (kind, *decl.csv))):
            # a documents cell names a kind whatever its case and spacing: so are names compared
            other = seen.setdefault((what, id_key(value) if what == "csv" else value), kind)
            if other != kind:
                problems.append(((kind, what), f"{value!r} is also {other}'s {what}",
                                 f"a {what} of its own for each kind"))
        for lang, name in decl.labels.items():  # attachments and print jobs tell kinds apart by it
            other = seen.setdefault((f"name in {lang}", id_key(name)), kind)
            if other != kind:
                problems.append(((kind, "labels", lang), f"{name!r} is also {other}'s name in {lang!r}",
                                 "a name of its own for each kind"))
    for path, message, allowed in problems:
        g.problems.add(loaded.file, loaded.line(path), path_text(path), message, allowed)
    return not problems


def load_library(root: Path, clinics: Collection[str] | None = None, treatment: str | None = None,
                 deep: bool = False) -> Library:
    """Load and validate the library under `root`, or only some clinics / one treatment of it.

    `clinics` holds clinic ids or clinic folder paths. `deep` also checks every face of every
    font family, including faces no document uses yet (the `check` command).
    """
    g = Gather()
    fonts = load_fonts(root, g)
    styles = load_styles(root, g)
    labels = load_labels(root, g)
    wording = load_wording(root, labels, g)
    registry = load_registry(root, labels, g)
    if registry is None:  # without kinds and fields no content can be read: say what is wrong
        g.problems.raise_if_any(HandoutError)
    assert registry is not None  # a registry that does not load always says why
    treatments: dict[str, Treatment] = {}
    content = root / CONTENT_DIR
    for folder in _subfolders(content) if content.is_dir() else []:
        if (folder / "treatment.yaml").is_file():
            g.treatment_folders.add(folder.name)
        if folder.name in (LABELS_DIR, WORDING_DIR) or (treatment and folder.name != treatment):
            continue
        found = load_treatment(folder, registry, g)
        if found is not None:
            treatments[found.meta.id] = found
    loaded: dict[str, ClinicEntry] = {}
    for folder in _clinic_folders(root, clinics):
        entry = load_clinic(folder, fonts, treatments, labels, registry, styles, g)
        if entry is not None:
            loaded[entry.clinic.id] = entry
    if deep:
        _check_fonts(fonts, g)
    g.problems.raise_if_any(HandoutError)
    for entry in loaded.values():
        check_clinic_text(root, entry, fonts[entry.clinic.font], treatments, registry.kinds, g)
    g.problems.raise_if_any(HandoutError)
    base = root / CLINICS_DIR
    clinic_ids = tuple(p.name for p in _subfolders(base) if (p / "clinic.yaml").is_file()) \
        if base.is_dir() else ()
    return Library(root, treatments, loaded, fonts, labels, registry, wording, clinic_ids,
                   tuple(sorted(g.treatment_folders)))


def _check_fonts(fonts: dict[str, FontEntry], g: Gather) -> None:
    from .fonts import register_italic

    for entry in fonts.values():
        try:
            register_italic(entry)
        except HandoutError as err:
            g.problems.extend(err)


def check_clinic_text(root: Path, entry: ClinicEntry, font: FontEntry, treatments: dict[str, Treatment],
                      library_kinds: Collection[str], g: Gather) -> None:
    """Every text a clinic's handouts print must be drawable by the clinic's font."""
    from .fonts import describe, register, uncovered

    registered = register(font)
    default = entry.clinic.languages[0]
    files = [entry.folder / "clinic.yaml",
             *(additions_file(entry.folder, t, lang, default)
               for lang, extra in entry.by_language.items() for t in extra)]
    for treatment in treatments.values():
        for lang in offered(entry.clinic, treatment):
            files += [treatment.folder / lang / f"{name}.yaml" for name in ("facts", *library_kinds)]
    for lang in entry.clinic.languages:
        files.append(root / CONTENT_DIR / LABELS_DIR / f"{lang}.yaml")
    for path in files:
        loaded = g.files.get(path)
        if loaded is None:
            continue
        for where, text in _strings(loaded.data, ()):
            for ch in uncovered(text, registered):
                g.problems.add(loaded.file, loaded.line(where), path_text(where),
                               f"character {describe(ch)} cannot be drawn by font "
                               f"{registered.family} (used by clinic {entry.clinic.id})",
                               "characters the font covers, or another font in clinic.yaml")


def _strings(value: Any, path: PathT) -> Iterator[tuple[PathT, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))


def _clinic_folders(root: Path, clinics: Collection[str] | None) -> list[Path]:
    base = root / CLINICS_DIR
    if clinics is None:
        return _subfolders(base) if base.is_dir() else []
    folders = []
    for clinic in sorted(clinics):
        if "/" not in clinic and (base / clinic / "clinic.yaml").is_file():
            folders.append(base / clinic)
        elif Path(clinic, "clinic.yaml").is_file():
            folders.append(Path(clinic))
    return folders
