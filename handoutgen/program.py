"""What the program is: the one digest of handoutgen's own code, its own stylesheet and of what
writes its PDFs.

The batch runner keys every output file with it (a new version rebuilds everything) and the
build cache keys its entries with it (a new version reads nothing an older one kept).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path

from . import __version__


@lru_cache(maxsize=1)
def program_digest() -> str:
    """A hash of handoutgen's sources and stylesheet (name, size, time), and the Python, reportlab and
    pypdf versions."""
    import reportlab  # here, not at the top: `list` and `check` start without the PDF libraries

    # pypdf's version without importing it (a cold `build` of a cached document never needs it)
    spec = importlib.util.find_spec("pypdf")
    pypdf_version = Path(spec.origin).with_name("_version.py").read_bytes() if spec and spec.origin else b""
    digest = hashlib.sha256(repr((__version__, sys.version, reportlab.Version, pypdf_version)).encode())
    # Each source by name, size and modification time, as Python's own compiled-module cache
    # does: a cold `build` need not read them all.
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(package).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    try:  # what a library leaves out of its own stylesheet
        stat = own_stylesheet().stat()
        digest.update(f"styles\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    except OSError:  # loading the library says the stylesheet is missing
        digest.update(b"styles\0missing\0")
    return digest.hexdigest()


def own_stylesheet() -> Path:
    """The program's own stylesheet (assets/styles.yaml): in the installed package, else this checkout's."""
    # A wheel installs the example library as files under handoutgen/starter/ (see scaffold.py);
    # a path, not importlib.resources, which would add a sixtieth to a cold `build`.
    package = Path(__file__).resolve().parent
    packaged = package / "starter" / "assets" / "styles.yaml"
    return packaged if packaged.is_file() else package.parent / "assets" / "styles.yaml"
