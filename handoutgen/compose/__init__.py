"""Compose: a template (Jinja2, sandboxed) renders the content and patient values as block markup,
parsed into typed blocks (blocks.py). A kind whose template only prints values is rendered once,
with markers (opaque.py)."""
