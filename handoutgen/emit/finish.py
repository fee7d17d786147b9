"""Finish stage: what is done to a PDF once its pages are drawn, and to a finished PDF file.

- `finish`: the structure tree into the catalog with the other marks of a tagged PDF/UA-1
  document (MarkInfo, the language, XMP metadata with the PDF/UA claim, the viewer shows the
  title), the document information (title, author, subject, keywords), then the file written;
- `protect`: a finished PDF encrypted with a passcode, for email;
- `printable`: a finished PDF that opens the print dialog when a viewer shows it.

The last two rewrite the file with pypdf, imported only when they are called.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reportlab.pdfbase import pdfdoc
from reportlab.pdfgen.canvas import Canvas

from ..layout.tagging import escape, write_tree
from ..reportlab_private import set_catalog_entries, uncompressed_stream
from .fill import Filled

if TYPE_CHECKING:
    from pypdf import PdfWriter


def finish(filled: Filled) -> bytes:
    """Write the structure tree, catalog entries and document information; return the PDF."""
    canv, lay = filled.canv, filled.layout
    tree_root = write_tree(canv, lay.tree, len(lay.pages), filled.extra)
    meta = lay.meta
    _catalog(canv, tree_root, meta["title"], meta["lang"])
    canv.setTitle(meta["title"])
    canv.setAuthor(meta["author"])
    canv.setSubject(meta["subject"])
    canv.setCreator(meta["creator"])
    canv.setKeywords(meta["keywords"])
    canv.save()
    return filled.out.getvalue()


def _catalog(canv: Canvas, tree_root: Any, title: str, language: str) -> None:
    """The catalog entries of a tagged PDF/UA-1 document."""
    set_catalog_entries(canv, {
        "Lang": pdfdoc.PDFString(language), "StructTreeRoot": tree_root,
        "MarkInfo": pdfdoc.PDFDictionary({"Marked": "true"}), "Metadata": _xmp(title, language)})
    canv.setViewerPreference("DisplayDocTitle", "true")


XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" \
xmlns:pdfuaid="http://www.aiim.org/pdfua/ns/id/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
<dc:language><rdf:Bag><rdf:li>{language}</rdf:li></rdf:Bag></dc:language>
<dc:format>application/pdf</dc:format>
<pdf:Producer>handoutgen</pdf:Producer>
<pdfuaid:part>1</pdfuaid:part>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def _xmp(title: str, language: str) -> Any:
    """The XMP metadata stream: title, language and the PDF/UA-1 claim, uncompressed so that
    tools that do not inflate streams can read it."""
    content = XMP.format(title=escape(title), language=escape(language)).encode("utf-8")
    return uncompressed_stream({"Type": "Metadata", "Subtype": "XML"}, content)


def _rewritten(pdf: bytes, change: Callable[[PdfWriter], None]) -> bytes:
    """The PDF read and written again by pypdf, with `change` made to it in between."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def protect(pdf: bytes, passcode: str) -> bytes:
    """Encrypt a PDF with AES-256: it opens with the passcode, typed with its separators or without.

    A PDF has two passwords and a reader accepts either: the user password is the passcode
    without separators, the owner password the passcode as shown (or a random one when there
    is nothing to leave out). Nothing is restricted, so knowing the owner password gives no more.
    """
    from pypdf.constants import UserAccessPermissions
    from pypdf.generic import DictionaryObject, NameObject, NumberObject

    bare = "".join(passcode.replace("-", " ").split())  # passcodes of older versions used dashes

    def encrypt(writer: PdfWriter) -> None:
        # Every permission, so screen readers may extract the text (bit 10); AES-256 (revision 6)
        # is PDF 1.7 with Adobe's extension level 8.
        writer.encrypt(user_password=bare, owner_password=passcode if passcode != bare
                       else secrets.token_urlsafe(32), algorithm="AES-256",
                       permissions_flag=UserAccessPermissions.all())
        writer.pdf_header = b"%PDF-1.7"
        writer.root_object[NameObject("/Extensions")] = DictionaryObject({
            NameObject("/ADBE"): DictionaryObject({NameObject("/BaseVersion"): NameObject("/1.7"),
                                                   NameObject("/ExtensionLevel"): NumberObject(8)})})

    return _rewritten(pdf, encrypt)


def printable(pdf: bytes) -> bytes:
    """The PDF with an action that opens the print dialog when a viewer shows it."""
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    def print_on_open(writer: PdfWriter) -> None:
        script = "this.print({bUI: true, bSilent: false, bShrinkToFit: false});"
        action = DictionaryObject({NameObject("/S"): NameObject("/JavaScript"),
                                   NameObject("/JS"): TextStringObject(script)})
        writer.root_object[NameObject("/OpenAction")] = _indirect(writer, action)

    return _rewritten(pdf, print_on_open)


def _indirect(writer: PdfWriter, obj: Any) -> Any:
    """Add `obj` to the PDF as an indirect object and return the reference to it.

    pypdf-private (checked with pypdf 7.1): PdfWriter has no public way to add an object that
    no page refers to.
    """
    return writer._add_object(obj)
