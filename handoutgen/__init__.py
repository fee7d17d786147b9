"""handoutgen: printable patient handouts from structured content and clinic branding."""

from __future__ import annotations

__version__ = "0.1.0"
