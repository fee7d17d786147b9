"""Check clinic logos before use: type, size, and nothing in an SVG that reaches outside it."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

from ..errors import BrandingError, HandoutError
from ..load import failing, read_limited

MAX_LOGO_BYTES = 2 * 1024 * 1024
MAX_PIXELS = 4000
RASTER = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
_SVG_FORBIDDEN = {"image", "script", "foreignObject", "iframe", "video", "audio"}
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)

Finding = tuple[str, str]


def check_logo(path: Path) -> list[Finding]:
    """Return what is wrong with a logo file, as (problem, what is allowed) pairs."""
    suffix = path.suffix.lower()
    if suffix not in (*RASTER, ".svg"):
        return [(f"{path.name!r} is not a supported image", "a .png, .jpg or .svg file")]
    if not path.exists() and not path.is_symlink():
        return [(f"file {path.name!r} is missing", "a logo file inside the clinic folder")]
    try:
        data = read_limited(path, MAX_LOGO_BYTES, failing(BrandingError, "", 0, "logo"), "logo file",
                            noun="logo")
    except HandoutError as err:
        return [(p.message, p.allowed) for p in err.problems]
    return _check_svg(path, data) if suffix == ".svg" else _check_raster(path, data, RASTER[suffix])


def _check_raster(path: Path, data: bytes, expected: str) -> list[Finding]:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 million pixels and refuses from 179 million; both are logos
            # far beyond MAX_PIXELS, which the header alone tells.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, (width, height) = image.format, image.size
                if width <= MAX_PIXELS and height <= MAX_PIXELS:
                    image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return [(f"{path.name!r} has more than {Image.MAX_IMAGE_PIXELS} pixels",
                 f"at most {MAX_PIXELS}x{MAX_PIXELS}")]
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return [(f"{path.name!r} is not a readable image", f"a valid {expected} file")]
    if fmt != expected:
        return [(f"{path.name!r} holds {fmt} data", f"{expected} data to match its extension")]
    if width > MAX_PIXELS or height > MAX_PIXELS:
        return [(f"image is {width}x{height} pixels", f"at most {MAX_PIXELS}x{MAX_PIXELS}")]
    return []


def _check_svg(path: Path, data: bytes) -> list[Finding]:
    from xml.etree import ElementTree  # only when a library with an SVG logo is read

    if _DTD.search(data):
        return [("SVG declares a DOCTYPE or entities", "a plain SVG without DOCTYPE")]
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as err:
        return [(f"{path.name!r} is not valid SVG ({err})", "a well-formed SVG file")]
    if root.tag.rsplit("}", 1)[-1] != "svg":
        return [(f"{path.name!r} is not an SVG document", "an <svg> root element")]
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag in _SVG_FORBIDDEN:
            return [(f"SVG contains <{tag}>", "shapes, paths and text only")]
        for name, value in element.attrib.items():
            if name.rsplit("}", 1)[-1] == "href" and not value.startswith("#"):
                return [(f"SVG links to {value!r}", "links inside the SVG only (#id)")]
    return _check_drawable(path, data)


def _check_drawable(path: Path, data: bytes) -> list[Finding]:
    """Convert the SVG as the renderer will, so a logo it cannot draw fails here, not mid-batch."""
    from svglib.svglib import svg2rlg

    try:
        drawing = svg2rlg(io.BytesIO(data))
    # svglib fails on what it cannot parse with whatever error its code meets first (a ValueError
    # for a colon inside a style value, TypeError, IndexError, ...): any of them means "cannot draw".
    except Exception as err:
        return [(f"{path.name!r} cannot be drawn: svglib stops with {type(err).__name__}",
                 "SVG shapes, paths and text with plain style values")]
    if drawing is None or drawing.width <= 0 or drawing.height <= 0:
        return [(f"{path.name!r} cannot be drawn", "an SVG with a width and height")]
    return []
