"""The manifest: a JSON Lines record, beside the output, of every document written.

One line per document and build, with the file, its sha256, what it was made from (clinic,
treatment, kind, language, form version, content fingerprint), the appointment and a status.
It is the clinic's record of exactly which version each patient was given, and it tells a
rerun what is already up to date. Lines are only ever appended, each with a single write, so
a killed run or two runs sharing a folder never leave a torn line; the latest line for a
document wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path

from ..output import AppendLog, read_lines
from ..values import Value, frozen

NAME = "manifest.jsonl"


@frozen
class Record(Value):
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
    edition: str = "standard"  # or "large-print"

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
    for item in read_lines(path):
        try:
            yield Record(**item)
        except TypeError:
            continue  # a line from another version: it only costs a rebuild


class Writer:
    """Appends records to the manifest, one complete line per write."""

    def __init__(self, out: Path) -> None:
        self.log = AppendLog(out / NAME, "manifest")

    def write(self, records: Iterable[Record]) -> None:
        """Append records; they reach the file together or not at all."""
        self.log.append(asdict(r) for r in records)

    def close(self) -> None:
        """Flush the manifest to disk."""
        self.log.close()
