"""Declarative schemas: dataclasses whose fields carry a doc line and constraints.

`convert(Model, loaded)` turns loaded YAML into typed, frozen models and collects every
problem (missing, unknown, wrong type, not allowed) with the file and line it came from.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from ..errors import Problems
from ..load import Key, Loaded, PathT, path_text

T = TypeVar("T")

MAX_TEXT = 2000
_hints_cache: dict[type, dict[str, Any]] = {}


def spec(
    doc: str,
    *,
    default: Any = dataclasses.MISSING,
    pattern: str | None = None,
    pattern_doc: str = "",
    max_len: int = MAX_TEXT,
    min_items: int = 0,
    max_items: int = 200,
    min_value: float | None = None,
    max_value: float | None = None,
    compare: bool = True,
) -> Any:
    """Declare a schema field: what it is, its default and its limits.

    `compare=False` leaves a field out of equality and hashing (needed for a mapping field of a
    model that is used as a cache key).
    """
    meta = {
        "doc": doc,
        "pattern": re.compile(pattern) if pattern else None,
        "pattern_doc": pattern_doc,
        "max_len": max_len,
        "min_items": min_items,
        "max_items": max_items,
        "min_value": min_value,
        "max_value": max_value,
    }
    if isinstance(default, list | dict):

        def factory(d: Any = default) -> Any:
            return type(d)(d)

        return dataclasses.field(default_factory=factory, metadata=meta, compare=compare)
    return dataclasses.field(default=default, metadata=meta, compare=compare)


ID: dict[str, Any] = {
    "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$",
    "pattern_doc": "lower-case letters, digits and dashes",
    "max_len": 40,
}
DATE: dict[str, Any] = {
    "pattern": r"^\d{4}-\d{2}-\d{2}$",
    "pattern_doc": "a date as YYYY-MM-DD",
    "max_len": 10,
}


def _hints(model: type) -> dict[str, Any]:
    hints = _hints_cache.get(model)
    if hints is None:
        hints = typing.get_type_hints(model)
        _hints_cache[model] = hints
    return hints


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if tp is str:
        return "text"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if origin is tuple:
        return "a list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is Literal:
        return "one of: " + ", ".join(str(a) for a in get_args(tp))
    return "a value"


def _got_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing"


class Converter:
    """Walks loaded data against a model, collecting problems instead of stopping."""

    def __init__(self, loaded: Loaded, problems: Problems) -> None:
        self.loaded = loaded
        self.problems = problems

    def fail(self, path: PathT, message: str, allowed: str) -> None:
        self.problems.add(self.loaded.file, self.loaded.line(path), path_text(path), message, allowed)

    def model(self, model: type[T], value: Any, path: PathT) -> T | None:
        if not isinstance(value, dict):
            self.fail(
                path,
                f"expected a mapping, got {_got_name(value)}",
                "fields: " + ", ".join(f.name for f in dataclasses.fields(model)),  # type: ignore[arg-type]
            )
            return None
        hints = _hints(model)
        fields = {f.name: f for f in dataclasses.fields(model)}  # type: ignore[arg-type]
        ok = True
        for key in value:
            if key not in fields:
                self.fail((*path, key), "unknown field", "allowed: " + ", ".join(fields))
                ok = False
        kwargs: dict[str, Any] = {}
        for name, fld in fields.items():
            if name not in value:
                missing = fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING
                if missing:
                    self.fail(path, f"missing field '{name}'", fld.metadata.get("doc", "required"))
                    ok = False
                continue
            converted = self.value(hints[name], value[name], (*path, name), fld.metadata)
            if converted is BAD:
                ok = False
            else:
                kwargs[name] = converted
        if not ok:
            return None
        instance = model(**kwargs)
        check = getattr(instance, "check", None)
        if check is not None:
            for sub, message, allowed in check():
                self.fail((*path, *sub), message, allowed)
                ok = False
        return instance if ok else None

    def value(self, tp: Any, value: Any, path: PathT, meta: typing.Mapping[str, Any]) -> Any:
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            options = [a for a in get_args(tp) if a is not type(None)]
            if value is None:
                return None
            return self.value(options[0], value, path, meta)
        if dataclasses.is_dataclass(tp):
            result = self.model(tp, value, path)  # type: ignore[arg-type]
            return BAD if result is None else result
        if origin is tuple:
            return self.items(get_args(tp)[0], value, path, meta)
        if origin is dict:
            return self.mapping(get_args(tp)[1], value, path, meta)
        if origin is Literal:
            allowed = get_args(tp)
            if value not in allowed:
                self.fail(
                    path,
                    f"{value!r} is not allowed",
                    "expected one of: " + ", ".join(str(a) for a in allowed),
                )
                return BAD
            return value
        return self.scalar(tp, value, path, meta)

    def scalar(self, tp: Any, value: Any, path: PathT, meta: typing.Mapping[str, Any]) -> Any:
        good = (isinstance(value, tp) and not (tp is not bool and isinstance(value, bool))) or (
            tp is float and isinstance(value, int) and not isinstance(value, bool)
        )
        if not good:
            doc = meta.get("doc", "")
            self.fail(path, f"expected {_type_name(tp)}, got {_got_name(value)}", doc or _type_name(tp))
            return BAD
        if tp is str:
            return self.text(value, path, meta)
        low = meta.get("min_value")
        high = meta.get("max_value")
        if tp is not bool and ((low is not None and value < low) or (high is not None and value > high)):
            self.fail(path, f"{value} is out of range", f"{low if low is not None else 'any'} to "
                      f"{high if high is not None else 'any'}")
            return BAD
        return value

    def text(self, value: str, path: PathT, meta: typing.Mapping[str, Any]) -> Any:
        value = value.strip()
        limit = meta.get("max_len", MAX_TEXT)
        if not value:
            self.fail(path, "is empty", meta.get("doc") or "some text")
            return BAD
        if len(value) > limit:
            self.fail(path, f"text is {len(value)} characters long", f"at most {limit}")
            return BAD
        pattern = meta.get("pattern")
        if pattern is not None and not pattern.match(value):
            self.fail(path, f"{value!r} is not allowed", meta.get("pattern_doc", pattern.pattern))
            return BAD
        return value

    def items(self, tp: Any, value: Any, path: PathT, meta: typing.Mapping[str, Any]) -> Any:
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {_got_name(value)}", meta.get("doc", "a list"))
            return BAD
        low, high = meta.get("min_items", 0), meta.get("max_items", 200)
        if not low <= len(value) <= high:
            self.fail(path, f"has {len(value)} items", f"{low} to {high} items")
            return BAD
        out = [self.value(tp, item, (*path, i), meta) for i, item in enumerate(value)]
        return BAD if any(item is BAD for item in out) else tuple(out)

    def mapping(self, tp: Any, value: Any, path: PathT, meta: typing.Mapping[str, Any]) -> Any:
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {_got_name(value)}", meta.get("doc", "a mapping"))
            return BAD
        out: dict[Key, Any] = {key: self.value(tp, item, (*path, key), meta) for key, item in value.items()}
        return BAD if any(item is BAD for item in out.values()) else out


BAD = object()


def convert(model: type[T], loaded: Loaded, problems: Problems, base: PathT = ()) -> T | None:
    """Validate `loaded.data` against `model`, adding every problem found to `problems`."""
    value = loaded.data
    for key in base:
        value = value[key]
    return Converter(loaded, problems).model(model, value, base)
