"""Frozen dataclasses whose equality, hashing, printing and immutability are written once.

For each frozen dataclass, `@dataclass` writes `__eq__`, `__hash__`, `__repr__`, `__setattr__`
and `__delattr__` as Python source and compiles them when its module is imported: with about
a hundred classes that was a quarter of the instructions of a cold `build`. A class declared
with `@frozen` gets only its `__init__` written; the rest comes from these bases:

- `Frozen`: a field is set once, by `__init__`; assigning or deleting one later raises
  dataclasses.FrozenInstanceError. Compared and hashed as itself (for objects such as the
  Library, which caches key by identity).
- `Value`: also compared, hashed and printed by its fields, as `@dataclass(frozen=True)` does (a
  field with compare=False is left out of equality and hashing, one with repr=False out of
  printing).

Type checkers see `@frozen` classes as frozen dataclasses (`dataclass_transform`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

_COMPARED: dict[type, Callable[[Any], tuple[Any, ...]]] = {}
_SHOWN: dict[type, tuple[str, ...]] = {}


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(cls: type[T]) -> type[T]:
    """Make `cls` (a Frozen or Value subclass) a dataclass with only its `__init__` generated."""
    return dataclasses.dataclass(eq=False, repr=False)(cls)


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


class Frozen:
    """An object whose fields are set once, by its `__init__`."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


class Value(Frozen):
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
