"""values.py gives @frozen classes what @dataclass(frozen=True) would: the same equality, hash,
printing and refusal to change, without compiling those methods for each class."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import FrozenInstanceError, dataclass, field

import pytest

from handoutgen.compose.blocks import Heading
from handoutgen.library.gather import Library
from handoutgen.values import Frozen, Value, frozen


@frozen
class Point(Value):
    x: int
    y: tuple[str, ...] = ()
    note: dict[str, str] = field(default_factory=dict, compare=False)
    hidden: str = field(default="", repr=False)


@dataclass(frozen=True)
class Generated:  # the same fields, with the methods @dataclass writes
    x: int
    y: tuple[str, ...] = ()
    note: dict[str, str] = field(default_factory=dict, compare=False)
    hidden: str = field(default="", repr=False)


@frozen
class Handle(Frozen):
    name: str


PAIRS = [((1, ("a",)), (1, ("a",))), ((1, ("a",)), (2, ("a",))), ((1, ()), (1, ("b",)))]


@pytest.mark.parametrize(("left", "right"), PAIRS)
def test_equality_and_hash_as_a_frozen_dataclass_gives(left: tuple[int, tuple[str, ...]],
                                                       right: tuple[int, tuple[str, ...]]) -> None:
    ours = Point(*left, note={"k": "v"}), Point(*right, note={"other": "w"})
    theirs = Generated(*left, note={"k": "v"}), Generated(*right, note={"other": "w"})
    assert (ours[0] == ours[1]) == (theirs[0] == theirs[1])
    assert hash(ours[0]) == hash(theirs[0])  # both hash the tuple of compared fields
    assert (ours[0] != 1) is True and ours[0].__eq__(theirs[0]) is NotImplemented


def test_printed_as_a_frozen_dataclass_prints() -> None:
    ours = repr(Point(3, ("a", "b"), {"k": "v"}, "secret"))
    theirs = repr(Generated(3, ("a", "b"), {"k": "v"}, "secret"))
    assert ours == theirs.replace("Generated", "Point") == "Point(x=3, y=('a', 'b'), note={'k': 'v'})"


def test_a_field_cannot_be_changed_or_deleted() -> None:
    point, handle = Point(1), Handle("lib")
    for obj, name in ((point, "x"), (point, "y"), (handle, "name")):
        with pytest.raises(FrozenInstanceError):
            setattr(obj, name, 2)
        with pytest.raises(FrozenInstanceError):
            delattr(obj, name)
    assert (point.x, handle.name) == (1, "lib")


def test_replace_and_pickle_make_new_objects_that_are_still_frozen() -> None:
    point = dataclasses.replace(Point(1, ("a",)), x=5)
    again: Point = pickle.loads(pickle.dumps(point))
    assert again == point == Point(5, ("a",)) and again is not point
    with pytest.raises(FrozenInstanceError):
        again.x = 6  # type: ignore[misc]  # type checkers see @frozen classes as frozen too


def test_identity_classes_compare_as_themselves() -> None:
    assert Handle("a") != Handle("a") and len({Handle("a"), Handle("a")}) == 2
    assert Library.__eq__ is object.__eq__ and issubclass(Library, Frozen)
    assert issubclass(Heading, Value) and dataclasses.is_dataclass(Heading)


def test_the_package_declares_frozen_classes_with_frozen() -> None:
    # errors.Problem keeps @dataclass(frozen=True, order=True): problems are sorted
    from conftest import REPO

    found = [f"{path.relative_to(REPO)}:{number}" for path in sorted((REPO / "handoutgen").rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if line.startswith("@dataclass(frozen=True") and "order=True" not in line]
    assert found == []
