"""Time one handout preview on the front-desk page: from the POST to the page with its images.

Starts the web app on 127.0.0.1 (a free port) in this process, as `generate.py serve` does, waits
for its warm-up, then sends the Preview form over HTTP like a browser and prints the median and
worst time of N previews, each for a different patient (so no response is reused), and the same
for a packet of all three documents.

    python benchmarks/bench_web.py [--runs 20]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import statistics
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from handoutgen.library.gather import load_library
from handoutgen.web import Settings, make_server

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    start = time.perf_counter()
    library = load_library(ROOT)
    server, _stop = make_server(Settings(ROOT), library, 0)  # ends with this process
    threading.Thread(target=server.run, daemon=True).start()
    print(f"server ready in {time.perf_counter() - start:.2f} s (library loaded and checked)")
    base = f"http://127.0.0.1:{server.effective_port}"
    url = f"{base}/c/harbour-skin/"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    # Open the address `serve` prints first, as a browser does: its token gives this session access.
    opener.open(f"{base}/?token={server.application.extensions['handoutgen']['token']}").close()
    with opener.open(url) as reply:
        found = re.search(r'name="csrf_token" value="([^"]+)"', reply.read().decode())
    assert found is not None, "no form on the page"
    token = found.group(1)
    time.sleep(3)  # the server lays out every blank document once after it starts

    def preview(kinds: list[str], number: int) -> float:
        form = [("csrf_token", token), ("treatment", "mesotherapy"), ("language", "en"), ("paper", "a4"),
                ("patient_name", f"Patient Number {number}"), ("appointment_date", "2026-12-01"),
                ("appointment_time", "10:30"), ("practitioner", "amara-okafor"), ("action", "preview"),
                *[("documents", kind) for kind in kinds]]
        began = time.perf_counter()
        with opener.open(url, urllib.parse.urlencode(form).encode()) as reply:
            page = reply.read().decode()
        took = time.perf_counter() - began
        assert page.count("data:image/png;base64,") >= 2, "no preview images"
        return took

    for label, kinds in (("aftercare (2 pages)", ["aftercare"]),
                         ("packet of 3 documents", ["pre-treatment", "consent", "aftercare"])):
        times = sorted(preview(kinds, n) for n in range(args.runs))
        print(f"preview {label}: median {statistics.median(times) * 1000:.0f} ms, "
              f"worst {times[-1] * 1000:.0f} ms over {args.runs} runs")


if __name__ == "__main__":
    main()
