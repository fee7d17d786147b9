"""Plain-language checks for `check`: reading level per section, long sentences, unexplained terms,
and content whose clinical review is overdue.

Patient text is written for a reading age of 11 to 14 (US grade 6 to 8). Each top-level field of a
content file is one section; its score is worked out on all of its text together.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from ..errors import ContentError, Problem
from ..load import Loaded, PathT, load_yaml, path_text
from ..values import Value, frozen
from .content import without_spans
from .gather import Library, Treatment

MIN_WORDS = 25  # fewer words give no meaningful score
LONGEST_SENTENCE = 20  # words
# Not patient prose: ids, codes, the medical word printed beside a plain name, source references.
NOT_PROSE = frozenset({"id", "frequency", "sources", "term", "rate", "lasts", "title", "name", "when"})


@frozen
class Gate(Value):
    """A language's reading-level formula and its limits."""

    formula: str  # the textstat function
    dictionary: str  # textstat's language (its hyphenation dictionary counts syllables)
    name: str
    higher_is_harder: bool
    warn: float
    fail: float


GATES = {
    "en": Gate("flesch_kincaid_grade", "en_US", "Flesch-Kincaid grade", True, warn=6, fail=8),
    "es": Gate("fernandez_huerta", "es", "Fernández-Huerta score", False, warn=70, fail=60),
}


def review(library: Library, today: date) -> tuple[list[Problem], list[Problem]]:
    """Errors and warnings about the patient text of every treatment."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for treatment in library.treatments.values():
        errors += _overdue(treatment, today)
        for language in treatment.languages:
            terms = library.labels[language].terms if language in library.labels else ()
            _language(treatment, language, ("facts", *library.registry.kinds), terms, errors, warnings)
    return errors, warnings


def _overdue(treatment: Treatment, today: date) -> list[Problem]:
    """A treatment whose next clinical review date has passed."""
    due = date.fromisoformat(treatment.meta.review_due)
    if due >= today:
        return []
    loaded = load_yaml(treatment.folder / "treatment.yaml", ContentError)
    return [Problem(loaded.file, loaded.line(("review_due",)), "review_due",
                    f"the clinical review was due on {treatment.meta.review_due}",
                    "have a clinician review the content, then update review_date and review_due")]


def _language(treatment: Treatment, language: str, names: tuple[str, ...], terms: tuple[str, ...],
              errors: list[Problem],
              warnings: list[Problem]) -> None:
    import textstat  # only `check` needs it

    gate = GATES.get(language.split("-")[0])
    files = [load_yaml(treatment.folder / language / f"{name}.yaml", ContentError)
             for name in names]
    explained = {entry.term.lower() for entry in treatment.languages[language].facts.glossary}
    unexplained = {t for t in terms if t.lower() not in explained}
    for loaded in files:
        if not isinstance(loaded.data, dict):
            continue
        for key in loaded.data:
            if key == "glossary":
                continue
            pieces = list(_prose(loaded.data[key], (key,)))
            _sentences(loaded, pieces, warnings)
            _terms(loaded, pieces, unexplained, warnings)
            if gate is not None:
                _score(textstat, gate, loaded, key, pieces, errors, warnings)


def _prose(value: Any, path: PathT) -> Iterator[tuple[PathT, str]]:
    """Every piece of patient prose under a value, with where it is."""
    if isinstance(value, str):
        yield path, without_spans(value)  # words in another language are not scored in this one
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _prose(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in NOT_PROSE:
                yield from _prose(item, (*path, key))


def _split(text: str) -> list[str]:
    """The sentences of a piece of text."""
    return [s.strip() for s in re.split(r"(?<=[.!?:])\s+", " ".join(text.split())) if s.strip()]


def _sentences(loaded: Loaded, pieces: list[tuple[PathT, str]], warnings: list[Problem]) -> None:
    for path, text in pieces:
        for sentence in _split(text):
            words = len(sentence.split())
            if words > LONGEST_SENTENCE:
                warnings.append(Problem(loaded.file, loaded.line(path), path_text(path),
                                        f"a sentence has {words} words: \"{sentence}\"",
                                        f"sentences of at most {LONGEST_SENTENCE} words"))


def _terms(loaded: Loaded, pieces: list[tuple[PathT, str]], unexplained: set[str],
           warnings: list[Problem]) -> None:
    for term in sorted(unexplained):
        pattern = re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)
        for path, text in pieces:
            if pattern.search(text):
                warnings.append(Problem(loaded.file, loaded.line(path), path_text(path),
                                        f"'{term}' is used but not explained",
                                        "add it to glossary in facts.yaml with a plain meaning"))
                break


def _score(textstat: Any, gate: Gate, loaded: Loaded, key: str,
           pieces: list[tuple[PathT, str]], errors: list[Problem], warnings: list[Problem]) -> None:
    """Score one section; report it with its hardest sentence when it is too hard."""
    sentences = [s for _, text in pieces for s in _split(text)]
    text = " ".join(s if s[-1] in ".!?:" else s + "." for s in sentences)
    if len(text.split()) < MIN_WORDS:
        return
    textstat.set_lang(gate.dictionary)
    formula = getattr(textstat, gate.formula)
    score = float(formula(text))
    worse = (score > gate.fail) if gate.higher_is_harder else (score < gate.fail)
    poor = (score > gate.warn) if gate.higher_is_harder else (score < gate.warn)
    if not poor:
        return
    scored = [(float(formula(s if s[-1] in ".!?:" else s + ".")), s) for s in sentences]
    hardest = (max if gate.higher_is_harder else min)(scored)[1]
    limit = gate.fail if worse else gate.warn
    side = "above" if gate.higher_is_harder else "below"
    allowed = f"{'at most' if gate.higher_is_harder else 'at least'} {limit:g}; hardest sentence: " \
              f"\"{hardest}\""
    problem = Problem(loaded.file, loaded.line((key,)), key,
                      f"{gate.name} {score:.1f} is {side} {limit:g}", allowed)
    (errors if worse else warnings).append(problem)

