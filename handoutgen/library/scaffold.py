"""Which library a command works on, and `handoutgen init DIR`, which writes a starter library.

A wheel carries the example library (handouts/, templates/, assets/ with the fonts, examples/)
inside the package as handoutgen/starter/ (pyproject.toml maps the repository's top-level folders
there); a checkout or an editable install uses the repository's folders themselves.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DeliveryError, HandoutError, UsageError
from ..load import display
from .gather import CLINICS_DIR, CONTENT_DIR, LABELS_DIR, TEMPLATES_DIR, WORDING_DIR
from .patient import SOURCE

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

PARTS = (CONTENT_DIR, TEMPLATES_DIR, CLINICS_DIR.parts[0], "examples")  # what a starter library holds
CHECKOUT = Path(__file__).resolve().parents[2]  # the repository, when running from one
HOW = "make one with 'handoutgen init DIR' and run handoutgen inside DIR, or name one with --root DIR"


def find_root(given: Path | None, position: int) -> Path:
    """The library folder: --root, else the working folder if it holds handouts/, else this checkout."""
    if given is not None:
        if not any((given / part).is_dir() for part in PARTS[:3]):
            raise UsageError.one(SOURCE, position, "--root", f"{str(given)!r} holds no library: no "
                                 f"{CONTENT_DIR}/, {TEMPLATES_DIR}/ or {PARTS[2]}/ folder", HOW)
        return given.resolve()
    cwd = Path.cwd()
    if (cwd / CONTENT_DIR).is_dir():
        return cwd.resolve()
    if (CHECKOUT / CONTENT_DIR).is_dir() and (CHECKOUT / "pyproject.toml").is_file():
        return CHECKOUT
    raise UsageError.one(str(cwd), 1, "library", f"no library here: no {CONTENT_DIR}/ folder", HOW)


def starter() -> Traversable:
    """The example library shipped with the program: in the installed package, else this checkout."""
    from importlib import resources  # only `init` and a missing library need it

    packaged = resources.files("handoutgen") / "starter"
    source = packaged if packaged.is_dir() else CHECKOUT
    missing = [part for part in PARTS if not (source / part).is_dir()]
    if missing:  # a wheel built without its package data
        raise HandoutError.one(str(source), 1, "init", "this installation lacks the example library's "
                               + ", ".join(f"{part}/" for part in missing), "reinstall handoutgen")
    return source


def init_library(target: Path) -> str:
    """Write the starter library into `target`, a new folder or one without a library; the summary."""
    taken = [f"{part}/" for part in PARTS if (target / part).exists() or (target / part).is_symlink()]
    problem = "already holds " + ", ".join(taken) if taken else ""
    if target.exists() and not target.is_dir():
        problem = "is a file"
    if problem:
        raise UsageError.one(display(target), 1, "init", problem + ": init never overwrites",
                             "a new or empty folder; edit the library that is there, or move it away first")
    source = starter()
    try:
        target.mkdir(parents=True, exist_ok=True)
        # Copy into a hidden folder first, so a failed copy leaves no half library behind.
        staging = Path(tempfile.mkdtemp(prefix=".handoutgen-init-", dir=target))
        try:
            for part in PARTS:
                _copy(source / part, staging / part)
            for part in PARTS:
                (staging / part).rename(target / part)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as err:
        raise DeliveryError.one(display(target), 1, "init", f"cannot write the library: {err.strerror}",
                                "a folder you may write to") from err
    clinics = sorted(p.name for p in (target / CLINICS_DIR).iterdir() if p.is_dir())
    treatments = sorted(p.name for p in (target / CONTENT_DIR).iterdir()
                        if p.is_dir() and p.name not in (LABELS_DIR, WORDING_DIR))
    return (f"Wrote a starter library into {display(target)}/: example clinics {', '.join(clinics)}; "
            f"treatments {', '.join(treatments)}. Edit it, then run 'handoutgen check' inside it.")


def _copy(source: Traversable, target: Path) -> None:
    """Copy a folder of the shipped library (hidden files and caches left out)."""
    if source.is_dir():
        target.mkdir()
        for child in source.iterdir():
            if not child.name.startswith((".", "__pycache__")):
                _copy(child, target / child.name)
    else:
        target.write_bytes(source.read_bytes())
