"""Parse the block markup that templates produce into typed blocks, checking the vocabulary.

The markup is a small XML dialect: block elements (section, p, ul, checklist, ...) and four
inline tags (b, i, br, and span lang="..." for words in another language). Values arrive escaped
from the templates, so text is always literal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.parsers import expat

from ..errors import Problems, TemplateError
from ..library.styles import SIGNATURE_PARTS
from . import blocks as b

_SPACE = re.compile(r"[ \t\n\r\f]+")  # as HTML: a no-break space stays
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")  # as the library's languages: es, pt-BR
# Words in another language inside content text, as compose marked them (content.mark_spans)
_MARKED = re.compile("\ue200([a-zA-Z-]+)\ue201([^\ue202]*)\ue202")  # apart from opaque.py's markers


MAX_MARKUP = 2_000_000


@dataclass
class Node:
    """An element of the markup with the line it started on."""

    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Node | str] = field(default_factory=list)


def _tree(text: str, source: str) -> Node:
    if len(text) > MAX_MARKUP:
        raise TemplateError.one(source, 1, "(markup)", f"output is {len(text)} characters",
                                f"at most {MAX_MARKUP}")
    parser = expat.ParserCreate()
    root = Node("", {}, 0)
    stack = [root]

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = Node(tag, attrs, parser.CurrentLineNumber)
        stack[-1].children.append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        stack[-1].children.append(data)

    def no_entities(*_args: object) -> None:
        raise ValueError("entity declarations are not allowed")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.EntityDeclHandler = no_entities
    try:
        parser.Parse(text, True)
    except (expat.ExpatError, ValueError) as err:
        line = getattr(err, "lineno", parser.CurrentLineNumber)
        # expat's own message quotes a place in the rendered output, not in the user's template
        what = expat.ErrorString(err.code) if isinstance(err, expat.ExpatError) else str(err)
        raise TemplateError.one(source, line, "(markup)", f"malformed block markup: {what}",
                                "well-formed XML of the block vocabulary") from err
    top = [c for c in root.children if isinstance(c, Node)]
    return top[0]


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems = Problems()

    def fail(self, node: Node, path: str, message: str, allowed: str) -> None:
        self.problems.add(self.source, node.line, path, message, allowed)

    def attr(self, node: Node, path: str, name: str, choices: tuple[str, ...] = (),
             default: str | None = None) -> str:
        value = node.attrs.get(name, default)
        if value is not None:  # an attribute is plain text: words in another language stay words
            value = _MARKED.sub("\\2", value)
        if value is None:
            self.fail(node, path, f"<{node.tag}> needs the attribute {name!r}", f"{name}=\"...\"")
            return ""
        if choices and value not in choices:
            self.fail(node, f"{path}@{name}", f"{value!r} is not allowed",
                      "expected one of: " + ", ".join(choices))
        return value

    def number(self, node: Node, path: str, name: str, default: str, low: float,
               high: float) -> float:
        raw = self.attr(node, path, name, default=default)
        try:
            value = float(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            self.fail(node, f"{path}@{name}", f"{raw!r} is not allowed", f"a number {low:g} to {high:g}")
            return low
        return value

    def blocks(self, node: Node, path: str) -> tuple[b.Block, ...]:
        out: list[b.Block] = []
        counts: dict[str, int] = {}
        for child in node.children:
            if isinstance(child, str):
                if child.strip():
                    self.fail(node, path, f"text {child.strip()[:30]!r} outside a block",
                              "put text inside <p>, <li> or another block")
                continue
            counts[child.tag] = counts.get(child.tag, 0) + 1
            sub = f"{path}.{child.tag}[{counts[child.tag]}]"
            handler = _BLOCKS.get(child.tag)
            if handler is None:
                self.fail(child, sub, f"unknown block <{child.tag}>",
                          "expected one of: " + ", ".join(_BLOCKS))
                continue
            block = handler(self, child, sub)
            if block is not None:
                out.append(block)
        return tuple(out)

    def inline(self, node: Node, path: str) -> b.Inline:
        runs: list[b.Run] = []
        self._runs(node, path, (False, False, ""), runs)
        return _tidy(runs)

    def _runs(self, node: Node, path: str, style: tuple[bool, bool, str], runs: list[b.Run]) -> None:
        bold, italic, language = style
        for child in node.children:
            if isinstance(child, str):
                pieces = _MARKED.split(child)  # text, then (language, words, text) for each span
                runs.append((pieces[0], bold, italic, language))
                for at in range(1, len(pieces), 3):
                    runs += [(pieces[at + 1], bold, italic, pieces[at]),
                             (pieces[at + 2], bold, italic, language)]
            elif child.tag == "br":
                runs.append(("\n", False, False, ""))
            elif child.tag in ("b", "i"):
                self._runs(child, path, (bold or child.tag == "b", italic or child.tag == "i", language),
                           runs)
            elif child.tag == "span":
                code = self.attr(child, path, "lang")
                if code and not LANGUAGE.match(code):
                    self.fail(child, f"{path}@lang", f"{code!r} is not a language code",
                              "a code such as es or pt-BR")
                self._runs(child, path, (bold, italic, code), runs)
            else:
                self.fail(child, path, f"<{child.tag}> is not allowed in text",
                          "inline tags: b, i, br, span lang=\"...\"")

    def items(self, node: Node, path: str, tag: str) -> list[Node]:
        found: list[Node] = []
        for child in node.children:
            if isinstance(child, Node) and child.tag == tag:
                found.append(child)
            elif isinstance(child, Node) or child.strip():
                what = f"<{child.tag}>" if isinstance(child, Node) else "text"
                self.fail(node, path, f"{what} inside <{node.tag}>", f"only <{tag}> elements")
        return found


def _tidy(runs: list[b.Run]) -> b.Inline:
    """Collapse whitespace as HTML does and merge neighbouring runs of the same style."""
    out: list[b.Run] = []
    for text, bold, italic, language in runs:
        if text != "\n":
            text = _SPACE.sub(" ", text)
        if out and out[-1][1:] == (bold, italic, language) and "\n" not in (text, out[-1][0]):
            out[-1] = (out[-1][0] + text, bold, italic, language)
        else:
            out.append((text, bold, italic, language))
    if out:
        out[0] = (out[0][0].lstrip(" "), *out[0][1:])
        out[-1] = (out[-1][0].rstrip(" "), *out[-1][1:])
    return tuple(r for r in out if r[0])


def _plain(inline: b.Inline) -> str:
    return "".join(run[0] for run in inline)


def _section(p: _Parser, n: Node, path: str) -> b.Block:
    return b.Section(p.attr(n, path, "title"), p.blocks(n, path))


def _heading(p: _Parser, n: Node, path: str) -> b.Block:
    return b.Heading(p.inline(n, path))


def _paragraph(p: _Parser, n: Node, path: str) -> b.Block:
    style = p.attr(n, path, "style", ("body", "lead", "small"), "body")
    return b.Paragraph(p.inline(n, path), style)  # type: ignore[arg-type]


def _bullets(p: _Parser, n: Node, path: str) -> b.Block:
    return b.Bullets(tuple(p.inline(li, path) for li in p.items(n, path, "li")), n.tag == "ol")


def _checklist(p: _Parser, n: Node, path: str) -> b.Block:
    mark = p.attr(n, path, "mark", ("box", "do", "dont"), "box")
    return b.Checklist(tuple(p.inline(i, path) for i in p.items(n, path, "item")), mark)  # type: ignore[arg-type]


def _yesno(p: _Parser, n: Node, path: str) -> b.Block:
    answers = (p.attr(n, path, "yes"), p.attr(n, path, "no"))
    return b.YesNo(tuple(p.inline(i, path) for i in p.items(n, path, "item")), answers)


def _table(p: _Parser, n: Node, path: str) -> b.Block:
    header = p.attr(n, path, "header", ("yes", "no"), "yes") == "yes"
    rows = tuple(tuple(p.inline(c, path) for c in p.items(r, path, "cell"))
                 for r in p.items(n, path, "row"))
    if len({len(r) for r in rows}) > 1:
        p.fail(n, path, "rows have different numbers of cells", "the same number in every row")
    return b.Table(rows, header)


def _fields(p: _Parser, n: Node, path: str) -> b.Block:
    columns = int(p.number(n, path, "columns", "2", 1, 3))
    items = tuple(b.Field(p.attr(f, path, "label"), _plain(p.inline(f, path)))
                  for f in p.items(n, path, "field"))
    return b.Fields(items, columns)


def _lines(p: _Parser, n: Node, path: str) -> b.Block:
    return b.Lines(int(p.number(n, path, "count", "3", 1, 30)))


def _initials(p: _Parser, n: Node, path: str) -> b.Block:
    items = tuple(b.InitialItem(p.inline(Node("", {}, i.line, [p.attr(i, path, "title")]), path),
                                p.inline(i, path)) for i in p.items(n, path, "item"))
    return b.Initials(items, p.attr(n, path, "box-label", default="Initials"))


def _signature(p: _Parser, n: Node, path: str) -> b.Block:
    labels = tuple(p.attr(n, path, key) for key in SIGNATURE_PARTS)
    return b.Signature(p.attr(n, path, "role"), n.attrs.get("name", ""), labels)  # type: ignore[arg-type]


def _qr(p: _Parser, n: Node, path: str) -> b.Block | None:
    data = p.attr(n, path, "data", default="")
    return b.Qr(data, p.attr(n, path, "caption", default="")) if data else None


def _spacer(p: _Parser, n: Node, path: str) -> b.Block:
    return b.Spacer(p.number(n, path, "size", "6", 0, 200))


def _pagebreak(_p: _Parser, _n: Node, _path: str) -> b.Block:
    return b.PageBreak()


def _callout(p: _Parser, n: Node, path: str) -> b.Block:
    tone = p.attr(n, path, "tone", ("info", "warning"), "info")
    return b.Callout(p.attr(n, path, "title", default=""), p.blocks(n, path), tone)  # type: ignore[arg-type]


def _keep(p: _Parser, n: Node, path: str) -> b.Block:
    return b.Keep(p.blocks(n, path))


_BLOCKS: dict[str, Callable[[_Parser, Node, str], b.Block | None]] = {
    "section": _section, "h": _heading, "p": _paragraph, "ul": _bullets, "ol": _bullets,
    "checklist": _checklist, "yesno": _yesno, "table": _table, "fields": _fields, "lines": _lines,
    "initials": _initials, "signature": _signature, "qr": _qr, "spacer": _spacer,
    "pagebreak": _pagebreak, "callout": _callout, "keep": _keep,
}


def parse(text: str, source: str) -> tuple[b.Block, ...]:
    """Parse a template's output; every vocabulary problem is reported at once."""
    root = _tree(text, source)
    parser = _Parser(source)
    if root.tag != "document":
        parser.fail(root, root.tag, f"root element is <{root.tag}>", "<document>")
    result = parser.blocks(root, "document")
    parser.problems.raise_if_any(TemplateError)
    return result
