"""Equality, hashing and printing for the project's frozen dataclasses, written once.

`@dataclass` writes `__eq__`, `__hash__` and `__repr__` as Python source and compiles them for
each class when its module is imported: with about 75 classes, that was 8 % of the
instructions of a cold `build`. A frozen dataclass declared with `eq=False, repr=False` that
inherits from `Value` gets these three instead. They compare, hash and print by the same fields
in the same way as the generated ones (a field with compare=False is left out of equality and
hashing, one with repr=False out of printing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any

_COMPARED: dict[type, Callable[[Any], tuple[Any, ...]]] = {}
_SHOWN: dict[type, tuple[str, ...]] = {}


def _compared(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    """A function giving an instance's compared fields as a tuple, in order (made once a class)."""
    found = _COMPARED.get(cls)
    if found is None:
        names = [f.name for f in dataclasses.fields(cls) if f.compare]
        if len(names) == 1:
            only = attrgetter(names[0])
            found = lambda value: (only(value),)  # noqa: E731
        else:
            found = attrgetter(*names) if names else lambda value: ()
        _COMPARED[cls] = found
    return found


def _shown(cls: type) -> tuple[str, ...]:
    found = _SHOWN.get(cls)
    if found is None:
        found = _SHOWN[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.repr)
    return found


class Value:
    """A frozen dataclass compared, hashed and printed by its fields."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        fields = _compared(self.__class__)
        return fields(self) == fields(other)

    def __hash__(self) -> int:
        return hash(_compared(self.__class__)(self))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _shown(self.__class__))
        return f"{self.__class__.__qualname__}({shown})"
