"""A template is rendered once per document with markers for patient values (handoutgen/opaque.py);
each patient's copy filled in from it must equal a full rendering with that patient's values."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import edit

from handoutgen.compose import compose
from handoutgen.compose.blocks import Document, Fields
from handoutgen.compose.compose import Request
from handoutgen.compose.opaque import Memo, plain
from handoutgen.library.gather import load_library
from handoutgen.pipeline import check_patient

# letters, marks the parser and XML treat specially, and spaces in every position
ALPHABET = "abcÅéßŁłễ &<>\"'-.]]>\t"
KINDS = ("aftercare", "consent", "pre-treatment")


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 40)))


def _request(library: object, clinic: str, treatment: str, kind: str, language: str,
             name: str, dated: bool) -> Request | None:
    fields = [("patient_name", name, "test", 1)]
    if kind == "consent":
        fields.append(("date_of_birth", "1980-02-29", "test", 1))
    if dated:
        fields.append(("appointment_date", "2026-12-01", "test", 1))
    try:
        values = check_patient(library, clinic, (kind,), fields)  # type: ignore[arg-type]
    except Exception:  # a name the checks refuse is not this test's subject
        return None
    return Request(clinic, treatment, kind, language, tuple(sorted(values.items())))


def _both_ways(library: object, request: Request, kept: Memo) -> tuple[Document, Document]:
    """The document composed through a memo that has seen other patients, and from scratch."""
    compose._COMPOSED = kept
    once = compose.compose(library, request)  # type: ignore[arg-type]
    compose._COMPOSED = Memo()
    full = compose.compose(library, request)  # type: ignore[arg-type]
    return once, full


@pytest.mark.parametrize("seed", [1, 2])
def test_filled_in_copies_equal_full_renderings(lib: Path, seed: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose, "_COMPOSED", Memo())
    library = load_library(lib)
    rng = random.Random(seed)
    kept, compared = Memo(), 0
    for clinic, entry in library.clinics.items():
        for treatment in library.treatments:
            languages = set(entry.clinic.languages) & set(library.treatments[treatment].languages)
            for language in sorted(languages):
                for kind in KINDS:
                    for _ in range(12):
                        request = _request(library, clinic, treatment, kind, language,
                                           _name(rng), rng.random() < 0.5)
                        if request is None:
                            continue
                        once, full = _both_ways(library, request, kept)
                        assert once == full, f"seed {seed}: {clinic} {treatment} {kind} {language}"
                        compared += 1
    filled = [v for v in kept._found.values() if v is not None]
    assert compared > 60
    assert len(filled) == len(kept._found)  # the shipped templates only print patient values


@pytest.mark.parametrize(("use", "short", "long"), [
    ("patient.patient_name | upper", "ANN LEE", "BARTHOLOMEW QUINCE"),
    ("patient.patient_name | length", "7", "18"),
    ("patient.patient_name ~ '!'", "Ann Lee!", "Bartholomew Quince!"),
    ("'long' if patient.patient_name > 'B' else 'short'", "short", "long")])
def test_a_template_that_uses_a_value_is_rendered_for_each_patient(
        lib: Path, monkeypatch: pytest.MonkeyPatch, use: str, short: str, long: str) -> None:
    edit(lib, "templates/aftercare.xml.j2", "{{ parts.field(labels.patient_name, patient.patient_name) }}",
         f"{{{{ parts.field(labels.patient_name, {use}) }}}}")
    monkeypatch.setattr(compose, "_COMPOSED", Memo())
    library = load_library(lib)
    clinic = next(iter(library.clinics))
    treatment = next(iter(library.treatments))
    for name, shown in (("Ann Lee", short), ("Bartholomew Quince", long), ("Ann Lee", short)):
        request = _request(library, clinic, treatment, "aftercare", "en", name, True)
        assert request is not None
        fields = [f.value for block in compose.compose(library, request).blocks
                  if isinstance(block, Fields) for f in block.fields]
        assert fields[0] == shown
    assert list(compose._COMPOSED._found.values()) == [None]


def test_the_memo_keeps_no_patient_value(lib: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose, "_COMPOSED", Memo())
    library = load_library(lib)
    clinic = next(iter(library.clinics))
    treatment = next(iter(library.treatments))
    for name in ("Zyxwvut Quokkaface", "Ann Lee"):
        request = _request(library, clinic, treatment, "consent", "en", name, True)
        assert request is not None
        compose.compose(library, request)
    kept = repr([(key[0][1], key[1:], found and found[0]) for key, found in compose._COMPOSED._found.items()])
    assert "Zyxwvut" not in kept and "Ann Lee" not in kept and "1980" not in kept
    assert any(v is not None for v in compose._COMPOSED._found.values())


@pytest.mark.parametrize(("value", "expected"), [
    ("Ann Lee", True), ("Łucja & <Nguyễn>", True), (" Ann", False), ("Ann ", False),
    ("Ann  Lee", False), ("Ann\tLee", False), ("Ann\ue000", False), ("\ud800", False), ("", True)])
def test_only_values_the_parser_keeps_as_they_are_are_filled_in(value: str, expected: bool) -> None:
    assert plain(value) is expected
