"""Where did the test patient's name end up? Tests that give the program a patient's name use PATIENT;
after the whole run (see pytest_sessionfinish in conftest.py) every file under the run's temporary
folders (outputs, the cache, logs, copies of libraries), the program's own temporary folders, its
printed output and its log records are searched for it.

It may appear only inside PDFs, in a passcode list readable by its owner only (mode 0600), and in
the appointment lists the tests wrote as input (marked with patient_input). Anywhere else (a
manifest, a ledger, the cache, a file name, a temporary file, a log line, an error message) it has
leaked. The search is for the rarest part of the name, in any case and in UTF-8 or UTF-16, so a
name that was cut, slugged or re-encoded is found too; zip files are searched member by member.
"""

from __future__ import annotations

import io
import logging
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

PATIENT = "Wilhelmina Canarybird"
TOKEN = "canarybird"
PROGRAM_TEMP = ("handoutgen-",)  # the program's own folders in the system's temporary folder
LARGEST = 256 * 1024 * 1024  # larger: a test's sparse giant (8 GB of nothing); only its name is checked
_inputs: set[Path] = set()
_seen: list[str] = []  # printed output and log records that held the name


def patient_input(path: Path) -> Path:
    """Mark a file a test wrote with patient names in it (an appointment list): it may hold them."""
    _inputs.add(path.resolve())
    return path


def watch(where: str, text: str) -> None:
    """Note text the program printed or logged, if it holds the name."""
    if TOKEN in text.casefold():
        _seen.append(where)


class LogWatch(logging.Handler):
    """Reads every log record the program emits in the test process."""

    def emit(self, record: logging.LogRecord) -> None:
        watch(f"log record of {record.name}: {record.levelname}", self.format(record))


def holds(data: bytes) -> bool:
    """Whether bytes hold the name's rarest part, in UTF-8 or UTF-16, in any case."""
    lowered = data.lower()
    return any(TOKEN.encode(codec) in lowered for codec in ("utf-8", "utf-16-le", "utf-16-be"))


def allowed(path: Path, data: bytes) -> bool:
    """Places the name may be: a PDF, the owner-only passcode list, a test's own input."""
    if data.startswith(b"%PDF-"):
        return True
    if path.name == "passcodes.csv" and stat.S_IMODE(path.stat().st_mode) == 0o600:
        return True
    return path.resolve() in _inputs


def _files(folders: Iterable[Path]) -> Iterator[Path]:
    for folder in folders:
        if folder.is_file():
            yield folder
        elif folder.is_dir():
            yield from (p for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink())


def _in_zip(path: Path, data: bytes) -> list[str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return [f"{path} (a zip file that cannot be read)"] if holds(data) else []
    with archive:
        return [f"{path}:{member}" for member in archive.namelist()
                if TOKEN in member.casefold()
                or (holds(content := archive.read(member)) and not content.startswith(b"%PDF-"))]


def leaks(base: Path) -> list[str]:
    """Every place the name turned up where it must not be."""
    found = [f"printed or logged: {where}" for where in _seen]
    program = [p for prefix in PROGRAM_TEMP for p in Path(tempfile.gettempdir()).glob(f"{prefix}*")]
    for path in _files([base, *program]):
        if TOKEN in str(path).casefold():
            found.append(f"file name: {path}")
            continue
        try:
            if path.stat().st_size > LARGEST:
                continue
            data = path.read_bytes()
        except OSError:
            continue  # a file that went away
        if path.suffix in (".zip", ".xlsx") and data.startswith(b"PK") and path.resolve() not in _inputs:
            found += [f"inside {where}" for where in _in_zip(path, data)]
        elif holds(data) and not allowed(path, data):
            found.append(f"file: {path}")
    return found
