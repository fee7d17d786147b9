"""The built wheel works on its own: installed into a fresh virtual environment, outside the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, flat, pdf_text, qpdf_ok

pytestmark = pytest.mark.slow

# What the wheel is built from: the repository without its tests, outputs and caches.
LEFT_OUT = shutil.ignore_patterns(".git", "tests", "out", "preview", "build", "*.egg-info", "__pycache__",
                                  ".*_cache", ".hypothesis", "benchmarks")


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a command to its end, capturing its text."""
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the freshly built wheel installed (dependencies from this Python)."""
    base = tmp_path_factory.mktemp("install")
    shutil.copytree(REPO, base / "source", ignore=LEFT_OUT)
    env = _clean_env()
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(base / "wheels"),
                 str(base / "source")], base, env)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (base / "wheels").glob("handoutgen-*.whl")
    made = run([sys.executable, "-m", "venv", "--system-site-packages", str(base / "venv")], base, env)
    assert made.returncode == 0, made.stderr
    # The dependencies are this Python's; the program itself must come from the wheel alone.
    installed = run([str(base / "venv" / "bin" / "python"), "-m", "pip", "install", "--no-index", "--no-deps",
                     "--force-reinstall", str(wheel)], base, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return base / "venv"


def _clean_env() -> dict[str, str]:
    """This environment without anything that would point Python at the checkout."""
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}


def test_the_installed_program_comes_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    where = run([str(venv / "bin" / "python"), "-c", "import handoutgen; print(handoutgen.__file__)"],
                tmp_path, _clean_env())
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv)


def test_an_empty_folder_says_how_to_make_a_library(venv: Path, tmp_path: Path) -> None:
    listing = run([str(venv / "bin" / "handoutgen"), "list"], tmp_path, _clean_env())
    assert listing.returncode == 1
    assert listing.stdout == ""
    assert listing.stderr == (f"error: {tmp_path}:1: library: no library here: no handouts/ folder (make one "
                              "with 'handoutgen init DIR' and run handoutgen inside DIR, or name one with "
                              "--root DIR)\n")


def test_init_list_and_build_in_an_empty_folder(venv: Path, tmp_path: Path) -> None:
    handoutgen, env = str(venv / "bin" / "handoutgen"), _clean_env()
    made = run([handoutgen, "init", "harbour"], tmp_path, env)
    assert (made.returncode, made.stderr) == (0, "")
    assert made.stdout.startswith("Wrote a starter library into harbour/: example clinics harbour-skin, "
                                  "maple-street; treatments mesotherapy.")
    library = tmp_path / "harbour"
    listing = run([handoutgen, "list"], library, env)
    assert listing.returncode == 0, listing.stderr
    assert "harbour-skin         Harbour Skin Clinic (example); paper a4" in listing.stdout
    assert "mesotherapy          version 1.1" in listing.stdout
    built = run([handoutgen, "build", "--clinic", "harbour-skin", "--treatment", "mesotherapy", "--kind",
                 "aftercare", "--patient-name", "Ada Quill", "--field", "appointment_date=2026-12-01",
                 "-o", "ada.pdf"], library, env)
    assert built.returncode == 0, built.stderr
    pdf = library / "ada.pdf"
    assert qpdf_ok(pdf)
    text = flat(pdf_text(pdf))
    assert "Ada Quill" in text and "Harbour Skin Clinic" in text and "Aftercare" in text
    fonts = run(["pdffonts", str(pdf)], library, env).stdout.splitlines()[2:]
    assert fonts and all(" yes yes " in line for line in fonts)  # every font embedded and subset
    # The same run with --root, from elsewhere, makes the same bytes.
    again = run([handoutgen, "--root", str(library), "build", "--clinic", "harbour-skin", "--treatment",
                 "mesotherapy", "--kind", "aftercare", "--patient-name", "Ada Quill", "--field",
                 "appointment_date=2026-12-01", "-o", str(tmp_path / "again.pdf")], tmp_path, env)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.pdf").read_bytes() == pdf.read_bytes()
