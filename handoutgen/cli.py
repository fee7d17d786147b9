"""The command line: parse arguments, load the library, run a command, print one clean line.

Expected problems (HandoutError) print as `error: file:line: field: problem (allowed)` lines
and exit 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from . import __version__
from .build import build_all, build_document, build_many, check_patient, output_name
from .cache import Cache
from .compose import Request
from .content import KINDS
from .errors import DeliveryError, HandoutError, Problem, UsageError
from .library import CONTENT_DIR, LABELS_DIR, Library, load_library
from .output import write_atomic
from .patient import FIELDS, KIND_FIELDS, SOURCE

if TYPE_CHECKING:
    from .appointments import Shard

EXIT_OK = 0
EXIT_ERROR = 1  # bad input: nothing was built
EXIT_ROWS = 2  # some documents or rows failed; every other one was built
EXIT_OUTPUT = 3  # an output could not be written (e.g. disk full): the run stopped


class _Parser(argparse.ArgumentParser):
    """argparse that reports misuse in the project's one error format."""

    def error(self, message: str) -> NoReturn:
        raise UsageError.one(SOURCE, 1, "arguments", message, f"see '{self.prog} --help'")


def default_root() -> Path:
    """The library folder: the working folder if it holds handouts/, else this checkout."""
    cwd = Path.cwd()
    return cwd if (cwd / CONTENT_DIR).is_dir() else Path(__file__).resolve().parent.parent


def make_parser() -> argparse.ArgumentParser:
    """Declare every command and option."""
    parser = _Parser(prog="handoutgen", description="Build printable patient handouts.")
    parser.add_argument("--version", action="version", version=f"handoutgen {__version__}")
    parser.add_argument("--root", type=Path, default=None,
                        help="library folder holding handouts/, templates/ and assets/")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    every = sub.add_parser("all", help="build every handout for every clinic (the default)")
    _run_options(every)
    batch = sub.add_parser("batch", help="build the documents of every appointment in a CSV export")
    batch.add_argument("--appointments", type=Path, required=True, metavar="FILE.csv",
                       help="UTF-8 CSV with a header row naming the columns (see the README)")
    batch.add_argument("--packet", action="store_true",
                       help="one PDF per appointment with its documents in order, bookmarked")
    batch.add_argument("--duplex", action="store_true",
                       help="with --packet: start every document on a front side")
    batch.add_argument("--shard", default="1/1", metavar="K/N",
                       help="build only the K-th of N disjoint slices of the rows")
    _run_options(batch)
    one = sub.add_parser("build", help="build one handout, optionally for one patient")
    one.add_argument("--clinic", required=True, help="clinic id or clinic folder")
    one.add_argument("--treatment", required=True, help="treatment id, e.g. mesotherapy")
    one.add_argument("--kind", required=True, help="one of: " + ", ".join(KINDS))
    one.add_argument("--language", help="language code (default: the clinic's first)")
    one.add_argument("--patient-name", help="the patient's name")
    one.add_argument("--field", action="append", default=[], metavar="KEY=VALUE",
                     help="a patient field, e.g. appointment_date=2026-12-01 (repeatable)")
    one.add_argument("-o", "--output", help="output file, or - for standard output")
    sub.add_parser("check", help="validate content, templates and clinics; list every problem")
    sub.add_parser("list", help="show the clinics, treatments, kinds and fields")
    return parser


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


def _pick(library: Library, argv: Sequence[str], args: argparse.Namespace) -> Request:
    """Check the chosen clinic, treatment, kind and language; all problems at once."""
    problems: list[Problem] = []

    def bad(flag: str, value: str, choices: Sequence[str]) -> None:
        problems.append(Problem(SOURCE, _position(argv, flag), flag, f"unknown value {value!r}",
                                "expected one of: " + (", ".join(sorted(choices)) or "none")))

    clinic_id = _clinic_id(library, args.clinic)
    if clinic_id is None:
        bad("--clinic", args.clinic, library.clinic_ids)
    if args.treatment not in library.treatments:
        bad("--treatment", args.treatment, library.treatment_ids)
    if args.kind not in KINDS:
        bad("--kind", args.kind, list(KINDS))
    language = args.language
    if clinic_id is not None and args.treatment in library.treatments:
        clinic = library.clinics[clinic_id].clinic
        offered = [lang for lang in clinic.languages
                   if lang in library.treatments[args.treatment].languages]
        language = language or (offered[0] if offered else clinic.languages[0])
        if language not in offered:
            bad("--language", language, offered)
    if problems:
        for name, _raw, source, line in _patient_values(argv, args):
            if name not in FIELDS:
                problems.append(Problem(source, line, name, "unknown field",
                                        "expected one of: " + ", ".join(FIELDS)))
        raise UsageError(problems)
    assert clinic_id is not None and language is not None
    return Request(clinic_id, args.treatment, args.kind, language)


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
    request = _pick(library, argv, args)
    values = check_patient(library, request.clinic, (request.kind,), _patient_values(argv, args))
    request = Request(request.clinic, request.treatment, request.kind, request.language,
                      tuple(sorted(values.items())))
    pdf = build_document(library, request, store)
    if args.output == "-":
        sys.stdout.buffer.write(pdf)
        sys.stdout.buffer.flush()
        return EXIT_OK
    if args.output:
        target = Path(args.output)
    else:
        name = output_name(library, request)
        if values:  # never a patient's name in a file name: a short hash of the document instead
            name = name.removesuffix(".pdf") + "-" + hashlib.sha256(pdf).hexdigest()[:10] + ".pdf"
        target = Path("out") / name
    write_atomic(target, pdf, mode=0o600 if values else 0o644)
    print(f"Built {target}")
    return EXIT_OK


def cmd_all(root: Path, argv: Sequence[str], args: argparse.Namespace) -> int:
    """Build every handout for every clinic."""
    _check_jobs(argv, args)
    library = load_library(root)
    summary = build_all(library, args.out, args.jobs, args.force)
    print(summary.line(args.out))
    return EXIT_OK if not summary.failed else EXIT_ROWS


def cmd_batch(root: Path, argv: Sequence[str], args: argparse.Namespace) -> int:
    """Build the documents of every appointment in a CSV export."""
    from .appointments import Plan, plan, survey  # only batches need these
    from .runner import run

    _check_jobs(argv, args)
    shard = _shard(argv, args.shard)
    if args.duplex and not args.packet:
        raise UsageError.one(SOURCE, _position(argv, "--duplex"), "--duplex", "needs --packet",
                             "--packet --duplex")
    clinics, documents = survey(args.appointments, shard)
    library = load_library(root, clinics=clinics)
    counts = Plan()
    tasks = plan(args.appointments, library, args.packet, args.duplex, shard, counts)
    summary = run(library, tasks, args.out, args.jobs, args.force, label="batch", total=documents)
    for problem in [*counts.problems, *summary.problems]:
        print(problem, file=sys.stderr)
    summary.failed += counts.failed_documents
    print(summary.line(args.out))
    return EXIT_OK if not summary.failed else EXIT_ROWS


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
    from .appointments import Shard

    index, sep, count = text.partition("/")
    if sep and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count):
        return Shard(int(index), int(count))
    raise UsageError.one(SOURCE, _position(argv, "--shard"), "--shard", f"{text!r} is not a slice",
                         "K/N with 1 <= K <= N, e.g. 2/4")


def cmd_check(root: Path) -> int:
    """Validate everything by composing and rendering every document in memory."""
    from .build import all_requests

    library = load_library(root, deep=True)
    requests = all_requests(library)
    build_many(library, requests)
    print(f"OK: {len(library.treatments)} treatments, {len(library.clinics)} clinics, "
          f"{len(requests)} documents checked")
    return EXIT_OK


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
    for kind in KINDS:
        print(f"  {kind:<20} {', '.join(KIND_FIELDS[kind])}")
    print(f"Labels: {', '.join(sorted(library.labels))} (handouts/{LABELS_DIR}/)")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = make_parser().parse_args(argv)
        root = (args.root or default_root()).resolve()
        command = args.command or "all"
        if args.command is None:  # plain `generate.py`: build all with the defaults
            args = make_parser().parse_args([*argv, "all"])
        if command == "build":
            return cmd_build(root, argv, args)
        if command == "check":
            return cmd_check(root)
        if command == "list":
            return cmd_list(root)
        if command == "batch":
            return cmd_batch(root, argv, args)
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
