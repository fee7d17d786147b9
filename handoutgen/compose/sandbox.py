"""The Jinja2 sandbox layouts run in, with limits: a hostile or careless template ends in an error
line instead of exhausting memory or running forever.

Jinja2's own sandbox stops templates reaching Python internals; this one also bounds what they
make. Every value a call, filter or operator produces is at most `Limits.value` characters or
items, and the operations that make a value much larger than their operands ('x' * n, 10 ** n,
'x'.ljust(n), sep.join(list), s.replace(a, b), format widths) are refused before they run. The
output is at most `Limits.output` characters, and every call, attribute, operator, loop step and
piece of output counts against the render's time budget.
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Iterator, Sized
from contextvars import ContextVar
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from ..values import Value, frozen


@frozen
class Limits(Value):
    """How much one render may make and how long it may take."""

    output: int = 1_000_000  # characters of output (a long handout is about 10,000)
    value: int = 1_000_000  # characters or items of any one value a template makes
    range: int = 100_000  # numbers in one range()
    bits: int = 256  # size of any whole number a template computes
    seconds: float = 10.0  # time for one render
    clock: Callable[[], float] = time.monotonic


LIMITS = Limits()


class LimitExceeded(SecurityError):
    """Raised inside a render when a template goes beyond its limits."""

    def __init__(self, message: str, allowed: str) -> None:
        super().__init__(message)
        self.allowed = allowed


class Budget:
    """One render's limits and deadline."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = limits.clock() + limits.seconds
        self.steps = 0

    def step(self) -> None:
        """Count one loop step; look at the clock every few hundred."""
        self.steps += 1
        if not self.steps % 256:
            self.tick()

    def tick(self) -> None:
        """Stop the render once its time is up."""
        if self.limits.clock() > self.deadline:
            raise LimitExceeded(f"rendering takes more than {self.limits.seconds:g} s",
                                f"templates that finish within {self.limits.seconds:g} s")

    def size(self, count: int) -> None:
        """Refuse a value of `count` characters or items before it is made."""
        if count > self.limits.value:
            raise LimitExceeded(f"a value of {count} characters or items is too large",
                                f"at most {self.limits.value} characters or items in one value")

    def number(self, bits: int) -> None:
        """Refuse a whole number of `bits` bits before it is computed."""
        if bits > self.limits.bits:
            raise LimitExceeded(f"a number of about {bits} bits is too large",
                                f"whole numbers of at most {self.limits.bits} bits")

    def checked(self, value: Any) -> Any:
        """Pass a value on after checking its size (and any number in it)."""
        if isinstance(value, Sized) and not isinstance(value, jinja2.Undefined):
            self.size(len(value))
        elif isinstance(value, int):
            self.number(value.bit_length())
        return value

    def arguments(self, values: Any, widths: bool) -> None:
        """Check call arguments' sizes; with `widths`, numbers are widths or counts of a result."""
        for value in values:
            self.checked(value)
            numbers = value.values() if isinstance(value, dict) else (value,)  # format_map's too
            for number in numbers if widths else ():
                if isinstance(number, int) and not isinstance(number, bool):
                    self.size(abs(number))


_BUDGET: ContextVar[Budget | None] = ContextVar("handoutgen_template_budget", default=None)


def budget() -> Budget:
    """The running render's budget (a fresh one with the default limits outside a render)."""
    return _BUDGET.get() or Budget(LIMITS)


@contextlib.contextmanager
def rendering(limits: Limits) -> Iterator[Budget]:
    """Give the renders inside this block one budget."""
    token = _BUDGET.set(Budget(limits))
    try:
        yield budget()
    finally:
        _BUDGET.reset(token)


_FIELD = re.compile(r"\{[^{}]*\}")  # str.format: {0:>20}
_NESTED = re.compile(r"\{[^{}]*\{")  # a field whose width is another field: {0:{1}}
_PRINTF = re.compile(r"%[-+ #0]*(\d*)(?:\.(\d*))?")  # printf style: %-20.5s


def _widths(text: str, printf: bool) -> None:
    """A format string's widths and precisions are sizes of what it makes: refuse huge ones."""
    found = ([n for m in _PRINTF.finditer(text) for n in m.groups() if n] if printf
             else [n for m in _FIELD.finditer(text) for n in re.findall(r"\d+", m.group())])
    for number in found:
        budget().size(int(number))


def _predict(method: str, text: str, args: tuple[Any, ...]) -> int | None:
    """The length a string method will return, where it can be far more than its inputs."""
    if method == "join" and args and isinstance(args[0], list | tuple):
        parts = args[0]
        return sum(len(p) for p in parts if isinstance(p, str)) + len(text) * len(parts)
    if method == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = text.count(args[0]) if args[0] else len(text) + 1
        return len(text) + count * max(len(args[1]) - len(args[0]), 0)
    if method == "expandtabs" and args and isinstance(args[0], int):
        return len(text) * max(args[0], 1)
    return None


def _range(*args: int) -> range:
    """range() for templates: at most Limits.range numbers."""
    spent = budget()
    numbers = range(*args)
    if len(numbers) > spent.limits.range:
        raise LimitExceeded(f"range of {len(numbers)} numbers is too long",
                            f"at most {spent.limits.range} numbers in a range")
    return numbers  # every loop counts its steps (see LimitedSandbox._parse)


def _steps(values: Any) -> Any:
    """A loop's items, each counted against the render's time budget."""
    if isinstance(values, jinja2.Undefined):
        return values  # the loop reports the undefined name itself
    return _stepping(values, budget())


def _stepping(values: Any, spent: Budget) -> Iterator[Any]:
    for value in values:
        spent.step()
        yield value


class _Namespace(Namespace):
    """namespace() whose attributes are size-checked when set (they keep values across a loop)."""

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, budget().checked(value))


def _guarded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks the time, its arguments and its result like a call."""
    skip = 1 if getattr(func, "jinja_pass_arg", None) else 0  # the context or environment

    @functools.wraps(func)  # keeps Jinja2's pass_context / pass_environment marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        spent = budget()
        spent.tick()
        value, rest = (args[skip], args[skip + 1:]) if len(args) > skip else (None, ())
        spent.arguments((*rest, *kwargs.values()), widths=True)
        if name == "format" and isinstance(value, str):
            _widths(value, printf=True)
        elif name == "replace" and isinstance(value, str):
            spent.size(_predict("replace", value, rest) or 0)
        elif name == "join" and isinstance(value, list | tuple):
            spent.size(_predict("join", str(rest[0]) if rest else "", (value,)) or 0)
        elif name == "indent" and isinstance(value, str) and rest:
            width = len(rest[0]) if isinstance(rest[0], str) else rest[0]
            if isinstance(width, int):
                spent.size(len(value) + abs(width) * (value.count("\n") + 1))
        return spent.checked(func(*args, **kwargs))

    return guarded


_STEPS = "_steps"  # the filter every loop's items pass through


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with limits on sizes, numbers and time."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals.update(range=_range, namespace=_Namespace)
        self.globals.pop("lipsum", None)  # makes text of any size; layouts have no use for it
        self.filters = {name: _guarded(name, f) for name, f in self.filters.items()}
        self.filters[_STEPS] = _steps

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Jinja2 compiles a for loop to a plain Python loop that no sandbox hook sees, so a loop
        # over a long text inside another would run for hours: every loop's items go through
        # _steps, which counts them against the time budget.
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _STEPS, [], [], None, None, lineno=loop.iter.lineno)
        return tree

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        spent = budget()
        spent.tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, Sized) and isinstance(times, int):
                    spent.size(len(seq) * max(times, 0))
        elif operator == "+" and isinstance(left, Sized) and isinstance(right, Sized):
            spent.size(len(left) + len(right))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            spent.number(max(abs(left).bit_length() - 1, 0) * right)
        elif operator == "%" and isinstance(left, str):
            _widths(left, printf=True)
            if "*" in left:  # '%*s' takes its width from the arguments
                spent.arguments(right if isinstance(right, tuple) else (right,), widths=True)
        return spent.checked(super().call_binop(context, operator, left, right))

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        spent = budget()
        spent.tick()
        method = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner = getattr(method, "__self__", None)  # a bound method's object
        name = getattr(method, "__name__", "")
        if isinstance(owner, str):
            # Numbers given to str methods are widths and counts ('x'.ljust(n)), except for
            # format, which takes them from its arguments only in a nested field ('{:{}}').
            widths = name not in ("format", "format_map") or bool(_NESTED.search(owner))
            spent.arguments((*args, *kwargs.values()), widths=widths)
            predicted = _predict(name, owner, args)
            if predicted is not None:
                spent.size(predicted)
        else:
            spent.arguments((*args, *kwargs.values()), widths=False)
        return spent.checked(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        budget().tick()
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            _widths(obj, printf=False)
        return super().getattr(obj, attribute)
