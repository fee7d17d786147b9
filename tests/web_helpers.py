"""Helpers for the web tests: the app served on 127.0.0.1 in a thread or as `generate.py serve`, and a
real Chromium. Every wait on a server ends as soon as the server has died, with what it said."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from conftest import REPO
from playwright.sync_api import Page, ViewportSize

from handoutgen.library.gather import load_library
from handoutgen.web import Settings, make_server
from handoutgen.web.batch import Jobs

CHROMIUM = Path("/usr/lib/chromium/chromium")
CHROMIUM_ARGS = ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
TABLET: ViewportSize = {"width": 820, "height": 1180}
START_SECONDS = 60  # the longest a server may take to answer, on a busy 2-core machine


@dataclass(frozen=True)
class Served:
    """The app served in this process: its address, the address `serve` would print, and its batches."""

    url: str
    jobs: Jobs
    start: str  # with the token that opens the page when no password is set


@contextmanager
def serving(root: Path, **options: Any) -> Iterator[Served]:
    """Serve the app for `root` on 127.0.0.1 at a free port, in a thread; yield its address."""
    server, stop = make_server(Settings(root, **options), load_library(root), 0)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as err:  # kept for the test's message, not swallowed
            failures.append(err)
            raise

    thread = threading.Thread(target=run, name="web-test-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}"
    try:
        wait_for_health(url, thread, failures)
        state = server.application.extensions["handoutgen"]
        yield Served(url, state["jobs"], f"{url}/?token={state['token']}" if state["token"] else url + "/")
    finally:
        stop()
        thread.join(timeout=10)


def wait_for_health(url: str, thread: threading.Thread, failures: list[BaseException]) -> None:
    """Wait until the server answers /health; fail at once with its traceback if its thread ends."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        if not thread.is_alive():
            told = "".join(traceback.format_exception(failures[0])) if failures else "no exception"
            raise AssertionError(f"the server's thread ended before it answered:\n{told}")
        try:
            # A short timeout per try: the socket listens before the thread serves, so a request
            # to a server whose thread has died would wait for its whole timeout.
            with urllib.request.urlopen(url + "/health", timeout=1) as reply:
                assert reply.status == 200, reply.read()
                return
        except (TimeoutError, urllib.error.URLError) as err:
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not answer {url}/health in {START_SECONDS} s") from err


class ServeProcess:
    """`python generate.py serve ...` as a real process, run from a library folder.

    Its error output goes to a file, so a server that writes much cannot block on a full pipe."""

    def __init__(self, root: Path, log: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._log = log.open("wb")
        self.process = subprocess.Popen([sys.executable, str(REPO / "generate.py"), "serve", *args], cwd=root,
                                        env=env, stdout=subprocess.PIPE, stderr=self._log)
        self.read = b""  # what it printed and first_line has not returned

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()

    def output(self) -> str:
        """Its exit code and everything it wrote so far, for a failing test's message."""
        err = self.log.read_text(encoding="utf-8", errors="replace")
        return (f"serve's exit code: {self.process.poll()}\nstdout: {self.read.decode(errors='replace')}\n"
                f"stderr:\n{err}")

    def first_line(self) -> str | None:
        """The first line it prints, or None when it ends without one; fail if it does neither in time."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + START_SECONDS
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self.read:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise AssertionError(f"serve printed no line in {START_SECONDS} s\n{self.output()}")
                chunk = os.read(fd, 4096)
                if not chunk:  # its output closed: it is ending (wait, so its exit code is known)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.process.wait(timeout=10)
                    return None
                self.read += chunk
        line, _, self.read = self.read.partition(b"\n")
        return line.decode()

    def address(self) -> str:
        """Wait for the line with its address; fail at once with its output if it ends first."""
        line = self.first_line()
        assert line is not None, f"serve ended before it printed its address\n{self.output()}"
        assert line.startswith("Serving the front-desk page on http://127.0.0.1:"), self.output()
        return line

    def finish(self) -> tuple[int, str, str]:
        """Wait for it to end; its exit code, the rest of its output and its error output."""
        try:
            out, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve did not end in 30 s\n{self.output()}") from None
        self._log.flush()
        return self.process.returncode, (self.read + out).decode(), self.log.read_text(encoding="utf-8")


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot for people to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
