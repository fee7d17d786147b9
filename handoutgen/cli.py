"""The command line: parse arguments, load the library, run a command, print one clean line.

Expected problems (HandoutError) print as `error: file:line: field: problem (allowed)` lines
and exit 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from .cache import Cache
from .compose.compose import Request
from .errors import ContentError, DeliveryError, HandoutError, Problem, UsageError
from .library.gather import LABELS_DIR, Library, load_library
from .library.patient import ADDRESS_DOC, SOURCE, check_value, is_address, is_date
from .library.scaffold import find_root, init_library
from .library.selection import Issue, appointment_id, select
from .output import write_atomic
from .pipeline import build_document, check_patient
from .runs import naming

if TYPE_CHECKING:
    from .deliver.mail import Outgoing
    from .runs.appointments import Appointment, Plan, Shard

EXIT_OK = 0
EXIT_ERROR = 1  # bad input: nothing was built
EXIT_ROWS = 2  # some documents or rows failed; every other one was built
EXIT_OUTPUT = 3  # an output could not be written (e.g. disk full): the run stopped
EXIT_PIPE = 128 + signal.SIGPIPE  # the output's reader went away: what a shell reports for other tools


class _Parser(argparse.ArgumentParser):
    """argparse that reports misuse in the project's one error format."""

    def error(self, message: str) -> NoReturn:
        raise UsageError.one(SOURCE, 1, "arguments", message, f"see '{self.prog} --help'")


def make_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """Declare the options of the command `argv` names (argparse is slow to declare them all);
    every command when it names none, or one that does not exist, so that help lists them all."""
    parser = _Parser(prog="handoutgen", description="Build printable patient handouts.")
    parser.add_argument("--version", action="version", version=f"handoutgen {__version__}")
    parser.add_argument("--root", type=Path, default=None,
                        help="library folder holding handouts/, templates/ and assets/")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    named = _command_word(argv)
    for name, declare in COMMANDS.items():
        if named not in COMMANDS or name == named:
            declare(sub)
    return parser


def _command_word(argv: Sequence[str]) -> str | None:
    """The command an argument list names: its first word that is not an option or --root's value."""
    words = iter(argv)
    for word in words:
        if word == "--root":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _every_command(sub: Any) -> None:
    """Declare `all` and its options."""
    every = sub.add_parser("all", help="build every handout for every clinic (the default)")
    _run_options(every)


def _batch_command(sub: Any) -> None:
    """Declare `batch` and its options."""
    batch = sub.add_parser("batch", help="build the documents of every appointment in a CSV export")
    batch.add_argument("--appointments", type=Path, required=True, metavar="FILE",
                       help="CSV or Excel (.xlsx) export with a header row naming the columns (see "
                       "docs/admin.md)")
    _encoding_option(batch)
    batch.add_argument("--packet", action="store_true",
                       help="one PDF per appointment with its documents in order, bookmarked")
    batch.add_argument("--duplex", action="store_true",
                       help="with --packet: start every document on a front side")
    batch.add_argument("--shard", default="1/1", metavar="K/N",
                       help="build only the K-th of N disjoint slices of the rows")
    batch.add_argument("--large-print", action="store_true",
                       help="the large-print edition for every row whose large_print column is empty")
    _run_options(batch)


def _build_command(sub: Any) -> None:
    """Declare `build` and its options."""
    one = sub.add_parser("build", help="build one handout, optionally for one patient")
    _selection(one, many=False)
    one.add_argument("-o", "--output", help="output file, or - for standard output")


def _email_command(sub: Any) -> None:
    """Declare `email` and its options."""
    mail = sub.add_parser("email", help="email one patient's documents, or every appointment's")
    mail.add_argument("--to", metavar="ADDRESS", help="the patient's email address (one patient)")
    mail.add_argument("--appointment-id", help="the appointment, for the ledger and passcode list")
    mail.add_argument("--date-of-birth", metavar="YYYY-MM-DD",
                      help="only for clinics whose passcode is the date of birth (not advised)")
    _delivery_options(mail)
    mail.add_argument("--out", type=Path, default=Path("out/email"),
                      help="folder for the send ledger and passcode list (default: out/email)")
    mail.add_argument("--dry-run", action="store_true",
                      help="write the messages as .eml files into <out>/outbox/ instead of sending")
    mail.add_argument("--resend-unknown", action="store_true",
                      help="send again messages that may have arrived (connection lost after sending)")


def _paper_command(sub: Any) -> None:
    """Declare `print` and its options."""
    paper = sub.add_parser("print", help="print one patient's documents, or every appointment's packet")
    paper.add_argument("--printer", help="printer name (default: the clinic's, else the system's)")
    paper.add_argument("--copies", type=int, default=1, help="copies of each job (default: 1)")
    _delivery_options(paper, packet=False)  # one job per appointment: always a packet


def _serve_command(sub: Any) -> None:
    """Declare `serve` and its options."""
    serve = sub.add_parser("serve", help="start the front-desk web page (http://127.0.0.1:8000/)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1, this computer only); any other "
                       "address needs a front-desk password")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    serve.add_argument("--clinic", help="serve only this clinic (default: every clinic, chosen on the page)")
    serve.add_argument("--password-env", default="HANDOUTGEN_PASSWORD", metavar="NAME",
                       help="environment variable holding the front-desk password "
                       "(default: HANDOUTGEN_PASSWORD)")
    serve.add_argument("--mail-out", type=Path, default=Path("out/email"), metavar="DIR",
                       help="folder for the send ledger and passcode list (default: out/email)")
    serve.add_argument("--behind-proxy", metavar="ADDRESS",
                       help="the address of a TLS proxy in front of the page: its X-Forwarded-For is "
                       "believed and the session cookie is Secure (needs a front-desk password)")


def _check_command(sub: Any) -> None:
    """Declare `check` and its options."""
    sub.add_parser("check", help="validate content, templates and clinics; list every problem")


def _listing_command(sub: Any) -> None:
    """Declare `list` and its options."""
    sub.add_parser("list", help="show the clinics, treatments, kinds and fields")


def _init_command(sub: Any) -> None:
    """Declare `init` and its options."""
    init = sub.add_parser("init", help="write a starter library (example clinics, content, layouts, fonts) "
                          "into a new folder, to edit")
    init.add_argument("dir", type=Path, metavar="DIR", help="the folder to make (new or empty)")


COMMANDS: dict[str, Callable[[Any], None]] = {
    "all": _every_command,
    "batch": _batch_command,
    "build": _build_command,
    "email": _email_command,
    "print": _paper_command,
    "serve": _serve_command,
    "check": _check_command,
    "list": _listing_command,
    "init": _init_command,
}


def _selection(parser: argparse.ArgumentParser, many: bool) -> None:
    """The options that choose documents for one patient (build, email, print)."""
    parser.add_argument("--clinic", required=not many, help="clinic id or clinic folder")
    parser.add_argument("--treatment", required=not many, help="treatment id, e.g. mesotherapy")
    kinds = "a kind from handouts/kinds.yaml, e.g. consent (see 'list')"
    if many:
        parser.add_argument("--kind", action="append", default=[],
                            help=kinds + " (repeat for several documents)")
    else:
        parser.add_argument("--kind", required=True, help=kinds)
    parser.add_argument("--language", help="language code (default: the clinic's first)")
    parser.add_argument("--patient-name", help="the patient's name")
    parser.add_argument("--field", action="append", default=[], metavar="KEY=VALUE",
                        help="a patient field, e.g. appointment_date=2026-12-01 (repeatable)")
    parser.add_argument("--large-print", action="store_true",
                        help="the large-print edition: 16 pt text, one column, wider spacing")


def _delivery_options(parser: argparse.ArgumentParser, packet: bool = True) -> None:
    """Options shared by email and print: one patient's documents, or a batch's."""
    _selection(parser, many=True)
    parser.add_argument("--appointments", type=Path, metavar="FILE",
                        help="every appointment in this CSV or Excel export instead of one patient")
    _encoding_option(parser)
    if packet:
        parser.add_argument("--packet", action="store_true",
                            help="the documents in one PDF, in the order a patient meets them")
    parser.add_argument("--duplex", action="store_true",
                        help="print on both sides; with --packet, each document starts on a front")
    parser.add_argument("--shard", default="1/1", metavar="K/N", help="only the K-th of N slices")


def _encoding_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoding", metavar="NAME",
                        help="the CSV file's encoding, e.g. windows-1252 (default: UTF-8 or UTF-16 when "
                        "the file says so, else UTF-8 when it is valid, else Windows-1252)")


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: out)")
    parser.add_argument("--jobs", type=int, default=0,
                        help="worker processes (default: all cores)")
    parser.add_argument("--force", action="store_true", help="rebuild even what is up to date")


def _position(argv: Sequence[str], *flags: str) -> int:
    """The 1-based position of the last argument that starts with one of `flags`."""
    for index in range(len(argv) - 1, -1, -1):
        if argv[index].split("=", 1)[0] in flags:
            return index + 1
    return 1


# The option each choice of selection.py comes from.
OPTION_OF = {"clinic": "--clinic", "treatment": "--treatment", "documents": "--kind",
             "language": "--language", "appointment_id": "--appointment-id"}


def _issue(argv: Sequence[str], issue: Issue) -> Problem:
    """A problem with a choice, at the option that made it."""
    flag = OPTION_OF[issue.choice]
    return Problem(SOURCE, _position(argv, flag), flag, issue.message, issue.allowed)


def _pick(library: Library, argv: Sequence[str], args: argparse.Namespace) -> list[Request]:
    """Check the chosen clinic, treatment, kinds and language; all problems at once."""
    kinds = [args.kind] if isinstance(args.kind, str) else args.kind
    chosen, issues = select(library, _clinic_id(library, args.clinic), args.clinic, args.treatment, kinds,
                            args.language, args.large_print)
    problems = [_issue(argv, issue) for issue in issues]
    if chosen is None:
        fields = library.registry.fields
        for name, raw, source, line in _patient_values(argv, args):  # what can be checked already
            found = ("unknown field", "expected one of: " + ", ".join(fields)) if name not in fields \
                else check_value(fields[name], raw, None)
            if found is not None:
                problems.append(Problem(source, line, name, *found))
        raise UsageError(problems)
    return [Request(chosen.clinic, chosen.treatment, kind, chosen.language, large_print=chosen.large_print)
            for kind in chosen.kinds]


def _one_patient(root: Path, argv: Sequence[str], args: argparse.Namespace,
                 packet: bool = False) -> tuple[Library, tuple[Request, ...]]:
    """Load what one patient's documents need; check the choice and the patient's values."""
    library = load_library(root, clinics=[args.clinic], treatment=args.treatment)
    return library, _patient_requests(library, argv, args, packet)


def _patient_requests(library: Library, argv: Sequence[str], args: argparse.Namespace,
                      packet: bool = False) -> tuple[Request, ...]:
    """Check the chosen documents and the patient's values; the requests, in order."""
    requests = _pick(library, argv, args)
    if packet:
        order = library.registry.in_packet_order(r.kind for r in requests)
        requests.sort(key=lambda r: order.index(r.kind))
    kinds = tuple(r.kind for r in requests)
    values = check_patient(library, requests[0].clinic, kinds, _patient_values(argv, args))
    return tuple(dataclasses.replace(r, patient=library.registry.for_kind(values, r.kind)) for r in requests)


def _clinic_id(library: Library, key: str) -> str | None:
    if key in library.clinics:
        return key
    folder = Path(key).resolve()
    for clinic_id, entry in library.clinics.items():
        if entry.folder.resolve() == folder:
            return clinic_id
    return None


def _patient_values(argv: Sequence[str], args: argparse.Namespace) -> list[tuple[str, str, str, int]]:
    values: list[tuple[str, str, str, int]] = []
    if args.patient_name is not None:
        values.append(("patient_name", args.patient_name, SOURCE, _position(argv, "--patient-name")))
    positions = [i + 1 for i, arg in enumerate(argv) if arg == "--field"]
    positions += [i + 1 for i, arg in enumerate(argv) if arg.startswith("--field=")]
    for pos, item in zip(sorted(positions), args.field, strict=False):
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError.one(SOURCE, pos, "--field", f"{item!r} has no '='", "KEY=VALUE")
        values.append((key.strip(), value, SOURCE, pos))
    return values


def cmd_build(root: Path, argv: Sequence[str], args: argparse.Namespace) -> int:
    """Build one document, optionally personalised."""
    cache = Cache.open()
    store = None
    if cache is None:
        library = load_library(root, clinics=[args.clinic], treatment=args.treatment)
    else:  # the checked library and blank layouts are kept between runs (see cache.py)
        library, key = cache.library(root, clinics=[args.clinic], treatment=args.treatment)
        store = cache.layouts(key)
    (request,) = _patient_requests(library, argv, args)
    pdf = build_document(library, request, store)
    if args.output == "-":
        sys.stdout.buffer.write(pdf)
        sys.stdout.buffer.flush()
        return EXIT_OK
    if args.output:
        target = Path(args.output)
    else:
        name = naming.personal(library, request, pdf) if request.patient else naming.handout(library, request)
        target = Path("out") / name
    write_atomic(target, pdf, mode=0o600 if request.patient else 0o644)
    print(f"Built {target}")
    return EXIT_OK


def cmd_all(root: Path, argv: Sequence[str], args: argparse.Namespace) -> int:
    """Build every handout for every clinic."""
    from .runs.runner import build_all  # the runs stage: not needed to build one document
    _check_jobs(argv, args)
    library = load_library(root)
    summary = build_all(library, args.out, args.jobs, args.force)
    print(summary.line(args.out))
    return EXIT_OK if not summary.failed else EXIT_ROWS


def cmd_batch(root: Path, argv: Sequence[str], args: argparse.Namespace) -> int:
    """Build the documents of every appointment in a CSV export."""
    from .runs.appointments import run_batch  # only batches need it

    _check_jobs(argv, args)
    shard = _shard(argv, args.shard)
    _duplex_needs_packet(argv, args)
    summary, counts = run_batch(root, args.appointments, args.out, args.packet, args.duplex, shard,
                                args.jobs, args.force, encoding=_encoding(argv, args),
                                large_print=args.large_print)
    _warn(counts.ignored)
    for problem in summary.problems:
        print(problem, file=sys.stderr)
    print(counts.line(len(summary.failed_appointments)))
    print(summary.line(args.out))
    return EXIT_OK if not summary.failed else EXIT_ROWS


def _encoding(argv: Sequence[str], args: argparse.Namespace) -> str | None:
    """The codec --encoding names (None: find out from the file)."""
    from .runs.tables import check_encoding

    if args.encoding is None:
        return None
    codec = check_encoding(args.encoding)
    if codec is None:
        raise UsageError.one(SOURCE, _position(argv, "--encoding"), "--encoding",
                             f"unknown encoding {args.encoding[:40]!r}",
                             "utf-8, utf-16, windows-1252 or another encoding Python knows")
    return codec


def _appointment_rows(root: Path, argv: Sequence[str], args: argparse.Namespace,
                      packet: bool) -> tuple[Library, list[Appointment], Plan]:
    """Read an appointments export for email or print: the good rows, and the counts and problems."""
    from .runs.appointments import AppointmentsFile, Plan, good_rows

    given = [flag for flag in ("--clinic", "--treatment", "--kind", "--patient-name", "--field", "--to",
                               "--appointment-id", "--date-of-birth") if _given(argv, flag)]
    if given:
        raise UsageError([Problem(SOURCE, _position(argv, flag), flag, "cannot be used with --appointments",
                                  "the file names the patients and documents") for flag in given])
    shard = _shard(argv, args.shard)
    sheet = AppointmentsFile(root, args.appointments, _encoding(argv, args), large_print=args.large_print)
    clinics, _documents = sheet.survey(shard)
    library = load_library(root, clinics=clinics)
    counts = Plan()
    rows = list(good_rows(sheet, library, packet, args.duplex and packet, shard, counts))
    _warn(counts.ignored)
    return library, rows, counts


def _duplex_needs_packet(argv: Sequence[str], args: argparse.Namespace) -> None:
    if args.duplex and not args.packet:
        raise UsageError.one(SOURCE, _position(argv, "--duplex"), "--duplex", "needs --packet",
                             "--packet --duplex")


def _one_patient_problem(args: argparse.Namespace) -> list[Problem]:
    """Without --appointments, the documents of one patient must be chosen."""
    if args.clinic is not None and args.treatment is not None:
        return []
    return [Problem(SOURCE, 1, "--clinic", "one patient needs --clinic, --treatment and --kind",
                    "those options, or --appointments FILE.csv")]


def _given(argv: Sequence[str], flag: str) -> bool:
    return any(arg.split("=", 1)[0] == flag for arg in argv)


def cmd_email(root: Path, argv: Sequence[str], args: argparse.Namespace) -> int:
    """Email one patient's documents, or those of every appointment with an address."""
    from .deliver.mail import Outgoing, check_item, deliver
    from .runs.runner import plural

    _duplex_needs_packet(argv, args)
    problems: list[Problem] = []
    without_address = 0
    counts = None
    if args.appointments:
        library, rows, counts = _appointment_rows(root, argv, args, args.packet)
        problems = list(counts.problems)
        items = [Outgoing(a.cells["appointment_id"], a.cells["email"], a.requests, args.packet,
                          args.duplex, a.cells.get("date_of_birth", ""), counts.file, a.line, a.values)
                 for a in rows if a.cells.get("email")]
        without_address = len(rows) - len(items)
    else:
        library, item = _one_message(root, argv, args)
        items = [item]
    ready = []
    for item in items:
        found = check_item(library, item)
        problems.extend(found)
        if not found:
            ready.append(item)
    if problems and not args.appointments:
        raise UsageError(problems)
    summary = deliver(library, ready, args.out, args.dry_run, args.resend_unknown)
    for line in [*map(str, sorted(problems + summary.problems)), *summary.notes]:
        print(line, file=sys.stderr)
    if counts is not None:
        print(counts.line(len(items) - len(ready), "ready"))
    no_address = plural(without_address, "appointment has", "appointments have")
    print(summary.line(args.out, args.dry_run) +
          (f"; {no_address} no email address" if without_address else ""))
    if summary.stopped:
        return EXIT_OUTPUT
    bad = problems or summary.failed or summary.unknown
    return EXIT_ROWS if bad else EXIT_OK


def _one_message(root: Path, argv: Sequence[str], args: argparse.Namespace) -> tuple[Library, Outgoing]:
    from .deliver.mail import Outgoing, walk_in_id

    problems: list[Problem] = []
    if args.to is None or not is_address(args.to):
        problems.append(Problem(SOURCE, _position(argv, "--to"), "--to",
                                "missing" if args.to is None else "is not an email address",
                                ADDRESS_DOC + ", or --appointments FILE.csv"))
    if args.appointment_id is not None and (issue := appointment_id(args.appointment_id)) is not None:
        problems.append(_issue(argv, issue))
    if args.date_of_birth is not None and not is_date(args.date_of_birth):
        problems.append(Problem(SOURCE, _position(argv, "--date-of-birth"), "--date-of-birth",
                                "is not a date", "a date as YYYY-MM-DD"))
    problems += _one_patient_problem(args)
    if problems:
        raise UsageError(problems)
    library, requests = _one_patient(root, argv, args, args.packet)
    appointment = args.appointment_id or walk_in_id(args.to, requests)
    return library, Outgoing(appointment, args.to, requests, args.packet, args.duplex,
                             args.date_of_birth or "", SOURCE, _position(argv, "--to"))


def cmd_print(root: Path, argv: Sequence[str], args: argparse.Namespace) -> int:
    """Print one patient's documents, or every appointment's packet, through CUPS."""
    from .compose.compose import compose
    from .deliver import spool
    from .pipeline import render_documents
    from .runs.runner import plural

    if not 1 <= args.copies <= 99:
        raise UsageError.one(SOURCE, _position(argv, "--copies"), "--copies",
                             f"{args.copies} is not allowed", "1 to 99")
    problems: list[Problem] = []
    counts = None
    if args.appointments:
        library, rows, counts = _appointment_rows(root, argv, args, packet=True)
        problems = counts.problems
        jobs = [(naming.print_job(library, a.requests, a.cells["appointment_id"]), a.requests, counts.file,
                 a.line) for a in rows]
    else:
        if _one_patient_problem(args):
            raise UsageError(_one_patient_problem(args))
        library, requests = _one_patient(root, argv, args, packet=True)
        jobs = [(naming.print_job(library, requests, None), requests, SOURCE, 1)]
    line = _position(argv, "--printer")
    chosen = {clinic: spool.choose(args.printer, library.clinics[clinic].clinic.printer, line)
              for clinic in sorted({job[1][0].clinic for job in jobs})}
    for line_text in map(str, problems):
        print(line_text, file=sys.stderr)
    if counts is not None:
        print(counts.line(done="ready"))
    copies = plural(args.copies, "copy", "copies") + " each"
    for queued, (title, requests, source, row_line) in enumerate(jobs):
        clinic = library.clinics[requests[0].clinic].clinic
        pdf = render_documents(library, requests, tuple(compose(library, r) for r in requests),
                               args.duplex and len(requests) > 1)
        try:
            job_id = spool.submit(spool.Job(pdf, title, clinic.paper), chosen[clinic.id], args.copies,
                                  args.duplex)
        except DeliveryError as err:  # the printer stopped taking jobs: say what did get queued
            for problem in err.problems:
                print(dataclasses.replace(problem, file=source, line=row_line), file=sys.stderr)
            rest = ", ".join(job[0].removeprefix(naming.JOB + " ") for job in jobs[queued:])
            print(f"Printed {queued} of {plural(len(jobs), 'job')} ({copies}); not queued: {rest}")
            return EXIT_OUTPUT
        print(f"queued {job_id}: {title}", file=sys.stderr)
    printers = ", ".join(sorted(set(chosen.values()))) or "no printer"
    print(f"Printed {plural(len(jobs), 'job')} ({copies}) on {printers}"
          + (f"; {plural(len(problems), 'problem')} in rows" if problems else ""))
    return EXIT_ROWS if problems else EXIT_OK


def _check_jobs(argv: Sequence[str], args: argparse.Namespace) -> None:
    """Default --jobs to the cores this process may use; refuse silly values."""
    if args.jobs == 0 and "--jobs" not in " ".join(argv):
        args.jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count() or 1
    jobs = args.jobs
    if not 1 <= jobs <= 256:
        raise UsageError.one(SOURCE, _position(argv, "--jobs"), "--jobs", f"{jobs} is not allowed",
                             "1 to 256 worker processes")


def _shard(argv: Sequence[str], text: str) -> Shard:
    from .runs.appointments import Shard

    index, sep, count = text.partition("/")
    if sep and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count):
        return Shard(int(index), int(count))
    raise UsageError.one(SOURCE, _position(argv, "--shard"), "--shard", f"{text!r} is not a slice",
                         "K/N with 1 <= K <= N, e.g. 2/4")


def cmd_serve(root: Path, argv: Sequence[str], args: argparse.Namespace) -> int:
    """Start the front-desk web page and serve until interrupted."""
    from .web import Settings, make_server
    from .web.config import password_from, proxy_from

    password = password_from(args.password_env, args.host, _position(argv, "--password-env"),
                             _position(argv, "--host"))
    proxy = proxy_from(args.behind_proxy, password, args.password_env, _position(argv, "--behind-proxy"))
    if not 0 <= args.port <= 65535:
        raise UsageError.one(SOURCE, _position(argv, "--port"), "--port", f"{args.port} is not allowed",
                             "0 to 65535")
    if args.clinic is not None:
        library = load_library(root, clinics=[args.clinic])
        clinic_id = _clinic_id(library, args.clinic)
        if clinic_id is None:
            raise UsageError.one(SOURCE, _position(argv, "--clinic"), "--clinic",
                                 f"unknown value {args.clinic!r}",
                                 "expected one of: " + ", ".join(library.clinic_ids))
    else:
        library, clinic_id = load_library(root), None
    settings = Settings(root, clinic_id, password, args.mail_out.resolve(), args.host, proxy)
    try:
        server, stop = make_server(settings, library, args.port)
    except OSError as err:
        raise UsageError.one(SOURCE, _position(argv, "--port"), "--port",
                             f"cannot listen on {args.host}:{args.port}: {err.strerror}",
                             "a free port, e.g. --port 8080") from err
    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # closing the window or a service stop cleans up like Ctrl-C

    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, interrupted)
    host = f"[{args.host}]" if ":" in args.host else args.host
    token = server.application.extensions["handoutgen"]["token"]
    query = f"?token={token}" if token else ""
    try:
        print(f"Serving the front-desk page on http://{host}:{server.effective_port}/{query} "
              f"({'password required' if password else 'this computer only'}); press Ctrl-C to stop",
              flush=True)
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    print("Stopped.")
    return EXIT_OK


def cmd_check(root: Path) -> int:
    """Validate everything by composing and rendering every document in memory."""
    from .deliver.mail import check_templates
    from .library.readability import review
    from .runs.runner import all_requests, build_many

    library = load_library(root, deep=True)
    requests = all_requests(library)
    build_many(library, requests)
    check_templates(library)
    errors, warnings = review(library, date.today())
    _warn(warnings)
    if errors:
        raise ContentError(errors)
    print(f"OK: {len(library.treatments)} treatments, {len(library.clinics)} clinics, "
          f"{len(requests)} documents checked")
    return EXIT_OK


def _warn(problems: Sequence[Problem]) -> None:
    """Print problems that stop nothing, as warnings."""
    for problem in problems:
        print("warning: " + str(problem).removeprefix("error: "), file=sys.stderr)


def cmd_list(root: Path) -> int:
    """Show what can be built."""
    library = load_library(root)
    print("Clinics:")
    for clinic_id, entry in sorted(library.clinics.items()):
        c = entry.clinic
        example = " (example)" if c.example else ""
        print(f"  {clinic_id:<20} {c.name}{example}; paper {c.paper}; languages "
              f"{', '.join(c.languages)}; practitioners {', '.join(p.id for p in c.practitioners)}")
    print("Treatments:")
    for treatment_id, t in sorted(library.treatments.items()):
        print(f"  {treatment_id:<20} version {t.meta.version}, reviewed {t.meta.review_date}; "
              f"languages {', '.join(t.languages)}")
    print("Kinds and the patient fields they use:")
    for kind, decl in library.registry.kinds.items():
        names = ", ".join(f"{lang}: {name}" for lang, name in decl.labels.items())
        print(f"  {kind:<20} {', '.join(decl.fields)} (called {names})")
    print(f"Labels: {', '.join(sorted(library.labels))} (handouts/{LABELS_DIR}/)")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a reader that went away shows here, not as a traceback at exit
        return code
    except BrokenPipeError:
        # `generate.py list | head -1`: the reader has what it wanted; stop quietly, as other tools do
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = make_parser(argv).parse_args(argv)
        if args.command == "init":
            print(init_library(args.dir))
            return EXIT_OK
        root = find_root(args.root, _position(argv, "--root"))
        command = args.command or "all"
        if args.command is None:  # plain `generate.py`: build all with the defaults
            args = make_parser(["all"]).parse_args([*argv, "all"])
        if command == "build":
            return cmd_build(root, argv, args)
        if command == "check":
            return cmd_check(root)
        if command == "list":
            return cmd_list(root)
        if command == "batch":
            return cmd_batch(root, argv, args)
        if command == "email":
            return cmd_email(root, argv, args)
        if command == "print":
            return cmd_print(root, argv, args)
        if command == "serve":
            return cmd_serve(root, argv, args)
        return cmd_all(root, argv, args)
    except DeliveryError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EXIT_OUTPUT
    except HandoutError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
