"""Compose a template once for many patients: patient values as opaque markers.

A batch renders the same template for thousands of patients, and most templates only print
patient values where they belong. Rendering it once with each value replaced by an `Opaque`
marker gives a document that every patient's copy can be filled in from, without running the
template again. It is sound because a marker allows nothing but being printed (escaped) and
being tested for emptiness: any other use (a filter, a comparison, its length, a method) stops
the rendering, and that template is always rendered with the real values instead. What the
template does with emptiness is part of the key, and so is everything else it is given.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .blocks import Block

if TYPE_CHECKING:
    from markupsafe import Markup

_START = "\ue000"  # private-use code points: never drawn, never in content that passes check
_BASE = 0xE100
_MARKER = re.compile("\ue000([\ue100-\ue1ff])\ue000")
# what the block parser would change or refuse: controls and spaces it collapses, code points
# XML cannot hold, and the markers' own
_NOT_PLAIN = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ue000-\ue1ff\ufffe\uffff]|  |^ | $")
MEMO_ENTRIES = 64  # composed documents kept: clinics x treatments x kinds x languages in a run

Blocks = tuple[Block, ...]


class NotOpaque(Exception):
    """A template used a patient value for more than printing it."""


class Opaque:
    """A patient value the template may print (escaped) or test for emptiness, nothing else."""

    __slots__ = ("_filled", "_marker")

    def __init__(self, index: int, filled: bool) -> None:
        self._marker = _START + chr(_BASE + index) + _START
        self._filled = filled

    def __html__(self) -> Markup:
        from markupsafe import Markup  # Jinja2's: only when a template prints the marker

        return Markup(self._marker)

    def __bool__(self) -> bool:
        return self._filled

    def __deepcopy__(self, memo: dict[int, Any]) -> Opaque:
        return self

    def __getattr__(self, name: str) -> Any:
        raise NotOpaque(name)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise NotOpaque()

    # what `object` would otherwise answer; every other operation is a TypeError already
    __str__ = __repr__ = __format__ = __eq__ = __ne__ = __hash__ = _refuse


def plain(value: str) -> bool:
    """True for a value the block parser keeps exactly as it is."""
    return not _NOT_PLAIN.search(value)


class Kept(Protocol):
    """Somewhere to keep what is composed without patient values between processes (cache.py):
    documents composed with markers, and documents' frames (compose.frame)."""

    def composed(self, name: str) -> Any:
        ...

    def keep_composed(self, name: str, value: Any) -> None:
        ...


class Memo:
    """Documents composed with markers, by everything their rendering depended on."""

    def __init__(self) -> None:
        self._found: OrderedDict[Any, tuple[Blocks, frozenset[int]] | None] = OrderedDict()
        self._lock = threading.Lock()  # the web page composes from several threads

    def blocks(self, key: tuple[Any, str], values: Mapping[str, str],
               render: Callable[[Mapping[str, Any]], Blocks], kept: Kept | None = None) -> Blocks:
        """The blocks for these values: filled in from the marked rendering, or rendered.

        `key` is what the rendering depends on besides the values: a key for this process and
        a name for `kept`, which holds marked documents between processes.
        """
        if not all(plain(v) for v in values.values()):
            return render(values)
        names = tuple(values)
        pattern = (names, tuple(bool(v) for v in values.values()))
        with self._lock:
            known = (key, pattern) in self._found
            found = self._found.get((key, pattern))
            if known:
                self._found.move_to_end((key, pattern))
        if not known:
            name = repr((key[1], pattern))
            stored: Blocks | None = kept.composed(name) if kept is not None else None
            if stored is not None:  # made both ways and compared when it was kept
                found = _with_marks(stored)
                self._remember((key, pattern), found)
                return _fill(found[0], found[1], tuple(values.values()))  # type: ignore[no-any-return]
            marked = _marked(render, names, values)
            real = render(values)
            # The first patient's copy is made both ways: a template the markers do not
            # describe (one the parser changes a value in) is rendered every time.
            if marked is not None and _fill(marked[0], marked[1], tuple(values.values())) != real:
                marked = None
            self._remember((key, pattern), marked)
            if marked is not None and kept is not None:
                kept.keep_composed(name, marked[0])
            return real
        if found is None:
            return render(values)
        filled: Blocks = _fill(found[0], found[1], tuple(values.values()))
        return filled

    def _remember(self, key: Any, found: tuple[Blocks, frozenset[int]] | None) -> None:
        with self._lock:
            self._found[key] = found
            if len(self._found) > MEMO_ENTRIES:
                self._found.popitem(last=False)


def _with_marks(blocks: Blocks) -> tuple[Blocks, frozenset[int]]:
    marked: set[int] = set()
    _find(blocks, marked)
    return blocks, frozenset(marked)


def _marked(render: Callable[[Mapping[str, Any]], Blocks], names: tuple[str, ...],
            values: Mapping[str, str]) -> tuple[Blocks, frozenset[int]] | None:
    """Render with markers; None when the template does more with a value than print it."""
    try:
        blocks = render({n: Opaque(i, bool(values[n])) for i, n in enumerate(names)})
    except Exception:  # any failure: the real rendering reports it
        return None
    return _with_marks(blocks)


def _find(node: Any, marked: set[int]) -> bool:
    """Record the id of every node that holds a marker; True when `node` does."""
    if isinstance(node, str):
        return _START in node
    if isinstance(node, tuple):
        kids = node
    elif dataclasses.is_dataclass(node):
        kids = tuple(getattr(node, f.name) for f in dataclasses.fields(node))
    else:
        return False
    found = False
    for kid in kids:
        found = _find(kid, marked) or found
    if found:
        marked.add(id(node))
    return found


def _fill(node: Any, marked: frozenset[int], values: tuple[str, ...]) -> Any:
    """A copy of `node` with each marker replaced by its value; unmarked parts are shared."""
    if isinstance(node, str):
        return _MARKER.sub(lambda m: values[ord(m.group(1)) - _BASE], node) if _START in node else node
    if id(node) not in marked:
        return node
    if isinstance(node, tuple):
        return tuple(_fill(kid, marked, values) for kid in node)
    return dataclasses.replace(node, **{f.name: _fill(getattr(node, f.name), marked, values)
                                        for f in dataclasses.fields(node) if f.init})
