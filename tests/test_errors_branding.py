"""Exact error lines for broken clinic branding: clinic.yaml, logos, additions and fonts."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import cli, edit, line_of, run_all, text_of

from handoutgen.library import logo

ALDER = "assets/clinics/alder/clinic.yaml"
ALDER_LOGO = "assets/clinics/alder/logo.png"
FONTS = "assets/fonts/fonts.yaml"


def real_fonts(lib: Path) -> None:
    """Replace the lib's symlink to the repository's fonts with a private copy (repo untouched)."""
    link = lib / "assets" / "fonts"
    assert link.is_symlink()
    target = link.resolve()
    link.unlink()
    shutil.copytree(target, link)
    assert not link.is_symlink()


def test_logo_too_big(lib: Path, tmp_path: Path) -> None:
    size = logo.MAX_LOGO_BYTES + 1
    (lib / ALDER_LOGO).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (size - 8))
    run = run_all(lib, tmp_path / "out")
    line = line_of(text_of(lib, ALDER), "logo:")
    assert run.errors == [f"error: {ALDER}:{line}: logo: logo is {size} bytes "
                          f"(at most {logo.MAX_LOGO_BYTES} bytes)"]


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
