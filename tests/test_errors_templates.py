"""Layout templates: per-clinic overrides, and exact error lines for broken templates and markup."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Run, cli, flat, pdf_text, run_all

STOCK = "templates/aftercare.xml.j2"
OVERRIDE = "assets/clinics/birch/templates/aftercare.xml.j2"
BLOCKS = ("section, h, p, ul, ol, checklist, yesno, table, fields, lines, initials, signature, qr, "
          "spacer, pagebreak, callout, keep")
INLINE = 'inline tags: b, i, br, span lang="..."'
UNDEFINED = "(names listed under Layouts in docs/designers.md)"


def override(lib: Path, text: str) -> None:
    """Give birch its own aftercare layout."""
    path = lib / OVERRIDE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def build(lib: Path, clinic: str, target: Path) -> Run:
    return cli(lib, "build", "--clinic", clinic, "--treatment", "needling", "--kind", "aftercare",
               "-o", str(target))


def test_clinic_override_wins_for_that_clinic_only(lib: Path, tmp_path: Path) -> None:
    stock = (lib / STOCK).read_text(encoding="utf-8")
    assert stock.count("<h>{{ labels.do }}</h>") == 1
    override(lib, stock.replace("<h>{{ labels.do }}</h>", "<h>Birch asks you to do this</h>"))
    birch, alder = tmp_path / "birch.pdf", tmp_path / "alder.pdf"
    for clinic, target in (("birch", birch), ("alder", alder)):
        run = build(lib, clinic, target)
        assert (run.code, run.err) == (0, ""), run.err
        assert run.out == f"Built {target}\n"
    birch_text, alder_text = flat(pdf_text(birch)), flat(pdf_text(alder))
    assert "Birch asks you to do this" in birch_text
    assert "Birch asks you to do this" not in alder_text
    for text in (birch_text, alder_text):  # the rest of the layout is unchanged
        assert "Caring for the treated area" in text and "Do not" in text
    assert (lib / STOCK).read_text(encoding="utf-8") == stock
    assert cli(lib, "check").code == 0


# A clinic override whose output lines are its own lines (no Jinja statements), so the markup's
# line numbers are the template's.
@pytest.mark.parametrize(("body", "expected"), [
    pytest.param("<blink>{{ treatment.part.intro }}</blink>",
                 f"document.blink[1]: unknown block <blink> (expected one of: {BLOCKS})", id="blink"),
    pytest.param("<p>Please <u>{{ treatment.part.intro }}</u></p>",
                 f"document.p[2]: <u> is not allowed in text ({INLINE})", id="u-in-p"),
    pytest.param('<checklist mark="maybe"><item>{{ treatment.part.intro }}</item></checklist>',
                 "document.checklist[1]@mark: 'maybe' is not allowed (expected one of: box, do, dont)",
                 id="checklist-mark"),
    pytest.param('<p>In <span lang="Spanish">{{ treatment.part.intro }}</span></p>',
                 "document.p[2]@lang: 'Spanish' is not a language code (a code such as es or pt-BR)",
                 id="span-lang"),
])
def test_markup_outside_the_vocabulary(lib: Path, tmp_path: Path, body: str, expected: str) -> None:
    override(lib, f"<document>\n<p>{{{{ clinic.name }}}}</p>\n{body}\n<p>End.</p>\n</document>\n")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [f"error: {OVERRIDE}:3: {expected}"]


def test_problems_in_markup_reported_together(lib: Path, tmp_path: Path) -> None:
    override(lib, "<document>\n<blink>x</blink>\n<p>a <u>b</u></p>\n"
             '<checklist mark="maybe"><item>x</item></checklist>\n</document>\n')
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [
        f"error: {OVERRIDE}:2: document.blink[1]: unknown block <blink> (expected one of: {BLOCKS})",
        f"error: {OVERRIDE}:3: document.p[1]: <u> is not allowed in text ({INLINE})",
        f"error: {OVERRIDE}:4: document.checklist[1]@mark: 'maybe' is not allowed "
        "(expected one of: box, do, dont)",
    ]


def test_malformed_markup(lib: Path, tmp_path: Path) -> None:
    # <p> on line 2 is never closed; the parser notices at </document> on line 4.
    override(lib, "<document>\n<p>{{ treatment.part.intro }}\n<p>Second.</p>\n</document>\n")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [f"error: {OVERRIDE}:4: (markup): malformed block markup: mismatched tag "
                          "(well-formed XML of the block vocabulary)"]


