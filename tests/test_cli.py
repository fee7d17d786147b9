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


def test_very_long_value_is_refused_quickly(lib: Path) -> None:
    run = cli(lib, *BUILD, "--patient-name", "A" * 1_000_000)
    assert run.errors == ["error: <command line>:8: patient_name: is 1000000 characters long "
                          "(at most 120)"]


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
