"""Exact error lines for broken clinic branding: clinic.yaml, logos, additions and fonts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import cli, edit, line_of, run_all, text_of

from handoutgen import logo

ALDER = "assets/clinics/alder/clinic.yaml"
BIRCH = "assets/clinics/birch/clinic.yaml"
ALDER_LOGO = "assets/clinics/alder/logo.png"
BIRCH_LOGO = "assets/clinics/birch/logo.svg"
ADDITIONS = "assets/clinics/alder/content/needling.yaml"
FONTS = "assets/fonts/fonts.yaml"
RISK_IDS = "bleeding, infection, redness, swelling"  # the risks of needling


def real_fonts(lib: Path) -> None:
    """Replace the lib's symlink to the repository's fonts with a private copy (repo untouched)."""
    link = lib / "assets" / "fonts"
    assert link.is_symlink()
    target = link.resolve()
    link.unlink()
    shutil.copytree(target, link)
    assert not link.is_symlink()


def test_logo_path_escaping_the_clinic_folder(lib: Path) -> None:
    text = edit(lib, ALDER, "logo: logo.png\n", "logo: ../../../etc/passwd.png\n")
    target = lib / "x.pdf"
    run = cli(lib, "build", "--clinic", "alder", "--treatment", "needling", "--kind",
              "aftercare", "-o", str(target))
    assert run.code == 1
    assert "Traceback" not in run.err
    assert not target.exists()
    assert run.errors == [f"error: {ALDER}:{line_of(text, 'logo:')}: logo: path '../../../etc/passwd.png' "
                          "leaves the clinic folder (a file inside the clinic folder)"]


def test_missing_logo_file(lib: Path, tmp_path: Path) -> None:
    (lib / ALDER_LOGO).unlink()
    run = run_all(lib, tmp_path / "out")
    line = line_of(text_of(lib, ALDER), "logo:")
    assert run.errors == [f"error: {ALDER}:{line}: logo: file 'logo.png' is missing "
                          "(a logo file inside the clinic folder)"]


def test_logo_too_big(lib: Path, tmp_path: Path) -> None:
    size = logo.MAX_LOGO_BYTES + 1
    (lib / ALDER_LOGO).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (size - 8))
    run = run_all(lib, tmp_path / "out")
    line = line_of(text_of(lib, ALDER), "logo:")
    assert run.errors == [f"error: {ALDER}:{line}: logo: logo is {size} bytes "
                          f"(at most {logo.MAX_LOGO_BYTES} bytes)"]


def test_broken_image(lib: Path, tmp_path: Path) -> None:
    (lib / ALDER_LOGO).write_text("this is not an image\n", encoding="utf-8")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text_of(lib, ALDER), "logo:")
    assert len(run.errors) == 1
    assert run.errors == [f"error: {ALDER}:{line}: logo: 'logo.png' is not a readable image "
                          "(a valid PNG file)"]


def test_broken_image_message_has_no_absolute_path(lib: Path, tmp_path: Path) -> None:
    (lib / ALDER_LOGO).write_text("this is not an image\n", encoding="utf-8")
    run = run_all(lib, tmp_path / "out")
    assert str(lib) not in run.err and str(lib.resolve()) not in run.err


def test_png_data_with_a_jpg_name(lib: Path, tmp_path: Path) -> None:
    (lib / ALDER_LOGO).rename(lib / "assets/clinics/alder/logo.jpg")
    text = edit(lib, ALDER, "logo: logo.png\n", "logo: logo.jpg\n")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [f"error: {ALDER}:{line_of(text, 'logo:')}: logo: 'logo.jpg' holds PNG data "
                          "(JPEG data to match its extension)"]


SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">{}</svg>\n'


@pytest.mark.parametrize(("svg", "problem"), [
    pytest.param('<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                 + SVG.format("<text>&x;</text>"),
                 "SVG declares a DOCTYPE or entities (a plain SVG without DOCTYPE)", id="doctype-entity"),
    pytest.param(SVG.format('<image href="file:///etc/passwd"/>'),
                 "SVG contains <image> (shapes, paths and text only)", id="image-file-url"),
    pytest.param(SVG.format("<script>alert(1)</script>"),
                 "SVG contains <script> (shapes, paths and text only)", id="script"),
    pytest.param(SVG.replace("<svg ", '<svg xmlns:xlink="http://www.w3.org/1999/xlink" ').format(
                 '<use xlink:href="file:///etc/passwd#a"/>'),
                 "SVG links to 'file:///etc/passwd#a' (links inside the SVG only (#id))", id="use-link"),
])
def test_unsafe_svg_logo(lib: Path, tmp_path: Path, svg: str, problem: str) -> None:
    (lib / BIRCH_LOGO).write_text(svg, encoding="utf-8")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text_of(lib, BIRCH), "logo:")
    assert run.errors == [f"error: {BIRCH}:{line}: logo: {problem}"]


@pytest.mark.parametrize(("old", "new", "where", "problem"), [
    pytest.param("font: noto-sans\n", "font: comic-sans\n", "font",
                 "unknown font 'comic-sans' (expected one of: dejavu-sans, noto-sans)", id="font"),
    pytest.param('primary: "#0f6e73"\n', 'primary: "#12345"\n', "colours.primary",
                 "'#12345' is not allowed (a colour as #rrggbb)", id="colour"),
    pytest.param('primary: "#0f6e73"\n', 'primary: "#9a9a9a"\n', "colours.primary",
                 "#9a9a9a is too light to read on white (2.8:1) (a colour with at least 4.5:1 contrast "
                 "against white)", id="light-colour"),
    pytest.param("paper: a4\n", "paper: a5\n", "paper",
                 "'a5' is not allowed (expected one of: a4, letter)", id="paper"),
    pytest.param("  - id: ben-birch\n    name: Ben", "  - id: ann-ash\n    name: Ben",
                 "practitioners[1].id",
                 "duplicate practitioner id 'ann-ash' (each id once)", id="practitioner-ids"),
    pytest.param("id: alder\n", "id: alde\n", "id",
                 "id 'alde' differs from its folder name (use 'alder')", id="clinic-id"),
])
def test_bad_clinic_field(lib: Path, tmp_path: Path, old: str, new: str, where: str, problem: str) -> None:
    text = edit(lib, ALDER, old, new)
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [f"error: {ALDER}:{line_of(text, new)}: {where}: {problem}"]


def test_additions_for_an_unknown_treatment(lib: Path, tmp_path: Path) -> None:
    (lib / "assets/clinics/alder/content/botox.yaml").write_text(
        "prepare:\n  - Do not drink alcohol the day before.\n", encoding="utf-8")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == ["error: assets/clinics/alder/content/botox.yaml:1: (document): "
                          "no treatment 'botox' (name the file after a treatment: needling, peel)"]


def test_risk_lasts_with_an_unknown_risk_id(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, ADDITIONS, "  swelling: up to 3 days\n",
                "  swelling: up to 3 days\n  bruising: about a week\n")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [f"error: {ADDITIONS}:{line_of(text, 'bruising')}: risk_lasts.bruising: "
                          f"unknown risk id (expected one of: {RISK_IDS})"]


def test_clinic_name_with_a_character_the_font_lacks(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, ALDER, "name: Alder Test Clinic\n", "name: Alder Test Clinic 中\n")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [f"error: {ALDER}:{line_of(text, '中')}: name: character U+4E2D '中' cannot be "
                          "drawn by font Noto Sans (used by clinic alder) "
                          "(characters the font covers, or another font in clinic.yaml)"]


def test_language_without_labels(lib: Path, tmp_path: Path) -> None:
    text = edit(lib, ALDER, "languages: [en]\n", "languages:\n  - en\n  - xx\n")
    run = run_all(lib, tmp_path / "out")
    line = line_of(text, '- xx')
    assert run.errors == [f"error: {ALDER}:{line}: languages[1]: "
                          "no labels for language 'xx' (expected one of: en, es)",
                          f"error: {ALDER}:{line}: languages[1]: no translations for 'xx' "
                          "(translations: xx: opening_hours, roles (and footer) in that language)"]


def test_fonts_yaml_names_a_missing_file(lib: Path, tmp_path: Path) -> None:
    """Reported once, in fonts.yaml; clinics using the family do not call it unknown."""
    real_fonts(lib)
    text = edit(lib, FONTS, "  bold: noto-sans/NotoSans-Bold.ttf\n", "  bold: noto-sans/NotoSans-Heavy.ttf\n")
    run = run_all(lib, tmp_path / "out")
    assert run.errors == [f"error: {FONTS}:{line_of(text, 'Heavy')}: noto-sans.bold: file "
                          "'noto-sans/NotoSans-Heavy.ttf' is missing or outside assets/fonts "
                          "(a file inside assets/fonts)"]


def test_font_file_that_is_not_truetype(lib: Path, tmp_path: Path) -> None:
    real_fonts(lib)
    (lib / "assets/fonts/noto-sans/Fake.ttf").write_text("this is not a font\n", encoding="utf-8")
    text = edit(lib, FONTS, "  italic: noto-sans/NotoSans-Italic.ttf\n", "  italic: noto-sans/Fake.ttf\n")
    run = run_all(lib, tmp_path / "out")
    expected = (f"error: {FONTS}:{line_of(text, 'Fake')}: noto-sans.italic: 'noto-sans/Fake.ttf' is not "
                "a TrueType font (a .ttf file with TrueType outlines)")
    assert run.errors == [expected]


def test_corrupt_truetype_font_points_at_fonts_yaml(lib: Path, tmp_path: Path) -> None:
    real_fonts(lib)
    (lib / "assets/fonts/noto-sans/Fake.ttf").write_bytes(b"\x00\x01\x00\x00" + b"garbage" * 10)
    text = edit(lib, FONTS, "  italic: noto-sans/NotoSans-Italic.ttf\n", "  italic: noto-sans/Fake.ttf\n")
    # Italic faces load when a document first uses one; `check` loads every face of every family.
    run = cli(lib, "check")
    assert run.code == 1
    assert run.errors == [f"error: {FONTS}:{line_of(text, 'Fake')}: noto-sans.italic: cannot load "
                          "font 'Fake.ttf': damaged or not TrueType (a TrueType (.ttf) font)"]
