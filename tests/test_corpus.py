"""The corpus of malformed input (tests/corpus/*.yaml, one row per case): broken content, clinic.yaml,
templates, logos, appointment files, command-line arguments and web form posts. Each ends in its
exact error lines, a non-zero exit (or the page's error response), no traceback and no output file.

A case changes a private copy of the test library, then runs the command line in this process or
posts a form to the app. Its fields:

- `id`; `file`: the library file it changes; one of `replace: [old, new]`, `write: text` (the whole
  file), `delete: true`, `link: path` (a symbolic link to a path outside the library), `make: name`
  (a file made by a function in MAKERS);
- `at`: a text in the changed file whose line the errors name as {line} (default: `replace`'s new
  text), or [file, text] for a text in another file;
- `appointments`: `csv` (text) or `xlsx` (rows): an appointments file, named {appointments};
- `run`: the command line (default `all --out {out}`); `exit`: its code (default 1); `process: true`
  runs it as a real process (a pipe or device must not hang the test run if it is read after all);
- `post`: a page of the app and `form` its fields (the form token is added), `upload` a file's text
  for the batch page; `status` the answer's code;
- `said`: the first line a batch prints (it counts the rows) when it refused rows (`exit: 2`);
- `errors`: the exact error lines (for a post: the messages the page shows), with {file}, {line},
  {appointments} and {out} filled in; {patient} is the test patient's name anywhere in a case.
"""

from __future__ import annotations

import html
import io
import os
import re
import struct
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from canary import PATIENT, patient_input
from conftest import FIXTURE, Run, cli, copy_library, line_of, script
from openpyxl import Workbook

CORPUS = Path(__file__).resolve().parent / "corpus"
OUTSIDE = "root:CORPUS-7f3a9c:19000:0:99999:7:::\n"  # stands in for a file outside the library
PATIENT_VALUES = {"patient": PATIENT}


def huge_png(path: Path) -> None:
    """A valid 20000 x 20000 black-and-white PNG, small on disk (its rows compress to nothing)."""
    width = height = 20000

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)
    rows = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
                     + chunk(b"IEND", b""))


def fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def folder(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.mkdir()


MAKERS: dict[str, Callable[[Path], None]] = {"huge-png": huge_png, "fifo": fifo, "folder": folder}


def cases() -> list[Any]:
    """Every case of the corpus, named by its file and id; those that start a process or an app run in
    the full run only."""
    return [pytest.param(spec, id=f"{source.stem}/{spec['id']}",
                         marks=[pytest.mark.slow] if spec.get("process") or "post" in spec else [])
            for source in sorted(CORPUS.glob("*.yaml"))
            for spec in yaml.safe_load(source.read_text(encoding="utf-8"))]


def change(lib: Path, spec: dict[str, Any], outside: Path) -> int:
    """Make the case's change to the library; the line it names (0 when it names none)."""
    if "file" not in spec:
        return 0
    path = lib / spec["file"]
    path.parent.mkdir(parents=True, exist_ok=True)
    if "replace" in spec:
        old, new = spec["replace"]
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} is not unique in {spec['file']}"
        path.write_text(text.replace(old, new), encoding="utf-8")
    elif "write" in spec:
        path.write_text(spec["write"], encoding="utf-8")
    elif spec.get("delete"):
        path.unlink()
    elif spec.get("link"):
        path.unlink(missing_ok=True)
        path.symlink_to(outside)
    else:
        MAKERS[spec["make"]](path)
    at = spec.get("at", spec["replace"][1] if "replace" in spec else None)
    if at is None:
        return 0
    if isinstance(at, list):  # a text in another file: [file, text]
        path, at = lib / at[0], at[1]
    return line_of(path.read_text(encoding="utf-8"), at)


def fill(text: str, values: Mapping[str, object]) -> str:
    """The text with {name} replaced by its value (other braces, as in a layout's, are left alone)."""
    for name, value in values.items():
        text = text.replace(f"{{{name}}}", str(value))
    return text


def appointments(folder: Path, spec: dict[str, Any]) -> Path | None:
    """Write the case's appointments file into the library folder (the working folder), if it has one."""
    given = spec.get("appointments")
    if given is None:
        return None
    if "csv" in given:
        path = folder / "appointments.csv"
        path.write_text(fill(given["csv"], PATIENT_VALUES), encoding="utf-8")
        return patient_input(path)
    path = folder / "appointments.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in given["xlsx"]:
        sheet.append([fill(cell, PATIENT_VALUES) for cell in row])
    book.save(path)
    return patient_input(path)


def outputs(tmp_path: Path) -> list[Path]:
    """Every PDF, email or zip file anywhere under the test's folder (the library has none)."""
    return [p for p in tmp_path.rglob("*") if p.suffix in (".pdf", ".eml", ".zip")]


@pytest.mark.parametrize("spec", cases())
def test_malformed_input(spec: dict[str, Any], tmp_path: Path) -> None:
    lib = copy_library(tmp_path / "lib", FIXTURE)
    outside = tmp_path / "outside.txt"
    outside.write_text(OUTSIDE, encoding="utf-8")
    line = change(lib, spec, outside)
    sheet = appointments(lib, spec)
    values: dict[str, object] = {"file": spec.get("file", ""), "line": line, "out": tmp_path / "out",
                                 "appointments": sheet.name if sheet else "", **PATIENT_VALUES}
    expected = [fill(error, values) for error in spec["errors"]]
    if "post" in spec:
        shown = post(lib, spec, values)
        assert shown == (spec["status"], expected)
    else:
        run = command(lib, [fill(arg, values) for arg in spec.get("run", ["all", "--out", "{out}"])],
                      spec.get("process", False))
        assert PATIENT not in run.out + run.err
        assert run.code == spec.get("exit", 1)
        assert "Traceback" not in run.err
        said = [spec["said"]] if "said" in spec else []  # a batch counts its rows
        assert run.out.splitlines()[:1] == said
        assert run.errors == expected
    assert "CORPUS-7f3a9c" not in str(expected)  # nothing of a file outside the library is shown
    assert outputs(tmp_path) == []


def command(lib: Path, args: list[str], process: bool) -> Run:
    """Run the command line in this process, or in a real one for input that would block a regression."""
    if not process:
        return cli(lib, *args)
    done = script(lib, *args)
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


def post(lib: Path, spec: dict[str, Any], values: dict[str, object]) -> tuple[int, list[str]]:
    """Post the case's form to the app, as the browser that opened the page; its status and messages."""
    from test_web_sessions import HandClock, form_token

    from handoutgen.library.gather import load_library
    from handoutgen.web import Settings, create_app

    app = create_app(Settings(lib, jobs=1, warm=False, clock=HandClock(), mail_folder=lib.parent / "mail"),
                     load_library(lib))
    try:
        client = app.test_client()
        assert client.get(f"/?token={app.extensions['handoutgen']['token']}").status_code == 302
        data: dict[str, Any] = {name: fill(value, values) for name, value in spec.get("form", {}).items()}
        data["csrf_token"] = form_token(client.get(spec["post"]))
        if "upload" in spec:
            data["appointments"] = (io.BytesIO(fill(spec["upload"], values).encode()), "appointments.csv")
        page = client.post(spec["post"], data=data)
    finally:
        app.extensions["handoutgen"]["jobs"].close()
    assert "Traceback" not in page.text
    beside = re.findall(r'<p class="error" id="([\w-]+)-error"><span class="visually-hidden">Error: </span>'
                        r"(.*?)</p>", page.text, re.S)
    summary = re.search(r'<div class="summary" id="problems".*?</div>', page.text, re.S)
    above = re.findall(r"<li>(.*?)</li>", summary.group(0), re.S) if summary and not beside else []
    return page.status_code, [html.unescape(f"{field}: {text}") for field, text in beside] + \
        [html.unescape(text) for text in above]
