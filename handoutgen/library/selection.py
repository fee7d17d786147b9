"""Choosing what to build: the one check of clinic, treatment, documents, language, edition and
appointment id that the command line, appointment files and the web page share.

Every problem is an Issue: which choice it is about, what is wrong and what is allowed. A front end
only says where the choice came from (an option, a column, a form field), so the same problem
reads the same everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence

from ..values import Value, frozen
from .gather import Library
from .registry import Registry, id_key

Match = Callable[[str, Collection[str]], "str | None"]  # the choice a text names, or None
APPOINTMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
APPOINTMENT_ID_DOC = "letters, digits, '.', '_' and '-', at most 64, for use in file names"
YES, NO = ("yes", "y", "true", "1", "x"), ("no", "n", "false", "0")
SHOWN = 40  # characters of a wrong value repeated in a message


@frozen
class Issue(Value):
    """One problem with a choice: clinic, treatment, documents, language, large_print or
    appointment_id."""

    choice: str
    message: str
    allowed: str


@frozen
class Selection(Value):
    """What to build, checked: a treatment's documents for a clinic, in a language and edition."""

    clinic: str
    treatment: str
    kinds: tuple[str, ...]
    language: str
    large_print: bool = False


def exact(text: str, choices: Collection[str]) -> str | None:
    """The choice `text` is, spelt exactly (command line, web form)."""
    return text if text in choices else None


def loose(text: str, choices: Collection[str]) -> str | None:
    """The choice `text` names, whatever its case and spacing (appointment files)."""
    key = id_key(text)
    return next((c for c in choices if id_key(c) == key), None)


def _listing(choices: Sequence[str]) -> str:
    return "expected one of: " + (", ".join(choices) or "none")


def unknown_clinic(library: Library, given: str) -> Issue:
    """A clinic that is not in the library."""
    return Issue("clinic", f"unknown clinic {given[:SHOWN]!r}", _listing(library.clinic_ids))


def treatment(library: Library, given: str, match: Match = exact) -> tuple[str | None, Issue | None]:
    """The treatment a text names."""
    found = match(given, library.treatments)
    if found is None:
        return None, Issue("treatment", f"unknown treatment {given[:SHOWN]!r}",
                           _listing(library.treatment_ids))
    return found, None


def documents(registry: Registry, given: Sequence[str],
              match: Callable[[str], str | None]) -> tuple[list[str], list[Issue]]:
    """The kinds of document named, each once; at least one."""
    kinds: list[str] = []
    issues: list[Issue] = []
    if not given:
        issues.append(Issue("documents", "no document chosen",
                            "one or more of: " + ", ".join(registry.kinds)))
    for name in given:
        kind = match(name)
        if kind is None:
            issues.append(Issue("documents", f"unknown document {name[:SHOWN]!r}",
                                _listing(list(registry.kinds))))
        elif kind in kinds:
            issues.append(Issue("documents", "a document is listed twice", "each kind once"))
        else:
            kinds.append(kind)
    return kinds, issues


def language(library: Library, clinic: str, treatment: str, given: str | None,
             match: Match = exact) -> tuple[str | None, Issue | None]:
    """The language to build in: one the clinic offers the treatment in (by default the first)."""
    offered = library.offered(clinic, treatment)
    if not given and offered:
        return offered[0], None
    given = given or library.clinics[clinic].clinic.languages[0]
    found = match(given, offered)
    if found is None:
        return None, Issue("language", f"unknown language {given[:SHOWN]!r}", _listing(offered))
    return found, None


def edition(given: str, default: bool) -> tuple[bool | None, Issue | None]:
    """Large print or not, from yes or no (empty: `default`)."""
    word = given.strip().casefold()
    if not word:
        return default, None
    if word in YES or word in NO:
        return word in YES, None
    return None, Issue("large_print", f"{given[:20]!r} is not yes or no",
                       "yes or no (also y/n, true/false, 1/0, x), or empty")


def appointment_id(given: str) -> Issue | None:
    """An appointment id names files and ledger entries: a short plain name."""
    if APPOINTMENT_ID.match(given):
        return None
    return Issue("appointment_id", f"{given[:SHOWN]!r} is not allowed", APPOINTMENT_ID_DOC)


def select(library: Library, clinic: str | None, clinic_given: str, treatment_given: str,
           kinds_given: Sequence[str], language_given: str | None, large_print: bool = False,
           match: Match = exact,
           kind_match: Callable[[str], str | None] | None = None) -> tuple[Selection | None, list[Issue]]:
    """Check a whole choice; every problem at once. `clinic` is the id `clinic_given` names (None
    when it names none); `match` reads the other names (exact, or loose for appointment files)."""
    registry = library.registry
    issues: list[Issue] = []
    if clinic is None or clinic not in library.clinics:
        issues.append(unknown_clinic(library, clinic_given))
        clinic = None
    found, issue = treatment(library, treatment_given, match)
    issues += [issue] if issue else []
    kinds, problems = documents(registry, kinds_given,
                                kind_match or (lambda name: match(name, registry.kinds)))
    issues += problems
    chosen = None
    if clinic is not None and found is not None:
        chosen, issue = language(library, clinic, found, language_given, match)
        issues += [issue] if issue else []
    if issues or clinic is None or found is None or chosen is None:
        return None, issues
    return Selection(clinic, found, tuple(kinds), chosen, large_print), []
