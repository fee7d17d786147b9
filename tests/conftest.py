"""Shared test helpers: a private copy of the library, the command line, and PDF inspection."""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from canary import PATIENT, LogWatch, leaks, watch
from pypdf import PdfReader
from pypdf.generic import Destination
from servers import BIRCH, PASSWORD, SmtpServer, use_server

from handoutgen.cli import main

REPO = Path(__file__).resolve().parent.parent
_base: list[Path] = []  # the run's temporary folder, searched for the test patient's name at the end
FIXTURE = REPO / "tests" / "library"


@dataclass
class Run:
    """The outcome of one command-line run."""

    code: int
    out: str
    err: str

    @property
    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line]


def pytest_sessionstart(session: pytest.Session) -> None:
    logging.getLogger().addHandler(LogWatch())  # the program's log records, in this process


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if the test patient's name turned up anywhere but in PDFs and passcode lists."""
    if not _base:
        return
    found = leaks(_base[0])
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        write = reporter.write_line if reporter is not None else print
        write(f"\nthe test patient's name ({PATIENT}) leaked to {len(found)} places:")
        for where in found[:50]:
            write(f"  {where}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True, scope="session")
def _fresh_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Start every run with an empty template cache, as on a new machine."""
    _base.append(tmp_path_factory.getbasetemp())
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture(autouse=True, scope="session")
def _private_secret(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the installation secret the tests make out of the user's own config folder."""
    old = os.environ.get("HANDOUTGEN_SECRET")
    os.environ["HANDOUTGEN_SECRET"] = str(tmp_path_factory.mktemp("config") / "secret")
    yield
    if old is None:
        del os.environ["HANDOUTGEN_SECRET"]
    else:
        os.environ["HANDOUTGEN_SECRET"] = old


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    """A private, editable copy of the test library (tests/library)."""
    return copy_library(tmp_path / "lib")


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A private, editable copy of the shipped library: for tests of the shipped content itself."""
    return copy_library(tmp_path / "shipped", REPO)


@pytest.fixture
def mail_settings() -> dict[str, str]:
    """The clinics' mail settings for the `smtp` fixture (see servers.mail_section); a test module
    overrides this fixture to test with other settings."""
    return {}


@pytest.fixture
def smtp(tmp_path: Path, lib: Path, monkeypatch: pytest.MonkeyPatch,
         mail_settings: dict[str, str]) -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 that both clinics of `lib` send through."""
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    with SmtpServer(tmp_path) as server:
        use_server(lib, server, **mail_settings)
        use_server(lib, server, BIRCH, **mail_settings)
        yield server


def copy_library(root: Path, source: Path = FIXTURE) -> Path:
    """A private, editable copy of a library's content and clinics, with the shipped templates,
    labels and country wording (fonts linked, not copied)."""
    root.mkdir(parents=True)
    shutil.copytree(source / "handouts", root / "handouts")
    if source != REPO:
        shutil.copytree(REPO / "handouts" / "labels", root / "handouts" / "labels")
        shutil.copytree(REPO / "handouts" / "wording", root / "handouts" / "wording")
        for name in ("kinds.yaml", "fields.yaml"):  # a library may declare its own kinds and fields
            if not (root / "handouts" / name).exists():
                shutil.copy(REPO / "handouts" / name, root / "handouts" / name)
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "assets").mkdir()
    shutil.copytree(source / "assets" / "clinics", root / "assets" / "clinics")
    (root / "assets" / "fonts").symlink_to(REPO / "assets" / "fonts")
    return root


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def cli(root: Path, *args: str) -> Run:
    """Run the command line in this process, from `root`, capturing both streams."""
    out, err = io.StringIO(), io.StringIO()
    with _cwd(root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    watch(f"output of `generate.py {args[0] if args else ''}`", out.getvalue() + err.getvalue())
    return Run(code, out.getvalue(), err.getvalue())


def run_all(lib: Path, out: Path) -> Run:
    """Build everything into `out`; check the common shape of a failed run."""
    run = cli(lib, "all", "--out", str(out))
    assert run.code == 1
    assert "Traceback" not in run.err
    assert run.out == ""
    assert not out.exists() or not any(out.rglob("*.pdf"))
    return run


def edit(root: Path, name: str, old: str, new: str) -> str:
    """Replace the one occurrence of `old` in a library file; return the new text."""
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not unique in {name}"
    text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return text


def text_of(root: Path, name: str) -> str:
    """The text of a library file."""
    return (root / name).read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    """The 1-based line on which `needle` starts in `text`."""
    assert text.count(needle) == 1, f"{needle!r} is not unique"
    return text[:text.index(needle)].count("\n") + 1


def script(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `python generate.py ...` as a real process from `root`."""
    done = subprocess.run([sys.executable, str(REPO / "generate.py"), *args], cwd=root,
                          capture_output=True, input=stdin, timeout=120, check=False)
    watch(f"output of `generate.py {args[0] if args else ''}`",
          (done.stdout + done.stderr).decode(errors="replace"))
    return done


def pdf_text(path: Path, page: int | None = None) -> str:
    """Extracted text in the order it is drawn (pdftotext -raw): the order a reader gets."""
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", "-raw", *pages, str(path), "-"], capture_output=True, check=True,
                          text=True).stdout


def qpdf_ok(path: Path) -> bool:
    """True when `qpdf --check` finds no problem."""
    return subprocess.run(["qpdf", "--check", str(path)], capture_output=True,
                          check=False).returncode == 0


def flat(text: str) -> str:
    """Collapse whitespace so phrases broken over lines still match."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Span:
    """One run of text as drawn: its page (1-based), text, size in points and font."""

    page: int
    text: str
    size: float
    font: str
    y: float  # the baseline's height above the bottom edge, in points

    @property
    def bold(self) -> bool:
        return "Bold" in self.font


def spans(path: Path) -> list[Span]:
    """Every run of text in the order it is drawn, with the size it really has on the page."""
    found: list[Span] = []
    for number, page in enumerate(PdfReader(path).pages, 1):
        def visit(text: str, cm: list[float], tm: list[float], font: dict[str, object] | None,
                  size: float, number: int = number) -> None:
            if text.strip():
                # The text's height is the font size scaled by the vertical axis of text x CTM.
                vertical = (tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3])
                name = str(font.get("/BaseFont", "")) if font else ""
                baseline = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                found.append(Span(number, text.strip(), round(size * math.hypot(*vertical), 2),
                                  name.split("+")[-1], round(baseline, 2)))
        page.extract_text(visitor_text=visit)
    return found


def bookmarks(reader: PdfReader) -> list[tuple[str, int]]:
    """The top-level bookmarks: (title, 0-based page number)."""
    found: list[tuple[str, int]] = []
    for item in reader.outline:
        if isinstance(item, Destination):
            page = reader.get_destination_page_number(item)
            found.append((str(item.title), -1 if page is None else page))
    return found
