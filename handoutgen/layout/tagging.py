"""Tagged PDF (PDF/UA-1): marked content in the page code, and the structure tree it belongs to.

While a layout is recorded, each piece of real content is drawn inside a marked-content
sequence (`/P <</MCID 3>> BDC ... EMC`) and the piece is remembered on its structure element
(`Node`) as (page, MCID). Decoration (headers, footers, rules, cell backgrounds) is drawn as
an Artifact. The nodes are plain data, kept with the layout; `write_tree` turns them into the
PDF's StructTreeRoot and ParentTree each time a layout is filled in, and the finish stage
(emit/finish.py) puts the tree in the catalog with the other marks of a tagged PDF.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from reportlab.pdfbase import pdfdoc
from reportlab.pdfgen.canvas import Canvas

from ..reportlab_private import (
    RawObject,
    add_object,
    add_page_entries,
    add_raw_objects,
    numbered,
    numbering,
    object_number,
    page_code,
    pdf_document,
    text_object_code,
)

MCR = tuple[int, int]  # a piece of content: (page index, marked-content id on that page)


@dataclass(eq=False, repr=False)  # compared and printed as itself, not field by field
class Node:
    """A structure element: its type, attributes and children, in reading order.

    Children are nodes, or pieces of content recorded when they are drawn. A node with a
    `slot` holds a patient value that a filled-in layout may draw in; without a value it is
    left out of the tree.
    """

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)  # Alt, ActualText, Lang, Scope, ListNumbering
    kids: list[Node | MCR] = field(default_factory=list)
    slot: int | None = None

    def add(self, tag: str, slot: int | None = None, **attrs: str) -> Node:
        """Append a child element and return it."""
        child = Node(tag, dict(attrs), slot=slot)
        self.kids.append(child)
        return child


def begin(canv: Canvas, node: Node | None) -> None:
    """Open a marked-content sequence for `node` (an Artifact when there is none, or the
    content was already drawn once, as a table header repeated on the next page)."""
    mcids = getattr(canv, "mcids", None)
    if node is None or mcids is None:
        page_code(canv).append("/Artifact <</Type /Layout>> BDC")
        return
    page = len(canv.pages)
    node.kids.append((page, mcids))
    page_code(canv).append(f"/{node.tag} <</MCID {mcids}>> BDC")
    canv.mcids = mcids + 1


def end(canv: Canvas) -> None:
    """Close the innermost marked-content sequence."""
    page_code(canv).append("EMC")


def artifact(canv: Canvas, kind: str = "Layout", subtype: str = "") -> None:
    """Open an Artifact: Layout (rules, boxes), or Pagination with a Header or Footer subtype."""
    extra = f" /Subtype /{subtype}" if subtype else ""
    page_code(canv).append(f"/Artifact <</Type /{kind}{extra}>> BDC")


class Marked:
    """Mixin for flowables drawn as one piece of content of `node` (None: as an Artifact)."""

    node: Node | None = None
    _drawn = False

    def drawOn(self, canvas: Canvas, x: float, y: float, _sW: float = 0) -> None:
        node = None if self._drawn else self.node  # drawn again (a repeated header): decoration
        self._drawn = True
        begin(canvas, node)
        super().drawOn(canvas, x, y, _sW)  # type: ignore[misc]
        end(canvas)


LANGUAGE_MARK = "language"  # the paragraph callback marking where words in another language start and end
_SWITCH = re.compile("\x00([a-zA-Z-]*)\x00")  # left in a text object by mark_language
_SHOWS = re.compile(r"\bT[jJ]\b|(?:^|\s)['\"](?:\s|$)")  # text-showing operators


def mark_language(canv: Canvas, _kind: str, label: str) -> None:
    """Note in the text object being drawn where words in language `label` start ("-": end)."""
    text_object_code(canv).append(f"\x00{'' if label == '-' else label}\x00")


def split_languages(canv: Canvas, start: int, node: Node | None) -> None:
    """Give the words in another language that a paragraph drew (since `page_code(canv)[start]`) a Span
    element with its own /Lang, below the paragraph's element `node`.

    The paragraph's one marked-content sequence becomes one for each run of words, inside its text
    object: a marked-content sequence never crosses BT or ET, nor holds another with an MCID.
    """
    code = page_code(canv)
    marked = [i for i in range(start, len(code)) if "\x00" in code[i]]
    if not marked:
        return
    last = node.kids[-1] if node is not None and node.kids else None
    page, mcids = len(canv.pages), getattr(canv, "mcids", None)
    opening = f"/{node.tag} <</MCID {last[1]}>> BDC" if isinstance(last, tuple) and node else ""
    if node is None or not isinstance(last, tuple) or last[0] != page or mcids != last[1] + 1 \
            or opening not in code[start:]:
        for i in marked:  # drawn as decoration (a repeated table header): nothing to split
            code[i] = _SWITCH.sub("", code[i])
        return
    first = code.index(opening, start)
    closing = max(i for i in range(first, len(code)) if code[i] == "EMC")
    node.kids.pop()
    canv.mcids = last[1]
    del code[closing], code[first]
    open_runs: dict[int, str] = canv.__dict__.setdefault("open_languages", {})
    language = open_runs.pop(id(node), "")  # a paragraph split over pages, in a run of words
    for i in range(first, closing - 1):
        if "\x00" not in code[i]:
            continue
        head, tail = code[i].index("BT") + 2, code[i].rindex("ET")
        pieces = _SWITCH.split(code[i][head:tail])
        owner = node.add("Span", Lang=language) if language else node
        out: list[str] = []
        for n, piece in enumerate(pieces):
            if n % 2:
                language = piece
                owner = node.add("Span", Lang=language) if language else node
            elif _SHOWS.search(piece):
                owner.kids.append((page, canv.mcids))
                out.append(f"/{owner.tag} <</MCID {canv.mcids}>> BDC {piece} EMC")
                canv.mcids += 1
            else:
                out.append(piece)
        code[i] = code[i][:head] + " " + " ".join(out) + " " + code[i][tail:]
    if language:
        open_runs[id(node)] = language


def _has_content(node: Node, extra: dict[int, MCR]) -> bool:
    if node.slot is not None and node.slot in extra:
        return True
    return any(isinstance(k, tuple) or _has_content(k, extra) for k in node.kids)


def _pieces(node: Node, extra: dict[int, MCR]) -> Iterator[Node | MCR]:
    yield from node.kids
    if node.slot is not None and node.slot in extra:
        yield extra[node.slot]


class _Writer:
    """Writes structure elements as indirect objects of one PDF."""

    def __init__(self, canv: Canvas, pages: int, extra: dict[int, MCR]) -> None:
        self.doc = pdf_document(canv)
        self.extra = extra
        self.pages = [self.number(f"Page{n + 1}") for n in range(pages)]
        self.parents: list[dict[int, bytes]] = [{} for _ in range(pages)]
        self.made: list[RawObject] = []

    def number(self, name: str) -> bytes:
        return b"%d 0 R" % object_number(self.doc, name)

    @property
    def objects(self) -> list[bytes]:
        """The bytes of the objects made, in the order they were numbered."""
        return [raw.data for raw in self.made]

    def new(self) -> tuple[RawObject, bytes]:
        """A new indirect object, and the reference to it."""
        raw = RawObject()
        self.made.append(raw)
        return raw, b"%d 0 R" % add_object(self.doc, raw)

    def element(self, node: Node, parent: bytes) -> bytes:
        raw, ref = self.new()
        parts = [b"<< /S /" + node.tag.encode() + b" /P " + parent]
        kids: list[bytes] = []
        first_page: int | None = None
        for kid in _pieces(node, self.extra):
            if isinstance(kid, Node):
                if _has_content(kid, self.extra):
                    kids.append(self.element(kid, ref))
                continue
            page, mcid = kid
            self.parents[page][mcid] = ref
            if first_page is None:
                first_page = page
                parts.append(b" /Pg " + self.pages[page])
            kids.append(b"%d" % mcid if page == first_page else
                        b"<< /Type /MCR /Pg " + self.pages[page] + b" /MCID %d >>" % mcid)
        for key in ("Alt", "ActualText", "Lang"):
            if key in node.attrs:
                parts.append(b" /" + key.encode() + b" " + pdfdoc.PDFString(node.attrs[key]).format(self.doc))
        if "Scope" in node.attrs:
            parts.append(b" /A << /O /Table /Scope /" + node.attrs["Scope"].encode() + b" >>")
        if "ListNumbering" in node.attrs:
            parts.append(b" /A << /O /List /ListNumbering /" + node.attrs["ListNumbering"].encode() + b" >>")
        parts.append(b" /K " + (kids[0] if len(kids) == 1 else b"[" + b" ".join(kids) + b"]") + b" >>")
        raw.data = b"".join(parts)
        return ref

    def parent_tree(self) -> bytes:
        """The number tree from each page's marked-content ids to their elements."""
        nums: list[bytes] = []
        for page, found in enumerate(self.parents):
            raw, ref = self.new()
            raw.data = b"[" + b" ".join(found.get(mcid, b"null")
                                        for mcid in range(max(found, default=-1) + 1)) + b"]"
            nums += [b"%d" % page, ref]
        raw, ref = self.new()
        raw.data = b"<< /Nums [" + b" ".join(nums) + b"] >>"
        return ref


WRITTEN_ENTRIES = 16  # trees kept as bytes: a few layouts, each with its filled-in fields
_written: dict[tuple[Any, ...], tuple[Node, list[bytes]]] = {}


def write_tree(canv: Canvas, root: Node, pages: int, extra: dict[int, MCR]) -> Any:
    """Write the structure tree of `root`, and each page's key into its parent tree; return the
    StructTreeRoot object (for the catalog).

    `extra` gives the content of slot nodes drawn in when the layout was filled. Call after the
    last page.
    """
    doc = pdf_document(canv)
    # Every patient's copy of a layout has the same tree, with the same object numbers, unless
    # other fields are filled in: it is written once and its bytes reused.
    objects, page_count = numbering(doc)
    key = (id(root), tuple(sorted(extra.items())), objects, page_count)
    found = _written.get(key)
    if found is None or found[0] is not root:
        writer = _Writer(canv, pages, extra)
        tree_root, root_ref = writer.new()
        top = writer.element(root, root_ref)
        tree_root.data = (b"<< /Type /StructTreeRoot /K " + top + b" /ParentTree "
                          + writer.parent_tree() + b" /ParentTreeNextKey %d >>" % pages)
        _written[key] = (root, writer.objects)
        if len(_written) > WRITTEN_ENTRIES:
            del _written[next(iter(_written))]
    else:
        add_raw_objects(doc, found[1])
        tree_root = numbered(doc, objects + 1)
    # Tabs: the order of the structure is the order a keyboard moves in.
    add_page_entries(doc, [{"StructParents": number, "Tabs": pdfdoc.PDFName("S")}
                           for number in range(pages)])
    return tree_root


def escape(text: str) -> str:
    """Escape text for XML and for reportlab's paragraph markup: data never becomes markup.

    (xml.sax.saxutils.escape does the same, but importing it pulls in urllib and http.)
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
