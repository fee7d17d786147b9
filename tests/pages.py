"""Reference page images of the shipped handouts, and how a page is compared with its reference.

Refresh the references after a deliberate change of content, branding or layout (then look at
the new images before committing them):

    python tests/pages.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageChops

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REFERENCES = HERE / "pages"
DPI = 30  # enough to see a moved block, a new page or a lost box; small enough to keep in git
TOLERANCE = 0.005  # the share of pixels that may differ by more than a shade


def render_pages(pdf: Path, folder: Path) -> list[Image.Image]:
    """Each page of a PDF as a greyscale image at DPI."""
    stem = folder / pdf.stem
    subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", "-png", str(pdf), str(stem)], check=True)
    pages = sorted(folder.glob(f"{pdf.stem}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return [Image.open(p).convert("L") for p in pages]


def difference(page: Image.Image, reference: Image.Image) -> float:
    """The share of pixels that differ by more than a shade (1.0 when the sizes differ)."""
    if page.size != reference.size:
        return 1.0
    diff = ImageChops.difference(page, reference).point(lambda v: 255 if v > 48 else 0)
    histogram = diff.histogram()
    return histogram[255] / (page.size[0] * page.size[1])


def build_shipped(out: Path) -> list[Path]:
    """Build every shipped handout (blank) into `out`; return the PDFs, sorted."""
    subprocess.run([sys.executable, str(REPO / "generate.py"), "all", "--force", "--out", str(out)],
                   cwd=REPO, check=True, capture_output=True)
    return sorted(out.rglob("*.pdf"))


def reference_name(pdf: Path, out: Path, number: int) -> str:
    """The reference image's file name for page `number` of a built PDF."""
    relative = pdf.relative_to(out).with_suffix("")
    return f"{relative.parent.name}--{relative.name}-{number}.png"


def refresh() -> None:
    """Write the reference images anew from the shipped library."""
    with tempfile.TemporaryDirectory() as tmp:
        out, images = Path(tmp) / "out", Path(tmp) / "images"
        images.mkdir()
        for old in REFERENCES.glob("*.png"):
            old.unlink()
        REFERENCES.mkdir(exist_ok=True)
        for pdf in build_shipped(out):
            for number, page in enumerate(render_pages(pdf, images), 1):
                page.save(REFERENCES / reference_name(pdf, out, number), optimize=True)
    print(f"Wrote {len(list(REFERENCES.glob('*.png')))} reference pages to {REFERENCES.relative_to(REPO)}/")


if __name__ == "__main__":
    refresh()
