"""Command-line behaviour: listing, checking, and exact errors for bad arguments and values."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, cli, script

BUILD = ("build", "--clinic", "alder", "--treatment", "needling", "--kind", "aftercare")
ALL_FIELDS = ("patient_name, date_of_birth, practitioner, treatment_area, appointment_date, "
              "appointment_time, next_appointment_date, next_appointment_time")


def test_list_shows_what_can_be_built(lib: Path) -> None:
    run = cli(lib, "list")
    assert run.code == 0
    assert "alder" in run.out and "Alder Test Clinic (example); paper a4" in run.out
    assert "birch" in run.out and "paper letter" in run.out
    assert "needling             version 2.1, reviewed 2026-10-01" in run.out
    assert "aftercare            patient_name, practitioner, treatment_area" in run.out


def test_check_passes_on_a_good_library(lib: Path) -> None:
    run = cli(lib, "check")
    assert (run.code, run.err) == (0, "")
    assert run.out == "OK: 2 treatments, 2 clinics, 15 documents checked\n"


def test_unknown_clinic_treatment_kind_and_field_listed_at_once(lib: Path) -> None:
    run = cli(lib, "build", "--clinic", "nowhere", "--treatment", "botox", "--kind", "leaflet",
              "--field", "shoe_size=9")
    assert run.code == 1
    assert run.errors == [
        "error: <command line>:2: --clinic: unknown value 'nowhere' "
        "(expected one of: alder, birch)",
        "error: <command line>:4: --treatment: unknown value 'botox' (expected one of: needling, peel)",
        "error: <command line>:6: --kind: unknown value 'leaflet' "
        "(expected one of: aftercare, consent, pre-treatment)",
        f"error: <command line>:8: shoe_size: unknown field (expected one of: {ALL_FIELDS})",
    ]


def test_an_unknown_clinic_does_not_hide_a_bad_date(lib: Path) -> None:
    run = cli(lib, "build", "--clinic", "maple", "--treatment", "needling", "--kind", "aftercare",
              "--field", "appointment_date=1/12/2026", "--field", "practitioner=nobody")
    assert run.code == 1
    assert run.errors == [  # the practitioner can only be checked once the clinic is known
        "error: <command line>:2: --clinic: unknown value 'maple' (expected one of: alder, "
        "birch)",
        "error: <command line>:8: appointment_date: '1/12/2026' is not a date (a date as YYYY-MM-DD)"]


def test_bad_patient_values_all_reported(lib: Path) -> None:
    run = cli(lib, *BUILD, "--patient-name", "Li 中文", "--field", "appointment_date=2026-02-30",
              "--field", "next_appointment_time=7pm", "--field", "practitioner=nobody",
              "--field", "appointment_time=10:00", "-o", str(lib / "x.pdf"))
    assert run.code == 1
    fields = "patient_name, practitioner, treatment_area, appointment_date, " \
             "next_appointment_date, next_appointment_time"
    assert run.errors == [
        "error: <command line>:8: patient_name: character U+4E2D '中' cannot be drawn by font "
        "Noto Sans (characters the clinic's font covers)",
        "error: <command line>:8: patient_name: character U+6587 '文' cannot be drawn by font "
        "Noto Sans (characters the clinic's font covers)",
        "error: <command line>:10: appointment_date: '2026-02-30' is not a date (a date as YYYY-MM-DD)",
        "error: <command line>:12: next_appointment_time: '7pm' is not a time "
        "(a time as HH:MM, 00:00 to 23:59)",
        "error: <command line>:14: practitioner: 'nobody' is not a practitioner of alder "
        "(expected one of: ann-ash, ben-birch)",
        f"error: <command line>:16: appointment_time: not used by aftercare (expected one of: {fields})",
    ]
    assert not (lib / "x.pdf").exists()


def test_very_long_value_is_refused_quickly(lib: Path) -> None:
    run = cli(lib, *BUILD, "--patient-name", "A" * 1_000_000)
    assert run.errors == ["error: <command line>:8: patient_name: is 1000000 characters long "
                          "(at most 120)"]


def test_control_characters_are_refused(lib: Path) -> None:
    run = cli(lib, *BUILD, "--field", "treatment_area=arm\x1b[31m")
    assert run.errors == ["error: <command line>:8: treatment_area: contains the control "
                          "character U+001B (printable text)"]


def test_field_without_equals(lib: Path) -> None:
    run = cli(lib, *BUILD, "--field", "appointment_date")
    assert run.errors == ["error: <command line>:8: --field: 'appointment_date' has no '=' (KEY=VALUE)"]


def test_argparse_misuse_uses_the_error_format(lib: Path) -> None:
    run = cli(lib, "build", "--clinic")
    assert run.code == 1
    assert run.errors == ["error: <command line>:1: arguments: argument --clinic: expected one "
                          "argument (see 'handoutgen build --help')"]


def test_unknown_language(lib: Path) -> None:
    run = cli(lib, *BUILD, "--language", "fr")
    assert run.errors == ["error: <command line>:8: --language: unknown value 'fr' (expected one of: en)"]


@pytest.mark.parametrize("clinic", ["assets/clinics/birch", "birch"])
def test_clinic_by_id_or_folder(lib: Path, clinic: str) -> None:
    run = cli(lib, "build", "--clinic", clinic, "--treatment", "needling", "--kind", "consent",
              "-o", str(lib / "c.pdf"))
    assert run.code == 0, run.err
    assert (lib / "c.pdf").read_bytes().startswith(b"%PDF-")


def test_errors_have_no_traceback_as_a_real_process(lib: Path) -> None:
    result = script(lib, "build", "--clinic", "x", "--treatment", "y", "--kind", "z")
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr
    assert result.stderr.decode().count("error: ") == 3


def test_a_reader_that_goes_away_ends_the_output_quietly(lib: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # as `generate.py list | head -0` would: every write finds the reader gone
    try:
        done = subprocess.run([sys.executable, str(REPO / "generate.py"), "list"], cwd=lib, stdout=write,
                              stderr=subprocess.PIPE, timeout=60, check=False)
    finally:
        os.close(write)
    assert done.stderr.decode() == ""
    assert done.returncode == 128 + signal.SIGPIPE
