#!/usr/bin/env python3
"""Batch throughput, peak memory and cold start, optionally beside the shared reference tools.

For each row count (default 1,000) it writes a synthetic appointments file for the 2-page A4
aftercare sheet and times the whole `generate.py batch` process (start-up included) with
--jobs 1 pinned to one core and --jobs 2 on two cores, sampling the peak RSS of every process.
It also prints the cold start of one `build` and the size of a 3-document packet against the
sum of its parts.

    python benchmarks/bench_batch.py [--rows 1000,10000] [--reference-python /tmp/hb/bin/python]

With --reference-python (a Python with reportlab and typst installed, see
../shared/handout-bench/README.md) it also runs the reference scripts in the same session.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "handout-bench"
HEADER = ["appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
          "practitioner"]


def write_rows(path: Path, rows: int, documents: str = "aftercare") -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow([f"P{i:06d}", "harbour-skin", f"Patient Łucja Nguyễn {i}", "mesotherapy",
                             documents, "2026-12-01", "10:30", "amara-okafor"])


def _group_peak(pid: int, stop: threading.Event, peaks: dict[int, int]) -> None:
    """Sample VmHWM (peak resident memory) of a process and its children until stopped."""
    while not stop.is_set():
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            if int(re.search(r"PPid:\s+(\d+)", status).group(1)) in (pid, *peaks) or int(entry) == pid:  # type: ignore[union-attr]
                found = re.search(r"VmHWM:\s+(\d+) kB", status)
                if found:
                    peaks[int(entry)] = max(peaks.get(int(entry), 0), int(found.group(1)))
        stop.wait(0.05)


def timed_batch(csv_path: Path, out: Path, jobs: int, cores: str) -> tuple[float, list[int]]:
    """Wall time of one whole batch process, and the peak RSS (kB) of each of its processes."""
    command = ["taskset", "-c", cores, sys.executable, str(ROOT / "generate.py"), "batch",
               "--appointments", str(csv_path), "--out", str(out), "--jobs", str(jobs), "--force"]
    peaks: dict[int, int] = {}
    stop = threading.Event()
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    sampler = threading.Thread(target=_group_peak, args=(process.pid, stop, peaks))
    sampler.start()
    process.wait()
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"batch failed with exit code {process.returncode}")
    return seconds, sorted(peaks.values())


def cold(runs: int) -> float:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(["taskset", "-c", "0", sys.executable, str(ROOT / "generate.py"), "build",
                            "--clinic", "harbour-skin", "--treatment", "mesotherapy", "--kind",
                            "aftercare", "--patient-name", "Cold Start", "-o", f"{tmp}/c.pdf"],
                           check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def packet_ratio(tmp: Path) -> tuple[int, int]:
    csv_path = tmp / "packet.csv"
    write_rows(csv_path, 1, "pre-treatment;consent;aftercare")
    sizes = []
    for extra in (["--packet"], []):
        out = tmp / f"packet{len(extra)}"
        subprocess.run([sys.executable, str(ROOT / "generate.py"), "batch", "--appointments",
                        str(csv_path), "--out", str(out), *extra], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        sizes.append(sum(p.stat().st_size for p in out.rglob("*.pdf")))
    return sizes[0], sizes[1]


def reference(python: str, docs: int) -> dict[str, float]:
    """Warm documents/s of the shared reference scripts on one core."""
    rates = {}
    for script in ("ty_render.py", "rl_platypus.py", "rl_canvas_raw.py"):
        result = subprocess.run(["taskset", "-c", "0", python, script, "warm", str(docs)],
                                cwd=REFERENCE, capture_output=True, text=True, check=False)
        found = re.search(r"docs_per_s=([\d.]+)", result.stdout)
        if found:
            rates[script.removesuffix(".py")] = float(found.group(1))
        else:
            print(f"reference {script} failed: {result.stderr.strip()[-200:]}", file=sys.stderr)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", default="1000", help="row counts to run, e.g. 1000,10000")
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--reference-python", help="a Python with typst and reportlab installed")
    args = parser.parse_args()
    refs = reference(args.reference_python, 200) if args.reference_python else {}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for rows in (int(r) for r in args.rows.split(",")):
            csv_path = tmp / f"rows{rows}.csv"
            write_rows(csv_path, rows)
            for jobs, cores in ((1, "0"), (2, "0,1")):
                seconds, peaks = timed_batch(csv_path, tmp / f"out{rows}-{jobs}", jobs, cores)
                rate = rows / seconds
                line = (f"batch rows={rows} jobs={jobs} cores={cores}: {seconds:.2f} s, "
                        f"{rate:.1f} documents/s (start-up included), peak RSS per process "
                        f"{', '.join(f'{p / 1024:.0f}' for p in peaks)} MB")
                if "ty_render" in refs:
                    line += f"; {rate / refs['ty_render']:.2f}x Typst's one-core warm rate"
                print(line, flush=True)
        packet, parts = packet_ratio(tmp)
        print(f"packet of 3 documents: {packet} bytes vs {parts} bytes separately "
              f"(ratio {packet / parts:.2f})")
    print(f"cold start of one build: {cold(args.cold_runs):.0f} ms median")
    for tool, rate in refs.items():
        print(f"reference {tool}: {rate:.1f} documents/s warm, one core")


if __name__ == "__main__":
    main()
