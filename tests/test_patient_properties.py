"""Property test over every patient field of every kind: values in any script, of any length the
form allows, with real dates, times and practitioners. Each example gives a PDF that passes qpdf's
check, or error lines naming exactly the code points the clinic's font cannot draw.

It runs in this process (check_patient and build_document are what `build` runs); qpdf checks the
PDF through pikepdf, its Python binding. The full run tries 2,000 examples, the fast layer a few.
"""

from __future__ import annotations

import io
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from conftest import copy_library
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reportlab.pdfbase.ttfonts import TTFontFile

from handoutgen.compose.compose import Request
from handoutgen.errors import UsageError
from handoutgen.library.gather import Library, load_library
from handoutgen.library.patient import OLDEST, SOURCE
from handoutgen.pipeline import build_document, check_patient

settings.register_profile("patient-fields", max_examples=2000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
FULL = settings.get_profile("patient-fields")
FAST = settings(FULL, max_examples=40)
REFUSED = ("Cc", "Cf", "Cs", "Co", "Cn")  # control, format, surrogate, private and unassigned: refused


@dataclass(frozen=True)
class Example:
    clinic: str
    kind: str
    values: tuple[tuple[str, str], ...]  # (field, value) in the order given


@cache
def library() -> Library:
    """The test library, loaded once for every example (hypothesis runs them in one test)."""
    return load_library(copy_library(Path(tempfile.mkdtemp(prefix="patient-fields-")) / "lib"))


@cache
def drawable(clinic: str) -> frozenset[int]:
    """What the clinic's font draws, read from its files' character maps: its regular and bold faces."""
    entry = library().fonts[library().clinics[clinic].clinic.font]
    regular, bold = (frozenset(TTFontFile(str(entry.files[face])).charToGlyph)
                     for face in ("regular", "bold"))
    return regular & bold


@cache
def text(clinic: str) -> st.SearchStrategy[str]:
    """Text of 1 to 40 characters (within the 120 allowed, even after Unicode normalisation), mixing
    characters the font draws with any other printable character."""
    covered = sorted(chr(c) for c in drawable(clinic) if unicodedata.category(chr(c)) not in REFUSED)
    any_printable = st.characters(exclude_categories=REFUSED)  # type: ignore[arg-type]
    return st.lists(st.one_of(st.sampled_from(covered), st.sampled_from(covered), any_printable),
                    min_size=1, max_size=40).map("".join).filter(lambda value: bool(value.strip()))


@cache
def field_values(clinic: str) -> dict[str, st.SearchStrategy[str]]:
    """A strategy for every patient field the library declares (handouts/fields.yaml), by its type."""
    today = date.today()
    people = library().clinics[clinic].clinic.practitioners
    by_kind: dict[str, st.SearchStrategy[str]] = {
        "text": text(clinic),
        "date": st.dates(date(1000, 1, 1), date(9999, 12, 31)).map(date.isoformat),
        "birth": st.dates(date(today.year - OLDEST, 1, 1), today).map(date.isoformat),
        "time": st.times().map(lambda moment: moment.strftime("%H:%M")),
        "practitioner": st.sampled_from([p.id for p in people] + [p.name for p in people]),
    }
    return {name: by_kind[spec.type] for name, spec in library().registry.fields.items()}


@st.composite
def examples(draw: Callable[..., Any]) -> Example:
    clinic = draw(st.sampled_from(sorted(library().clinics)))
    kind = draw(st.sampled_from(sorted(library().registry.kinds)))
    strategies = field_values(clinic)
    names = draw(st.lists(st.sampled_from(library().registry.kinds[kind].fields), unique=True, min_size=1))
    return Example(clinic, kind, tuple((name, draw(strategies[name])) for name in names))


def expected_errors(example: Example) -> list[str]:
    """A line for each character of each value that the font cannot draw, sorted as every list of
    problems is (by place, field and message)."""
    family = library().fonts[library().clinics[example.clinic].clinic.font].family.name
    found = sorted({(position, name, f"character U+{ord(ch):04X} {ch!r} cannot be drawn by font {family}")
                    for position, (name, value) in enumerate(example.values, 1)
                    for ch in value if ord(ch) not in drawable(example.clinic)})
    return [f"error: {SOURCE}:{position}: {name}: {message} (characters the clinic's font covers)"
            for position, name, message in found]


def check(example: Example) -> None:
    given_values = [(name, value, SOURCE, position)
                    for position, (name, value) in enumerate(example.values, 1)]
    expected = expected_errors(example)
    try:
        values = check_patient(library(), example.clinic, [example.kind], given_values)
    except UsageError as err:
        assert [str(problem) for problem in err.problems] == expected
        return
    assert expected == []
    request = Request(example.clinic, "needling", example.kind, "en",
                      library().registry.for_kind(values, example.kind))
    pdf = build_document(library(), request)
    with pikepdf.open(io.BytesIO(pdf)) as opened:
        assert opened.check_pdf_syntax() == []  # what `qpdf --check` reports


@pytest.mark.slow  # 2,000 examples: the full run only
@FULL
@given(example=examples())
def test_every_patient_field_gives_a_pdf_or_names_the_code_points_2000_times(example: Example) -> None:
    check(example)


@FAST
@given(example=examples())
def test_every_patient_field_gives_a_pdf_or_names_the_code_points(example: Example) -> None:
    check(example)


def test_the_examples_reach_both_outcomes_and_every_field() -> None:
    seen: dict[str, set[str]] = {"pdf": set(), "refused": set()}

    @settings(FULL, max_examples=400, derandomize=True)  # a fixed sample: the tally does not vary
    @given(example=examples())
    def tally(example: Example) -> None:
        outcome = "refused" if expected_errors(example) else "pdf"
        seen[outcome].update(name for name, _ in example.values)

    tally()
    assert seen["pdf"] == seen["refused"] == set(library().registry.fields)
