"""reportlab_private.py reaches into reportlab's internals: they are checked against the versions tested."""

from __future__ import annotations

import reportlab
from reportlab.pdfbase import pdfdoc

from handoutgen import reportlab_private as private


def test_reportlab_is_a_tested_version() -> None:
    minor = ".".join(reportlab.Version.split(".")[:2])
    assert minor in private.TESTED_REPORTLAB, (
        f"reportlab {reportlab.Version} is not a version handoutgen was tested with "
        f"({', '.join(private.TESTED_REPORTLAB)}): check handoutgen/reportlab_private.py against it, "
        "then add it to TESTED_REPORTLAB and pyproject.toml")


def test_the_internals_relied_on_are_there() -> None:
    for name in ("pdfdocEnc", "PDFName", "PDFArray", "PDFIndirectObject", "NoEncryption",
                 "PDFStreamFilterZCompress", "PDFObject"):
        assert hasattr(pdfdoc, name), name
    assert pdfdoc.PDFIndirectObject.format is private._indirect_format


def test_syntax_fast_paths_write_reportlab_bytes() -> None:
    """The same bytes as reportlab's own formatting, for the shapes the fast paths take."""
    for text in ("Page1", "/Type /Page", "x" * 300, "caf\u00e9", "\u02d8\u02c7 accents", ""):
        assert private._pdfdoc_encode(text) == private._reportlab_encode(text)
    document = pdfdoc.PDFDocument()
    for sequence in ([1, 2.5, 3], list(range(37)), [0.1 * i for i in range(23)], [7], ["a", 1]):
        array = pdfdoc.PDFArray(sequence)
        assert private._array_format(array, document) == private._reportlab_array_format(array, document)
