"""handoutgen: printable patient handouts from structured content and clinic branding."""

from __future__ import annotations

import importlib.util
import sys

__version__ = "0.1.0"


def _defer_pillow() -> None:
    """Load Pillow's Image module when it is first used, not when reportlab starts.

    reportlab imports it at start-up, and a `build` from a kept layout never reads an image:
    loading it cost about a tenth of such a build. Any use of it loads it as usual.
    """
    if "PIL.Image" in sys.modules:
        return
    spec = importlib.util.find_spec("PIL.Image")
    if spec is None or spec.loader is None:
        return  # reportlab says what is missing when it starts
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["PIL.Image"] = module
    setattr(sys.modules["PIL"], "Image", module)  # noqa: B010 (as an import would)
    loader.exec_module(module)


_defer_pillow()
