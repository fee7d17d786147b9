"""Check clinic logos before use: type, size, and nothing in an SVG that reaches outside it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

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
    if not path.is_file():
        return [(f"file {path.name!r} is missing", "a logo file inside the clinic folder")]
    size = path.stat().st_size
    if size > MAX_LOGO_BYTES:
        return [(f"logo is {size} bytes", f"at most {MAX_LOGO_BYTES} bytes")]
    return _check_svg(path) if suffix == ".svg" else _check_raster(path, RASTER[suffix])


def _check_raster(path: Path, expected: str) -> list[Finding]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            fmt, (width, height) = image.format, image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return [(f"{path.name!r} is not a readable image", f"a valid {expected} file")]
    if fmt != expected:
        return [(f"{path.name!r} holds {fmt} data", f"{expected} data to match its extension")]
    if width > MAX_PIXELS or height > MAX_PIXELS:
        return [(f"image is {width}x{height} pixels", f"at most {MAX_PIXELS}x{MAX_PIXELS}")]
    return []


def _check_svg(path: Path) -> list[Finding]:
    data = path.read_bytes()
    if _DTD.search(data):
        return [("SVG declares a DOCTYPE or entities", "a plain SVG without DOCTYPE")]
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
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
    return []
