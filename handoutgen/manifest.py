"""The manifest: a JSON Lines record, beside the output, of every document written.

One line per document and build, with the file, its sha256, what it was made from (clinic,
treatment, kind, language, form version, content fingerprint), the appointment and a status.
It is the clinic's record of exactly which version each patient was given, and it tells a
rerun what is already up to date. Lines are only ever appended, each with a single write, so
a killed run or two runs sharing a folder never leave a torn line; the latest line for a
document wins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import DeliveryError
from .load import display

NAME = "manifest.jsonl"


@dataclass(frozen=True)
class Record:
    """One document as written (or not) by one run."""

    file: str  # relative to the output folder
    sha256: str
    clinic: str
    treatment: str
    kind: str
    language: str
    form_version: str
    fingerprint: str
    appointment_id: str  # "" for handouts without a patient
    status: str  # "built" or "failed"
    inputs: str  # hash of everything the document was made from; equal means up to date

    @property
    def key(self) -> tuple[str, str, str]:
        """What a document is, independent of how it was built."""
        return self.appointment_id, self.file, self.kind


def read(out: Path) -> dict[tuple[str, str, str], Record]:
    """The latest record of each document; lines that do not parse are ignored."""
    latest: dict[tuple[str, str, str], Record] = {}
    for record in _lines(out / NAME):
        latest[record.key] = record
    return latest


def _lines(path: Path) -> Iterator[Record]:
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            try:
                yield Record(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a line from another version, or damaged: it only costs a rebuild


class Writer:
    """Appends records to the manifest, one complete line per write."""

    def __init__(self, out: Path) -> None:
        self.path = out / NAME
        try:
            out.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            size = os.fstat(self.fd).st_size
            if size and os.pread(self.fd, 1, size - 1) != b"\n":
                os.write(self.fd, b"\n")  # a line cut short by a full disk stays on its own
        except OSError as err:
            raise DeliveryError.one(display(self.path), 1, "manifest", f"cannot write: {err.strerror}",
                                    "a writable output folder") from err

    def write(self, records: Iterable[Record]) -> None:
        """Append records; they reach the file together or not at all."""
        data = "".join(json.dumps(asdict(r), ensure_ascii=False, sort_keys=True) + "\n"
                       for r in records).encode()
        try:
            written = os.write(self.fd, data)
        except OSError as err:
            raise DeliveryError.one(display(self.path), 1, "manifest", f"cannot write: {err.strerror}",
                                    "a writable folder with free space") from err
        if written != len(data):
            raise DeliveryError.one(display(self.path), 1, "manifest", "short write",
                                    "a writable folder with free space")

    def close(self) -> None:
        """Flush the manifest to disk."""
        try:
            os.fsync(self.fd)
        finally:
            os.close(self.fd)
