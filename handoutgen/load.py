"""Read YAML safely: plain data only, with the line of every value kept for error messages."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .errors import ContentError, HandoutError, Problems
from .values import Value, frozen

MAX_BYTES = 256 * 1024
MAX_NODES = 20_000

Key = str | int
PathT = tuple[Key, ...]

if TYPE_CHECKING:
    import yaml

_TAG = "tag:yaml.org,2002:"
_SCALARS = {f"{_TAG}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")}
_ALLOWED_TAGS = _SCALARS | {f"{_TAG}seq", f"{_TAG}map"}


@lru_cache(maxsize=1)
def _yaml() -> tuple[Any, type, Any]:
    """PyYAML, its C loader when there is one, and a constructor for plain scalars.

    Imported on first use: a build that reuses a cached library never parses YAML.
    """
    import yaml

    return yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader), yaml.constructor.SafeConstructor()


def path_text(path: PathT) -> str:
    """Render a field path as `a.b[2].c`; the empty path is the whole document."""
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out or "(document)"


def display(path: Path) -> str:
    """Name a user's file relative to the working folder when it lies inside it.

    A link is named where it is, never by where it points.
    """
    try:
        return str((path.parent.resolve() / path.name).relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@frozen
class Loaded(Value):
    """A YAML file's data with the line of every field path."""

    file: str
    data: Any
    lines: dict[PathT, int]

    def line(self, path: PathT) -> int:
        """Find the line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return 1


Fail = Callable[[str, str], HandoutError]  # (what is wrong, what is allowed) -> the error to raise

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def failing(error: type[HandoutError], file: str, line: int, field: str) -> Fail:
    """Report a file's problems at one place: the file itself, or the setting that names it."""
    return lambda message, allowed: error.one(file, line, field, message, allowed)


@contextlib.contextmanager
def open_limited(path: Path, limit: int, fail: Fail, what: str, noun: str = "file", hint: str = "",
                 within: Path | None = None) -> Iterator[BinaryIO]:
    """Open a user's file for reading only when it is a regular file of at most `limit` bytes.

    Devices, pipes and folders are refused before a byte is read (/dev/zero never ends, a pipe
    blocks). With `within`, the file must really lie in that folder: a link to a file elsewhere
    (/etc/shadow) is refused without reading it.
    """
    if within is not None and not path.resolve().is_relative_to(within.resolve()):
        raise fail(f"{noun} is a link to a file outside {display(within)}",
                   f"a {what} inside {display(within)}, not a link out of it")
    try:
        # O_NONBLOCK: opening a pipe must not wait for a writer before it can be refused
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise fail(f"cannot read {noun}: {err.strerror}", f"a readable {what}") from err
    try:
        info = os.fstat(fd)  # of what was opened: the file cannot be swapped after the check
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "something else")
            raise fail(f"{noun} is {kind}, not a regular file", f"a regular {what}")
        if info.st_size > limit:
            raise fail(f"{noun} is {info.st_size} bytes", f"at most {limit} bytes{hint}")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        yield handle


def read_limited(path: Path, limit: int, fail: Fail, what: str, noun: str = "file", hint: str = "",
                 within: Path | None = None) -> bytes:
    """Read a regular file of at most `limit` bytes (see open_limited); never more, if it grows."""
    with open_limited(path, limit, fail, what, noun, hint, within) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise fail(f"{noun} is more than {limit} bytes", f"at most {limit} bytes{hint}")
    return data


def read_text(path: Path, limit: int, error: type[HandoutError], field: str, what: str,
              hint: str = "", within: Path | None = None) -> str:
    """Read a user's UTF-8 text file (a leading byte-order mark is dropped), refusing big ones."""
    raw = read_limited(path, limit, failing(error, display(path), 1, field), what, hint=hint,
                       within=within)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise error.one(display(path), 1, field, f"not UTF-8 text (byte {err.start})",
                        f"UTF-8 encoded {what}") from err


def load_yaml(path: Path, error: type[HandoutError] = ContentError) -> Loaded:
    """Load one YAML file of the library; reject links out of its folder, tags, anchors, aliases,
    duplicate keys and oversized input."""
    text = read_text(path, MAX_BYTES, error, "(document)", "YAML file", within=path.parent)
    return parse_yaml(text, display(path), error)


def parse_yaml(text: str, name: str, error: type[HandoutError] = ContentError) -> Loaded:
    """Parse YAML text that claims to come from `name`."""
    yaml, loader, _ = _yaml()
    problems = Problems()
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                mark = event.start_mark
                problems.add(name, mark.line + 1 if mark else 1, "(document)",
                             "anchors and aliases are not allowed", "write the value out in full")
        problems.raise_if_any(error)
        node = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        raise error.one(name, line, "(document)", f"invalid YAML: {err.problem or err}",
                        "see yaml.org for the syntax") from err
    except yaml.YAMLError as err:
        raise error.one(name, 1, "(document)", f"invalid YAML: {err}",
                        "see yaml.org for the syntax") from err
    if node is None:
        return Loaded(name, {}, {(): 1})
    walker = _Walker(name, problems)
    data = walker.value(node, ())
    problems.raise_if_any(error)
    return Loaded(name, data, walker.lines)


class _Walker:
    """Turn a composed node tree into plain Python values, recording each value's line."""

    def __init__(self, name: str, problems: Problems) -> None:
        self.name = name
        self.problems = problems
        self.lines: dict[PathT, int] = {}
        self.count = 0

    def value(self, node: yaml.Node, path: PathT) -> Any:
        yaml, _, constructor = _yaml()
        self.count += 1
        line = node.start_mark.line + 1
        self.lines.setdefault(path, line)
        if self.count > MAX_NODES:
            if self.count == MAX_NODES + 1:
                self.problems.add(self.name, line, path_text(path), "too many values",
                                  f"at most {MAX_NODES} per file")
            return None
        if node.tag not in _ALLOWED_TAGS:
            self.problems.add(self.name, line, path_text(path), f"tag {node.tag!r} is not allowed",
                              "plain text, numbers, true/false, lists and mappings")
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag in (f"{_TAG}str", f"{_TAG}timestamp"):
            return node.value
        return constructor.construct_object(node)

    def mapping(self, node: yaml.MappingNode, path: PathT) -> dict[str, Any]:
        yaml = _yaml()[0]
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != f"{_TAG}str":
                self.problems.add(self.name, line, path_text(path),
                                  f"key {getattr(key_node, 'value', '?')!r} is not plain text",
                                  "field names are plain words")
                continue
            key = key_node.value
            if key in out:
                self.problems.add(self.name, line, path_text((*path, key)), "duplicate key",
                                  "each field once per mapping")
                continue
            self.lines[(*path, key)] = line
            out[key] = self.value(value_node, (*path, key))
        return out
