"""Hostile and unlucky input: each ends in its exact error line, a non-zero exit, no traceback and
no output file. Templates that try to exhaust memory or time, a font too large, Ctrl-C during a
batch, and the dependency floors. (Huge or undrawable logos, pipes, devices and links out of the
library are cases of the corpus: tests/corpus/.)"""

from __future__ import annotations

import csv
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from conftest import REPO, cli, edit, flat, line_of, pdf_text, script, text_of
from packaging.requirements import Requirement
from packaging.version import Version

from handoutgen.compose import sandbox
from handoutgen.library import gather as library

pytestmark = pytest.mark.slow  # the fast layer (pytest -m "not slow") leaves it out

CONSENT = "templates/consent.xml.j2"
ANCHOR = "{% set part = treatment.part %}\n"  # a line of the stock consent layout
CANARY = "root:CANARY-7f3a9c:19000:0:99999:7:::"  # stands in for /etc/shadow


def build(lib: Path, tmp_path: Path, clinic: str = "alder") -> list[str]:
    """Build one consent form in this process; check the shape every refusal has."""
    target = tmp_path / "out.pdf"
    run = cli(lib, "build", "--clinic", clinic, "--treatment", "peel", "--kind", "consent",
              "-o", str(target))
    assert run.code == 1
    assert "Traceback" not in run.err
    assert run.out == ""
    assert not target.exists()
    return run.errors


def build_process(lib: Path, tmp_path: Path, memory: int | None = None) -> list[str]:
    """Build one consent form in a real process (with at most `memory` bytes of address space)."""
    target = tmp_path / "out.pdf"

    def limit() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    done = subprocess.run([sys.executable, str(REPO / "generate.py"), "build", "--clinic", "alder",
                           "--treatment", "peel", "--kind", "consent", "-o", str(target)],
                          cwd=lib, capture_output=True, text=True, timeout=120, check=False,
                          preexec_fn=limit)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not target.exists()
    return done.stderr.splitlines()


def layout_line(lib: Path, line: str) -> int:
    """Add a line to the stock consent layout; return its line number."""
    return line_of(edit(lib, CONSENT, ANCHOR, ANCHOR + line + "\n"), line)


# Logos ------------------------------------------------------------------------------------------


# Templates --------------------------------------------------------------------------------------

LIMITS = sandbox.LIMITS


@pytest.mark.parametrize(("line", "problem"), [
    pytest.param("{{ range(100000000)|list|length }}",
                 f"range of 100000000 numbers is too long (at most {LIMITS.range} numbers in a range)",
                 id="range"),
    pytest.param("{{ 10 ** 1000 }}",
                 f"a number of about 3000 bits is too large (whole numbers of at most {LIMITS.bits} bits)",
                 id="power"),
    pytest.param("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
                 f"output is more than {LIMITS.output} characters (at most {LIMITS.output} characters "
                 "per document)", id="output"),
    pytest.param("{% macro again(n) %}{{ again(n + 1) }}{% endmacro %}{{ again(1) }}",
                 "macros or loops call themselves too deeply (recursion that ends within a few hundred "
                 "levels)", id="recursion"),
])
def test_a_template_beyond_its_limits(lib: Path, tmp_path: Path, line: str, problem: str) -> None:
    number = layout_line(lib, line)
    assert build(lib, tmp_path) == [f"error: {CONSENT}:{number}: (template): {problem}"]


@pytest.mark.parametrize(("line", "size"), [
    pytest.param("{{ ('x' * 10 ** 9)|length }}", 10**9, id="repeat"),
    pytest.param("{{ 'x'.ljust(10 ** 9)|length }}", 10**9, id="ljust"),
    pytest.param("{{ 'x'|center(10 ** 9) }}", 10**9, id="center"),
    pytest.param("{{ '{:>999999999}'.format(1)|length }}", 999999999, id="format-width"),
    pytest.param("{{ '{:>{}}'.format('x', 10 ** 9)|length }}", 10**9, id="format-nested-width"),
    pytest.param("{{ '%999999999s'|format(1) }}", 999999999, id="printf-width"),
    pytest.param("{{ '%*s' % (10 ** 9, 'x') }}", 10**9, id="printf-star-width"),
    pytest.param("{{ ('-'.join([('x' * 1000000)] * 1000))|length }}", 1000001000, id="join"),
    pytest.param("{{ ('ab' * 500000).replace('a', 'x' * 2000)|length }}", 1000500000, id="replace"),
    pytest.param("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                 "{% endfor %}", 2**20, id="doubling"),
])
def test_a_template_asking_for_a_gigabyte_in_a_process_with_little_memory(
        lib: Path, tmp_path: Path, line: str, size: int) -> None:
    # 768 MB of address space builds a handout. A template that got to make its value would ask
    # for about a gigabyte (or double it until the end) and die of a MemoryError with a traceback.
    number = layout_line(lib, line)
    assert build_process(lib, tmp_path, memory=768 * 2**20) == [
        f"error: {CONSENT}:{number}: (template): a value of {size} characters or items is too large "
        f"(at most {LIMITS.value} characters or items in one value)"]


def test_ordinary_numbers_loops_and_formats_stay_within_the_limits(lib: Path, tmp_path: Path) -> None:
    # Numbers in a format string are text, and numbers formatted are values, not widths.
    line = ("<p>{{ 'Ref 0800123456: {}'.format(5000000) }} {{ 'No. %d' % 123456789 }} "
            "{{ '%08.2f'|format(2.5) }} {% for i in range(3) %}{{ loop.length - i }}{% endfor %} "
            "{{ range(4)|length }} {{ ' '.join(['a'] * 3) }}</p>")
    edit(lib, CONSENT, "<document>\n", "<document>\n" + line + "\n")
    target = tmp_path / "out.pdf"
    run = cli(lib, "build", "--clinic", "alder", "--treatment", "peel", "--kind", "consent",
              "-o", str(target))
    assert (run.code, run.err) == (0, "")
    assert "Ref 0800123456: 5000000 No. 123456789 00002.50 321 4 a a a" in flat(pdf_text(target))


class SteppingClock:
    """A clock that moves on a millisecond every time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def test_a_template_that_runs_too_long(lib: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A whole consent form reads the clock about 250 times: a quarter of this budget.
    monkeypatch.setattr(sandbox, "LIMITS", sandbox.Limits(seconds=1.0, clock=SteppingClock()))
    # Ten billion steps of plain loops: no call, filter or output for a sandbox hook to see.
    number = layout_line(lib, "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}"
                              "{% endfor %}")
    assert build(lib, tmp_path) == [
        f"error: {CONSENT}:{number}: (template): rendering takes more than 1 s (templates that finish "
        "within 1 s)"]


def test_a_template_too_large(lib: Path, tmp_path: Path) -> None:
    size = library.MAX_TEMPLATE_BYTES + 1
    path = lib / CONSENT
    path.write_bytes(path.read_bytes().ljust(size, b"\n"))
    assert build(lib, tmp_path) == [
        f"error: {CONSENT}:1: (template): file is {size} bytes (at most {library.MAX_TEMPLATE_BYTES} "
        "bytes)"]


# YAML and fonts ---------------------------------------------------------------------------------

def check(lib: Path) -> list[str]:
    """Run `check` in a real process (a file that blocks must not stop the test run)."""
    done = script(lib, "check")
    err = done.stderr.decode()
    assert done.returncode == 1
    assert "Traceback" not in err
    assert done.stdout == b""
    assert "CANARY" not in err
    return err.splitlines()


def test_a_font_file_too_large(lib: Path) -> None:
    fonts = lib / "assets/fonts"
    shipped = fonts.resolve()
    fonts.unlink()
    shutil.copytree(shipped, fonts)  # a private copy, to grow one of its files
    name = "noto-sans/NotoSans-Regular.ttf"
    size = library.MAX_FONT_BYTES + 1
    with (fonts / name).open("r+b") as handle:  # sparse: large without filling the disk
        handle.truncate(size)
    line = line_of(text_of(lib, "assets/fonts/fonts.yaml"), f"regular: {name}")
    assert check(lib) == [f"error: assets/fonts/fonts.yaml:{line}: noto-sans.regular: '{name}' is "
                          f"{size} bytes (at most {library.MAX_FONT_BYTES} bytes)"]


# Ctrl-C -----------------------------------------------------------------------------------------

def _ctrl_c_as_at_a_terminal() -> None:
    """Let Ctrl-C interrupt, as at a terminal, even when the tests run as a background job (which
    starts with SIGINT ignored, and Python then keeps it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_a_batch_prints_one_line(lib: Path, tmp_path: Path) -> None:
    appointments = tmp_path / "day.csv"
    with appointments.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["appointment_id", "clinic", "patient_name", "treatment", "documents", "date",
                         "time", "practitioner"])
        writer.writerows([f"C{i:05d}", "alder", f"Patient Number {i}", "needling", "aftercare",
                          "2026-12-01", "09:00", ""] for i in range(3000))
    out = tmp_path / "out"
    # Its own process group, as a terminal's foreground job: Ctrl-C reaches the workers too.
    process = subprocess.Popen([sys.executable, str(REPO / "generate.py"), "batch", "--appointments",
                                str(appointments), "--out", str(out), "--jobs", "2"], cwd=lib,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, preexec_fn=_ctrl_c_as_at_a_terminal)
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 120
    while not (manifest.exists() and manifest.stat().st_size) and process.poll() is None:
        assert time.monotonic() < deadline, "the batch never started building"
        time.sleep(0.02)  # waiting for the first document, not timing anything
    assert process.poll() is None, "the batch ended before it could be interrupted"
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert stderr == "error: interrupted\n"
    assert stdout == ""


# Dependencies -----------------------------------------------------------------------------------

ADVISORY_FLOORS = {  # the first releases without known advisories that matter here
    "jinja2": "3.1.6",  # sandbox escapes; layouts rely on the sandbox
    "waitress": "3.0.1",
    "werkzeug": "3.0.6",
    "pillow": "10.3",
}


def requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = (Requirement(text) for text in project["dependencies"])
    return {req.name.lower(): req for req in found}


def floor(req: Requirement) -> Version:
    """The lowest version a requirement allows (its >= bound)."""
    bounds = [Version(spec.version) for spec in req.specifier if spec.operator == ">="]
    assert len(bounds) == 1, f"{req} has no single >= floor"
    return bounds[0]


@pytest.mark.parametrize(("name", "minimum"), sorted(ADVISORY_FLOORS.items()))
def test_dependency_floors_exclude_releases_with_advisories(name: str, minimum: str) -> None:
    assert floor(requirements()[name]) >= Version(minimum)


def test_installed_dependencies_meet_the_floors() -> None:
    for name, req in sorted(requirements().items()):
        installed = metadata.version(name)
        assert req.specifier.contains(installed, prereleases=True), f"{name} {installed} is not {req}"

