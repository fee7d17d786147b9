"""`python generate.py` builds every handout for every bundled clinic, with the required content."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO, flat, pdf_text, qpdf_ok, script
from pypdf import PdfReader

KINDS = ("consent", "pre-treatment", "aftercare")
CLINICS = {"harbour-skin": ("Harbour Skin Clinic", (595.276, 841.89)),
           "maple-street": ("Maple Street Dermatology", (612.0, 792.0))}
RISKS = ("Swelling (edema)", "Redness (erythema)", "Itching", "Mild pain",
         "More sensitive skin (hyperesthesia)", "(nausea)", "(diarrhea)", "(vomiting)",
         "(subcutaneous nodules)", "(pigmentation)", "(hypersensitivity)")
# Maple Street also hands out Spanish: its second language gets a .es suffix.
SPANISH = tuple(f"maple-street/mesotherapy-{k}.es.pdf" for k in KINDS)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the main job once, as a user would, in a copy of the repository layout."""
    root = tmp_path_factory.mktemp("main")
    for name in ("handouts", "templates", "assets"):
        (root / name).symlink_to(REPO / name)
    result = script(root)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    summary = result.stdout.decode().strip().splitlines()
    assert len(summary) == 1
    assert re.fullmatch(r"Built 9, skipped 0 \(up to date\), failed 0 in \d+\.\d s "
                        r"\(\d+ documents/s\) into out/", summary[0])
    return root / "out"


def test_every_kind_for_every_clinic_is_written(built: Path) -> None:
    found = sorted(str(p.relative_to(built)) for p in built.rglob("*.pdf"))
    assert found == sorted([*(f"{c}/mesotherapy-{k}.pdf" for c in CLINICS for k in KINDS), *SPANISH])


@pytest.mark.parametrize("clinic", CLINICS)
@pytest.mark.parametrize("kind", KINDS)
def test_pdf_passes_qpdf_and_has_branded_pages(built: Path, clinic: str, kind: str) -> None:
    path = built / clinic / f"mesotherapy-{kind}.pdf"
    assert qpdf_ok(path)
    reader = PdfReader(path)
    name, size = CLINICS[clinic]
    total = len(reader.pages)
    for number, page in enumerate(reader.pages, 1):
        assert (round(float(page.mediabox.width), 3), round(float(page.mediabox.height), 3)) == size
        text = flat(pdf_text(path, number))
        assert name in text
        assert f"Form mesotherapy-{kind} version 1.0" in text
        assert re.search(r"Content [0-9a-f]{10}", text)
        assert f"Page {number} of {total}" in text


def test_consent_form_has_every_required_element(built: Path) -> None:
    text = flat(pdf_text(built / "harbour-skin" / "mesotherapy-consent.pdf"))
    for phrase in ("Consent to mesotherapy", "Harbour Skin Clinic", "Patient name", "Practitioner",
                   "Benefits you may hope for", "No one can promise you any of them",
                   "The result may not be what you hoped for", "Other choices you have",
                   "No treatment", "Liposuction", "Fat-dissolving injections (lipolysis)",
                   "Microneedling", "number of sessions varies",
                   "My questions were answered", "I had enough time to decide",
                   "Interpreter and special needs", "Photos (optional)", "Your initials",
                   "Signatures", "Witness (only if needed)", "1 to 4 millimeters",
                   "middle layer of your skin"):
        assert phrase in text, phrase
    for risk in RISKS:
        assert risk in text, risk
    # Signature, printed name, date and time for patient, practitioner and witness.
    for label in ("Signature", "Printed name", "Date", "Time"):
        assert text.count(label) >= 3, label
    # Photo consent is its own section, after the risks.
    assert text.index("Photos (optional)") > text.index("Possible side effects and risks")


def test_no_promises_in_any_handout(built: Path) -> None:
    for path in built.rglob("*.pdf"):
        text = flat(pdf_text(path)).lower()
        for word in (" will improve", "safely", "permanently", "guarantee ",
                     "mejorará", "sin riesgo", "de forma segura", "permanente", "garantizamos"):
            assert word not in text, (path.name, word)


def test_pre_treatment_guide(built: Path) -> None:
    text = flat(pdf_text(built / "maple-street" / "mesotherapy-pre-treatment.pdf"))
    for phrase in ("Getting ready for mesotherapy", "How to get ready", "What happens on the day",
                   "Appointment date", "Appointment time", "Questions I want to ask",
                   "How to contact us", "(555) 010-4477", "(555) 010-4400",
                   "frontdesk@maplestreetderm.example", "numbing cream",
                   # Maple Street's own preparation rule, added in its folder:
                   "Arrive 15 minutes early to fill in your health history."):
        assert phrase in text, phrase
    harbour = flat(pdf_text(built / "harbour-skin" / "mesotherapy-pre-treatment.pdf"))
    assert "Arrive 15 minutes early" not in harbour
    assert "Please tell us 48 hours ahead" in harbour


def test_aftercare_sheet(built: Path) -> None:
    text = flat(pdf_text(built / "harbour-skin" / "mesotherapy-aftercare.pdf"))
    for phrase in ("Aftercare after mesotherapy", "Do not do hard exercise or other heavy activity "
                   "for two days", "Do not massage or rub the treated area",
                   "Do not spend too much time in the sun", "sunscreen",
                   "Do not take hot baths for one to two days",
                   "do not put any skincare products on the treated area",
                   "What is normal", "How long it usually lasts", "When to call us",
                   "Emergency", "call 999", "Out of hours", "01632 960 999",
                   "Your next appointment", "doctor on call will ring you back"):
        assert phrase in text, phrase
    # The clinic's own duration overrides the shared one for swelling only.
    assert "Swelling up to 3 days" in text
    assert "Redness often a few days" in text
