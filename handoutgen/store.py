"""The cache folder and its entries: pickled values kept between processes, written atomically.

An entry is (FORMAT, key, value). One that cannot be read, is damaged or holds another key
reads as missing and is made again; one that cannot be written is skipped. With
HANDOUTGEN_CACHE=off nothing is read or kept. What is kept, and under which keys, is in cache.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .output import write_atomic
from .program import program_digest

FORMAT = 5  # raise when what is pickled changes shape


MAX_ENTRIES = 200  # per kind of entry; the oldest half goes when there are more


def folder() -> Path | None:
    """The cache folder, or None when caching is off or there is no usable folder."""
    if os.environ.get("HANDOUTGEN_CACHE", "").lower() in ("off", "0", "no"):
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "handoutgen"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return base if os.access(base, os.W_OK | os.X_OK) else None


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def stat_key(path: Path) -> tuple[int, ...]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, st.st_mode


def remembered(parts: tuple[Any, ...], path: Path, make: Callable[[], Any]) -> Any:
    """A value made from the file at `path` (and `parts`), kept until the file or program changes."""
    base = folder()
    if base is None:
        return make()
    key = digest(repr(("file", FORMAT, program_digest(), parts, str(path), stat_key(path))))
    entry = base / "files" / f"{key}.pickle"
    found = read_entry(entry, key)
    if found is None:
        found = make()
        write_entry(entry, key, found)
    return found


def read_entry(path: Path, key: str) -> Any:
    """An entry's value, or None when it is missing, unreadable, damaged or for another key."""
    try:
        with path.open("rb") as handle:
            stored = pickle.load(handle)
    except Exception:  # any damage at all means "not cached"
        return None
    if not (isinstance(stored, tuple) and len(stored) == 3 and stored[:2] == (FORMAT, key)):
        return None
    return stored[2]


def write_entry(path: Path, key: str, value: Any) -> None:
    """Store an entry atomically (temporary name, then rename); never fail the build."""
    try:
        data = pickle.dumps((FORMAT, key, value), protocol=pickle.HIGHEST_PROTOCOL)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, data, mode=0o600)
    except Exception:  # an object that cannot be pickled, or no room: just do not keep it
        return
    _prune(path.parent)


def _prune(where: Path) -> None:
    with contextlib.suppress(OSError):
        entries = list(where.glob("*.pickle"))
        if len(entries) > MAX_ENTRIES:
            entries.sort(key=lambda p: p.stat().st_mtime_ns)
            for old in entries[:len(entries) // 2]:
                with contextlib.suppress(OSError):
                    old.unlink()
