"""Exact error lines for broken treatment content (handouts/): one line per problem, exit 1, no PDF."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli, edit, line_of, run_all

from handoutgen import load

FACTS = "handouts/needling/en/facts.yaml"
AFTERCARE = "handouts/needling/en/aftercare.yaml"
REDNESS_NAME = "    name: Redness\n"
RISK_FIELDS = ("allowed: id, name, description, expected, call_if, frequency, sources, serious, rate, term, "
               "lasts")
TAGS = "plain text, numbers, true/false, lists and mappings"


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


def test_python_object_apply_tag_is_refused(lib: Path, tmp_path: Path,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    text = edit(lib, FACTS, REDNESS_NAME, '    name: !!python/object/apply:os.system ["echo hi"]\n')
    run = run_all(lib, tmp_path / "out")
    assert "hi" not in capfd.readouterr().out  # never executed
    line = line_of(text, "!!python")
    assert run.errors == [f"error: {FACTS}:{line}: risks[1].name: "
                        f"tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed ({TAGS})"]


def test_file_over_the_size_cap(lib: Path, tmp_path: Path) -> None:
    path = lib / FACTS
    data = path.read_bytes()
    padded = data + b"#" * (load.MAX_BYTES + 1 - len(data))
    path.write_bytes(padded)
    assert len(padded) == load.MAX_BYTES + 1
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [f"error: {FACTS}:1: (document): file is {load.MAX_BYTES + 1} bytes "
                        f"(at most {load.MAX_BYTES} bytes)"]


def test_text_with_no_value(lib: Path, tmp_path: Path) -> None:  # "" and "   ": tests/corpus/content.yaml
    text = edit(lib, FACTS, REDNESS_NAME, "    name:\n")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, "  - id: redness\n    name:") + 1
    assert run.errors == [f"error: {FACTS}:{line}: risks[1].name: expected text, got nothing "
                          "(plain name, e.g. Swelling)"]


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
