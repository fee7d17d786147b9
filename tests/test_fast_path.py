"""The reused layout gives exactly what a full layout gives: same page images, same text."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import REPO

from handoutgen.build import check_patient
from handoutgen.compose import Request, compose
from handoutgen.library import Library, load_library
from handoutgen.render import emit, layout, render, strip

CASES = [
    ("harbour-skin", "consent", {"patient_name": "<b>Jo</b> & \"Co\" Nguyễn Thị",
                                 "practitioner": "tom-reilly", "appointment_date": "2026-12-01",
                                 "treatment_area": "Upper arms"}),
    ("maple-street", "aftercare", {"patient_name": "Αλέξανδρος Παπαδόπουλος",
                                   "next_appointment_date": "2027-01-15",
                                   "next_appointment_time": "16:00"}),
    ("maple-street", "pre-treatment", {"patient_name": "Анна Кузнецова",
                                       "appointment_time": "09:30"}),
    # Too long for one line: the fast path must step aside for a full layout.
    ("harbour-skin", "aftercare", {"patient_name": "Wolfeschlegelsteinhausenbergerdorff " * 3}),
]


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(REPO)


def _pages(pdf: bytes, folder: Path, name: str) -> list[bytes]:
    path = folder / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(folder / name)], check=True)
    return [p.read_bytes() for p in sorted(folder.glob(f"{name}-*.png"))]


def _text(pdf: bytes, folder: Path, name: str) -> str:
    path = folder / f"{name}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize(("clinic", "kind", "values"), CASES)
def test_reused_layout_matches_a_full_layout(library: Library, tmp_path: Path, clinic: str,
                                             kind: str, values: dict[str, str]) -> None:
    checked = check_patient(library, clinic, (kind,), [(k, v, "test", 1) for k, v in values.items()])
    request = Request(clinic, "mesotherapy", kind, "en", tuple(sorted(checked.items())))
    document = compose(library, request)
    entry = library.clinics[clinic]
    font, labels = library.fonts[entry.clinic.font], library.labels["en"].text
    fast = render((document,), entry, font, labels, "test")
    full = emit(layout((document,), entry, font, labels))
    assert full is not None
    assert _text(fast, tmp_path, "fast") == _text(full, tmp_path, "full")
    assert _pages(fast, tmp_path, "fast") == _pages(full, tmp_path, "full")
    assert values["patient_name"].strip() in " ".join(_text(fast, tmp_path, "fast").split())


def test_long_values_take_the_full_path(library: Library) -> None:
    request = Request("harbour-skin", "mesotherapy", "aftercare", "en",
                      (("patient_name", "Wolfeschlegelsteinhausenbergerdorff " * 3),))
    document = compose(library, request)
    entry = library.clinics["harbour-skin"]
    blank, values = strip(document)
    lay = layout((blank,), entry, library.fonts[entry.clinic.font], library.labels["en"].text)
    assert emit(lay, values) is None
    assert emit(lay, ("Short Name",)) is not None
