"""`handoutgen init DIR` writes a starter library; a folder without one gets a line saying how to make one."""

from __future__ import annotations

from pathlib import Path

from conftest import REPO, cli

BLANK = ("build", "--clinic", "maple-street", "--treatment", "mesotherapy", "--kind", "consent",
         "--language", "es")


def test_init_writes_the_example_library_into_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "clinic").mkdir()
    run = cli(tmp_path, "init", "clinic")
    assert (run.code, run.err) == (0, "")
    assert run.out == ("Wrote a starter library into clinic/: example clinics harbour-skin, maple-street; "
                       "treatments mesotherapy. Edit it, then run 'handoutgen check' inside it.\n")
    made = sorted(p.relative_to(tmp_path / "clinic") for p in (tmp_path / "clinic").rglob("*"))
    shipped = sorted(p.relative_to(REPO) for part in ("handouts", "templates", "assets", "examples")
                     for p in [REPO / part, *(REPO / part).rglob("*")])
    assert made == shipped
    listing = cli(tmp_path / "clinic", "list")
    assert listing.code == 0
    assert "maple-street         Maple Street Dermatology (example); paper letter" in listing.out
    # The starter library makes the very same handout as the repository's own.
    ours = cli(tmp_path / "clinic", *BLANK, "-o", str(tmp_path / "starter.pdf"))
    theirs = cli(REPO, *BLANK, "-o", str(tmp_path / "repository.pdf"))
    assert (ours.code, theirs.code) == (0, 0)
    assert (tmp_path / "starter.pdf").read_bytes() == (tmp_path / "repository.pdf").read_bytes()


def test_init_never_overwrites_a_library(tmp_path: Path) -> None:
    (tmp_path / "clinic" / "assets").mkdir(parents=True)
    (tmp_path / "clinic" / "examples").mkdir()
    (tmp_path / "clinic" / "assets" / "mine.txt").write_text("keep me", encoding="utf-8")
    run = cli(tmp_path, "init", "clinic")
    assert run.code == 1
    assert run.errors == ["error: clinic:1: init: already holds assets/, examples/: init never overwrites "
                          "(a new or empty folder; edit the library that is there, or move it away first)"]
    assert sorted(p.name for p in (tmp_path / "clinic").rglob("*")) == ["assets", "examples", "mine.txt"]
    assert (tmp_path / "clinic" / "assets" / "mine.txt").read_text(encoding="utf-8") == "keep me"


def test_init_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("", encoding="utf-8")
    run = cli(tmp_path, "init", "notes")
    assert run.code == 1
    assert run.errors == ["error: notes:1: init: is a file: init never overwrites "
                          "(a new or empty folder; edit the library that is there, or move it away first)"]


def test_root_without_a_library_says_how_to_make_one(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = cli(tmp_path, "--root", str(tmp_path / "empty"), "list")
    assert run.code == 1
    assert run.errors == [
        f"error: <command line>:1: --root: '{tmp_path / 'empty'}' holds no library: no handouts/, "
        "templates/ or assets/ folder (make one with 'handoutgen init DIR' and run handoutgen inside DIR, "
        "or name one with --root DIR)"]
