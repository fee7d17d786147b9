"""Deliver stage (files): every output goes through one atomic, confined write."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import DeliveryError
from .load import display

TEMP_SUFFIX = ".part"
# Temporary names say which host and process write them, so leftovers of a killed run can be
# told from the files of a run still going (see remove_leftovers).
HOST = os.uname().nodename  # the host name, as socket.gethostname() gives it
# A spreadsheet takes a cell that starts with one of these as a formula (OWASP, CSV injection);
# the full-width forms are there because some spreadsheets fold them to the ASCII ones.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def write_atomic(path: Path, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Write `data` to `path` so readers see the old file or the whole new one, never a part.

    The bytes go to a temporary file in the same folder, are flushed to disk (unless the caller
    flushes a whole run at its end: `durable=False`), then renamed over the target; on any
    failure the temporary file is removed.
    """
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-{HOST}-{os.getpid()}-", suffix=TEMP_SUFFIX, dir=folder)
    except OSError as err:
        raise DeliveryError.one(display(path), 1, "output", f"cannot write: {err.strerror}",
                                "a writable folder") from err
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise DeliveryError.one(display(path), 1, "output", f"cannot write: {err.strerror}",
                                "a writable folder with free space") from err
    if durable:
        _sync_folder(folder)


def spreadsheet_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one that could start a formula gets a leading '."""
    text = str(value)
    if text.startswith(FORMULA_START) or text.lstrip(" ").startswith(FORMULA_START):
        return "'" + text
    return text


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """CSV for people to open in a spreadsheet: every cell quoted and none able to run as a formula.

    Every CSV this program writes goes through here (OWASP's advice: quote each cell, escape
    quotes, and put a ' before a cell that starts with = + - @ tab or CR).
    """
    import csv  # these three are for runs and logs: a `build` starts without them

    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerows([spreadsheet_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def remove_leftovers(out: Path) -> int:
    """Delete temporary files left under `out` by killed runs of this host; return how many."""
    removed = 0
    for path in out.rglob(f".tmp-{HOST}-*{TEMP_SUFFIX}") if out.is_dir() else ():
        pid = path.name.removeprefix(f".tmp-{HOST}-").split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def confined(base: Path, relative: str) -> Path:
    """Join an output-relative name to `base`, refusing anything that would leave it."""
    target = (base / relative).resolve()
    if not target.is_relative_to(base.resolve()):
        raise DeliveryError.one(display(base), 1, "output", f"{relative!r} leaves the output folder",
                                "names inside the output folder")
    return target


class AppendLog:
    """A JSON Lines file that is only ever appended to, one complete write per call.

    A killed run, a full disk or two runs sharing the file never leave a torn line among the
    others: a line cut short is followed by a newline before anything else is written.
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            size = os.fstat(self.fd).st_size
            if size and os.pread(self.fd, 1, size - 1) != b"\n":
                os.write(self.fd, b"\n")
        except OSError as err:
            raise DeliveryError.one(display(path), 1, what, f"cannot write: {err.strerror}",
                                    "a writable output folder") from err

    def append(self, items: Iterable[dict[str, Any]], sync: bool = False) -> None:
        """Append items as lines; they reach the file together or not at all."""
        import json

        data = "".join(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n"
                       for item in items).encode()
        try:
            written = os.write(self.fd, data)
            if sync:
                os.fsync(self.fd)
        except OSError as err:
            raise DeliveryError.one(display(self.path), 1, self.what, f"cannot write: {err.strerror}",
                                    "a writable folder with free space") from err
        if written != len(data):
            raise DeliveryError.one(display(self.path), 1, self.what, "short write",
                                    "a writable folder with free space")

    def close(self) -> None:
        """Flush to disk and close."""
        try:
            os.fsync(self.fd)
        finally:
            os.close(self.fd)


def read_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Every line of a JSON Lines file that parses to an object; damaged lines are skipped."""
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        return
    with handle:
        yield from json_objects(handle)


def json_objects(lines: Iterable[str | bytes]) -> Iterator[dict[str, Any]]:
    """The lines that parse to a JSON object; a damaged line (cut short by a kill) is skipped."""
    import json

    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            yield item


class Tail:
    """Follows a file that runs append to: each read returns the complete lines added since."""

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what
        self.offset = 0

    def new_lines(self) -> list[bytes]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        except OSError as err:
            raise DeliveryError.one(display(self.path), 1, self.what, f"cannot read: {err.strerror}",
                                    "the file this program wrote") from err
        complete = data[:data.rfind(b"\n") + 1]
        self.offset += len(complete)
        return complete.splitlines(keepends=True)
