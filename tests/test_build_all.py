"""`python generate.py` builds every kind of every treatment for every clinic and language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import copy_library, flat, pdf_text, qpdf_ok, script
from pypdf import PdfReader

pytestmark = pytest.mark.slow  # the fast layer (pytest -m "not slow") leaves it out

KINDS = ("consent", "pre-treatment", "aftercare")
A4, LETTER = (595.276, 841.89), (612.0, 792.0)
CLINICS = {"alder": ("Alder Test Clinic", A4), "birch": ("Birch Test Dermatology", LETTER)}
VERSIONS = {"needling": "2.1", "peel": "0.3"}
CODES = {"needling": "NEED", "peel": "PEEL"}
# Birch also offers Spanish: needling has it, peel does not. Other languages get a suffix.
OFFERED = [("alder", "needling", ""), ("alder", "peel", ""), ("birch", "needling", ""),
           ("birch", "needling", ".es"), ("birch", "peel", "")]
FILES = sorted(f"{c}/{t}-{k}{lang}.pdf" for c, t, lang in OFFERED for k in KINDS)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the main job once, as a user would, in a library folder."""
    root = copy_library(tmp_path_factory.mktemp("main") / "lib")
    result = script(root)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    summary = result.stdout.decode().strip().splitlines()
    assert len(summary) == 1
    assert re.fullmatch(rf"Built {len(FILES)} documents, skipped 0 \(up to date\), failed 0 in \d+\.\d s "
                        r"\(\d+ documents/s\) into out/", summary[0])
    return root / "out"


def test_every_kind_of_every_treatment_for_every_clinic_and_language_is_written(built: Path) -> None:
    assert sorted(str(p.relative_to(built)) for p in built.rglob("*.pdf")) == FILES


@pytest.mark.parametrize("name", FILES)
def test_pdf_passes_qpdf_and_has_branded_pages(built: Path, name: str) -> None:
    path = built / name
    assert qpdf_ok(path)
    reader = PdfReader(path)
    clinic, document = name.split("/")
    treatment, kind = document.removesuffix(".pdf").removesuffix(".es").split("-", 1)
    title, size = CLINICS[clinic]
    total = len(reader.pages)
    page_of = "Página {} de {}" if name.endswith(".es.pdf") else "Page {} of {}"
    for number, page in enumerate(reader.pages, 1):
        assert (round(float(page.mediabox.width), 3), round(float(page.mediabox.height), 3)) == size
        text = flat(pdf_text(path, number))
        assert title in text
        # The form code a patient can read on every page; the fingerprint is in the metadata only.
        assert f"{CODES[treatment]}-{kind[0].upper()}" in text and VERSIONS[treatment] in text
        assert reader.metadata is not None and re.search(r"[0-9a-f]{10}", str(reader.metadata["/Keywords"]))
        assert page_of.format(number, total) in text


def test_consent_form_has_every_required_element(built: Path) -> None:
    text = flat(pdf_text(built / "alder" / "needling-consent.pdf"))
    for phrase in ("Consent to needling", "Alder Test Clinic", "Patient name", "Practitioner",
                   "Benefits you may hope for", "No one can promise you these benefits.",
                   "The result may disappoint you", "Other choices you have", "No treatment", "Creams",
                   "Most people have three sessions.", "I have read this form.",
                   "I agree to have needling.", "Interpreter and special needs", "Photos (optional)",
                   "Your initials", "Signatures", "Witness (only if needed)", "Swelling (oedema)",
                   "Redness", "Spots of blood", "needles make tiny holes"):
        assert phrase in text, phrase
    # Signature, printed name, date and time for patient, practitioner and witness.
    for label in ("Signature", "Printed name", "Date", "Time"):
        assert text.count(label) >= 3, label
    # Photo consent is its own section, after the risks.
    assert text.index("Photos (optional)") > text.index("Possible side effects and risks")


def test_pre_treatment_guide_adds_each_clinics_own_lines(built: Path) -> None:
    text = flat(pdf_text(built / "birch" / "needling-pre-treatment.pdf"))
    for phrase in ("Getting ready for needling", "How to get ready", "What happens on the day",
                   "Appointment date", "Appointment time", "Questions I want to ask",
                   "How to contact us", "(555) 010-2000", "(555) 010-2001", "desk@birch.example",
                   "Tell us about your medicines.", "Arrive 15 minutes early."):
        assert phrase in text, phrase
    alder = flat(pdf_text(built / "alder" / "needling-pre-treatment.pdf"))
    assert "Arrive 15 minutes early" not in alder
    assert "Tell us 48 hours ahead" in alder
    assert "Tell us 48 hours ahead" not in flat(pdf_text(built / "alder" / "peel-pre-treatment.pdf"))


def test_aftercare_sheet(built: Path) -> None:
    text = flat(pdf_text(built / "alder" / "needling-aftercare.pdf"))
    for phrase in ("Aftercare after needling", "Keep the area clean.", "Use sunscreen every day.",
                   "Do not rub the area.", "Do not swim for one day.", "What is normal",
                   "How long it usually lasts", "When to call us", "The bleeding does not stop.",
                   "Emergency", "call 999", "Out of hours", "01632 960 002", "Your next appointment",
                   "Outside opening hours, call our out-of-hours line."):
        assert phrase in text, phrase
    # The clinic's own duration overrides the shared one for swelling only.
    assert "Swelling up to 3 days" in text
    assert "Redness a few hours" in text
