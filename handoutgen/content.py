"""The content model: what medical writers edit under handouts/<treatment>/<language>/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .load import PathT
from .schema import DATE, ID, spec

Check = Iterator[tuple[PathT, str, str]]
Texts = tuple[str, ...]


@dataclass(frozen=True)
class TreatmentMeta:
    """treatment.yaml: identity, version and review dates of one treatment."""

    id: str = spec("the treatment's id, the same as its folder name", **ID)
    version: str = spec("form version printed on every page, e.g. \"1.2\"", max_len=20)
    review_date: str = spec("date a clinician last reviewed the content", **DATE)
    review_due: str = spec("date the next review is due", **DATE)
    languages: Texts = spec("language folders, master first, e.g. [en]", min_items=1,
                            pattern=r"^[a-z]{2}(-[A-Z]{2})?$",
                            pattern_doc="a language code such as en or pt-BR")


@dataclass(frozen=True)
class Risk:
    """One possible side effect: printed with an initials box, and in aftercare advice."""

    id: str = spec("short id clinics use to refer to the risk", **ID)
    name: str = spec("plain name, e.g. Swelling", max_len=60)
    description: str = spec("one or two sentences on what may happen")
    expected: bool = spec("true if it is a common reaction that usually settles by itself")
    call_if: str = spec("when the patient should call the clinic about it")
    term: str | None = spec("the medical word, e.g. edema", default=None, max_len=60)
    lasts: str | None = spec("how long it usually lasts (when expected)", default=None, max_len=80)

    def check(self) -> Check:
        if self.expected and not self.lasts:
            yield (), "an expected reaction needs 'lasts'", "how long it usually lasts, e.g. a few days"


@dataclass(frozen=True)
class Alternative:
    """Another choice the patient has, including no treatment."""

    name: str = spec("name of the alternative", max_len=80)
    text: str = spec("what it is and how it compares")


@dataclass(frozen=True)
class NamedText:
    """A titled paragraph."""

    name: str = spec("short title", max_len=80)
    description: str = spec("the text")


@dataclass(frozen=True)
class Facts:
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
    hair_loss: Texts = spec("paragraphs on use for hair loss", default=())

    def check(self) -> Check:
        seen: set[str] = set()
        for i, risk in enumerate(self.risks):
            if risk.id in seen:
                yield ("risks", i, "id"), f"duplicate risk id {risk.id!r}", "each risk id once"
            seen.add(risk.id)


@dataclass(frozen=True)
class Photo:
    """Optional photo consent."""

    intro: str = spec("why photos are taken and that saying no is fine")
    options: Texts = spec("uses of photos the patient may agree to, each with a tick box", min_items=1)


@dataclass(frozen=True)
class Consent:
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


@dataclass(frozen=True)
class PreTreatment:
    """pre-treatment.yaml: the guide given before the appointment."""

    title: str = spec("document title", max_len=80)
    intro: str = spec("what the guide is for")
    prepare: Texts = spec("how to prepare", min_items=1)
    on_the_day: Texts = spec("what happens on the day", min_items=1)
    after: str = spec("a short note on what to expect afterwards")
    questions_prompt: str = spec("invites the patient to write down questions")


@dataclass(frozen=True)
class Aftercare:
    """aftercare.yaml: the sheet given after treatment."""

    title: str = spec("document title", max_len=80)
    intro: str = spec("what the sheet is for")
    do: Texts = spec("things to do", min_items=1)
    dont: Texts = spec("things not to do", min_items=1)
    normal_intro: str = spec("introduces the reactions that are normal")
    call_intro: str = spec("introduces when to call the clinic")
    emergency: str = spec("what to do in an emergency (the layout adds the number)")


KINDS: dict[str, type[Any]] = {"consent": Consent, "pre-treatment": PreTreatment, "aftercare": Aftercare}


@dataclass(frozen=True)
class ClinicAdditions:
    """assets/clinics/<clinic>/content/<treatment>.yaml: a clinic's own lines for a treatment."""

    prepare: Texts = spec("extra preparation rules", default=())
    on_the_day: Texts = spec("extra notes for the day of treatment", default=())
    do: Texts = spec("extra aftercare do's", default=())
    dont: Texts = spec("extra aftercare don'ts", default=())
    call_if: Texts = spec("extra reasons to call the clinic", default=())
    out_of_hours: str | None = spec("what to do out of hours", default=None)
    risk_lasts: dict[str, str] = spec("how long an expected reaction usually lasts, by risk id",
                                      default={}, max_len=80)
