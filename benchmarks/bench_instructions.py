#!/usr/bin/env python3
"""Instructions executed (valgrind's callgrind) by a cold `build` and a `batch`, beside Typst.

Wall-clock figures move with whatever else the machine runs; the number of instructions a run
executes barely does. This prints both runs of handoutgen and the reference Typst script of
../shared/handout-bench/ (a cold run of one handout, and a warm loop without its start-up), and their ratios:

    python benchmarks/bench_instructions.py --reference-python /tmp/hb/bin/python [--rows 300]

A ratio of instructions is a ratio of time only as far as both programs run at a similar rate
(instructions per cycle); use it to compare versions of handoutgen and to follow the trend
against Typst, and bench_batch.py on a quiet machine for documents per second. Needs valgrind
(`apt-get install valgrind`); each run takes about fifty times as long as without it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_batch import REFERENCE, ROOT, write_rows


def instructions(command: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Instructions the command executes (user space, all of its own process)."""
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
                          cwd=cwd, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--reference-python", required=True, help="a Python with typst installed")
    parser.add_argument("--rows", type=int, default=300)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    python = sys.executable
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = dict(os.environ, XDG_CACHE_HOME=str(tmp / "cache"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled modules are kept
        build = [python, str(ROOT / "generate.py"), "build", "--clinic", "harbour-skin", "--treatment",
                 "mesotherapy", "--kind", "aftercare", "--patient-name", "Cold Start", "-o",
                 str(tmp / "cold.pdf")]
        rows = tmp / "rows.csv"
        write_rows(rows, args.rows)
        batch = [python, str(ROOT / "generate.py"), "batch", "--appointments", str(rows), "--out",
                 str(tmp / "out"), "--jobs", "1", "--force"]
        for command in (build, build, batch):  # fill the cache, as every run after the first finds it
            subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=True)
        ours_cold = instructions(build, ROOT, env)
        ours_batch = instructions(batch, ROOT, env)
        ref = [args.reference_python, "ty_render.py"]
        typst_cold = instructions([*ref, "one", str(tmp / "typst.pdf")], REFERENCE, dict(os.environ))
        # Typst's warm loop without its start-up: the difference between two loop lengths
        typst_loop = (instructions([*ref, "warm", str(args.rows + 10)], REFERENCE, dict(os.environ))
                      - instructions([*ref, "warm", "10"], REFERENCE, dict(os.environ)))
    print(f"cold build: {ours_cold / 1e6:.0f} M instructions; Typst's cold run {typst_cold / 1e6:.0f} M "
          f"({ours_cold / typst_cold:.2f}x Typst's)")
    print(f"batch of {args.rows} (whole process, start-up included): {ours_batch / 1e6:.0f} M; "
          f"Typst's warm loop of {args.rows} (start-up left out): {typst_loop / 1e6:.0f} M; the batch "
          f"does {typst_loop / ours_batch:.2f}x Typst's documents per instruction")


if __name__ == "__main__":
    main()
