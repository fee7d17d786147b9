"""Who may use the page: the host check, sign-in, idle sessions, CSRF tokens and response headers.

Sessions are Flask's signed cookies (HttpOnly, SameSite=Strict) holding only a CSRF token, the
sign-in flag and the time of the last request: never patient data. The signing key is made
anew at every start, so a restart signs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, Response, abort, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from ..branding import is_loopback
from .config import Settings

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")
OPEN_ENDPOINTS = ("login", "static", "health", "logo", "theme_css")  # no patient data
MAX_FAILURES = 5  # wrong passwords in a row before sign-in pauses
PAUSE_SECONDS = 60
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'")


class Throttle:
    """Slows down guessing: after MAX_FAILURES wrong passwords, sign-in pauses for a minute."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failures = 0
        self.until = 0.0

    def paused(self) -> float:
        """Seconds until sign-in is allowed again (0 when it is)."""
        with self.lock:
            return max(0.0, self.until - time.monotonic())

    def record(self, ok: bool) -> None:
        with self.lock:
            if ok:
                self.failures = 0
                return
            self.failures += 1
            if self.failures >= MAX_FAILURES:
                self.failures = 0
                self.until = time.monotonic() + PAUSE_SECONDS


def csrf_token() -> str:
    """The session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(hashlib.sha256(a.encode()).digest(), hashlib.sha256(b.encode()).digest())


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an address elsewhere (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


def install(app: Flask, settings: Settings) -> None:
    """Add the checks every request passes and the headers every response carries."""
    app.secret_key = secrets.token_bytes(32)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_NAME="handoutgen_session",
                      PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.session_minutes),
                      SESSION_REFRESH_EACH_REQUEST=True)
    throttle = Throttle()
    local_only = is_loopback(settings.host)
    idle = settings.session_minutes * 60

    @app.before_request
    def guard() -> BaseResponse | None:
        # A page bound to 127.0.0.1 answers only to local names: a web site that rebinds its
        # own name to 127.0.0.1 cannot read the page from a browser on this computer.
        hostname = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        if local_only and hostname not in LOOPBACK_NAMES:
            abort(400, "This page answers only at 127.0.0.1 or localhost.")
        now = time.time()
        seen = session.get("seen")
        if isinstance(seen, (int, float)) and now - seen > idle:
            session.clear()
            session["expired"] = True
        session.permanent = True
        session["seen"] = now
        csrf_token()
        if settings.password is not None and not session.get("signed_in") \
                and request.endpoint not in OPEN_ENDPOINTS:
            if request.method == "GET":
                return redirect(url_for("login", next=request.path))
            abort(401, "Please sign in again: your session has ended.")
        if request.method == "POST" and request.endpoint != "static":
            sent = request.form.get("csrf_token", "")
            if not sent or not _same(sent, csrf_token()):
                abort(400, "This form has expired or did not come from this page. Go back, reload "
                           "the page and try again.")
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if request.endpoint != "static" and not request.path.endswith(("/logo", "/theme.css")):
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        return response

    @app.route("/login", methods=["GET", "POST"])
    def login() -> BaseResponse | str | tuple[str, int]:
        target = _safe_next(request.values.get("next"))
        if settings.password is None:
            return redirect(target)
        error = ""
        if session.pop("expired", False):
            error = "Your session ended after a while without use. Please sign in again."
        if request.method == "POST":
            wait = throttle.paused()
            if wait:
                error = f"Too many wrong passwords. Try again in {wait:.0f} seconds."
            elif _same(request.form.get("password", ""), settings.password):
                throttle.record(True)
                session.clear()
                session.permanent = True
                session["signed_in"] = True
                session["seen"] = time.time()
                csrf_token()
                return redirect(target, code=303)
            else:
                throttle.record(False)
                error = "That password is not right. Check Caps Lock and try again."
        return render_template("login.html", error=error, next=target), \
            401 if error else 200

    @app.route("/logout", methods=["POST"])
    def logout() -> BaseResponse:
        session.clear()
        return redirect(url_for("login") if settings.password else "/", code=303)

    app.jinja_env.globals["csrf_token"] = csrf_token
