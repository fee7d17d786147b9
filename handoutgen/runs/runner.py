"""Run many builds: in parallel worker processes, skipping what is up to date, resumable.

The parent process validates and plans; each worker gets a small Task (what to build, where),
composes and renders it with the library it inherited, writes the file itself (atomically)
and sends back only the manifest records. The parent appends them to the manifest as they
arrive, so a run killed at any moment can simply be run again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import lifeline
from ..compose.compose import Request, compose, fingerprint
from ..errors import DeliveryError, HandoutError, Problem, RenderError
from ..library.gather import Library
from ..output import confined, remove_leftovers, write_atomic
from ..pipeline import build_document, render_documents, validate
from ..program import program_digest
from ..secret import keyed_hash
from ..values import Value, frozen
from . import manifest
from .manifest import Record
from .naming import handout


@frozen
class Task(Value):
    """One output file: a document, or a packet of documents, for one appointment (or none)."""

    file: str  # relative to the output folder
    requests: tuple[Request, ...]  # a packet holds several, in order
    duplex: bool = False
    appointment_id: str = ""
    inputs: str = ""  # hash of everything the file is made from: equal means up to date
    packet: bool = False  # one file binding the appointment's documents


def plural(count: int, word: str, many: str = "") -> str:
    """"1 row", "2 rows": a count with its noun."""
    return f"{count} {word if count == 1 else many or word + 's'}"


@dataclass
class Summary:
    """What a run did, in documents (a packet of three counts three)."""

    built: int = 0
    skipped: int = 0
    failed: int = 0
    packets: int = 0  # packets written (each holds several of the documents built)
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    failed_appointments: set[str] = field(default_factory=set)  # whose documents failed to build

    def line(self, out: Path) -> str:
        """The one summary line a run ends with."""
        rate = self.built / self.seconds if self.seconds else 0.0
        packets = f" in {plural(self.packets, 'packet')}" if self.packets else ""
        return (f"Built {plural(self.built, 'document')}{packets}, skipped {self.skipped} (up to date), "
                f"failed {self.failed} in {self.seconds:.1f} s ({rate:.0f} documents/s) into {out}/")


def inputs_key(library: Library, requests: tuple[Request, ...], duplex: bool) -> str:
    """Hash of everything a file is made from: program, content, branding, layouts, patient.

    With patient values it is keyed with the installation secret, so that it cannot confirm a
    guessed name; a handout without them needs no secret.
    """
    data = b"".join([program_digest().encode(),
                     *(repr((fingerprint(library, r), r)).encode() for r in requests),
                     b"duplex" if duplex else b"simplex"])
    if any(r.patient for r in requests):
        return keyed_hash(data)
    return hashlib.sha256(data).hexdigest()


def up_to_date(task: Task, existing: dict[tuple[str, str, str], Record], out: Path) -> bool:
    """True when the file exists, is what the manifest recorded, and was made from these inputs."""
    sha = None
    for request in task.requests:
        record = existing.get((task.appointment_id, task.file, request.kind))
        if record is None or record.status != "built" or record.inputs != task.inputs:
            return False
        sha = record.sha256
    try:
        return hashlib.sha256((out / task.file).read_bytes()).hexdigest() == sha
    except OSError:
        return False


@dataclass
class Result:
    """What a worker sends back: manifest records, and problems if the task failed."""

    records: list[Record]
    problems: list[Problem]
    fatal: bool = False  # the output cannot be written: stop the run
    appointment_id: str = ""
    packet: bool = False


class _Worker:
    """The state a worker process builds tasks with (inherited from the parent by fork)."""

    current: _Worker | None = None

    def __init__(self, library: Library, out: Path) -> None:
        self.library = library
        self.out = out

    def build(self, task: Task) -> Result:

        library = self.library
        try:
            documents = tuple(compose(library, r) for r in task.requests)
            pdf = render_documents(library, task.requests, documents, task.duplex)
        except HandoutError as err:
            return Result(self.records(task, "", "failed"), err.problems, appointment_id=task.appointment_id)
        try:
            # One flush for the whole run (see run): a rerun checks every file against its
            # sha256 in the manifest, so a file lost to a power cut is built again.
            write_atomic(confined(self.out, task.file), pdf, mode=0o600 if task.appointment_id
                         else 0o644, durable=False)
        except DeliveryError as err:
            return Result([], err.problems, fatal=True)
        return Result(self.records(task, hashlib.sha256(pdf).hexdigest(), "built"), [], packet=task.packet)

    def records(self, task: Task, sha: str, status: str) -> list[Record]:
        out = []
        for request in task.requests:
            treatment = self.library.treatments[request.treatment]
            out.append(Record(task.file, sha, request.clinic, request.treatment, request.kind,
                              request.language, treatment.meta.version,
                              fingerprint(self.library, request), task.appointment_id, status,
                              task.inputs, "large-print" if request.large_print else "standard"))
        return out


def _init(library: Library, out: Path, parent: int | None = None) -> None:
    if parent is not None:  # a pooled worker
        # Ctrl-C reaches every process of the terminal's group: only the parent handles it (it
        # stops the pool and says "interrupted"); a worker would print its own traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # A killed parent must not leave workers writing patient PDFs nobody collects.
        lifeline.bind_to_parent(parent)
    _Worker.current = _Worker(library, out)


def _work(task: Task) -> Result:
    lifeline.check()  # where the kernel cannot end an orphaned worker, it ends itself here
    worker = _Worker.current
    assert worker is not None
    return worker.build(task)


class Progress:
    """A progress bar with rate and ETA on a terminal; a plain line every few seconds otherwise."""

    def __init__(self, total: int, label: str, stream: Any = None, every: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.total, self.label, self.every = total, label, every
        self.done = 0
        self.start = self.last = time.perf_counter()
        self.bar: Any = None
        if total and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="doc", desc=label, file=self.stream, leave=False)

    def update(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
            return
        now = time.perf_counter()
        if now - self.last >= self.every and self.done < self.total:
            self.last = now
            rate = self.done / (now - self.start)
            eta = (self.total - self.done) / rate if rate else 0
            print(f"{self.label}: {self.done}/{self.total} documents, {rate:.0f}/s, "
                  f"about {eta:.0f} s left", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(library: Library, tasks: Iterable[Task], out: Path, jobs: int, force: bool = False,
        label: str = "building", total: int = 0) -> Summary:
    """Build every task that is not up to date; stop at the first output that cannot be written.

    Tasks are consumed as the run goes (a 10,000-row batch is never held in memory at once);
    `total` is the number of documents expected, for the progress bar.
    """
    start = time.perf_counter()
    summary = Summary()
    remove_leftovers(out)
    writer = manifest.Writer(out)
    progress = Progress(total, label)
    try:
        with _pool(library, out, jobs) as results:
            existing = {} if force else manifest.read(out)  # read after forking: parent only

            def todo() -> Iterator[Task]:
                for task in tasks:
                    if not force and up_to_date(task, existing, out):
                        summary.skipped += len(task.requests)
                        progress.update(len(task.requests))
                    else:
                        yield task

            for result in results(todo()):
                lifeline.check()  # a batch the web page started ends with the page's server
                if result.fatal:
                    raise DeliveryError(result.problems)
                writer.write(result.records)
                count = len(result.records)
                if result.problems:
                    summary.failed += count
                    summary.problems.extend(result.problems)
                    summary.failed_appointments.add(result.appointment_id)
                else:
                    summary.built += count
                    summary.packets += result.packet
                progress.update(count)
    finally:
        progress.close()
        writer.close()
        os.sync()  # the files written without a flush each, and the manifest
    summary.seconds = time.perf_counter() - start
    return summary


@contextlib.contextmanager
def _pool(library: Library, out: Path,
          jobs: int) -> Iterator[Callable[[Iterable[Task]], Iterator[Result]]]:
    """Workers started before any task is read: they inherit the library, not the plan."""
    if jobs <= 1:
        _init(library, out)
        yield lambda tasks: map(_work, tasks)
        return
    import multiprocessing

    # fork: workers inherit the loaded library, fonts and caches instead of loading them again
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs, initializer=_init, initargs=(library, out, os.getpid())) as pool:
        yield lambda tasks: pool.imap_unordered(_work, tasks, chunksize=4)


def all_requests(library: Library) -> list[Request]:
    """Every (clinic, treatment, kind, language) the library can build, without patient data."""
    requests: list[Request] = []
    for clinic_id in sorted(library.clinics):
        for treatment_id in sorted(library.treatments):
            for language in library.offered(clinic_id, treatment_id):
                requests.extend(Request(clinic_id, treatment_id, kind, language)
                                for kind in library.registry.kinds)
    return requests


def build_many(library: Library, requests: list[Request]) -> dict[Request, bytes]:
    """Build every request in memory; every problem of every document is reported together."""
    problems: list[Problem] = []
    built: dict[Request, bytes] = {}
    for request in requests:
        try:
            built[request] = build_document(library, request)
        except HandoutError as err:
            problems.extend(err.problems)
    if problems:
        raise RenderError(problems)
    return built


def build_all(library: Library, out: Path, jobs: int, force: bool = False) -> Summary:
    """Build every handout for every clinic into `out`, skipping what is up to date.

    Every document is composed and checked first: if any of them has a problem, nothing is
    written.
    """
    requests = all_requests(library)
    problems: list[Problem] = []
    for request in requests:
        try:
            validate(library, request, compose(library, request))
        except HandoutError as err:
            problems.extend(err.problems)
    if problems:
        raise RenderError(problems)
    tasks = [Task(handout(library, r), (r,), inputs=inputs_key(library, (r,), False))
             for r in requests]
    return run(library, tasks, out, jobs, force, label="handouts", total=len(tasks))
