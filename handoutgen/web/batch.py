"""Batches from the page: an uploaded appointments CSV built in a separate process.

The upload is checked first (size, header, number of rows), so a bad file is reported at once.
The batch then runs as `generate.py batch` does, in a fresh process (reportlab's global state
and the server's threads stay apart; the runner forks its own workers from there). The page
polls the progress, read from the manifest as documents are written. When the batch ends, its
packets and manifest are offered once as a zip file; everything is then deleted. Files live in
a private temporary folder, and a batch nobody downloads is deleted after the session time.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .. import lifeline
from ..errors import HandoutError, Problem, UsageError
from ..output import alive, csv_text, write_atomic
from ..values import Value, frozen
from .config import Clock

UPLOAD = "appointments.csv"  # the upload's name in messages (appointments.xlsx for a workbook)
WORKBOOK = "appointments.xlsx"
OUT = "out"
ZIP = "handouts.zip"
PREFIX = "handoutgen-web-"  # one private folder per server: <PREFIX><pid>-<random>
STOPPED = ("error", [Problem(UPLOAD, 1, "(batch)", "the batch stopped unexpectedly",
                             "try again; if it happens again, report it")])


@dataclass
class Job:
    """One batch: its files, its process and, when it ends, its outcome."""

    id: str
    owner: str  # the session that started it: no one else sees it
    folder: Path
    rows: int
    total: int  # documents the rows ask for
    packet: bool
    clock: Clock  # the server's: ended is read on it
    process: Any = None
    conn: Connection | None = None
    ended: float | None = None  # on the clock, when the outcome was taken
    state: str = "running"  # running, done, failed
    built: int = 0
    failed: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    outcome: Outcome | None = None  # the rows and packets, once the batch is done
    upload: str = UPLOAD
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def out(self) -> Path:
        return self.folder / OUT

    def written(self) -> int:
        """Documents written so far (one manifest line each)."""
        try:
            with (self.out / "manifest.jsonl").open("rb") as handle:
                return sum(1 for _ in handle)
        except OSError:
            return 0

    def poll(self) -> None:
        """Take the outcome from the process once it has sent it (safe from several threads)."""
        with self.lock:
            self._poll()

    def _poll(self) -> None:
        if self.state != "running" or self.conn is None:
            return
        message: tuple[Any, ...] | None = None
        try:
            if self.conn.poll():
                message = self.conn.recv()
        except (EOFError, OSError):
            message = STOPPED
        if message is None:
            if self.process is None or self.process.is_alive():
                return
            message = STOPPED
        if message[0] == "done":
            _kind, self.built, self.failed, self.seconds, self.problems, self.outcome = message
            self.state = "done"
        else:
            self.problems = message[1]
            self.state = "failed"
        self.ended = self.clock()
        self.conn.close()
        if self.process is not None:
            self.process.join(timeout=5)

    def status(self) -> dict[str, Any]:
        """What the page shows while it waits (no patient data)."""
        self.poll()
        done = self.total if self.state != "running" else min(self.written(), self.total)
        outcome = self.outcome or Outcome()
        return {"state": self.state, "done": done, "total": self.total, "rows": self.rows,
                "built": self.built, "failed": self.failed, "problems": len(self.problems),
                "appointments": outcome.appointments, "failed_rows": outcome.failed_rows,
                "packets": outcome.packets}

    def archive(self) -> Path:
        """Zip the packets, the manifest and a list of the rows that failed."""
        target = self.folder / ZIP
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for path in sorted(self.out.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    archive.write(path, path.relative_to(self.out).as_posix())
            if self.problems:
                rows = [[p.line, p.path, p.message, p.allowed] for p in self.problems]
                archive.writestr("row-problems.csv", csv_text([["line", "column", "problem", "allowed"],
                                                               *rows]))
        return target

    def remove(self) -> None:
        """Stop the process if it still runs, and delete every file."""
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        if self.conn is not None:
            self.conn.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@frozen
class Outcome(Value):
    """What a finished batch did with the rows (the documents are counted in the Job)."""

    appointments: int = 0  # rows whose documents were all built (or were up to date)
    failed_rows: int = 0  # rows with a problem, or whose documents failed
    skipped_rows: int = 0  # empty rows
    packets: int = 0


def count_rows(root: Path, path: Path, limit: int) -> tuple[int, int]:
    """Check the header and count rows and documents; raise UsageError on a bad file."""
    from ..runs.appointments import AppointmentsFile, is_blank, listed

    sheet = AppointmentsFile(root, path, name=path.name)  # not the private folder's name
    rows = documents = 0
    for line, row in sheet.rows():
        if is_blank(line):
            continue
        rows += 1
        if rows > limit:
            raise UsageError.one(sheet.name, line.number, "(rows)", f"the file has more than {limit} "
                                 "appointments", f"at most {limit} per upload: split the list")
        documents += len(listed(row))
    if not rows:
        raise UsageError.one(sheet.name, sheet.table.header_line + 1, "(rows)",
                             "the file has no appointments", "a header row and one row per appointment")
    return rows, documents


def upload_name(data: bytes) -> str:
    """The name an upload is kept under: a workbook (a zip file) or CSV, by its content."""
    return WORKBOOK if data.startswith(b"PK\x03\x04") else UPLOAD


class Jobs:
    """The batches of this server: at most one runs at a time (a clinic PC has few cores)."""

    def __init__(self, root: Path, clinic: str | None, jobs: int, keep_seconds: float, clock: Clock) -> None:
        self.root, self.clinic, self.jobs, self.keep, self.clock = root, clinic, jobs, keep_seconds, clock
        self.lock = threading.Lock()
        self.items: dict[str, Job] = {}
        sweep_leftovers()
        self.base = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        self.held = lifeline.hold(self.base)  # until the server ends: no sweep deletes the folder

    def start(self, owner: str, data: bytes, packet: bool, duplex: bool, max_rows: int,
              large_print: bool = False) -> Job:
        """Check an upload and start building it; raise UsageError when it cannot be used."""
        self.reap()
        with self.lock:
            for job in self.items.values():
                job.poll()  # a batch whose page was closed has still ended
            if any(job.state == "running" for job in self.items.values()):
                raise UsageError.one(UPLOAD, 1, "(batch)", "another batch is still running",
                                     "wait until it has finished, then upload again")
            folder = Path(tempfile.mkdtemp(prefix="batch-", dir=self.base))
            job = Job(secrets.token_urlsafe(16), owner, folder, 0, 0, packet, self.clock)
            self.items[job.id] = job
        try:
            job.upload = upload_name(data)
            path = folder / job.upload
            write_atomic(path, data, mode=0o600, durable=False)  # patient data: its owner's only
            job.rows, job.total = count_rows(self.root, path, max_rows)
            context = multiprocessing.get_context("spawn")  # a clean process: no threads, no locks held
            receive, send = context.Pipe(duplex=False)
            job.process = context.Process(
                target=work,
                args=(self.root, self.clinic, path, packet, duplex, self.jobs, send, large_print,
                      os.getpid()),
                name="handoutgen-batch")  # not daemonic: it starts workers
            job.process.start()
            send.close()
            job.conn = receive
        except BaseException:
            with self.lock:
                self.items.pop(job.id, None)
            job.remove()
            raise
        return job

    def get(self, job_id: str, owner: str) -> Job | None:
        """A batch of this session, or None."""
        self.reap()
        with self.lock:
            job = self.items.get(job_id)
        return job if job is not None and secrets.compare_digest(job.owner, owner) else None

    def forget(self, job: Job) -> None:
        """Take a batch off the list: its zip is being sent, once (its files go when that ends)."""
        with self.lock:
            self.items.pop(job.id, None)

    def reap(self) -> None:
        """Delete batches that ended longer ago than a session lasts."""
        now = self.clock()
        with self.lock:
            for job in self.items.values():
                job.poll()
            old = [job for job in self.items.values()
                   if job.ended is not None and now - job.ended > self.keep]
            for job in old:
                del self.items[job.id]
        for job in old:
            job.remove()

    def close(self) -> None:
        """Stop every batch and delete every file (the server is stopping)."""
        with self.lock:
            jobs = list(self.items.values())
            self.items.clear()
        for job in jobs:
            job.remove()
        shutil.rmtree(self.base, ignore_errors=True)
        self.held.close()


def sweep_leftovers() -> None:
    """Delete the folders of servers that were killed, once none of their processes still writes there.

    The lock decides: a killed server's batch workers may outlive it for a moment. A folder without a
    lock (a server killed while it made the folder) goes when its server's process is gone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        pid = folder.name.removeprefix(PREFIX).split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        if (folder / lifeline.LOCK).exists():
            lifeline.sweep(folder)
        elif not alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def work(root: Path, clinic: str | None, path: Path, packet: bool, duplex: bool, jobs: int,
         conn: Connection, large_print: bool = False, server: int | None = None) -> None:
    """The batch process: plan and build the rows, then send back counts and problems.

    It ends with the server (`server` is its process id), and holds the server's folder while it runs."""
    from ..runs.appointments import Shard, run_batch

    if server is not None:
        lifeline.bind_to_parent(server)
    try:
        held = lifeline.hold(path.parent.parent)
    except OSError:  # the server has ended and its folder is being deleted
        conn.close()
        return
    os.chdir(path.parent)  # messages name the upload as appointments.csv (or .xlsx)
    try:
        summary, counts = run_batch(root, path, path.parent / OUT, packet, duplex and packet, Shard(),
                                    jobs or (os.cpu_count() or 1), True, [clinic] if clinic else None,
                                    large_print=large_print)
        failed = counts.refused + len(summary.failed_appointments)
        outcome = Outcome(counts.rows - counts.empty - failed, failed, counts.empty, summary.packets)
        conn.send(("done", summary.built, summary.failed, summary.seconds, sorted(summary.problems),
                   outcome))
    except HandoutError as err:
        conn.send(("error", err.problems))
    except Exception:  # its message may hold patient values: say only that it failed
        conn.send(STOPPED)
    finally:
        conn.close()
        held.close()
