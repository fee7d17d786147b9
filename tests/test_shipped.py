"""The shipped library itself: its example clinics and treatments build, and its text keeps its promises.

These tests read the shipped content (handouts/, assets/clinics/), so they may need updating when a
writer changes it; every other behaviour test runs on the test library in tests/library/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO, cli, flat, pdf_text, qpdf_ok, script

from handoutgen.library import load_library

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
                for phrase in names + list(consent["statements"]):
                    assert flat(phrase) in text, (clinic.clinic.id, language, phrase)
