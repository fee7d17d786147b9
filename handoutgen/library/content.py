"""The content model: what medical writers edit under handouts/<treatment>/<language>/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

from ..load import PathT
from ..values import Value, frozen
from .schema import DATE, ID, spec

Check = Iterator[tuple[PathT, str, str]]
Texts = tuple[str, ...]


@frozen
class Source(Value):
    """A published source a medical fact rests on, listed once per treatment."""

    id: str = spec("short id the content cites the source by", **ID)
    title: str = spec("title of the page or paper, and who published it", max_len=200)
    url: str = spec("web address", pattern=r"^https?://[^\s<>\"]+$", pattern_doc="an http(s) address",
                    max_len=300)
    accessed: str = spec("date the page was read, for the Sources list", **DATE)
    language: str | None = spec("the language of the title, when it is not the treatment's first "
                                "language (a handout in another language tags it as such)",
                                default=None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$",
                                pattern_doc="a language code such as es or pt-BR")


@frozen
class TreatmentMeta(Value):
    """treatment.yaml: identity, version and review dates of one treatment."""

    id: str = spec("the treatment's id, the same as its folder name", **ID)
    version: str = spec("form version printed on every page, e.g. \"1.2\"", max_len=20)
    review_date: str = spec("date a clinician last reviewed the content", **DATE)
    review_due: str = spec("date the next review is due", **DATE)
    languages: Texts = spec("language folders, master first, e.g. [en]", min_items=1,
                            pattern=r"^[a-z]{2}(-[A-Z]{2})?$",
                            pattern_doc="a language code such as en or pt-BR")
    form_code: str = spec("form code patients and staff can say, e.g. MESO (the kind adds -C, -P, -A)",
                          pattern=r"^[A-Z0-9]{2,10}$", pattern_doc="2 to 10 capital letters or digits")
    sources: tuple[Source, ...] = spec("every source the content cites", min_items=1)

    def check(self) -> Check:
        seen: set[str] = set()
        for i, source in enumerate(self.sources):
            if source.id in seen:
                yield ("sources", i, "id"), f"duplicate source id {source.id!r}", "each source id once"
            seen.add(source.id)


Frequency = Literal["very-common", "common", "uncommon", "rare", "very-rare"]


@frozen
class Rate(Value):
    """How often a risk happened where a source counted it: printed as "about 1 in N people"."""

    one_in: int = spec("N in \"about 1 in N people\", as the source's numbers give it",
                       min_value=2, max_value=1_000_000)
    basis: str = spec("where the number comes from, in plain words, e.g. in one small study of 18 "
                      "people", max_len=120)
    source: str = spec("id of the source (treatment.yaml) that gives the number", **ID)


@frozen
class Risk(Value):
    """One possible side effect: printed with an initials box, and in aftercare advice."""

    id: str = spec("short id clinics use to refer to the risk", **ID)
    name: str = spec("plain name, e.g. Swelling", max_len=60)
    description: str = spec("one or two sentences on what may happen")
    expected: bool = spec("true if it is a common reaction that usually settles by itself")
    call_if: str = spec("when the patient should call the clinic about it")
    frequency: Frequency = spec("how often it happens, as the cited sources describe it: very-common, "
                                "common, uncommon, rare or very-rare. Handouts print the band as an "
                                "estimate with its sources; only `rate` prints a number")
    sources: Texts = spec("ids of the sources (treatment.yaml) for this risk and its frequency; "
                          "handouts print their numbers in the Sources list", min_items=1, **ID)
    serious: bool = spec("true for a rare but serious risk (listed apart from the mild ones)",
                         default=False)
    rate: Rate | None = spec("a number from a source, where one counted it", default=None)
    term: str | None = spec("the medical word, e.g. edema", default=None, max_len=60)
    lasts: str | None = spec("how long it usually lasts (when expected)", default=None, max_len=80)

    def check(self) -> Check:
        if self.expected and not self.lasts:
            yield (), "an expected reaction needs 'lasts'", "how long it usually lasts, e.g. a few days"
        if self.rate is not None and self.rate.source not in self.sources:
            yield ("rate", "source"), f"{self.rate.source!r} is not among the risk's sources", \
                "one of: " + ", ".join(self.sources)


@frozen
class Alternative(Value):
    """Another choice the patient has, including no treatment."""

    name: str = spec("name of the alternative", max_len=80)
    text: str = spec("what it is and how it compares")


@frozen
class NamedText(Value):
    """A titled paragraph."""

    name: str = spec("short title", max_len=80)
    description: str = spec("the text")


@frozen
class Term(Value):
    """A word patients may not know, and what it means in plain words."""

    term: str = spec("the word as the text uses it, e.g. minoxidil", max_len=60)
    meaning: str = spec("a plain explanation, printed in the glossary", max_len=300)


@frozen
class Step(Value):
    """One point of a "what to expect, and when" timeline."""

    when: str = spec("when, e.g. First 2 days", max_len=60)
    what: str = spec("what to expect then")


@frozen
class Facts(Value):
    """facts.yaml: shared facts written once and used by every handout kind."""

    name: str = spec("the treatment's name as patients see it", max_len=60)
    summary: str = spec("one or two sentences saying what it is")
    what_it_is: Texts = spec("paragraphs: what the treatment is", min_items=1)
    how_it_works: Texts = spec("paragraphs: how it works", min_items=1)
    uses: Texts = spec("what it is used for", min_items=1)
    benefits: Texts = spec("hoped-for benefits, never promises", min_items=1)
    what_to_expect: Texts = spec("what happens during treatment", min_items=1)
    sessions: str = spec("a paragraph on the number of sessions")
    risks: tuple[Risk, ...] = spec("every possible side effect", min_items=1)
    alternatives: tuple[Alternative, ...] = spec("other choices, including no treatment", min_items=1)
    evidence: Texts = spec("what the evidence shows, stated honestly, with regulators' views",
                           min_items=1)
    screening: Texts = spec("yes/no questions about reasons not to have it (pregnancy, medicines, "
                            "infection, scars, allergy)", min_items=1)
    hair_loss: Texts = spec("paragraphs on use for hair loss", default=())
    glossary: tuple[Term, ...] = spec("terms explained for patients; check warns when one is used "
                                      "but not listed", default=())

    def check(self) -> Check:
        seen: set[str] = set()
        for i, risk in enumerate(self.risks):
            if risk.id in seen:
                yield ("risks", i, "id"), f"duplicate risk id {risk.id!r}", "each risk id once"
            seen.add(risk.id)
        if not any(r.serious for r in self.risks):
            yield ("risks",), "no rare but serious risk", "mark at least one risk serious: true"
        if all(r.serious for r in self.risks):
            yield ("risks",), "every risk is marked serious", "common, mild risks with serious: false"


@frozen
class Photo(Value):
    """Optional photo consent."""

    intro: str = spec("why photos are taken and that saying no is fine")
    options: Texts = spec("uses of photos the patient may agree to, each with a tick box", min_items=1)


@frozen
class Consent(Value):
    """consent.yaml: the consent form's own text."""

    title: str = spec("document title", max_len=80)
    intro: str = spec("what the form is for")
    benefits_intro: str = spec("introduces hoped-for benefits without promising them")
    result_risk: NamedText = spec("the risk that the result is not what the patient hoped for")
    risks_intro: str = spec("explains the initials boxes")
    alternatives_intro: str = spec("introduces the alternatives")
    statements: Texts = spec("what the patient confirms by signing", min_items=1)
    interpreter: str = spec("question about interpreter or special requirements")
    photo: Photo = spec("optional photo consent")


@frozen
class PreTreatment(Value):
    """pre-treatment.yaml: the guide given before the appointment."""

    title: str = spec("document title", max_len=80)
    intro: str = spec("what the guide is for")
    prepare: Texts = spec("how to prepare", min_items=1)
    on_the_day: Texts = spec("what happens on the day", min_items=1)
    after: str = spec("a short note on what to expect afterwards")
    questions_prompt: str = spec("invites the patient to write down questions")


@frozen
class Aftercare(Value):
    """aftercare.yaml: the sheet given after treatment."""

    title: str = spec("document title", max_len=80)
    intro: str = spec("what the sheet is for")
    do: Texts = spec("things to do", min_items=1)
    dont: Texts = spec("things not to do", min_items=1)
    normal_intro: str = spec("introduces the reactions that are normal")
    call_intro: str = spec("introduces when to call the clinic")
    red_flags: Texts = spec("signs to call about at once (page 1 box): infection, late lumps or sores",
                            min_items=1)
    sun: str = spec("concrete sun advice: which SPF and for how long")
    pain_relief: str = spec("what to take or do for pain")
    timeline: tuple[Step, ...] = spec("what to expect, and when", min_items=1)
    emergency: str = spec("what to do in an emergency (the layout adds the number)")


# The built-in content models a kind in kinds.yaml may name (`model:`); a new kind declares `parts`.
MODELS: dict[str, type[Any]] = {"consent": Consent, "pre-treatment": PreTreatment, "aftercare": Aftercare}


@frozen
class ClinicAdditions(Value):
    """assets/clinics/<clinic>/content/<treatment>.yaml: a clinic's own lines for a treatment."""

    prepare: Texts = spec("extra preparation rules", default=())
    on_the_day: Texts = spec("extra notes for the day of treatment", default=())
    do: Texts = spec("extra aftercare do's", default=())
    dont: Texts = spec("extra aftercare don'ts", default=())
    call_if: Texts = spec("extra reasons to call the clinic", default=())
    out_of_hours: str | None = spec("what to do out of hours", default=None)
    product: str | None = spec("the product the clinic injects (name and maker)", default=None,
                               max_len=120)
    ingredients: Texts = spec("what the product contains, one ingredient a line", default=())
    licensing: str | None = spec("the product's licensing status, e.g. not licensed for injection "
                                 "into the skin; used off-label", default=None, max_len=300)
    screening: Texts = spec("yes/no questions the clinic adds to the screening list", default=())
    risk_lasts: dict[str, str] = spec("how long an expected reaction usually lasts, by risk id",
                                      default={}, max_len=80)


# Words in another language inside content text: <span lang="es">palabras</span>. Content reaches
# the markup escaped, so compose marks them with private-use characters (which patient values
# may not contain) that escaping leaves alone, and the parser makes them runs in that language.
CONTENT_SPAN = re.compile(r'<span lang="([a-z]{2,3}(?:-[A-Z]{2})?)">([^<>]*)</span>')


def mark_spans(text: str) -> str:
    """Content text with its <span lang="..."> words marked to survive escaping."""
    return CONTENT_SPAN.sub("\ue200\\1\ue201\\2\ue202", text) if "<span" in text else text


def span_problem(text: str) -> str | None:
    """What is wrong with the <span lang="..."> markup in a content text, if anything."""
    rest = CONTENT_SPAN.sub("", text)
    return "a <span> that is not <span lang=\"code\">words</span>" \
        if "<span" in rest or "</span>" in rest else None


def without_spans(text: str) -> str:
    """Content text without its words in other languages (which its own language's checks skip)."""
    return CONTENT_SPAN.sub("", text) if "<span" in text else text
