"""Real batches: appointments CSV in, documents or packets out, with a manifest; safe to rerun,
to kill, to run in shards or twice at once, and on a full disk."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from canary import PATIENT, patient_input
from conftest import REPO, Run, cli, flat, pdf_text, qpdf_ok
from pypdf import PdfReader

pytestmark = pytest.mark.slow  # the fast layer (pytest -m "not slow") leaves it out

HEADER = ["appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
          "practitioner", "email", "area"]
GOOD = [
    ["A1001", "alder", "Ana Lima", "needling", "consent;aftercare", "2026-12-01",
     "10:30", "ann-ash", "ana@example.org", "Abdomen"],
    ["A1002", "birch", "Nguyễn Thị Lan", "needling", "aftercare;pre-treatment;consent",
     "2026-12-02", "14:00", "cara-cole", "", ""],
]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER, bom: bool = False) -> Path:
    """An appointment list (a test's input: it may hold the test patient's name)."""
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return patient_input(path)


def many(count: int, kinds: str = "aftercare") -> list[list[str]]:
    clinics = ("alder", "birch")
    return [[f"B{i:05d}", clinics[i % 2], f"{PATIENT} {i}", "needling", kinds,
             "2026-12-01", "09:00", "", "", ""] for i in range(count)]


def manifest(out: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line]


def latest(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The manifest as it stands: the last record of each document."""
    return {(r["file"], r["kind"]): r for r in manifest(out)}


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.pdf"))}


def summary(run: Run | str) -> str:
    """The documents' summary line (the last line; the rows' line comes before it)."""
    return (run if isinstance(run, str) else run.out).splitlines()[-1]


def batch(lib: Path, csv_path: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "generate.py"), "batch", "--appointments",
                           str(csv_path), "--out", str(out), *extra], cwd=lib, capture_output=True,
                          text=True, timeout=300, check=False)


def test_good_rows_are_built_and_bad_rows_reported_exactly(lib: Path, tmp_path: Path) -> None:
    rows = [*GOOD,
            ["A1003", "nowhere", "Bob Stone", "needling", "consent", "2026-12-02", "09:00", "",
             "", ""],
            ["A1004", "alder", "", "needling", "leaflet", "2026-13-02", "25:99", "nobody",
             "not-an-email", ""],
            ["A1005", "birch", "Li 中", "needling", "aftercare", "2026-12-03", "11:00", "",
             "", ""],
            ["A1001", "alder", "Ana Lima", "needling", "consent", "2026-12-01", "10:30",
             "", "", ""],
            ["../evil", "alder", "Eve", "needling", "consent", "2026-12-01", "10:30", "",
             "", ""]]
    appointments = write_csv(tmp_path / "day.csv", rows)
    out = tmp_path / "out"
    run = cli(lib, "batch", "--appointments", str(appointments), "--out", str(out), "--jobs", "1")
    name = str(appointments)
    assert run.code == 2
    assert run.errors == [
        f"error: {name}:4: clinic: unknown clinic 'nowhere' (expected one of: alder, birch)",
        f"error: {name}:5: patient_name: is empty (a value in every row)",
        f"error: {name}:5: documents: unknown document 'leaflet' (expected one of: "
        "consent, pre-treatment, aftercare)",
        f"error: {name}:5: email: is not an email address (an email address such as "
        "name@example.org, or empty)",
        f"error: {name}:5: date: '2026-13-02' is not a date (a date as YYYY-MM-DD or DD/MM/YYYY)",
        f"error: {name}:5: time: '25:99' is not a time (a time as HH:MM, H:MM, HH:MM:SS or 12-hour "
        "with AM/PM, e.g. 9:30 AM, 00:00 to 23:59)",
        f"error: {name}:5: practitioner: 'nobody' is not a practitioner of alder "
        "(expected one of: ann-ash, ben-birch)",
        f"error: {name}:6: patient_name: character U+4E2D '中' cannot be drawn by font DejaVu Sans "
        "(characters the clinic's font covers)",
        f"error: {name}:7: appointment_id: 'A1001' appears twice (first on line 2) "
        "(one row per appointment)",
        f"error: {name}:8: appointment_id: '../evil' is not allowed (letters, digits, '.', '_' and "
        "'-', at most 64, for use in file names)",
    ]
    read, built = run.out.splitlines()
    assert read == f"Read 7 rows of {name} (UTF-8, comma-separated): 2 built, 5 failed, 0 skipped"
    assert built.startswith("Built 5 documents, skipped 0 (up to date), failed 5 in ")
    assert sorted(files(out)) == [
        "alder/A1001/needling-aftercare.pdf", "alder/A1001/needling-consent.pdf",
        "birch/A1002/needling-aftercare.pdf", "birch/A1002/needling-consent.pdf",
        "birch/A1002/needling-pre-treatment.pdf"]
    consent = flat(pdf_text(out / "alder/A1001/needling-consent.pdf"))
    assert "Ana Lima" in consent and "1 December 2026" in consent and "Abdomen" in consent
    pre = flat(pdf_text(out / "birch/A1002/needling-pre-treatment.pdf"))
    assert "Nguyễn Thị Lan" in pre and "December 2, 2026" in pre and "2:00 PM" in pre


def test_bad_header_stops_before_any_work(lib: Path, tmp_path: Path) -> None:
    header = ["clinic", "patient_name", "documents", "time", "appointment_id"]
    appointments = write_csv(tmp_path / "bad.csv", [], header=header)
    out = tmp_path / "out"
    run = cli(lib, "batch", "--appointments", str(appointments), "--out", str(out))
    required = ("required: appointment_id, clinic, treatment, documents, patient_name, practitioner, "
                "date, time")
    assert run.code == 1
    assert run.errors == [f"error: {appointments}:1: {c}: missing column ({required})"
                          for c in ("date", "practitioner", "treatment")]
    assert not out.exists()


def test_bom_and_any_column_order(lib: Path, tmp_path: Path) -> None:
    order = [HEADER.index(c) for c in reversed(HEADER)]
    rows = [[row[i] for i in order] for row in GOOD]
    appointments = write_csv(tmp_path / "bom.csv", rows, header=list(reversed(HEADER)), bom=True)
    assert appointments.read_bytes().startswith(b"\xef\xbb\xbf")
    run = cli(lib, "batch", "--appointments", str(appointments), "--out", str(tmp_path / "out"))
    assert (run.code, run.err) == (0, "")
    assert len(files(tmp_path / "out")) == 5


PEEL = ["A1002", "birch", "Nguyễn Thị Lan", "peel", "aftercare;pre-treatment;consent", "2026-12-02", "14:00",
        "cara-cole", "", ""]
TITLES = ["Getting ready for a peel", "Consent to a peel", "Aftercare after a peel"]


@pytest.mark.parametrize("duplex", [False, True])
def test_packets_have_documents_in_order_with_bookmarks(lib: Path, tmp_path: Path,
                                                         duplex: bool) -> None:
    appointments = write_csv(tmp_path / "day.csv", [GOOD[0], PEEL])
    out = tmp_path / "out"
    extra = ["--packet", "--duplex"] if duplex else ["--packet"]
    run = cli(lib, "batch", "--appointments", str(appointments), "--out", str(out), *extra)
    assert run.code == 0, run.err
    assert sorted(files(out)) == ["alder/A1001/needling-packet.pdf", "birch/A1002/peel-packet.pdf"]
    assert summary(run).startswith("Built 5 documents in 2 packets, skipped 0 (up to date)")
    path = out / "birch/A1002/peel-packet.pdf"
    assert qpdf_ok(path)
    reader = PdfReader(path)
    assert reader.metadata is not None
    assert reader.metadata.title == "Peel: your documents"
    tops = [item for item in reader.outline if not isinstance(item, list)]
    assert [item.title for item in tops] == TITLES  # the packet order, not the CSV's order
    starts: list[int] = []
    for item in tops:
        start = reader.get_destination_page_number(item)
        assert start is not None
        starts.append(start)
    for title, start in zip(TITLES, starts, strict=True):
        page = flat(pdf_text(path, start + 1))
        assert title in page and "Page 1 of" in page
    # each document as long as when it is built alone; with --duplex, one of an odd length that
    # another document follows gets a blank back page, so the next starts on a front side
    parts = tmp_path / "parts"
    assert cli(lib, "batch", "--appointments", str(appointments), "--out", str(parts)).code == 0
    lengths = [len(PdfReader(parts / f"birch/A1002/peel-{kind}.pdf").pages)
               for kind in ("pre-treatment", "consent", "aftercare")]
    taken = [n + n % 2 for n in lengths[:-1]] + lengths[-1:] if duplex else lengths
    assert starts == [0, taken[0], taken[0] + taken[1]] and len(reader.pages) == sum(taken)
    blank = [i for i, page in enumerate(reader.pages)
             if "intentionally left blank" in page.extract_text()]
    if duplex:
        assert blank == [start + n for start, n in zip(starts[:-1], lengths, strict=False) if n % 2]
        assert blank  # a document of this packet with another after it has an odd number of pages
    else:
        assert blank == []
    # every document keeps its own section bookmarks, nested under it
    nested = [item for item in reader.outline if isinstance(item, list)]
    assert len(nested) == 3 and all(len(sections) >= 4 for sections in nested)


def test_packet_is_much_smaller_than_its_parts(lib: Path, tmp_path: Path) -> None:
    appointments = write_csv(tmp_path / "day.csv", GOOD[1:])
    assert cli(lib, "batch", "--appointments", str(appointments), "--out", str(tmp_path / "one"),
               "--packet").code == 0
    assert cli(lib, "batch", "--appointments", str(appointments), "--out",
               str(tmp_path / "parts")).code == 0
    packet = sum(len(b) for b in files(tmp_path / "one").values())
    parts = sum(len(b) for b in files(tmp_path / "parts").values())
    assert packet < 0.7 * parts


def test_manifest_records_every_document_with_its_hash(lib: Path, tmp_path: Path) -> None:
    appointments = write_csv(tmp_path / "day.csv", GOOD)
    out = tmp_path / "out"
    assert cli(lib, "batch", "--appointments", str(appointments), "--out", str(out)).code == 0
    records = manifest(out)
    assert len(records) == 5
    for record in records:
        data = (out / record["file"]).read_bytes()
        assert record["sha256"] == hashlib.sha256(data).hexdigest()
        assert record["status"] == "built"
        assert record["treatment"] == "needling" and record["language"] == "en"
        assert record["form_version"] == "2.1"
        assert record["file"].startswith(f"{record['clinic']}/{record['appointment_id']}/")
        assert record["kind"] in record["file"]
        assert len(record["fingerprint"]) == 10
        metadata = PdfReader(out / record["file"]).metadata  # the fingerprint is in the keywords
        assert metadata is not None and record["fingerprint"] in str(metadata["/Keywords"])
    text = (out / "manifest.jsonl").read_text()
    for name in ("Ana Lima", "Nguyễn", "Nguy\\u1ec5n"):  # no patient names in the record
        assert name not in text
    for path in out.rglob("*"):
        assert "Lima" not in str(path) and "Lan" not in str(path)


def test_rerun_skips_what_is_up_to_date_and_rebuilds_what_changed(lib: Path, tmp_path: Path) -> None:
    appointments = write_csv(tmp_path / "day.csv", GOOD)
    out = tmp_path / "out"
    first = cli(lib, "batch", "--appointments", str(appointments), "--out", str(out))
    assert summary(first).startswith("Built 5 documents, skipped 0 (up to date), failed 0 in ")
    before = files(out)
    again = cli(lib, "batch", "--appointments", str(appointments), "--out", str(out))
    assert summary(again).startswith("Built 0 documents, skipped 5 (up to date), failed 0 in ")
    # One clinic's own lines for the treatment change: that clinic's documents are rebuilt
    # (their content fingerprint covers the clinic's additions), the other clinic's are not.
    additions = lib / "assets/clinics/birch/content/needling.yaml"
    additions.write_text(additions.read_text().replace("Drink plenty of water",
                                                       "Drink plenty of fresh water"))
    changed = cli(lib, "batch", "--appointments", str(appointments), "--out", str(out))
    assert summary(changed).startswith("Built 3 documents, skipped 2 (up to date), failed 0 in ")
    after = files(out)
    assert sorted(f for f in after if after[f] != before[f]) == [
        f"birch/A1002/needling-{k}.pdf" for k in ("aftercare", "consent", "pre-treatment")]
    aftercare = out / "birch/A1002/needling-aftercare.pdf"
    assert "Drink plenty of fresh water" in flat(pdf_text(aftercare))
    # A damaged output is not up to date, whatever the manifest says.
    (out / "alder/A1001/needling-consent.pdf").write_bytes(b"%PDF-1.4 broken")
    repaired = cli(lib, "batch", "--appointments", str(appointments), "--out", str(out))
    assert summary(repaired).startswith("Built 1 document, skipped 4 (up to date), failed 0 in ")
    assert files(out)["alder/A1001/needling-consent.pdf"] == before["alder/A1001/needling-consent.pdf"]
    # Files are flushed to disk once per run: what a power cut leaves (an empty or a missing
    # file behind a manifest line) is built again.
    (out / "alder/A1001/needling-aftercare.pdf").write_bytes(b"")
    (out / "birch/A1002/needling-pre-treatment.pdf").unlink()
    lost = cli(lib, "batch", "--appointments", str(appointments), "--out", str(out))
    assert summary(lost).startswith("Built 2 documents, skipped 3 (up to date), failed 0 in ")
    consent = "alder/A1001/needling-consent.pdf"
    assert files(out) == after | {consent: before[consent]}
    forced = cli(lib, "batch", "--appointments", str(appointments), "--out", str(out), "--force")
    assert summary(forced).startswith("Built 5 documents, skipped 0 (up to date), failed 0 in ")


@pytest.mark.slow  # runs many processes or long files: the full run only
def test_shards_are_disjoint_and_their_union_is_the_full_run(lib: Path, tmp_path: Path) -> None:
    appointments = write_csv(tmp_path / "many.csv", many(40))
    full = tmp_path / "full"
    assert cli(lib, "batch", "--appointments", str(appointments), "--out", str(full)).code == 0
    union: dict[str, bytes] = {}
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}"
        assert cli(lib, "batch", "--appointments", str(appointments), "--out", str(out),
                   "--shard", f"{k}/3").code == 0
        part = files(out)
        assert part and not set(part) & set(union)
        union.update(part)
    assert union == files(full)
    bad = cli(lib, "batch", "--appointments", str(appointments), "--out", str(full), "--shard", "4/3")
    assert bad.errors == ["error: <command line>:6: --shard: '4/3' is not a slice (K/N with 1 <= K "
                          "<= N, e.g. 2/4)"]


@pytest.mark.slow  # runs many processes or long files: the full run only
def test_parallel_run_equals_a_single_process_run(lib: Path, tmp_path: Path) -> None:
    appointments = write_csv(tmp_path / "many.csv", many(30, "consent;aftercare"))
    assert cli(lib, "batch", "--appointments", str(appointments), "--out", str(tmp_path / "one"),
               "--jobs", "1").code == 0
    result = batch(lib, appointments, tmp_path / "two", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert files(tmp_path / "one") == files(tmp_path / "two")
    assert latest(tmp_path / "one").keys() == latest(tmp_path / "two").keys()


@pytest.mark.slow  # runs many processes or long files: the full run only
def test_kill_9_then_rerun_completes_identically(lib: Path, tmp_path: Path) -> None:
    appointments = write_csv(tmp_path / "many.csv", many(400, "consent;aftercare"))
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, str(REPO / "generate.py"), "batch",
                                "--appointments", str(appointments), "--out", str(out),
                                "--jobs", "2"], cwd=lib, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest_path = out / "manifest.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if manifest_path.exists() and manifest_path.read_text().count("\n") >= 150:
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the parent and its workers, mid-flight
    process.wait()
    partial = files(out)
    assert 0 < len(partial) < 800
    for name, data in partial.items():
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF"), name
        assert qpdf_ok(out / name)
    for record in manifest(out):  # every line parses
        assert record["status"] == "built"
    rerun = batch(lib, appointments, out, "--jobs", "2")
    assert rerun.returncode == 0, rerun.stderr
    assert "failed 0 in" in rerun.stdout and "0 failed" in rerun.stdout
    assert not list(out.rglob("*.part"))
    clean = tmp_path / "clean"
    assert batch(lib, appointments, clean, "--jobs", "2").returncode == 0
    assert files(out) == files(clean)
    assert {k: v["sha256"] for k, v in latest(out).items()} == \
        {k: v["sha256"] for k, v in latest(clean).items()}


def test_full_disk_stops_with_one_line_and_a_rerun_resumes(lib: Path, tmp_path: Path) -> None:
    appointments = write_csv(tmp_path / "day.csv", GOOD)
    out = tmp_path / "out"
    code = (f"import resource, sys; sys.path.insert(0, {str(REPO)!r}); from handoutgen.cli import main;"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000));"
            f"sys.exit(main(['batch', '--appointments', {str(appointments)!r}, '--out', "
            f"{str(out)!r}, '--jobs', '1']))")
    full = subprocess.run([sys.executable, "-c", code], cwd=lib, capture_output=True, text=True,
                          check=False, timeout=120)
    assert full.returncode == 3
    lines = full.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert lines[0].endswith(": output: cannot write: File too large (a writable folder with free "
                             "space)")
    assert files(out) == {}
    assert not list(out.rglob("*.part"))
    resumed = batch(lib, appointments, out)
    assert resumed.returncode == 0, resumed.stderr
    assert summary(resumed.stdout).startswith("Built 5 documents, skipped 0 (up to date), failed 0 in ")


@pytest.mark.slow  # runs many processes or long files: the full run only
def test_two_batches_on_one_folder_at_once(lib: Path, tmp_path: Path) -> None:
    appointments = write_csv(tmp_path / "many.csv", many(60, "consent;aftercare"))
    out = tmp_path / "out"
    command = [sys.executable, str(REPO / "generate.py"), "batch", "--appointments",
               str(appointments), "--out", str(out), "--jobs", "2"]
    first = subprocess.Popen(command, cwd=lib, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    second = subprocess.Popen(command, cwd=lib, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert first.wait(timeout=300) == 0 and second.wait(timeout=300) == 0
    clean = tmp_path / "clean"
    assert batch(lib, appointments, clean).returncode == 0
    assert files(out) == files(clean)
    for name in files(out):
        assert qpdf_ok(out / name)
    assert len(latest(out)) == 120  # every line of both runs parses
