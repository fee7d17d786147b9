"""A killed program leaves no workers behind: batch workers end with the process that started them
(the web page's server, or `generate.py batch`), and a server's next start deletes a killed
server's temporary folder only once nothing writes there any more, never a live server's folder."""

from __future__ import annotations

import http.cookiejar
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import REPO
from test_batch import files, many, write_csv
from web_helpers import ServeProcess

from handoutgen import lifeline
from handoutgen.web.batch import PREFIX, Jobs, sweep_leftovers

GONE_SECONDS = 5  # how long workers may outlive the process that started them


def parent_of(pid: int) -> int | None:
    """The parent of a live (not yet reaped, not a zombie) process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    return None if state in ("Z", "X") else int(ppid)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`."""
    parents = {int(p.name): parent_of(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        children = {child for child, ppid in parents.items() if ppid == parent}
        todo.extend(children - found)
        found |= children
    return found


def wait_until(done: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll until `done()` holds; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"{what} after {seconds} s"
        time.sleep(0.05)


def live(pids: set[int]) -> set[int]:
    return {pid for pid in pids if parent_of(pid) is not None}


def server_folder(pid: int) -> Path:
    (folder,) = Path(tempfile.gettempdir()).glob(f"{PREFIX}{pid}-*")
    return folder


def written(folder: Path) -> int:
    """Documents the batches in a server's folder have written so far."""
    return sum(path.read_bytes().count(b"\n") for path in folder.glob("batch-*/out/manifest.jsonl"))


def upload(start: str, data: bytes) -> None:
    """Open the page at the address `serve` printed and upload an appointments file, as a browser does."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(start, timeout=30) as reply:  # the token sets the session cookie
        assert reply.status == 200
    base = start.split("/?", 1)[0]
    with opener.open(base + "/batch", timeout=30) as reply:
        match = re.search(r'name="csrf_token" value="([^"]+)"', reply.read().decode())
    assert match, "the batch page has no form token"
    boundary = secrets.token_hex(16)
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{match[1]}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="appointments"; '
            'filename="appointments.csv"\r\nContent-Type: text/csv\r\n\r\n').encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(base + "/batch", body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with opener.open(request, timeout=30) as reply:
        assert re.search(r"/batch/[\w-]+$", reply.url), reply.url


@pytest.fixture
def live_jobs(tmp_path: Path) -> Iterator[Jobs]:
    """A live server's batches in this process (its folder is held as long as it runs)."""
    jobs = Jobs(tmp_path, None, 1, 60, time.monotonic)
    yield jobs
    jobs.close()


@pytest.mark.slow  # starts two servers and a batch: the full run only
def test_a_killed_server_leaves_no_workers_and_its_folder_goes_at_the_next_start(
        lib: Path, tmp_path: Path, live_jobs: Jobs) -> None:
    rows = write_csv(tmp_path / "many.csv", many(600, "consent;aftercare")).read_bytes()
    with ServeProcess(lib, tmp_path / "killed.log", "--port", "0") as killed:
        start = killed.address().split(" on ", 1)[1].split(" ", 1)[0]
        upload(start, rows)
        folder = server_folder(killed.process.pid)
        wait_until(lambda: written(folder) >= 20, 120, "the batch wrote fewer than 20 documents")
        workers = descendants(killed.process.pid)
        assert len(workers) >= 2, workers  # the batch process and its workers
        killed.process.kill()
        killed.process.wait(timeout=30)
        wait_until(lambda: not live(workers), GONE_SECONDS, f"workers {live(workers)} still run")
    assert written(folder) < 1200  # the batch did not finish: it was stopped, not done
    with ServeProcess(lib, tmp_path / "next.log", "--port", "0") as following:
        following.address()  # it has swept by the time it serves
        assert not folder.exists()
        assert live_jobs.base.is_dir()  # the live server's folder is left alone
        assert (live_jobs.base / lifeline.LOCK).exists()


@pytest.mark.slow  # runs a long batch: the full run only
def test_a_killed_batch_leaves_no_workers(lib: Path, tmp_path: Path) -> None:
    appointments = write_csv(tmp_path / "many.csv", many(300, "consent;aftercare"))
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, str(REPO / "generate.py"), "batch", "--appointments",
                                str(appointments), "--out", str(out), "--jobs", "2"], cwd=lib,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = out / "manifest.jsonl"
    wait_until(lambda: manifest.exists() and manifest.read_bytes().count(b"\n") >= 20, 120,
               "the batch wrote fewer than 20 documents")
    workers = descendants(process.pid)
    assert len(workers) == 2, workers
    process.kill()  # the parent only, as the kernel's out-of-memory killer would
    process.wait(timeout=30)
    at_kill = set(files(out))
    wait_until(lambda: not live(workers), GONE_SECONDS, f"workers {live(workers)} still run")
    assert set(files(out)) == at_kill  # no worker finished its document once the batch was killed
    assert len(at_kill) < 600  # it was stopped, not done (test_faults reruns killed batches)


def holder(folder: Path) -> subprocess.Popen[bytes]:
    """A process holding a folder's lock as a batch worker does, until its input closes."""
    code = ("import sys; from pathlib import Path; from handoutgen import lifeline; "
            "held = lifeline.hold(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()")
    process = subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=REPO, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"held\n"
    return process


def ended_pid() -> int:
    """The id of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          check=True)
    return int(done.stdout)


def test_the_sweep_waits_for_the_last_process_holding_a_killed_servers_folder(live_jobs: Jobs) -> None:
    dead = ended_pid()
    base = Path(tempfile.gettempdir())
    held = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{dead}-", dir=base))
    (held / "batch-x").mkdir()
    (held / "batch-x" / "part.pdf").write_bytes(b"%PDF-")
    unlocked = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{dead}-", dir=base))  # killed before it locked
    worker = holder(held)
    try:
        making = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{worker.pid}-", dir=base))  # about to lock
        sweep_leftovers()
        assert (held / "batch-x" / "part.pdf").exists()  # its worker still writes there
        assert not unlocked.exists()
        assert making.exists()
        assert live_jobs.base.exists()
    finally:
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait(timeout=30)
    sweep_leftovers()
    assert not held.exists()
    assert not making.exists()  # its process has ended
    assert live_jobs.base.exists()


def test_a_process_bound_to_its_parent_ends_with_it(tmp_path: Path) -> None:
    # a parent that starts a bound child and tells us its id, then is killed
    code = ("import os, subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import os, sys, time; "
            "from handoutgen import lifeline; lifeline.bind_to_parent(int(sys.argv[1])); "
            "print(os.getpid(), flush=True); time.sleep(600)', str(os.getpid())], stdout=subprocess.PIPE)\n"
            "print(child.stdout.readline().decode().strip(), flush=True)\n"
            "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert parent_of(child) == parent.pid
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=30)
    wait_until(lambda: parent_of(child) is None, GONE_SECONDS, f"the child {child} still runs")
