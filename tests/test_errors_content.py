"""Exact error lines for broken treatment content (handouts/): one line per problem, exit 1, no PDF."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli, edit, line_of, run_all

from handoutgen import load

FACTS = "handouts/needling/en/facts.yaml"
AFTERCARE = "handouts/needling/en/aftercare.yaml"
TREATMENT = "handouts/needling/treatment.yaml"
REDNESS = "  - id: redness\n"  # the second risk, risks[1]
REDNESS_NAME = "    name: Redness\n"
RISK_FIELDS = ("allowed: id, name, description, expected, call_if, frequency, sources, serious, rate, term, "
               "lasts")
TAGS = "plain text, numbers, true/false, lists and mappings"


@pytest.mark.parametrize(("old", "anchor", "where", "message"), [
    pytest.param("    call_if: The redness spreads.\n", REDNESS, "risks[1]",
                 "missing field 'call_if' (when the patient should call the clinic about it)",
                 id="in-a-risk"),
    pytest.param("summary: >-\n  Needling is a test treatment with small needles.\n",
                 "name: Needling\n", "(document)",
                 "missing field 'summary' (one or two sentences saying what it is)", id="top-level"),
])
def test_missing_required_field(lib: Path, tmp_path: Path, old: str, anchor: str, where: str,
                                message: str) -> None:
    text = edit(lib, FACTS, old, "")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, anchor)
    assert run.errors == [f"error: {FACTS}:{line}: {where}: {message}"]


def test_unknown_field_lists_the_allowed_ones(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, FACTS, REDNESS_NAME, REDNESS_NAME + "    severity: low\n")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, "    severity: low\n")
    assert run.errors == [f"error: {FACTS}:{line}: risks[1].severity: unknown field ({RISK_FIELDS})"]


def test_list_where_text_is_expected(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, FACTS, REDNESS_NAME, "    name:\n      - Redness\n")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, "    name:\n")
    assert run.errors == [
        f"error: {FACTS}:{line}: risks[1].name: expected text, got a list (plain name, e.g. Swelling)"]


def test_duplicate_key(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, FACTS, REDNESS_NAME, REDNESS_NAME + "    name: Red\n")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, "    name: Red\n")  # the second, repeated key
    assert run.errors == [
        f"error: {FACTS}:{line}: risks[1].name: duplicate key (each field once per mapping)"]


def test_anchor_and_alias_both_reported(lib: Path, tmp_path: Path) -> None:
    path = lib / FACTS
    text = path.read_text(encoding="utf-8")
    for old, new in (('    lasts: "a day or two"\n', '    lasts: &days "a day or two"\n'),
                     ('    lasts: "a few hours"\n', "    lasts: *days\n")):
        assert text.count(old) == 1
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    run = run_all(lib, tmp_path / "out")
    problem = "(document): anchors and aliases are not allowed (write the value out in full)"
    assert run.errors == [
        f"error: {FACTS}:{line_of(text, '&days')}: {problem}",
        f"error: {FACTS}:{line_of(text, '*days')}: {problem}",
    ]


def test_python_tag_on_a_scalar_is_refused(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, FACTS, REDNESS_NAME, "    name: !!python/name:os.system ''\n")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, "!!python")
    assert run.errors == [f"error: {FACTS}:{line}: risks[1].name: "
                        f"tag 'tag:yaml.org,2002:python/name:os.system' is not allowed ({TAGS})"]


def test_python_object_apply_tag_is_refused(lib: Path, tmp_path: Path,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    text = edit(lib, FACTS, REDNESS_NAME, '    name: !!python/object/apply:os.system ["echo hi"]\n')
    run = run_all(lib, tmp_path / "out")
    assert "hi" not in capfd.readouterr().out  # never executed
    line = line_of(text, "!!python")
    assert run.errors == [f"error: {FACTS}:{line}: risks[1].name: "
                        f"tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed ({TAGS})"]


@pytest.mark.parametrize(("old", "new", "where", "tag"), [
    pytest.param("uses:\n", "uses: !!python/tuple\n", "uses", "tag:yaml.org,2002:python/tuple",
                 id="sequence"),
    pytest.param(REDNESS, "  - !!python/object:os.system\n    id: redness\n", "risks[1]",
                 "tag:yaml.org,2002:python/object:os.system", id="mapping"),
])
def test_tag_on_a_collection_is_refused(lib: Path, tmp_path: Path, old: str, new: str, where: str,
                                        tag: str) -> None:
    text = edit(lib, FACTS, old, new)
    run = cli(lib, "all", "--out", str(tmp_path / "out"))
    line = line_of(text, "!!python")
    assert run.code == 1
    assert run.errors == [f"error: {FACTS}:{line}: {where}: tag {tag!r} is not allowed ({TAGS})"]
    assert not any((tmp_path / "out").rglob("*.pdf"))


def test_invalid_yaml_syntax(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, FACTS, REDNESS_NAME, "   name: Redness\n")  # indented one space less
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, "   name: Redness\n")
    assert run.errors == [f"error: {FACTS}:{line}: (document): invalid YAML: did not find expected '-' "
                        "indicator (see yaml.org for the syntax)"]


def test_file_over_the_size_cap(lib: Path, tmp_path: Path) -> None:
    path = lib / FACTS
    data = path.read_bytes()
    padded = data + b"#" * (load.MAX_BYTES + 1 - len(data))
    path.write_bytes(padded)
    assert len(padded) == load.MAX_BYTES + 1
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [f"error: {FACTS}:1: (document): file is {load.MAX_BYTES + 1} bytes "
                        f"(at most {load.MAX_BYTES} bytes)"]


@pytest.mark.parametrize(("value", "problem"), [
    ('""', "is empty"),
    ('"   "', "is empty"),
    ("", "expected text, got nothing"),
])
def test_empty_text(lib: Path, tmp_path: Path, value: str, problem: str) -> None:
    text = edit(lib, FACTS, REDNESS_NAME, f"    name: {value}\n".replace(" \n", "\n"))
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, "  - id: redness\n    name:") + 1
    assert run.errors == [f"error: {FACTS}:{line}: risks[1].name: {problem} (plain name, e.g. Swelling)"]


def test_expected_risk_needs_lasts(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, FACTS, '    lasts: "a few hours"\n', "")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, REDNESS)
    assert run.errors == [f"error: {FACTS}:{line}: risks[1]: an expected reaction needs 'lasts' "
                        "(how long it usually lasts, e.g. a few days)"]


def test_duplicate_risk_id(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, FACTS, REDNESS, "  - id: swelling\n")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, "  - id: swelling\n    name: Redness")  # the second 'swelling'
    assert run.errors == [
        f"error: {FACTS}:{line}: risks[1].id: duplicate risk id 'swelling' (each risk id once)"]


def test_treatment_id_differs_from_its_folder(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, TREATMENT, "id: needling\n", "id: needle\n")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, "id: needle\n")
    assert run.errors == [
        f"error: {TREATMENT}:{line}: id: id 'needle' differs from its folder name (use 'needling')"]


def test_missing_kind_file(lib: Path, tmp_path: Path) -> None:
    (lib / AFTERCARE).unlink()
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [f"error: {AFTERCARE}:1: (document): file is missing "
                        "(create aftercare.yaml in handouts/needling/en)"]


def _second_labels(lib: Path, header: str) -> str:
    """Write handouts/labels/xx.yaml: en.yaml's labels without two of them."""
    text = (lib / "handouts/labels/en.yaml").read_text(encoding="utf-8")
    body = text[text.index("text:\n"):]
    for gone in ("  next_time: Time\n", "  how_it_works: How it works\n"):
        assert gone in body
        body = body.replace(gone, "")
    text = header + body
    (lib / "handouts/labels/xx.yaml").write_text(text, encoding="utf-8")
    return text


def test_label_missing_from_a_second_language(lib: Path) -> None:
    text = _second_labels(lib, "")
    run = cli(lib, "check")
    line = line_of(text, "text:\n")
    assert (run.code, run.out) == (1, "")
    assert "Traceback" not in run.err
    assert run.errors == [
        f"error: handouts/labels/xx.yaml:{line}: text.how_it_works: label is missing "
        "(every label of en.yaml, translated)",
        f"error: handouts/labels/xx.yaml:{line}: text.next_time: label is missing "
        "(every label of en.yaml, translated)",
    ]


def test_missing_label_points_at_the_text_mapping(lib: Path) -> None:
    text = _second_labels(lib, "# Test language.\n# Two labels are missing.\n")
    run = cli(lib, "check")
    line = line_of(text, "text:\n")
    assert line == 3
    assert run.code == 1
    assert run.errors == [
        f"error: handouts/labels/xx.yaml:{line}: text.how_it_works: label is missing "
        "(every label of en.yaml, translated)",
        f"error: handouts/labels/xx.yaml:{line}: text.next_time: label is missing "
        "(every label of en.yaml, translated)",
    ]


def test_character_the_clinic_fonts_cannot_draw(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, FACTS, REDNESS_NAME, "    name: Redness 中\n")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, "中")
    tail = "(characters the font covers, or another font in clinic.yaml)"
    assert run.errors == [
        f"error: {FACTS}:{line}: risks[1].name: character U+4E2D '中' cannot be drawn by font "
        f"DejaVu Sans (used by clinic birch) {tail}",
        f"error: {FACTS}:{line}: risks[1].name: character U+4E2D '中' cannot be drawn by font "
        f"Noto Sans (used by clinic alder) {tail}",
    ]


def test_problems_in_two_files_reported_together(lib: Path, tmp_path: Path) -> None:
    facts = edit(lib, FACTS, REDNESS_NAME, REDNESS_NAME + "    severity: low\n")
    aftercare = edit(lib, AFTERCARE, "title: Aftercare after needling\n", "heading: Aftercare\n")
    run = run_all(lib, tmp_path / "out")
    after_fields = ("allowed: title, intro, do, dont, normal_intro, call_intro, red_flags, sun, pain_relief, "
                    "timeline, emergency")
    assert run.errors == [
        f"error: {AFTERCARE}:1: (document): missing field 'title' (document title)",
        f"error: {AFTERCARE}:{line_of(aftercare, 'heading:')}: heading: unknown field ({after_fields})",
        f"error: {FACTS}:{line_of(facts, 'severity')}: risks[1].severity: unknown field ({RISK_FIELDS})",
    ]


def test_broken_treatment_does_not_blame_clinic_additions(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, FACTS, REDNESS_NAME, REDNESS_NAME + "    severity: low\n")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, "severity")
    assert run.errors == [f"error: {FACTS}:{line}: risks[1].severity: unknown field ({RISK_FIELDS})"]
