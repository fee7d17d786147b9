"""Bad luck, on purpose: `kill -9` at random moments of a 1,000-document batch and of an email run,
and a disk that fills at the first, a middle or the last document. Afterwards nothing in the
output is partial, no message reached the mail server twice, and a rerun completes.

The moments are drawn from a seeded generator: a failure names its seed (FAULT_SEED=<seed> repeats it).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from canary import PATIENT
from conftest import REPO, cli
from servers import SmtpServer
from test_batch import HEADER, files, write_csv

from handoutgen.runs.runner import plural

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")]

KILLS = 20
EMAIL_HEADER = ["appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
                "practitioner", "email", "language"]


@pytest.fixture
def rng() -> random.Random:
    """A seeded generator; the seed is printed, and pytest shows what a failing test printed."""
    seed = int(os.environ.get("FAULT_SEED", random.SystemRandom().randrange(2**32)))
    print(f"fault seed: {seed} (repeat with FAULT_SEED={seed})")
    return random.Random(seed)


def start(lib: Path, *args: str) -> subprocess.Popen[bytes]:
    """`generate.py ...` as a process group of its own (it and its workers are killed together)."""
    return subprocess.Popen([sys.executable, str(REPO / "generate.py"), *args], cwd=lib,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    """kill -9 the process and its workers once `ready()` holds or the process has ended by itself."""
    deadline = time.monotonic() + 120
    while not ready() and process.poll() is None:
        assert time.monotonic() < deadline, "the run made no progress in 120 s"
        time.sleep(0.01)
    with_workers = process.poll() is None
    if with_workers:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def complete_pdfs(out: Path) -> dict[str, bytes]:
    """Every PDF of the output, each checked to be whole (a partial one would lack its end)."""
    found = files(out)
    for name, data in found.items():
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF"), f"{name} is partial"
    return found


def others(out: Path) -> list[str]:
    """The files of the output that are not PDFs."""
    return sorted(p.name for p in out.rglob("*") if p.is_file() and p.suffix != ".pdf")


def recorded(out: Path) -> dict[str, bytes]:
    """The PDFs of the output that the manifest records as they are."""
    latest = {}
    for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)  # no line is cut short
        latest[record["file"]] = record["sha256"]
    return {name: data for name, data in complete_pdfs(out).items()
            if latest.get(name) == hashlib.sha256(data).hexdigest()}


def test_twenty_kills_during_a_thousand_document_batch_then_a_rerun_completes(
        lib: Path, tmp_path: Path, rng: random.Random) -> None:
    rows = [[f"K{i:04d}", ("alder", "birch")[i % 2], f"{PATIENT} {i}", "needling", "aftercare;pre-treatment",
             "2026-12-01", "09:00", "", "", ""] for i in range(500)]
    appointments = write_csv(tmp_path / "day.csv", rows)
    out = tmp_path / "out"
    manifest = out / "manifest.jsonl"
    args = ("batch", "--appointments", str(appointments), "--out", str(out), "--jobs", "2")
    for _ in range(KILLS):
        written = lines(manifest)
        wait_for = rng.randrange(0, 30)  # documents to let through: 0 kills it while it starts
        kill_when(start(lib, *args), lambda: lines(manifest) >= written + wait_for)  # noqa: B023
        recorded(out)  # every file whole, every manifest line whole
    kept = len(recorded(out))  # a file written after its run was killed is not in the manifest: built again
    rerun = cli(lib, *args)
    assert rerun.code == 0, rerun.err
    assert rerun.out.splitlines()[-1].startswith(
        f"Built {1000 - kept} documents, skipped {kept} (up to date), failed 0 in "), rerun.out
    assert len(recorded(out)) == len(complete_pdfs(out)) == 1000
    assert others(out) == ["manifest.jsonl"]  # the killed runs' temporary files are gone
    assert sorted(p.name for p in out.rglob("*") if p.is_file() and p.suffix != ".pdf") == ["manifest.jsonl"]


def latest_statuses(out: Path) -> Counter[str]:
    """How many messages are in each state, by the latest line of each in the send ledger."""
    latest: dict[str, str] = {}
    for line in (out / "ledger.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        latest[record["key"]] = record["status"]
    return Counter(latest.values())


def test_twenty_kills_during_an_email_run_send_nothing_twice(lib: Path, tmp_path: Path, smtp: SmtpServer,
                                                             rng: random.Random) -> None:
    count = 40
    rows = [[f"M{i:03d}", "alder", f"{PATIENT} {i}", "needling", "aftercare", "2026-12-01", "10:30", "",
             f"p{i}@patients.test", ""] for i in range(count)]
    appointments = write_csv(tmp_path / "day.csv", rows, EMAIL_HEADER)
    out = tmp_path / "mail"
    args = ("email", "--appointments", str(appointments), "--out", str(out))
    for _ in range(KILLS):
        arrived = len(smtp.messages)
        wait_for = rng.randrange(0, 3)  # messages to let through: 0 kills it while it starts
        kill_when(start(lib, *args), lambda: len(smtp.messages) >= arrived + wait_for)  # noqa: B023
    rerun = cli(lib, *args)
    recipients = Counter(message.recipients[0] for message in smtp.messages)
    assert max(recipients.values()) == 1, [r for r, n in recipients.items() if n > 1]  # nothing sent twice
    states = latest_statuses(out)
    in_doubt = states["unknown"] + states["sending"]  # killed while the server had it: never resent
    assert states["sent"] + in_doubt == count
    assert rerun.code == (2 if in_doubt else 0), rerun.out + rerun.err
    assert f"unknown {in_doubt}" in rerun.out
    assert states["sent"] <= len(recipients) <= count  # every message settled as sent has arrived
    again = cli(lib, *args)
    assert again.out.splitlines()[1].startswith(f"Sent 0 messages, skipped {states['sent']} (already sent)")
    assert Counter(message.recipients[0] for message in smtp.messages) == recipients


@pytest.mark.parametrize("at", [pytest.param(0, id="first"), pytest.param(4, id="middle"),
                                pytest.param(9, id="last")])
def test_a_disk_that_fills_at_one_document_keeps_the_others_whole(lib: Path, tmp_path: Path, at: int) -> None:
    # Ten aftercare sheets of about 53 kB and one consent form of about 70 kB, in that row: a file
    # size limit between the two fills the disk at that document and no other.
    rows = [[f"D{i:02d}", "alder", f"{PATIENT} {i}", "needling", "consent" if i == at else "aftercare",
             "2026-12-01", "09:00", "", "", ""] for i in range(10)]
    appointments = write_csv(tmp_path / "day.csv", rows, HEADER)
    out = tmp_path / "out"
    code = (f"import resource, sys; sys.path.insert(0, {str(REPO)!r}); from handoutgen.cli import main; "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (62000, 62000)); "
            f"sys.exit(main(['batch', '--appointments', {str(appointments)!r}, '--out', {str(out)!r}, "
            "'--jobs', '1']))")
    full = subprocess.run([sys.executable, "-c", code], cwd=lib, capture_output=True, text=True, check=False,
                          timeout=120)
    assert full.returncode == 3, full.stderr
    assert full.stderr.splitlines() == [f"error: {out}/alder/D{at:02d}/needling-consent.pdf:1: output: "
                                        "cannot write: File too large (a writable folder with free space)"]
    assert sorted(recorded(out)) == [f"alder/D{i:02d}/needling-aftercare.pdf" for i in range(at)]
    assert others(out) == ["manifest.jsonl"]  # no temporary file is left
    rerun = cli(lib, "batch", "--appointments", str(appointments), "--out", str(out))
    assert rerun.code == 0, rerun.err
    built = plural(10 - at, "document")
    assert rerun.out.splitlines()[-1].startswith(f"Built {built}, skipped {at} (up to date)")
    clean = tmp_path / "clean"
    assert cli(lib, "batch", "--appointments", str(appointments), "--out", str(clean)).code == 0
    assert complete_pdfs(out) == complete_pdfs(clean)
