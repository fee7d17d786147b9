#!/usr/bin/env python3
"""Print warm documents/s for the aftercare handout and the cold-start time of one `build`.

Usage: python benchmarks/bench_build.py [--docs N] [--clinic ID] [--runs N]
Pin to one core for comparable figures: taskset -c 0 python benchmarks/bench_build.py
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def warm(docs: int, clinic: str) -> float:
    """Documents per second in one process, after ten warm-up documents."""
    from handoutgen.compose.compose import Request
    from handoutgen.library.gather import load_library
    from handoutgen.pipeline import build_document, check_patient

    library = load_library(ROOT, clinics=[clinic], treatment="mesotherapy")

    def request(i: int) -> Request:
        values = check_patient(library, clinic, ("aftercare",), [
            ("patient_name", f"Patient Number {i}", "bench", 1),
            ("appointment_date", "2026-12-01", "bench", 1)])
        return Request(clinic, "mesotherapy", "aftercare", "en", tuple(sorted(values.items())))

    for i in range(10):
        build_document(library, request(i))
    start = time.perf_counter()
    for i in range(docs):
        build_document(library, request(i))
    return docs / (time.perf_counter() - start)


def cold(runs: int, clinic: str) -> float:
    """Median wall time of a fresh `python generate.py build ...` process, in milliseconds."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "generate.py"), "build", "--clinic", clinic,
                            "--treatment", "mesotherapy", "--kind", "aftercare",
                            "--patient-name", "Cold Start", "-o", f"{tmp}/cold.pdf"],
                           check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--clinic", default="harbour-skin")
    args = parser.parse_args()
    rate = warm(args.docs, args.clinic)
    print(f"warm: {rate:.1f} aftercare documents/s ({args.docs} documents, one process, "
          f"clinic {args.clinic})")
    print(f"cold: {cold(args.runs, args.clinic):.0f} ms median for one build "
          f"({args.runs} runs)")


if __name__ == "__main__":
    main()
