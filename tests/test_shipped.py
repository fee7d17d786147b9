"""The shipped library itself: its example clinics and treatments build, and its text keeps its promises.

These tests read the shipped content (handouts/, assets/clinics/), so they may need updating when a
writer changes it; every other behaviour test runs on the test library in tests/library/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO, cli, flat, pdf_text, qpdf_ok, script, spans
from pypdf import PdfReader

from handoutgen.compose.compose import reword
from handoutgen.library.gather import load_library

pytestmark = pytest.mark.slow  # the fast layer (pytest -m "not slow") leaves it out

KINDS = ("consent", "pre-treatment", "aftercare")
NO_PROMISES = (" will improve", "safely", "permanently", "guarantee ",
               "mejorará", "sin riesgo", "de forma segura", "permanente", "garantizamos")


def _expected_files() -> list[str]:
    """Every handout the shipped library offers, named as the main job names them."""
    library = load_library(REPO)
    names = []
    for clinic in library.clinics.values():
        first = clinic.clinic.languages[0]
        for treatment in library.treatments.values():
            for language in clinic.clinic.languages:
                if language in treatment.languages:
                    suffix = "" if language == first else f".{language}"
                    names += [f"{clinic.clinic.id}/{treatment.meta.id}-{k}{suffix}.pdf" for k in KINDS]
    return sorted(names)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the README's main job on the shipped library, from a folder laid out like the repository."""
    root = tmp_path_factory.mktemp("main")
    for name in ("handouts", "templates", "assets"):
        (root / name).symlink_to(REPO / name)
    result = script(root)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    assert re.fullmatch(rf"Built {len(_expected_files())} documents, skipped 0 \(up to date\), failed 0 in "
                        r"\d+\.\d s \(\d+ documents/s\) into out/\n", result.stdout.decode())
    return root / "out"


def test_shipped_library_passes_check(shipped: Path) -> None:
    run = cli(shipped, "check")
    assert (run.code, run.err) == (0, "")
    assert run.out.startswith("OK: ")


def test_shipped_main_job_builds_every_handout(built: Path) -> None:
    found = sorted(str(p.relative_to(built)) for p in built.rglob("*.pdf"))
    assert found == _expected_files()
    assert all(qpdf_ok(built / name) for name in found)


def test_shipped_handouts_make_no_promises(built: Path) -> None:
    for path in built.rglob("*.pdf"):
        text = flat(pdf_text(path)).lower()
        for word in NO_PROMISES:
            assert word not in text, (path.name, word)


def test_shipped_consents_name_every_risk_and_alternative(built: Path) -> None:
    """Each consent prints every risk, alternative and statement its content declares."""
    library = load_library(REPO)
    for clinic in library.clinics.values():
        first = clinic.clinic.languages[0]
        for treatment in library.treatments.values():
            folder = REPO / "handouts" / treatment.meta.id
            for language in set(clinic.clinic.languages) & set(treatment.languages):
                suffix = "" if language == first else f".{language}"
                text = flat(pdf_text(built / clinic.clinic.id / f"{treatment.meta.id}-consent{suffix}.pdf"))
                facts = yaml.safe_load((folder / language / "facts.yaml").read_text(encoding="utf-8"))
                consent = yaml.safe_load((folder / language / "consent.yaml").read_text(encoding="utf-8"))
                names = [r["name"] for r in facts["risks"]] + [a["name"] for a in facts["alternatives"]]
                wording = library.wording.get(f"{language}-{clinic.clinic.country}")
                for phrase in names + list(consent["statements"]):
                    shown = reword(phrase, wording) if wording else phrase  # the clinic's country's words
                    assert flat(shown) in text, (clinic.clinic.id, language, phrase)


def _pages(path: Path) -> list[str]:
    return [flat(pdf_text(path, n)) for n in range(1, len(PdfReader(path).pages) + 1)]


CONSENTS = {  # consent file -> (labels file, wording file or None, cooling-off days)
    "harbour-skin/mesotherapy-consent.pdf": ("en", "en-GB", 14),
    "maple-street/mesotherapy-consent.pdf": ("en", "en-US", 7),
    "maple-street/mesotherapy-consent.es.pdf": ("es", "es-US", 7),
}


def _labels(language: str, wording: str) -> dict[str, str]:
    labels: dict[str, str] = yaml.safe_load((REPO / "handouts" / "labels" / f"{language}.yaml").read_text(
        encoding="utf-8"))["text"]
    layer = yaml.safe_load((REPO / "handouts" / "wording" / f"{wording}.yaml").read_text(encoding="utf-8"))
    return {**labels, **layer.get("labels", {})}


@pytest.mark.parametrize("name", sorted(CONSENTS))
def test_shipped_consents_have_every_element_regulators_expect(built: Path, name: str) -> None:
    language, wording, days = CONSENTS[name]
    labels = _labels(language, wording)
    clinic = name.split("/")[0]
    extra_name = "mesotherapy.es.yaml" if language == "es" else "mesotherapy.yaml"
    extra = yaml.safe_load((REPO / "assets" / "clinics" / clinic / "content" / extra_name).read_text(
        encoding="utf-8"))
    facts = yaml.safe_load((REPO / "handouts" / "mesotherapy" / language / "facts.yaml").read_text(
        encoding="utf-8"))
    pages = _pages(built / name)
    text = " ".join(pages)
    expected = [
        labels["date_of_birth"], labels["info_given_date"], labels["treatment_date"],  # two dates
        labels["planned_sessions"], labels["cost"],
        labels["product"] + " " + flat(extra["product"]), flat(extra["licensing"]),  # product, licence
        labels["evidence"], "2010", "FDA",  # the evidence, honestly
        labels["screening"], *(flat(q) for q in facts["screening"][:1]), flat(extra["screening"][0]),
        labels["allergies"], labels["medicines"],
        labels["risks_common"], labels["risks_serious"], labels["how_often"],
        labels["cooling_off"].replace("{days}", str(days)), labels["copy_note"],
        flat(labels["practitioner_statement"]), labels["representative"], labels["relationship"],
        labels["interpreter_statement"], labels["language"],
        labels["sources"], "doi.org", labels["glossary"],
    ]
    for phrase in expected:
        assert phrase in text, (name, phrase)
    serious = [r for r in facts["risks"] if r.get("serious")]
    assert {r["id"] for r in serious} >= {"infection", "allergy", "scarring", "skin-breakdown"}
    assert all(r["frequency"] and r["sources"] for r in facts["risks"])
    for page in pages:  # the identifier line on every page of a blank consent
        assert f"{labels['identifier_name']}: {labels['identifier_birth']}:" in page


def test_shipped_handouts_leave_out_the_marketing_claims(built: Path) -> None:
    claims = ("reshape small areas", "costs less", "balance hormones", "poor blood flow",
              "cambiar la forma", "cuesta menos", "equilibrar las hormonas", "mala circulación")
    for path in built.rglob("*.pdf"):
        text = flat(pdf_text(path)).lower()
        for claim in claims:
            assert claim not in text, (path.name, claim)


def test_shipped_aftercare_has_both_numbers_large_on_page_one(built: Path) -> None:
    for name, numbers in (("harbour-skin/mesotherapy-aftercare.pdf", ("01632 960 123", "01632 960 999")),
                          ("maple-street/mesotherapy-aftercare.es.pdf",
                           ("(555) 010-4477", "(555) 010-4400"))):
        large = " ".join(s.text for s in spans(built / name) if s.page == 1 and s.size >= 14)
        assert all(number in large for number in numbers), (name, large)


def test_shipped_wording_follows_the_clinics_country(built: Path) -> None:
    british = flat(pdf_text(built / "harbour-skin" / "mesotherapy-consent.pdf"))
    american = flat(pdf_text(built / "maple-street" / "mesotherapy-consent.pdf"))
    for word in ("colour", "anaesthetic", "millimetres", "oedema", "diarrhoea", "Ageing", "Tick each box"):
        assert word in british, word
    for word in ("color", "anesthetic", "millimeters", "edema", "diarrhea", "Aging", "Check each box"):
        assert word in american, word
    assert "100.4 °F" in flat(pdf_text(built / "maple-street" / "mesotherapy-aftercare.pdf"))
    assert "°F" not in flat(pdf_text(built / "harbour-skin" / "mesotherapy-aftercare.pdf"))
