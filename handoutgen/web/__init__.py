"""The front-desk web page: one patient's handouts (preview, print, download, email) and batches.

`create_app` builds the Flask application around a library loaded once; `make_server` serves
it with waitress. Start it with `python generate.py serve`.
"""

from __future__ import annotations

from .app import create_app, make_server
from .config import Settings

__all__ = ["Settings", "create_app", "make_server"]
