"""One personalised handout: values print literally, in the clinic's style, in any script."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from conftest import cli, flat, pdf_text, qpdf_ok, script
from pypdf import PdfReader

BASE = ("build", "--treatment", "needling")


def build(lib: Path, clinic: str, kind: str, *extra: str) -> tuple[Path, str]:
    out = lib / "one.pdf"
    run = cli(lib, *BASE, "--clinic", clinic, "--kind", kind, "-o", str(out), *extra)
    assert run.code == 0, run.err
    assert run.out == f"Built {out}\n"
    assert qpdf_ok(out)
    return out, flat(pdf_text(out))


def test_markup_in_a_name_prints_literally(lib: Path) -> None:
    name = '<b>Jo</b> & "Co" <img src="/etc/passwd">'
    out, text = build(lib, "alder", "consent", "--patient-name", name)
    # patient details, the patient's printed name, and the identifier line on every page
    assert text.count(name) == 2 + len(PdfReader(out).pages)


@pytest.mark.parametrize("name", [
    "Nguyễn Thị Minh Khai",        # Vietnamese
    "Łucja Wójcik-Żółkiewska",     # Polish
    "Αλέξανδρος Παπαδόπουλος",     # Greek
    "Анна Кузнецова",              # Cyrillic
    "Renée O'Connor-Müller",
])
@pytest.mark.parametrize("clinic", ["alder", "birch"])
def test_names_in_several_scripts_round_trip(lib: Path, clinic: str, name: str) -> None:
    _, text = build(lib, clinic, "aftercare", "--patient-name", name)
    assert name in text


def test_fields_print_in_the_clinics_local_style(lib: Path) -> None:
    fields = ("--field", "appointment_date=2026-12-01", "--field", "appointment_time=14:30",
              "--field", "practitioner=cara-cole", "--field", "treatment_area=Upper arms")
    _, us = build(lib, "birch", "pre-treatment", "--patient-name", "Mary Jones", *fields)
    assert "December 1, 2026" in us
    assert "2:30 PM" in us
    assert "Cara Cole, MD, Dermatologist" in us
    assert "Upper arms" in us
    uk_fields = ("--field", "appointment_date=2026-12-01", "--field", "appointment_time=09:05",
                 "--field", "practitioner=Dr Ann Ash")
    _, uk = build(lib, "alder", "pre-treatment", *uk_fields)
    assert "1 December 2026" in uk
    assert "09:05" in uk
    assert "Dr Ann Ash, Doctor" in uk


def test_consent_prints_the_practitioner_for_signature(lib: Path) -> None:
    _, text = build(lib, "alder", "consent", "--field", "practitioner=ben-birch")
    assert "Practitioner: Signature Date Time Printed name Ben Birch" in text


def test_aftercare_next_appointment(lib: Path) -> None:
    _, text = build(lib, "alder", "aftercare", "--field", "next_appointment_date=2027-01-15",
                    "--field", "next_appointment_time=16:00")
    assert "Your next appointment Date 15 January 2027 Time 16:00" in text


def test_default_output_name_never_contains_the_patient(lib: Path) -> None:
    run = cli(lib, *BASE, "--clinic", "alder", "--kind", "aftercare",
              "--patient-name", "Zebedee Quill")
    assert run.code == 0, run.err
    written = [p for p in (lib / "out").rglob("*.pdf")]
    assert len(written) == 1
    assert "zebedee" not in str(written[0]).lower() and "quill" not in str(written[0]).lower()
    assert written[0].name.startswith("needling-aftercare-")
    assert stat.S_IMODE(written[0].stat().st_mode) == 0o600
    assert "Zebedee Quill" in pdf_text(written[0])


def test_pdf_to_standard_output(lib: Path) -> None:
    result = script(lib, *BASE, "--clinic", "birch", "--kind", "consent", "-o", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"%PDF-") and result.stdout.rstrip().endswith(b"%%EOF")
    (lib / "stdout.pdf").write_bytes(result.stdout)
    assert qpdf_ok(lib / "stdout.pdf")


def test_installed_console_script_works(lib: Path) -> None:
    import shutil
    import subprocess

    exe = shutil.which("handoutgen")
    assert exe, "pip install -e . puts the handoutgen command on PATH"
    result = subprocess.run([exe, "list"], cwd=lib, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "alder" in result.stdout and "needling" in result.stdout
