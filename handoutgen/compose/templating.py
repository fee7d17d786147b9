"""Templates: find a layout in the lookup order and render it in the sandbox, with error lines.

Jinja2 runs sandboxed with autoescape on and StrictUndefined, so every value reaches the block
markup escaped, and a misspelt name is an error rather than an empty space. The sandbox also
limits sizes and time (see sandbox.py), and templates are read only from inside their folders.
Imported only when a template is rendered: a cold build whose document is already composed
(see opaque.py) never loads Jinja2.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from types import FrameType
from typing import Any

import jinja2
from jinja2.loaders import split_template_path

from ..errors import TemplateError
from ..library.gather import MAX_TEMPLATE_BYTES
from ..load import display, read_text
from . import sandbox


class _UndefinedAt(jinja2.UndefinedError):
    """An undefined name, with the template file and line where it was looked up."""

    def __init__(self, message: str, origin: tuple[str, int] | None) -> None:
        super().__init__(message)
        self.origin = origin


class _Undefined(jinja2.StrictUndefined):
    """StrictUndefined that remembers where the missing name was used, for the error line."""

    __slots__ = ("_origin",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and "__jinja_template__" not in frame.f_globals:
            frame = frame.f_back
        self._origin: tuple[str, int] | None = None
        if frame is not None:
            template = frame.f_globals["__jinja_template__"]
            self._origin = (template.filename or template.name,
                            template.get_corresponding_lineno(frame.f_lineno))

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        try:
            super()._fail_with_undefined_error(*args, **kwargs)
        except jinja2.UndefinedError as err:
            raise _UndefinedAt(str(err.message), self._origin) from None

    __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = __contains__ = (
        _fail_with_undefined_error)
    __getattr__ = jinja2.StrictUndefined.__getattr__


@lru_cache(maxsize=64)
def environment(dirs: tuple[Path, ...]) -> jinja2.Environment:
    """Build the one Jinja2 environment used for a template lookup order."""
    env = sandbox.LimitedSandbox(
        loader=_ConfinedLoader([str(d) for d in dirs if d.is_dir()]),
        bytecode_cache=_bytecode_cache(),
        autoescape=lambda name: name is None or not name.endswith(".txt.j2"),  # plain text: email
        undefined=_Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    return env


class _ConfinedLoader(jinja2.FileSystemLoader):
    """Templates only from inside their lookup folders: regular files of limited size, no links
    out of the folder (a template linked to /etc/shadow is refused, never read)."""

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)
        for folder in self.searchpath:
            path = Path(folder, *pieces)
            if path.exists() or path.is_symlink():
                text = read_text(path, MAX_TEMPLATE_BYTES, TemplateError, "(template)", "template file",
                                 within=Path(folder))
                return text, str(path), lambda: True  # auto_reload is off
        raise jinja2.TemplateNotFound(template)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Keep compiled templates between runs (keyed by source checksum), when a cache folder works."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "handoutgen" / "jinja"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _QuietCache(str(base)) if os.access(base, os.W_OK) else None


class _QuietCache(jinja2.FileSystemBytecodeCache):
    """A bytecode cache is only a speed-up: failing to read or write it must never fail a build."""

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        # The sandbox's limits are compiled into the code: code cached before them has none.
        return super().get_cache_key(f"limited-sandbox-2|{name}", filename)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError):
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def render_template(dirs: tuple[Path, ...], names: tuple[str, ...],
                    context: dict[str, Any]) -> tuple[jinja2.Template, str]:
    """Render the first of `names` found in the lookup order; problems point at template lines."""
    env = environment(dirs)
    try:
        template = env.select_template(list(names))
        return template, _render(template, context)
    except sandbox.LimitExceeded as err:
        raise TemplateError.one(*_error_place(err, dirs, names[0]), "(template)", err.message or "",
                                err.allowed) from err
    except RecursionError as err:
        raise TemplateError.one(*_error_place(err, dirs, names[0]), "(template)",
                                "macros or loops call themselves too deeply",
                                "recursion that ends within a few hundred levels") from err
    except jinja2.TemplateNotFound as err:
        raise TemplateError.one(display(dirs[-1] / names[0]), 1, "(template)", "template is missing",
                                f"create {names[0]} in templates/") from err
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError.one(display(Path(err.filename or names[0])), err.lineno or 1, "(template)",
                                f"syntax error: {err.message}", "Jinja2 syntax") from err
    except jinja2.UndefinedError as err:
        origin = getattr(err, "origin", None)
        place: tuple[str, int] = (display(Path(origin[0])), origin[1]) if origin \
            else _error_place(err, dirs, names[0])
        raise TemplateError.one(*place, "(template)",
                                f"undefined value: {_named(err.message or '')}",
                                "names listed under Layouts in docs/designers.md") from err
    except jinja2.TemplateError as err:
        raise TemplateError.one(*_error_place(err, dirs, names[0]), "(template)",
                                f"template failed: {err}",
                                "Jinja2 templates over the documented data") from err


def _render(template: jinja2.Template, context: dict[str, Any]) -> str:
    """Render within the time budget and output limit (sandbox.LIMITS)."""
    limits = sandbox.LIMITS
    out: list[str] = []
    size = 0
    with sandbox.rendering(limits) as budget:
        pieces = template.generate(context)
        for piece in pieces:
            size += len(piece)
            if size > limits.output:
                inner = getattr(pieces, "gi_yieldfrom", None)  # the template's own code
                line = template.get_corresponding_lineno(inner.gi_frame.f_lineno) if inner else 1
                raise TemplateError.one(display(Path(template.filename or template.name or "")), line,
                                        "(template)", f"output is more than {limits.output} characters",
                                        f"at most {limits.output} characters per document")
            budget.tick()
            out.append(piece)
    return "".join(out)


def in_template_lines(err: TemplateError, template: jinja2.Template, context: dict[str, Any],
                       source_file: str) -> TemplateError:
    """Re-point markup problems from lines of the rendered output to lines of the template.

    Rendering again chunk by chunk tells which template line wrote each output line. It only
    happens when there is an error to report.
    """
    origin: list[int] = []
    generator: Any = template.root_render_func(template.new_context(context))
    with sandbox.rendering(sandbox.LIMITS):
        for chunk in generator:
            line = template.get_corresponding_lineno(generator.gi_frame.f_lineno)
            if not origin:
                origin.append(line)
            origin.extend(line + k for k in range(1, chunk.count("\n") + 1))
    return TemplateError([
        dataclasses.replace(p, line=origin[min(p.line, len(origin)) - 1])
        if p.file == source_file and origin else p for p in err.problems])


def _error_place(err: Exception, dirs: tuple[Path, ...], name: str) -> tuple[str, int]:
    """The template file and line an exception was raised from: the innermost template frame."""
    place = (name, 1)
    tb = err.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            place = (display(Path(filename)), tb.tb_lineno)
        tb = tb.tb_next
    if place[0] == name:
        for folder in dirs:
            if (folder / name).is_file():
                return display(folder / name), 1
    return place


_PYTHON_OBJECT = re.compile(r"'(?:\w+\.)+(\w+) object'")


def _named(message: str) -> str:
    """Jinja2's message with the model's name ('Aftercare') in place of its Python path and type."""
    return _PYTHON_OBJECT.sub(r"'\1'", message)
