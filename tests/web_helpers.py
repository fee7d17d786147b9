"""Helpers for the web tests: the app served on 127.0.0.1 in a thread, and a real Chromium."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from handoutgen.library import load_library
from handoutgen.web import Settings, make_server

CHROMIUM = Path("/usr/lib/chromium/chromium")
CHROMIUM_ARGS = ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1180}


@contextmanager
def serving(root: Path, **options: Any) -> Iterator[str]:
    """Serve the app for `root` on 127.0.0.1 at a free port; yield its address."""
    settings = Settings(root, **options)
    server, stop = make_server(settings, load_library(root), 0)
    thread = threading.Thread(target=server.run, name="web-test-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.effective_port}"
    with urllib.request.urlopen(url + "/health", timeout=10) as reply:
        assert reply.status == 200
    try:
        yield url
    finally:
        stop()
        thread.join(timeout=10)


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot for people to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
