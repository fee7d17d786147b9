"""The cache kept between `build` runs: same bytes as without it, any input change seen, damage
ignored, and no patient data kept."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, edit, flat, pdf_text
from PIL import Image

pytestmark = pytest.mark.slow  # the fast layer (pytest -m "not slow") leaves it out

NAME = "Zyxwvut Quokkaface"


def build(lib: Path, cache: Path | None, out: str, *extra: str, kind: str = "aftercare",
          clinic: str = "alder") -> bytes:
    """Run one `build` as a real process from `lib`, with its own cache folder (None: no cache)."""
    env = dict(os.environ, XDG_CACHE_HOME=str(cache or lib / "unused-cache"))
    if cache is None:
        env["HANDOUTGEN_CACHE"] = "off"
    target = lib / out
    done = subprocess.run([sys.executable, str(REPO / "generate.py"), "build", "--clinic", clinic,
                           "--treatment", "needling", "--kind", kind, "-o", str(target), *extra],
                          cwd=lib, env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return target.read_bytes()


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "handoutgen").glob("*/*.pickle"))


@pytest.mark.parametrize(("clinic", "kind"), [("alder", "aftercare"), ("birch", "consent")])
def test_cached_builds_give_the_same_bytes(lib: Path, tmp_path: Path, clinic: str, kind: str) -> None:
    cache = tmp_path / "cache"
    extra = ("--patient-name", NAME, "--field", "appointment_date=2026-12-01")
    plain = build(lib, None, "plain.pdf", *extra, kind=kind, clinic=clinic)
    first = build(lib, cache, "first.pdf", *extra, kind=kind, clinic=clinic)
    kept = entries(cache)
    # the library, the blank layout, the document composed with markers for patient values
    # (opaque.py) and the parsed fonts
    assert {p.parent.name for p in kept} == {"library", "layout", "composed", "files"}
    second = build(lib, cache, "second.pdf", *extra, kind=kind, clinic=clinic)
    other = build(lib, cache, "other.pdf", "--patient-name", "Ana Lee", "--field",
                  "appointment_date=2026-11-30", kind=kind, clinic=clinic)
    assert entries(cache) == kept  # the second and third runs only read
    assert plain == first == second
    assert other == build(lib, None, "other-plain.pdf", "--patient-name", "Ana Lee", "--field",
                          "appointment_date=2026-11-30", kind=kind, clinic=clinic)
    assert build(lib, cache, "blank.pdf", kind=kind, clinic=clinic) == \
        build(lib, None, "blank-plain.pdf", kind=kind, clinic=clinic)


def test_each_kind_and_language_in_one_cache_keeps_its_own_frame(lib: Path, tmp_path: Path) -> None:
    # A document's frame (its title, fingerprint, labels: compose.frame) is kept by the whole
    # request: one cache serving two kinds and two languages gives each its own.
    cache = tmp_path / "cache"
    for kind, language in [("consent", "en"), ("aftercare", "en"), ("aftercare", "es")]:
        extra = ("--patient-name", NAME, "--language", language)
        kept = build(lib, cache, f"{kind}-{language}.pdf", *extra, kind=kind, clinic="birch")
        assert kept == build(lib, None, f"{kind}-{language}-plain.pdf", *extra, kind=kind, clinic="birch")


@pytest.mark.parametrize(("name", "old", "new", "seen"), [
    ("handouts/needling/en/aftercare.yaml", "Keep the area clean.", "Keep the area very clean.",
     "Keep the area very clean."),
    ("handouts/labels/en.yaml", 'page_of: "Page {page} of {pages}"',
     'page_of: "Sheet {page} of {pages}"', "Sheet 1 of"),
    ("assets/clinics/alder/clinic.yaml", "phone: 01632 960 001", "phone: 01632 960 456",
     "01632 960 456"),
    ("templates/aftercare.xml.j2", '<p style="lead">{{ part.intro }}</p>',
     '<p style="lead">Read this first. {{ part.intro }}</p>', "Read this first."),
])
def test_an_edit_after_a_cached_build_is_used(lib: Path, tmp_path: Path, name: str, old: str,
                                              new: str, seen: str) -> None:
    cache = tmp_path / "cache"
    before = build(lib, cache, "before.pdf", "--patient-name", NAME)
    assert build(lib, cache, "cached.pdf", "--patient-name", NAME) == before
    edit(lib, name, old, new)
    after = build(lib, cache, "after.pdf", "--patient-name", NAME)
    assert after != before
    assert seen in flat(pdf_text(lib / "after.pdf"))
    assert after == build(lib, None, "fresh.pdf", "--patient-name", NAME)


def test_a_changed_logo_is_used(lib: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = build(lib, cache, "before.pdf")
    logo = lib / "assets/clinics/alder/logo.png"
    with Image.open(logo) as image:
        changed = image.copy()
    changed.putpixel((0, 0), (255, 0, 0, 255) if changed.mode == "RGBA" else 0)
    changed.save(logo)
    after = build(lib, cache, "after.pdf")
    assert after != before
    assert after == build(lib, None, "fresh.pdf")


@pytest.mark.parametrize("damage", [b"", b"not a pickle", b"\x80\x05garbage"])
def test_a_damaged_cache_is_ignored_and_made_again(lib: Path, tmp_path: Path, damage: bytes) -> None:
    cache = tmp_path / "cache"
    good = build(lib, cache, "good.pdf", "--patient-name", NAME)
    kept = entries(cache)
    for path in kept:
        path.write_bytes(damage)
    assert build(lib, cache, "again.pdf", "--patient-name", NAME) == good
    assert all(path.stat().st_size > 100 for path in kept)  # written again, whole
    assert build(lib, cache, "third.pdf", "--patient-name", NAME) == good


def test_an_unusable_cache_folder_never_fails_a_build(lib: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    assert build(lib, blocker, "out.pdf", "--patient-name", NAME) == \
        build(lib, None, "plain.pdf", "--patient-name", NAME)


def _cached_bytes(cache: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(cache.rglob("*")) if path.is_file())


def test_no_patient_value_is_kept(lib: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    build(lib, cache, "one.pdf", "--patient-name", NAME, "--field", "treatment_area=Elbowknee")
    kept = _cached_bytes(cache)
    for text in (NAME, "Elbowknee"):
        for encoded in (text.encode(), text.encode("utf-16-be")):
            assert encoded not in kept


def test_a_layout_that_shows_a_patient_value_outside_its_fields_is_not_kept(lib: Path,
                                                                           tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    edit(lib, "templates/aftercare.xml.j2", '<p style="lead">{{ part.intro }}</p>',
         '<p style="lead">Dear {{ patient.patient_name }}. {{ part.intro }}</p>')
    out = build(lib, cache, "one.pdf", "--patient-name", NAME)
    assert f"Dear {NAME}." in flat(pdf_text(lib / "one.pdf"))
    assert not list((cache / "handoutgen" / "layout").glob("*.pickle"))
    assert list((cache / "handoutgen" / "composed").glob("*.pickle"))  # with a marker for the name
    assert NAME.encode() not in _cached_bytes(cache)
    assert build(lib, cache, "two.pdf", "--patient-name", NAME) == out


def test_a_huge_file_in_the_library_is_not_read_to_make_the_key(lib: Path) -> None:
    huge = lib / "handouts" / "huge.bin"
    with huge.open("wb") as handle:
        handle.truncate(8 * 1024 ** 3)  # 8 GB that take no disk space
    code = ("import resource, sys; from pathlib import Path; from handoutgen.cache import inputs_digest; "
            "resource.setrlimit(resource.RLIMIT_AS, (1024 ** 3, 1024 ** 3)); "
            "print(inputs_digest(Path(sys.argv[1]), []))")
    done = subprocess.run([sys.executable, "-c", code, str(lib)], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip()) == 64


def program_digest(parent: Path) -> str:
    """The program digest of the copy of handoutgen in `parent`, from a fresh process."""
    done = subprocess.run([sys.executable, "-c", "import handoutgen, handoutgen.program as p; "
                           "print(handoutgen.__file__, p.program_digest())"],
                          cwd=parent, env=dict(os.environ, PYTHONPATH=str(parent)), capture_output=True,
                          timeout=60, check=True, text=True)
    where, digest = done.stdout.split()
    assert Path(where) == parent / "handoutgen" / "__init__.py"
    return digest


def test_the_program_digest_covers_every_source_file(tmp_path: Path) -> None:
    shutil.copytree(REPO / "handoutgen", tmp_path / "handoutgen",
                    ignore=shutil.ignore_patterns("__pycache__"))
    seen = {program_digest(tmp_path)}
    for name in ("cache.py", "web/form.py"):  # a module at the top and one in a sub-folder
        with (tmp_path / "handoutgen" / name).open("a", encoding="utf-8") as handle:
            handle.write("\n# a new version\n")
        seen.add(program_digest(tmp_path))
    assert len(seen) == 3  # every edit gives a new digest: cache entries and batch outputs are made anew
