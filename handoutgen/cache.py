"""Keep what one `build` needs between processes: the checked library, blank layouts, documents
composed with markers for patient values (opaque.py) and parsed fonts (fonts.py).

A `build` for one patient spends most of its time reading and checking the library and laying
the document out with empty fields, and both come out the same until an input changes. They
are kept in the user's cache folder (next to the template cache), keyed by:

- the program: program.program_digest (its sources, and the Python, reportlab and pypdf versions);
- every input: the path, size, times and inode of every file and folder under handouts/,
  templates/ and assets/ (and of a clinic folder given by path), plus the content of each of
  those files except fonts (fonts by size and times only);
- the library folder, the working folder (messages name files relative to it) and the clinic
  and treatment asked for;
- for a layout, also the blank documents themselves (content and layout text as composed).

So any change to content, branding, labels, templates, fonts or logos gives new keys. A
layout is only kept when it holds no patient value: its documents must be the same as those
composed with no patient at all. A cache entry that cannot be read, or is damaged, is ignored
and made again; one that cannot be written is skipped. Entries are written as every output is
(output.write_atomic). The cache is only a speed-up: with HANDOUTGEN_CACHE=off nothing is read or kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .program import program_digest
from .store import FORMAT, digest, folder, read_entry, stat_key, write_entry

if TYPE_CHECKING:
    from .compose.blocks import Document
    from .layout.page import Layout
    from .library.gather import Library

_NOT_HASHED = (".ttf", ".otf")  # big and never edited in place: size and times are enough
_INPUT_DIRS = ("handouts", "templates", "assets")


@dataclass(eq=False, repr=False)  # compared and printed as itself, not field by field
class Cache:
    """The library and layout entries of one cache folder."""

    base: Path

    @classmethod
    def open(cls) -> Cache | None:
        found = folder()
        return cls(found) if found is not None else None

    def library(self, root: Path, clinics: Collection[str], treatment: str) -> tuple[Library, str]:
        """The checked library (see library.load_library) and its key: loaded, or read back."""
        from .library.gather import load_library

        extra = [Path(c) for c in clinics if Path(c).is_dir()]  # clinic folders given by path
        key = digest(repr(("library", FORMAT, program_digest(), inputs_digest(root, extra), str(root),
                            str(Path.cwd()), sorted(clinics), treatment)))
        path = self.base / "library" / f"{key}.pickle"
        library = read_entry(path, key)
        if library is None:
            library = load_library(root, clinics=clinics, treatment=treatment)
            write_entry(path, key, library)
        return library, key

    def layouts(self, key: str) -> LayoutCache:
        """Blank layouts made from the library with this key."""
        return LayoutCache(self.base / "layout", key)


@dataclass(eq=False, repr=False)  # compared and printed as itself, not field by field
class LayoutCache:
    """Blank layouts of one library, by the blank documents they are made of."""

    base: Path
    library_key: str
    may_keep: Callable[[], bool] = field(default=lambda: True)  # False: it holds patient data

    def _key(self, blanks: tuple[Document, ...], labels: dict[str, str], duplex: bool) -> str:
        return digest(repr(("layout", self.library_key, blanks, tuple(labels.items()), duplex)))

    def load(self, blanks: tuple[Document, ...], labels: dict[str, str], duplex: bool) -> Layout | None:
        key = self._key(blanks, labels, duplex)
        found: Layout | None = read_entry(self.base / f"{key}.pickle", key)
        return found

    def _composed(self, name: str) -> tuple[Path, str]:
        key = digest(repr(("composed", self.library_key, name)))
        return self.base.parent / "composed" / f"{key}.pickle", key

    def composed(self, name: str) -> Any:
        """What was composed without patient values under this name (opaque.Kept), or None."""
        return read_entry(*self._composed(name))

    def keep_composed(self, name: str, value: Any) -> None:
        """Keep what was composed without patient values (a document with markers, a frame)."""
        write_entry(*self._composed(name), value)

    def save(self, blanks: tuple[Document, ...], labels: dict[str, str], duplex: bool,
             layout: Layout) -> None:
        if self.may_keep():
            key = self._key(blanks, labels, duplex)
            write_entry(self.base / f"{key}.pickle", key, layout)


def inputs_digest(root: Path, extra: list[Path]) -> str:
    """A hash of every file and folder a library is read from (see the module's docstring)."""
    digest = hashlib.sha256()
    for base in [root / name for name in _INPUT_DIRS] + extra:
        digest.update(f"\0base {base}\0".encode("utf-8", "surrogatepass"))
        for path in _walk(base, set()):
            digest.update(f"{path}\0{stat_key(path)}\0".encode("utf-8", "surrogatepass"))
            if path.is_file() and path.suffix.lower() not in _NOT_HASHED:
                digest.update(_content(path))
    return digest.hexdigest()


@lru_cache(maxsize=1)
def largest_input() -> int:
    """The largest file the library reads whole (fonts aside). A larger one is refused when it is
    loaded, so its size and times are key enough: hashing it could read gigabytes."""
    from .library.gather import MAX_TEMPLATE_BYTES
    from .library.logo import MAX_LOGO_BYTES
    from .load import MAX_BYTES

    return max(MAX_BYTES, MAX_TEMPLATE_BYTES, MAX_LOGO_BYTES)


def _content(path: Path) -> bytes:
    """The hash of a file's content; nothing for a file too large to be an input."""
    limit = largest_input()
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError:
        return b""  # unreadable: loading the library says so
    return b"" if len(data) > limit else hashlib.sha256(data).digest()


def _walk(base: Path, seen: set[Path]) -> Iterator[Path]:
    """Every path under `base` (following links, each real folder once), in a fixed order."""
    try:
        real = base.resolve()
        if real in seen or not base.is_dir():
            return
        seen.add(real)
        entries = sorted(base.iterdir())
    except OSError:
        return
    yield base
    for entry in entries:
        if entry.is_dir():
            yield from _walk(entry, seen)
        else:
            yield entry


