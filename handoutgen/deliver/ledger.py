"""The send ledger and the passcode list: durable records of what was emailed, and how to open it.

ledger.jsonl gets a "sending" line, flushed to disk, before a message is handed to the server,
and a "sent", "failed" or "unknown" line after. The latest line for a message wins, and a
message whose latest line is "sending" (the run was killed mid-send) counts as unknown: it may
have arrived, so it is never resent without being asked. The ledger holds no name or address,
and its keys are keyed hashes: each line names the installation secret (secret.key_id) it was
written with, and a ledger of another secret stops the run rather than send everything again.

passcodes.csv is for the front desk, who read each passcode to the patient by phone: it holds
the patient's name, so it is created readable by its owner only, and no cell of it can run as
a spreadsheet formula.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import DeliveryError
from ..load import display
from ..output import HOST, AppendLog, Tail, alive, csv_text, json_objects
from ..secret import key_id, secret_path
from ..values import Value, frozen

LEDGER = "ledger.jsonl"
PASSCODES = "passcodes.csv"
PASSCODE_COLUMNS = ("appointment_id", "appointment_date", "appointment_time", "patient_name",
                    "passcode", "message_id", "created")
SETTLED = ("sent",)  # never sent again
IN_DOUBT = ("unknown", "sending")  # sent again only when asked (--resend-unknown)


def now() -> str:
    """The current time, UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@frozen
class Entry(Value):
    """The latest state of one message."""

    key: str
    status: str
    message_id: str
    owner: str = ""  # "host:pid" of the run that wrote a "sending" line

    def in_flight(self) -> bool:
        """A "sending" line whose run is still going on this computer: another run is sending it."""
        host, _, pid = self.owner.rpartition(":")
        return self.status == "sending" and host == HOST and pid.isdigit() and int(pid) != os.getpid() \
            and alive(int(pid))


class Ledger:
    """Appends to the ledger, syncing every line to disk; runs sharing it take turns per message.

    `claim()` locks the ledger (a lock file beside it) and reads what other runs appended since,
    so two runs on one folder never both send the same message.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LEDGER
        self.latest: dict[str, Entry] = {}
        self.sent_to: set[str] = set()  # appointments that were sent some version already
        self.tail = Tail(self.path, "ledger")
        self.lines = 0  # lines read so far
        self.legacy = False  # lines from before keyed hashes: their keys are plain SHA-256
        self.secret = key_id()
        self.log: AppendLog | None = None  # opened on the first record: a dry run writes none
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.lock = os.open(folder / ".ledger.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise DeliveryError.one(display(self.path), 1, "ledger", f"cannot write: {err.strerror}",
                                    "a writable output folder") from err
        try:
            self.refresh()
        except DeliveryError:
            os.close(self.lock)
            raise

    def refresh(self) -> None:
        """Read the lines other runs (and this one) appended since the last read."""
        for raw in self.tail.new_lines():
            self.lines += 1
            for item in json_objects([raw]):
                self._read(item)

    def _read(self, item: dict[str, Any]) -> None:
        key, status, mid = item.get("key"), item.get("status"), item.get("message_id")
        if not (isinstance(key, str) and isinstance(status, str) and isinstance(mid, str)):
            return
        if "secret" not in item:
            self.legacy = True
        elif item["secret"] != self.secret:  # its keys mean nothing now: every message would go again
            raise DeliveryError.one(
                display(self.path), self.lines, "secret",
                "was written with another installation secret, so its messages would all be sent again",
                f"restore that secret to {display(secret_path())} from its backup (see docs/admin.md); "
                "or move the ledger away, knowing that its messages will then be sent again")
        self.latest[key] = Entry(key, status, mid, str(item.get("owner", "")))
        if status == "sent" and isinstance(item.get("appointment_id"), str):
            self.sent_to.add(item["appointment_id"])

    def adopt(self, key: str, legacy: str) -> Entry | None:
        """Take a message an older version recorded under its plain-SHA-256 key as `key`'s."""
        old = self.latest.get(legacy)
        if old is None or key in self.latest:
            return None
        self.latest[key] = old
        return old

    @contextlib.contextmanager
    def claim(self) -> Iterator[None]:
        """Hold the ledger while one message is checked, sent and recorded."""
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        try:
            self.refresh()
            yield
        finally:
            fcntl.flock(self.lock, fcntl.LOCK_UN)

    def entry(self, key: str) -> Entry | None:
        """The latest state of a message, or None if it was never tried."""
        return self.latest.get(key)

    def record(self, key: str, status: str, details: dict[str, Any]) -> None:
        """Append one line and make it durable before returning."""
        if self.log is None:
            self.log = AppendLog(self.path, "ledger")
        owner = {"owner": f"{HOST}:{os.getpid()}"} if status == "sending" else {}
        self.log.append([{"key": key, "status": status, "time": now(), **details, **owner,
                          "secret": self.secret}], sync=True)

    def close(self) -> None:
        """Flush and close the ledger."""
        if self.log is not None:
            self.log.close()
        os.close(self.lock)


class PasscodeList:
    """passcodes.csv: one row per message that carries protected attachments."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / PASSCODES
        self.known: dict[str, str] = {}  # message id -> passcode, to reuse on a resend
        self.tail = Tail(self.path, "passcodes")
        self.header: list[str] | None = None
        self.refresh()

    def refresh(self) -> None:
        """Read the rows added since the last read (another run may have added some)."""
        text = b"".join(self.tail.new_lines()).decode("utf-8", "replace")
        for cells in csv.reader(io.StringIO(text, newline="")):
            if self.header is None or cells == self.header:
                self.header = cells
                continue
            row = dict(zip(self.header, cells, strict=False))
            if row.get("message_id") and row.get("passcode"):
                self.known[row["message_id"]] = row["passcode"]

    def add(self, row: dict[str, str]) -> None:
        """Append a row (with the header if the file is new) and make it durable."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                # a list copied or restored with wider permissions: passcodes are for its owner only
                if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
                    os.fchmod(fd, 0o600)
                values = {**row, "created": now()}
                rows = [[values.get(column, "") for column in PASSCODE_COLUMNS]]
                if os.fstat(fd).st_size == 0:
                    rows.insert(0, list(PASSCODE_COLUMNS))
                    self.header = list(PASSCODE_COLUMNS)
                os.write(fd, csv_text(rows).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as err:
            raise DeliveryError.one(display(self.path), 1, "passcodes", f"cannot write: {err.strerror}",
                                    "a writable folder with free space") from err
        self.known[row["message_id"]] = row["passcode"]
