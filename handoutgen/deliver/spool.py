"""Deliver stage (paper): send finished PDFs to a printer through the system spooler (CUPS).

The CUPS command-line tools are used rather than a binding: `lpstat` lists the printers and
`lp` takes the PDF on standard input, so no patient document is ever written to a temporary
file, and the job title never carries a patient's name. CUPS_SERVER in the environment picks
the server, as for every CUPS tool.
"""

from __future__ import annotations

import os
import re
import subprocess

from ..errors import DeliveryError, UsageError
from ..library.patient import SOURCE
from ..values import Value, frozen

MEDIA = {"a4": "A4", "letter": "Letter"}
TIMEOUT = 60


@frozen
class Job(Value):
    """One print job: a document or a packet, as one PDF."""

    pdf: bytes
    title: str  # what the spooler shows: never a patient name
    paper: str  # "a4" or "letter", the clinic's


def _run(command: list[str], data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(command, input=data, capture_output=True, timeout=TIMEOUT, check=False,
                              env={**os.environ, "LC_ALL": "C"})  # messages in English, to read them
    except FileNotFoundError as err:
        raise DeliveryError.one(SOURCE, 1, "print", f"the print spooler is not installed "
                                f"({command[0]} not found)", "CUPS: apt-get install cups cups-client"
                                ) from err
    except subprocess.TimeoutExpired as err:
        raise DeliveryError.one(SOURCE, 1, "print", f"the print spooler did not answer in {TIMEOUT} s",
                                "a running CUPS server (lpstat -r)") from err


def _message(result: subprocess.CompletedProcess[bytes]) -> str:
    text = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else f"exit status {result.returncode}"


def printers() -> list[str]:
    """The printers (queues) the spooler knows; an error if it cannot be reached."""
    status = _run(["lpstat", "-r"])
    if b"scheduler is running" not in status.stdout:
        where = os.environ.get("CUPS_SERVER") or "this computer"
        raise DeliveryError.one(SOURCE, 1, "print", f"the print spooler on {where} is not running",
                                "start CUPS, or set CUPS_SERVER to a running one")
    result = _run(["lpstat", "-e"])
    if result.returncode != 0:
        if b"No destinations" in result.stderr + result.stdout:
            return []
        raise DeliveryError.one(SOURCE, 1, "print", f"cannot reach the print spooler: {_message(result)}",
                                "a running CUPS server (lpstat -r), or CUPS_SERVER set to it")
    return sorted(line.strip() for line in result.stdout.decode("utf-8", "replace").splitlines()
                  if line.strip())


def default_printer() -> str | None:
    """The spooler's default printer, if one is set."""
    result = _run(["lpstat", "-d"])
    text = result.stdout.decode("utf-8", "replace").strip()
    if result.returncode != 0 or ":" not in text:
        return None
    name = text.rsplit(":", 1)[1].strip()
    return name if name and not any(ch.isspace() for ch in name) else None


def choose(asked: str | None, clinic_default: str | None, line: int) -> str:
    """The printer to use: asked for, the clinic's, or the spooler's default; it must exist."""
    known = printers()
    name = asked or clinic_default or default_printer()
    listing = "printers here: " + (", ".join(known) or "none")
    if name is None:
        raise UsageError.one(SOURCE, line, "--printer", "no printer given and no default printer",
                             listing)
    if name not in known:
        raise UsageError.one(SOURCE, line, "--printer", f"no printer named {name!r}", listing)
    return name


def submit(job: Job, printer: str, copies: int, duplex: bool) -> str:
    """Queue one job; return the spooler's job id."""
    command = ["lp", "-d", printer, "-n", str(copies), "-t", job.title,
               "-o", f"media={MEDIA[job.paper]}",
               "-o", "sides=two-sided-long-edge" if duplex else "sides=one-sided"]  # PDF on stdin
    result = _run(command, job.pdf)
    found = re.search(rb"request id is (\S+)", result.stdout)
    if result.returncode != 0 or found is None:
        raise DeliveryError.one(SOURCE, 1, "print", f"{printer} did not take the job: {_message(result)}",
                                "a printer that accepts jobs (lpstat -p)")
    return found.group(1).decode()
