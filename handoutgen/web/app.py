"""The Flask application: pages, forms and files. See the package docstring."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, render_template, request, session
from waitress.server import create_server
from werkzeug.exceptions import HTTPException

from ..library.gather import Library
from . import batches, handouts, security, sending, state
from .config import Settings

log = logging.getLogger(__name__)
CONNECTIONS = 200  # open connections the server takes at once
IDLE_SECONDS = 30  # a connection with nothing to do is closed after this long
HEADER_SECONDS = 10  # a request's headers must arrive within this long


def create_app(settings: Settings, library: Library) -> Flask:
    """The web app around a library that is already loaded and checked: sign-in (security.py),
    handouts, batches and email, each a blueprint."""
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_upload_bytes, MAX_FORM_MEMORY_SIZE=64 * 1024)
    token = security.install(app, settings)
    state.install(app, settings, library, token)
    for blueprint in (handouts.blueprint, batches.blueprint, sending.blueprint):
        app.register_blueprint(blueprint)
    app.add_url_rule("/health", "health", health)
    app.context_processor(common)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, bug)
    return app


def health() -> Response:
    return jsonify(status="ok")


def common() -> dict[str, Any]:
    """What every page's template sees."""
    settings = state.settings()
    return {"signed_in": bool(session.get("signed_in")), "protected": settings.password is not None,
            "several_clinics": len(state.clinics()) > 1, "theme": state.page_theme(settings.clinic)}


def http_error(err: HTTPException) -> tuple[str, int]:
    return render_template("error.html", theme=state.page_theme(state.settings().clinic), code=err.code,
                           title=err.name, message=err.description), err.code or 500


def bug(err: Exception) -> tuple[str, int]:
    # The message of an unexpected error may hold patient values: log where it happened only.
    log.error("internal error in %s %s: %s\n%s", request.method, request.url_rule, type(err).__name__,
              "".join(traceback.format_tb(err.__traceback__)))
    return render_template("error.html", theme=state.page_theme(state.settings().clinic), code=500,
                           title="Something went wrong",
                           message="The page could not do that. Nothing was sent or kept. Please "
                                   "try again; if it happens again, tell whoever looks after "
                                   "this computer (the details are in the server's window)."), 500


def close_slow_headers(server: Any) -> None:
    """Close connections whose request headers take longer than HEADER_SECONDS to arrive.

    A connection that sends a header line now and then counts as active, so the idle timeout never
    ends it, and a hundred of them would hold every connection the server takes."""
    started: dict[int, tuple[object, float]] = {}  # connection: the request being read, since when
    maintenance = server.maintenance

    def with_header_deadline(now: float) -> None:
        maintenance(now)
        seen: dict[int, tuple[object, float]] = {}
        for key, channel in list(server.active_channels.items()):
            request = channel.request
            if request is None or request.headers_finished:
                continue
            before = started.get(key)
            since = before[1] if before is not None and before[0] is request else now
            seen[key] = (request, since)
            if now - since > HEADER_SECONDS:
                channel.will_close = True
        started.clear()
        started.update(seen)

    server.maintenance = with_header_deadline


def make_server(settings: Settings, library: Library, port: int) -> tuple[Any, Callable[[], None]]:
    """A waitress server for the app (port 0 picks a free one), and a function that stops it."""
    app = create_app(settings, library)
    state = app.extensions["handoutgen"]
    if settings.warm:
        threading.Thread(target=state["engine"].warm, name="handoutgen-warm", daemon=True).start()
    stopping = threading.Event()

    def reap() -> None:  # batches nobody comes back for are deleted on time, not at the next visit
        while not stopping.wait(60):
            state["jobs"].reap()

    threading.Thread(target=reap, name="handoutgen-reap", daemon=True).start()
    # Proxy headers are passed to the app (never trusted for anything): it refuses proxied requests
    # when no password is set (security.py).
    server = create_server(app, host=settings.host, port=port, threads=4, ident="handoutgen",
                           max_request_body_size=4 * settings.max_upload_bytes,
                           clear_untrusted_proxy_headers=False, connection_limit=CONNECTIONS,
                           channel_timeout=IDLE_SECONDS, cleanup_interval=1)
    close_slow_headers(server)

    def stop() -> None:
        stopping.set()
        server.close()
        state["jobs"].close()

    return server, stop

