"""The clinical structure every treatment gets: identifier, screening, risks by frequency, time to
decide, sources; the date of birth as a protected patient field."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli, edit, flat, line_of, pdf_text, run_all, spans
from pypdf import PdfReader

pytestmark = pytest.mark.slow  # the fast layer (pytest -m "not slow") leaves it out

BUILD = ("build", "--treatment", "needling")
FACTS = "handouts/needling/en/facts.yaml"
ALDER = "assets/clinics/alder/clinic.yaml"
BIRTH = "1980-03-01"


def _build(lib: Path, clinic: str, kind: str, *extra: str) -> tuple[Path, list[str]]:
    """Build one handout; return its path and the text of each page."""
    out = lib / f"{clinic}-{kind}.pdf"
    run = cli(lib, *BUILD, "--clinic", clinic, "--kind", kind, "-o", str(out), *extra)
    assert run.code == 0, run.err
    pages = len(PdfReader(out).pages)
    return out, [flat(pdf_text(out, number)) for number in range(1, pages + 1)]


def test_a_personalised_consent_names_the_patient_and_birth_date_on_every_page(lib: Path) -> None:
    _, pages = _build(lib, "alder", "consent", "--patient-name", "Jo Li",
                      "--field", f"date_of_birth={BIRTH}")
    assert len(pages) > 2
    for text in pages:
        assert "Patient name: Jo Li Date of birth: 1 March 1980" in text


def test_a_blank_consent_has_lines_for_name_and_birth_date_on_every_page(lib: Path) -> None:
    _, pages = _build(lib, "birch", "consent", "--language", "es")
    for text in pages:
        assert "Nombre del paciente: Fecha de nacimiento:" in text


def test_only_the_consent_carries_the_identifier_line(lib: Path) -> None:
    for kind in ("pre-treatment", "aftercare"):
        _, pages = _build(lib, "alder", kind, "--patient-name", "Jo Li")
        assert not any("Date of birth:" in text for text in pages), kind


@pytest.mark.parametrize(("value", "problem", "allowed"), [
    ("1980-02-30", "is not a date", "a date of birth as YYYY-MM-DD"),
    ("01/03/1980", "is not a date", "a date of birth as YYYY-MM-DD"),
    ("2999-01-01", "is in the future", "a date of birth on or before today"),
    ("1850-06-01", "is more than 130 years ago", "a date of birth as YYYY-MM-DD"),
])
def test_a_wrong_date_of_birth_is_reported_without_its_value(lib: Path, value: str, problem: str,
                                                             allowed: str) -> None:
    run = cli(lib, *BUILD, "--clinic", "alder", "--kind", "consent", "--patient-name", "Jo Li",
              "--field", f"date_of_birth={value}", "-o", str(lib / "x.pdf"))
    assert run.code == 1
    assert run.errors == [f"error: <command line>:10: date_of_birth: {problem} ({allowed})"]
    assert value not in run.err
    assert not (lib / "x.pdf").exists()


def test_the_date_of_birth_stays_out_of_file_names_and_output(lib: Path) -> None:
    run = cli(lib, *BUILD, "--clinic", "alder", "--kind", "consent", "--patient-name", "Jo Li",
              "--field", f"date_of_birth={BIRTH}")
    assert run.code == 0, run.err
    written = [p for p in (lib / "out").rglob("*") if p.is_file()]
    assert len(written) == 1
    for shown in (BIRTH, "1980", "March"):
        assert shown not in str(written[0].relative_to(lib)), shown
        assert shown not in run.out + run.err, shown
    assert "1 March 1980" in flat(pdf_text(written[0], 1))


def test_screening_questions_of_treatment_and_clinic_are_on_consent_and_guide(lib: Path) -> None:
    for kind in ("consent", "pre-treatment"):
        _, pages = _build(lib, "alder", kind)
        text = " ".join(pages)
        for question in ("Are you pregnant or breastfeeding? Yes No",
                         "Do you take blood thinners? Yes No",
                         "Have you had a cold sore in the last month? Yes No",  # the clinic's own
                         "Allergies you have", "Medicines you take, including ones you buy"):
            assert question in text, (kind, question)


def test_risks_are_grouped_by_how_often_they_happen(lib: Path) -> None:
    _, pages = _build(lib, "alder", "consent")
    text = " ".join(pages)
    mild = text.index("Common and usually mild")
    serious = text.index("Rare but serious")
    assert mild < text.index("Spots of blood") < serious < text.index("Infection")
    # A band is an estimate, with the numbers of its sources in the Sources list; a number only
    # where a source counted one.
    assert "How often each one happens is an estimate from published reports, unless a number is " \
        "given." in text
    assert "The area may swell. How often: very common (source 1)." in text
    assert "Small spots of blood may show. How often: common, about 1 in 20 people in one test study " \
        "(source 1)." in text
    assert "Lumps may show weeks later. How often: rare (source 2)." in text
    sources = text.index("Sources 1. Test guide to needling")
    assert sources < text.index("2. Test review of skin infections") < text.index("3. Guía de prueba")


@pytest.mark.parametrize(("days", "sentence"), [
    ("14", "Please take at least 14 days to think about it after you get this information. Then decide."),
    ("1", "Please take at least one day to think about it after you get this information. Then decide."),
    ("0", "Take as long as you need to decide. You do not have to decide today."),
])
def test_the_clinic_sets_the_time_to_decide(lib: Path, days: str, sentence: str) -> None:
    edit(lib, ALDER, "cooling_off_days: 14\n", f"cooling_off_days: {days}\n")
    _, pages = _build(lib, "alder", "consent")
    text = " ".join(pages)
    assert sentence in text
    assert "You will get a copy of this form to keep." in text
    assert "Date you got this information" in text and "Date of treatment" in text


def test_the_consent_prints_the_clinics_product_and_its_licensing(lib: Path) -> None:
    _, pages = _build(lib, "alder", "consent")
    text = " ".join(pages)
    assert "Product Test serum A Ingredients Hyaluronic acid Licensing status Not licensed for " \
           "injection into the skin; used off-label." in text


def test_every_handout_lists_its_sources_and_review_dates(lib: Path) -> None:
    for kind in ("consent", "pre-treatment", "aftercare"):
        _, pages = _build(lib, "alder", kind)
        text = " ".join(pages)
        assert "Test guide to needling, example.org (read 1 October 2026)" in text, kind
        assert "Reviewed 1 October 2026. Next review due 1 October 2027." in text, kind


def test_a_clinic_needs_a_country_and_a_time_to_decide(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, ALDER, "country: GB\ncooling_off_days: 14\n", "country: gb\ncooling_off_days: 90\n")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [
        f"error: {ALDER}:{line_of(text, 'country:')}: country: 'gb' is not allowed "
        "(two capital letters, e.g. GB or US)",
        f"error: {ALDER}:{line_of(text, 'cooling_off_days:')}: cooling_off_days: 90 is out of range "
        "(0 to 60)"]


def test_the_aftercare_puts_warning_signs_and_both_numbers_on_page_one(lib: Path) -> None:
    out, pages = _build(lib, "birch", "aftercare")
    assert "The skin gets hot, swollen or leaks pus." in pages[0]
    assert "Lumps or sores show up weeks later." in pages[0]
    large = " ".join(s.text for s in spans(out) if s.page == 1 and s.size >= 14)
    assert "(555) 010-2000" in large and "(555) 010-2001" in large


HARD_EN = ("    Needling constitutes a minimally invasive intradermal methodology. Practitioners\n"
           "    individualise concentrations according to dermatological considerations.\n"
           "    Subsequently, inflammation generally subsides spontaneously within approximately\n"
           "    fourteen days, although individual variability necessitates monitoring.\n")
MIDDLING_EN = ("    The needles make many tiny holes in the top layer of your skin. Your skin\n"
               "    then repairs these holes over several days, and most people notice a\n"
               "    gradual improvement afterwards. Medication is not used.\n")
HARD_ES = ("    La mesoterapia constituye una metodología intradérmica mínimamente invasiva\n"
           "    que administra preparaciones farmacológicas individualizadas. Posteriormente,\n"
           "    la inflamación habitualmente desaparece espontáneamente tras varias semanas de\n"
           "    evolución clínica.\n")


def _check(lib: Path) -> tuple[int, list[str], list[str]]:
    """Run check; return its exit code, its error lines and its warning lines."""
    run = cli(lib, "check")
    lines = run.err.splitlines()
    return (run.code, [x for x in lines if x.startswith("error: ")],
            [x for x in lines if x.startswith("warning: ")])


def test_a_section_above_grade_8_fails_check_with_its_hardest_sentence(lib: Path) -> None:
    text = edit(lib, FACTS, "  - Needling uses small needles on the skin.\n", "  - >-\n" + HARD_EN)
    code, errors, warnings = _check(lib)
    assert code == 1
    assert errors == [
        f"error: {FACTS}:{line_of(text, 'what_it_is:')}: what_it_is: Flesch-Kincaid grade 28.2 is above 8 "
        "(at most 8; hardest sentence: \"Practitioners individualise concentrations according to "
        "dermatological considerations.\")"]
    assert warnings == []


def test_a_section_above_grade_6_is_a_warning_and_check_passes(lib: Path) -> None:
    text = edit(lib, FACTS, "  - The needles make tiny holes in the skin.\n", "  - >-\n" + MIDDLING_EN)
    code, errors, warnings = _check(lib)
    assert (code, errors) == (0, [])
    assert warnings == [
        f"warning: {FACTS}:{line_of(text, 'how_it_works:')}: how_it_works: Flesch-Kincaid grade 6.5 is "
        "above 6 (at most 6; hardest sentence: \"Your skin then repairs these holes over several days, "
        "and most people notice a gradual improvement afterwards.\")"]


def test_a_spanish_section_scoring_below_60_fails_check(lib: Path) -> None:
    facts = "handouts/needling/es/facts.yaml"
    text = edit(lib, facts, "  - La punción usa agujas pequeñas en la piel.\n", "  - >-\n" + HARD_ES)
    code, errors, _ = _check(lib)
    assert code == 1
    assert errors == [
        f"error: {facts}:{line_of(text, 'what_it_is:')}: what_it_is: Fernández-Huerta score -21.9 is below "
        "60 (at least 60; hardest sentence: \"La mesoterapia constituye una metodología intradérmica "
        "mínimamente invasiva que administra preparaciones farmacológicas individualizadas.\")"]


def test_a_sentence_over_20_words_is_warned(lib: Path) -> None:
    aftercare = "handouts/needling/en/consent.yaml"
    long = "Tell us if you needed an interpreter, a carer, a large-print copy or any other help to " \
           "read and understand this form."
    text = edit(lib, aftercare, "  Tell us if you needed an interpreter.\n", f"  {long}\n")
    code, errors, warnings = _check(lib)
    assert (code, errors) == (0, [])
    assert warnings == [f"warning: {aftercare}:{line_of(text, 'interpreter:')}: interpreter: a sentence has "
                        f"22 words: \"{long}\" (sentences of at most 20 words)"]


def test_a_listed_term_without_a_glossary_entry_is_warned(lib: Path) -> None:
    text = edit(lib, FACTS, "    text: Some creams help scars a little.\n",
                "    text: Some creams, such as minoxidil, help a little.\n")
    code, errors, warnings = _check(lib)
    assert (code, errors) == (0, [])
    assert warnings == [f"warning: {FACTS}:{line_of(text, 'such as minoxidil')}: alternatives[1].text: "
                        "'minoxidil' is used but not explained (add it to glossary in facts.yaml with a "
                        "plain meaning)"]
    edit(lib, FACTS, "glossary:\n", "glossary:\n  - term: minoxidil\n    meaning: a hair loss medicine.\n")
    assert _check(lib) == (0, [], [])


def test_a_treatment_past_its_review_date_fails_check(lib: Path) -> None:
    meta = "handouts/needling/treatment.yaml"
    text = edit(lib, meta, 'review_due: "2027-10-01"', 'review_due: "2026-06-30"')
    code, errors, warnings = _check(lib)
    assert code == 1
    assert errors == [f"error: {meta}:{line_of(text, 'review_due:')}: review_due: the clinical review was "
                      "due on 2026-06-30 (have a clinician review the content, then update review_date "
                      "and review_due)"]
    assert warnings == []


def test_the_clinics_country_decides_spelling_and_idiom(lib: Path) -> None:
    edit(lib, "handouts/needling/en/aftercare.yaml", "  - Keep the area clean.\n",
         "  - Keep the area clean. Its color may change.\n")
    edit(lib, "handouts/needling/en/aftercare.yaml", "  - The skin gets hot, swollen or leaks pus.\n",
         "  - You have a fever of 38 °C or higher.\n")
    _, british = _build(lib, "alder", "aftercare")
    _, american = _build(lib, "birch", "aftercare")
    assert "Its colour may change." in british[0] and "Its color may change." in american[0]
    assert "You have a fever of 38 °C or higher." in british[0]
    assert "You have a fever of 38 °C (100.4 °F) or higher." in american[0]
    assert "Call us on 01632 960 001." in " ".join(british)
    assert "Call us at (555) 010-2000." in " ".join(american)
    _, consent = _build(lib, "alder", "consent")
    assert "Tick each box to show you agree." in " ".join(consent)
    assert "(oedema)" in " ".join(consent)


def test_a_wording_layer_may_only_reword_known_labels(lib: Path, tmp_path: Path) -> None:
    name = "handouts/wording/en-GB.yaml"
    edit(lib, name, "labels:\n", "labels:\n  colour_label: Colour\n")
    text = edit(lib, name, '  call_us: "Call us on {phone}. Out of hours, call {out_of_hours}."\n',
                "  call_us: Ring {phone}.\n")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [
        f"error: {name}:{line_of(text, 'colour_label')}: labels.colour_label: unknown label "
        "(a label of en.yaml)",
        f"error: {name}:{line_of(text, 'call_us: Ring')}: labels.call_us: placeholders differ: {{phone}} "
        "(the same {placeholders} as en.yaml: {out_of_hours}, {phone})"]


def test_patients_with_different_identifiers_share_one_blank_layout(lib: Path) -> None:
    from handoutgen.compose.compose import Request, compose
    from handoutgen.library.gather import load_library
    from handoutgen.pipeline import _cached_layout, check_patient, render

    library = load_library(lib)
    entry = library.clinics["alder"]
    font, labels = library.fonts[entry.clinic.font], library.labels["en"].text
    before = _cached_layout.cache_info().misses
    for name, born in (("Jo Li", "1980-03-01"), ("Ana Lima", "1975-11-30")):
        values = check_patient(library, "alder", ("consent",), [("patient_name", name, "test", 1),
                                                                ("date_of_birth", born, "test", 1)])
        request = Request("alder", "needling", "consent", "en", tuple(sorted(values.items())))
        document = compose(library, request)
        shown = {"1980-03-01": "1\u00a0March\u00a01980", "1975-11-30": "30\u00a0November\u00a01975"}
        assert document.info.identifier == (name, shown[born])  # a date never breaks across lines
        render((document,), entry, font, labels, "test")
    assert _cached_layout.cache_info().misses == before + 1  # the second patient reuses the first layout


def test_a_batch_prints_the_date_of_birth_on_the_consent_and_nowhere_else(lib: Path, tmp_path: Path) -> None:
    import csv

    appointments = tmp_path / "day.csv"
    with appointments.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["appointment_id", "clinic", "patient_name", "treatment", "documents", "date",
                         "time", "practitioner", "date_of_birth"])
        writer.writerow(["A1", "alder", "Ana Lima", "needling", "consent;aftercare", "2026-12-01",
                         "10:30", "", BIRTH])
        writer.writerow(["A2", "alder", "Bo Berg", "needling", "consent", "2026-12-01", "11:00", "",
                         "2999-01-01"])
    out = tmp_path / "out"
    run = cli(lib, "batch", "--appointments", str(appointments), "--out", str(out))
    assert run.code == 2
    assert run.errors == [f"error: {appointments}:3: date_of_birth: is in the future "
                          "(a date of birth on or before today)"]
    consent = next(out.rglob("*consent*.pdf"))
    assert "Patient name: Ana Lima Date of birth: 1 March 1980" in flat(pdf_text(consent, 2))
    aftercare = next(out.rglob("*aftercare*.pdf"))
    assert "1 March 1980" not in flat(pdf_text(aftercare))
    for shown in (BIRTH, "2999", "1 March 1980"):
        assert shown not in run.out + run.err, shown
        assert not any(shown in str(p.relative_to(out)) for p in out.rglob("*")), shown
        assert shown not in (out / "manifest.jsonl").read_text(encoding="utf-8"), shown


def test_words_in_another_language_must_be_marked_with_a_language_code(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, FACTS, '<span lang="es">micropunción</span>', '<span lang="ES">micropunción</span>')
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, 'lang="ES"')
    assert run.errors == [
        f"error: {FACTS}:{line}: evidence[1]: a <span> that is not "
        '<span lang="code">words</span> (<span lang="es">palabras</span> around words in another language)']
