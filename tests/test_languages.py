"""A second language end to end: Spanish content, labels and clinic additions for the test clinic
birch, and the errors that keep one language's lines out of another language's handout."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, cli, edit, flat, line_of, pdf_text, qpdf_ok, run_all, text_of
from pypdf import PdfReader
from pypdf.generic import Destination

BIRCH = "birch"
CONTENT = "assets/clinics/birch/content"
EN_ADDITIONS = f"{CONTENT}/needling.yaml"
ES_ADDITIONS = f"{CONTENT}/needling.es.yaml"
BIRCH_YAML = "assets/clinics/birch/clinic.yaml"


def _yaml(root: Path, name: str) -> dict[str, object]:
    data = yaml.safe_load((root / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _lines(additions: dict[str, object], *keys: str) -> list[str]:
    """The clinic's own lines under `keys`, with whitespace collapsed as in extracted text."""
    found: list[str] = []
    for key in keys:
        value = additions.get(key)
        if isinstance(value, list):
            found += [flat(v) for v in value]
        elif value:
            found.append(flat(str(value)))
    assert found
    return found


def _build(lib: Path, out: Path, kind: str, *extra: str, clinic: str = BIRCH) -> Path:
    run = cli(lib, "build", "--clinic", clinic, "--treatment", "needling", "--kind", kind,
              "-o", str(out), *extra)
    assert run.code == 0, run.err
    return out


# Which of the clinic's own lines each kind prints.
ADDITION_KEYS = {"pre-treatment": ("prepare", "out_of_hours"),
                 "aftercare": ("do", "call_if", "out_of_hours")}


@pytest.mark.parametrize("kind", ["pre-treatment", "aftercare"])
def test_spanish_handout_has_spanish_content_labels_and_clinic_lines(lib: Path, tmp_path: Path,
                                                                      kind: str) -> None:
    pdf = _build(lib, tmp_path / "es.pdf", kind, "--language", "es",
                 "--field", "appointment_date=2026-12-01")
    text = flat(pdf_text(pdf))
    es_part = _yaml(lib, f"handouts/needling/es/{kind}.yaml")
    en_part = _yaml(lib, f"handouts/needling/en/{kind}.yaml")
    assert flat(str(es_part["intro"])) in text
    assert flat(str(en_part["intro"])) not in text
    labels = _yaml(lib, "handouts/labels/es.yaml")["text"]
    assert isinstance(labels, dict)
    assert labels["contacts"] in text and labels["phone"] in text
    assert "Página 1 de " in text and "Page 1 of" not in text
    assert "1 de diciembre de 2026" in text  # Spanish words and order for dates
    for line in _lines(_yaml(lib, ES_ADDITIONS), *ADDITION_KEYS[kind]):
        assert line in text, line
    for line in _lines(_yaml(lib, EN_ADDITIONS), *ADDITION_KEYS[kind]):
        assert line not in text, line


def test_english_handout_keeps_english_clinic_lines(lib: Path, tmp_path: Path) -> None:
    text = flat(pdf_text(_build(lib, tmp_path / "en.pdf", "aftercare")))
    for line in _lines(_yaml(lib, EN_ADDITIONS), "do", "call_if", "out_of_hours"):
        assert line in text, line
    for line in _lines(_yaml(lib, ES_ADDITIONS), "do", "call_if", "out_of_hours"):
        assert line not in text, line
    assert "Aftercare after needling" in text and "Página" not in text


def test_spanish_consent_metadata_and_bookmarks(lib: Path, tmp_path: Path) -> None:
    reader = PdfReader(_build(lib, tmp_path / "c.pdf", "consent", "--language", "es"))
    assert str(reader.root_object["/Lang"]) == "es"
    meta = reader.metadata
    assert meta is not None
    assert meta.title == "Consentimiento para la punción"
    assert meta.subject == "Punción: Consentimiento para la punción"
    titles: list[str | None] = []
    for item in reader.outline:
        assert isinstance(item, Destination), "bookmarks are one level deep"
        titles.append(item.title)
    assert "Firmas" in titles and "Posibles efectos secundarios y riesgos" in titles
    # Every risk of the Spanish facts is on the form, each with its initials box.
    text = flat(pdf_text(tmp_path / "c.pdf"))
    risks = _yaml(lib, "handouts/needling/es/facts.yaml")["risks"]
    assert isinstance(risks, list)
    for risk in risks:
        assert flat(risk["description"]) in text, risk["id"]
    assert text.count("Iniciales") >= len(risks)


def test_batch_row_in_spanish(lib: Path, tmp_path: Path) -> None:
    path = tmp_path / "appointments.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["appointment_id", "clinic", "patient_name", "treatment", "documents", "date",
                         "time", "practitioner", "language"])
        writer.writerow(["E1", BIRCH, "Lucía Ortega", "needling", "aftercare", "2026-03-05",
                         "09:15", "dan-dale", "es"])
        writer.writerow(["E2", BIRCH, "Ann Lee", "needling", "aftercare", "2026-03-05", "",
                         "", ""])
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(REPO / "generate.py"), "batch", "--appointments",
                             str(path), "--out", str(out), "--jobs", "1"], cwd=lib,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.pdf")) == [
        "birch/E1/needling-aftercare.es.pdf", "birch/E2/needling-aftercare.pdf"]
    spanish = flat(pdf_text(out / "birch/E1/needling-aftercare.es.pdf"))
    assert "Lucía Ortega" in spanish and "5 de marzo de 2026" in spanish
    assert "Cuidados después de la punción" in spanish and "Mantenga limpia la zona" in spanish
    assert "Aftercare after needling" not in spanish
    english = flat(pdf_text(out / "birch/E2/needling-aftercare.pdf"))
    assert "Aftercare after needling" in english and "Drink plenty of water" in english
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    languages = {r["file"]: r["language"] for r in records}
    assert languages == {"birch/E1/needling-aftercare.es.pdf": "es",
                         "birch/E2/needling-aftercare.pdf": "en"}


def test_build_all_writes_every_spanish_document_on_letter_paper(lib: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = cli(lib, "all", "--out", str(out))
    assert run.code == 0, run.err
    kinds = ("aftercare", "consent", "pre-treatment")
    spanish = sorted(str(p.relative_to(out)) for p in out.rglob("*.es.pdf"))
    assert spanish == [f"{BIRCH}/needling-{k}.es.pdf" for k in kinds]
    for kind in kinds:
        path = out / BIRCH / f"needling-{kind}.es.pdf"
        assert qpdf_ok(path)
        reader = PdfReader(path)
        total = len(reader.pages)
        for number, page in enumerate(reader.pages, 1):
            assert (float(page.mediabox.width), float(page.mediabox.height)) == (612.0, 792.0)
            text = flat(pdf_text(path, number))
            assert f"Formulario NEED-{kind[0].upper()}, versión 2.1" in text
            assert f"Página {number} de {total}" in text


def test_missing_additions_for_a_second_language(lib: Path, tmp_path: Path) -> None:
    (lib / ES_ADDITIONS).unlink()
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [
        f"error: {ES_ADDITIONS}:1: (document): file is missing: the clinic offers needling in 'es' "
        "and has its own lines for it in needling.yaml "
        f"(create needling.es.yaml in {CONTENT} with those lines in 'es')"]


def test_additions_translation_with_a_line_left_out(lib: Path, tmp_path: Path) -> None:
    # English gains a second line that the Spanish translation leaves out.
    edit(lib, EN_ADDITIONS, "  - Arrive 15 minutes early.\n",
         "  - Arrive 15 minutes early.\n  - Come with clean skin.\n")
    text = text_of(lib, ES_ADDITIONS)
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [
        f"error: {ES_ADDITIONS}:{line_of(text, 'prepare:')}: prepare: has 1 lines, but "
        "needling.yaml has 2 lines (the same lines as needling.yaml, translated)"]


def test_additions_translation_without_out_of_hours(lib: Path, tmp_path: Path) -> None:
    path = lib / ES_ADDITIONS
    text = path.read_text(encoding="utf-8").split("out_of_hours:")[0]
    path.write_text(text, encoding="utf-8")
    run = run_all(lib, tmp_path / "out")
    # A field that is not there is reported where the document's fields start.
    assert run.errors == [
        f"error: {ES_ADDITIONS}:{line_of(text, 'prepare:')}: out_of_hours: has none, but "
        "needling.yaml has a paragraph "
        "(the same lines as needling.yaml, translated)"]


@pytest.mark.parametrize(("name", "problem"), [
    ("needling.fr.yaml", "the clinic does not offer language 'fr'"),
    ("needling.en.yaml", "'en' is the clinic's first language"),
])
def test_additions_for_a_language_the_clinic_does_not_offer_separately(
        lib: Path, tmp_path: Path, name: str, problem: str) -> None:
    (lib / CONTENT / name).write_text("do:\n  - Boire de l'eau.\n", encoding="utf-8")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [
        f"error: {CONTENT}/{name}:1: (document): {problem} (needling.yaml for en; "
        "needling.<language>.yaml for another language in clinic.yaml's languages: es)"]


def test_spanish_additions_are_checked_against_the_font(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, ES_ADDITIONS, "Beba mucha agua", "Beba mucha agua 中")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [
        f"error: {ES_ADDITIONS}:{line_of(text, '中')}: do[0]: character U+4E2D '中' cannot be drawn by "
        "font DejaVu Sans (used by clinic birch) "
        "(characters the font covers, or another font in clinic.yaml)"]


def test_english_only_clinic_refuses_spanish(lib: Path, tmp_path: Path) -> None:
    run = cli(lib, "build", "--clinic", "alder", "--treatment", "needling", "--kind",
              "aftercare", "--language", "es", "-o", str(tmp_path / "x.pdf"))
    assert run.code == 1
    assert run.errors == ["error: <command line>:8: --language: unknown language 'es' (expected one of: en)"]
    assert not (tmp_path / "x.pdf").exists()
    # No Spanish file is asked of a clinic that does not offer Spanish.
    assert not (lib / "assets/clinics/alder/content/needling.es.yaml").exists()
    assert cli(lib, "check").code == 0


def test_translated_labels_keep_their_placeholders(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, "handouts/labels/es.yaml", 'page_of: "Página {page} de {pages}"',
                'page_of: "Página {pagina} de {pages}"')
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [
        f"error: handouts/labels/es.yaml:{line_of(text, 'page_of:')}: text.page_of: placeholders differ "
        "from en.yaml: {pages}, {pagina} (the same {placeholders} as en.yaml: {page}, {pages})"]


def test_date_labels_must_use_day_month_and_year(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, "handouts/labels/en.yaml", 'date_month_day_year: "{month} {day}, {year}"',
                'date_month_day_year: "{month} {dya}, {year}"')
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, "date_month_day_year:")
    assert f"error: handouts/labels/en.yaml:{line}: text.date_month_day_year: uses {{dya}}, {{month}}, " \
           "{year} (exactly these placeholders: {day}, {month}, {year})" in run.errors


def test_times_use_the_language_words_for_am_and_pm(lib: Path, tmp_path: Path) -> None:
    pdf = _build(lib, tmp_path / "es.pdf", "pre-treatment", "--language", "es",
                 "--field", "appointment_time=14:30")
    assert "2:30 p. m." in flat(pdf_text(pdf))
    english = _build(lib, tmp_path / "en.pdf", "pre-treatment", "--field", "appointment_time=14:30")
    assert "2:30 PM" in flat(pdf_text(english))


def test_clinic_words_print_in_the_document_language(lib: Path, tmp_path: Path) -> None:
    spanish = flat(pdf_text(_build(lib, tmp_path / "es.pdf", "aftercare", "--language", "es",
                                   "--field", "practitioner=cara-cole")))
    assert "Cara Cole, MD, Dermatóloga" in spanish
    assert "De lunes a sábado, de 8 a. m. a 5 p. m." in spanish
    assert "Clínica de prueba. No es un proveedor médico real." in spanish
    assert "Monday" not in spanish and "Dermatologist" not in spanish and "Test clinic" not in spanish
    english = flat(pdf_text(_build(lib, tmp_path / "en.pdf", "aftercare", "--field",
                                   "practitioner=cara-cole")))
    assert "Cara Cole, MD, Dermatologist" in english and "Monday to Saturday" in english


def test_clinic_words_must_be_translated_for_every_other_language(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, BIRCH_YAML, "      dan-dale: Enfermero especializado\n", "")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [
        f"error: {BIRCH_YAML}:{line_of(text, '    roles:')}: translations.es.roles: the role of "
        "'dan-dale' is not translated (a job title for every practitioner)"]
    text = edit(lib, BIRCH_YAML, "      cara-cole: Dermatóloga\n",
                "      cara-cole: Dermatóloga\n      dan-dale: Enfermero\n      nobody: Nadie\n")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [
        f"error: {BIRCH_YAML}:{line_of(text, 'nobody:')}: translations.es.roles.nobody: no practitioner "
        "'nobody' (practitioner ids: cara-cole, dan-dale)"]
    start = text.index("translations:")
    end = text.index("footer: Clínica")
    text = text[:start] + text[text.index("\n", end) + 1:]
    (lib / BIRCH_YAML).write_text(text, encoding="utf-8")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [
        f"error: {BIRCH_YAML}:{line_of(text, 'languages: [en, es]')}: languages[1]: no translations for "
        "'es' (translations: es: opening_hours, roles (and footer) in that language)"]
