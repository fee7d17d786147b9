"""Who may use the page: the host check, the local token, sign-in, idle sessions, CSRF tokens and
response headers.

Without a password the page is for the person who started it: `serve` prints an address holding a
random token (as Jupyter does), and only a browser that opened it gets a session that sees patient
pages. Anything else that reaches 127.0.0.1 (a TCP forwarder, another user's program) is refused.

Sessions are Flask's signed cookies (HttpOnly, SameSite=Strict) holding only a CSRF token, the
sign-in flag and the time of the last request: never patient data. The signing key is made
anew at every start, so a restart signs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, abort, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from ..library.branding import is_loopback
from .config import PASSWORD_ENV, Clock, Settings

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")
# Endpoints that show no patient data.
OPEN_ENDPOINTS = ("signin.login", "static", "health", "handouts.logo", "handouts.theme_css")
FREE_FAILURES = 3  # wrong passwords in a row before each next try waits
MAX_DELAY_SECONDS = 30  # the longest wait: a guesser slows others down, never locks them out
MAX_CLIENTS = 4096  # clients whose wrong passwords are remembered; the longest quiet are forgotten first
MAX_SIGNED_IN_HOURS = 10  # a sign-in ends after this long even when in use (a working day)
# Headers a reverse proxy adds: a page without a password must not be reached through one.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-IP")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'")


class Throttle:
    """Slows down guessing, per client: after FREE_FAILURES wrong passwords in a row, each next try
    waits 1, 2, 4 ... seconds, at most MAX_DELAY_SECONDS.

    A growing delay and not a lock-out: even someone guessing from the front desk's own address
    keeps it waiting MAX_DELAY_SECONDS at most. Tries during a wait are not checked and not counted.
    """

    def __init__(self, clock: Clock, limit: int = MAX_CLIENTS) -> None:
        self.clock, self.limit = clock, limit
        self.lock = threading.Lock()
        self.failures: dict[str, int] = {}  # in the order of their last wrong password
        self.until: dict[str, float] = {}

    def wait(self, client: str) -> float:
        """Seconds until this client may try again (0 when it may)."""
        with self.lock:
            return max(0.0, self.until.get(client, 0.0) - self.clock())

    def record(self, client: str, ok: bool) -> None:
        with self.lock:
            if ok:
                self.failures.pop(client, None)
                self.until.pop(client, None)
                return
            count = self.failures.pop(client, 0) + 1
            self.failures[client] = count  # now the latest
            if count > FREE_FAILURES:
                self.until[client] = self.clock() + delay(count)
            while len(self.failures) > self.limit:  # many addresses cannot fill the memory
                oldest = next(iter(self.failures))
                del self.failures[oldest]
                self.until.pop(oldest, None)


def delay(failures: int) -> int:
    """Seconds the next try waits after this many wrong passwords in a row."""
    if failures <= FREE_FAILURES:
        return 0
    return int(min(2 ** (failures - FREE_FAILURES - 1), MAX_DELAY_SECONDS))


def client_address(proxy: str | None) -> str:
    """Who is asking: the address the TLS proxy saw when the request came from that proxy, else the
    connection's own address (a forwarded header from anyone else is not believed)."""
    remote = request.remote_addr or ""
    if proxy is None or remote != proxy:
        return remote
    forwarded = request.headers.get("X-Forwarded-For", "")
    last = forwarded.rsplit(",", 1)[-1].strip()  # the entry the proxy itself added
    return last or remote


class SignIns:
    """Live sign-ins, kept here and not only in the cookie: signing out ends one for good, and
    none lasts longer than MAX_SIGNED_IN_HOURS, however busy."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.started: dict[str, float] = {}

    def begin(self) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.started[token] = self.clock()
        return token

    def valid(self, token: object) -> bool:
        if not isinstance(token, str):
            return False
        with self.lock:
            started = self.started.get(token)
            if started is None:
                return False
            if self.clock() - started > MAX_SIGNED_IN_HOURS * 3600:
                del self.started[token]
                return False
            return True

    def end(self, token: object) -> None:
        with self.lock:
            if isinstance(token, str):
                self.started.pop(token, None)


def session_token(name: str) -> str:
    """A random token kept in the session under `name` (made on first use)."""
    token = session.get(name)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[name] = token
    return token


def csrf_token() -> str:
    """The session's CSRF token."""
    return session_token("csrf")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(hashlib.sha256(a.encode()).digest(), hashlib.sha256(b.encode()).digest())


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an address elsewhere (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


def install(app: Flask, settings: Settings) -> str | None:
    """Add the checks every request passes and the headers every response carries; the local token.

    The token (None when a password is set) opens the page: `serve` prints it in its address."""
    app.secret_key = secrets.token_bytes(32)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_SECURE=settings.proxy is not None,  # the proxy speaks TLS
                      SESSION_COOKIE_NAME="handoutgen_session",
                      PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.session_minutes),
                      SESSION_REFRESH_EACH_REQUEST=True)
    throttle = Throttle(settings.clock)
    sign_ins = SignIns(settings.clock)
    # Behind a proxy the page answers to the proxy's public name (and needs a password).
    local_only = is_loopback(settings.host) and settings.proxy is None
    local_names = {*LOOPBACK_NAMES, settings.host.lower()}
    idle = settings.session_minutes * 60
    token = secrets.token_urlsafe(32) if settings.password is None else None

    @app.before_request
    def guard() -> BaseResponse | None:
        # A page bound to 127.0.0.1 answers only to local names: a web site that rebinds its
        # own name to 127.0.0.1 cannot read the page from a browser on this computer.
        hostname = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        if local_only and hostname.lower() not in local_names:
            abort(400, "This page answers only at 127.0.0.1 or localhost.")
        if settings.password is None and any(h in request.headers for h in PROXY_HEADERS):
            # through a proxy, other computers reach the page: that needs the password
            abort(403, "This page was reached through a proxy. Serving other computers needs a "
                       f"front-desk password: set ${PASSWORD_ENV} and start it again.")
        now = settings.clock()
        seen = session.get("seen")
        if isinstance(seen, (int, float)) and now - seen > idle:
            local = session.get("local") is True  # the token opened this browser, not a sign-in
            session.clear()
            session["expired"] = True
            if local:
                session["local"] = True
        # a signed-in cookie ends with the idle time; the token's lasts until the browser closes
        session.permanent = token is None
        session["seen"] = now
        csrf_token()
        if token is not None and request.endpoint not in OPEN_ENDPOINTS:
            given = request.args.get("token")
            if request.method == "GET" and given is not None and _same(given, token):
                session["local"] = True
                return redirect(request.path)  # the token leaves the address bar and the history
            if session.get("local") is not True:
                abort(403, "Open this page at the address that `generate.py serve` printed: it holds "
                           "the key for this computer's browser.")
        if settings.password is not None and not sign_ins.valid(session.get("signed_in")) \
                and request.endpoint not in OPEN_ENDPOINTS:
            if request.method == "GET":
                return redirect(url_for("signin.login", next=request.path))
            abort(401, "Please sign in again: your session has ended.")
        if request.method == "POST" and request.endpoint != "static":
            sent = request.form.get("csrf_token", "")
            if not sent or not _same(sent, csrf_token()):
                abort(400, "This form has expired or did not come from this page. Go back, reload "
                           "the page and try again.")
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)  # the logo sets a stricter one
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

    app.register_blueprint(sign_in(settings, throttle, sign_ins))
    app.jinja_env.globals["csrf_token"] = csrf_token
    return token


def sign_in(settings: Settings, throttle: Throttle, sign_ins: SignIns) -> Blueprint:
    """The sign-in area: the password form and signing out."""
    blueprint = Blueprint("signin", __name__)

    @blueprint.route("/login", methods=["GET", "POST"])
    def login() -> BaseResponse | str | tuple[str, int]:
        target = _safe_next(request.values.get("next"))
        if settings.password is None:
            return redirect(target)
        error = ""
        if session.pop("expired", False):
            error = "Your session ended after a while without use. Please sign in again."
        if request.method == "POST":
            client = client_address(settings.proxy)
            wait = math.ceil(throttle.wait(client))
            if wait:
                error = f"Too many wrong passwords. Try again in {wait} second{'s' if wait != 1 else ''}."
            elif _same(request.form.get("password", ""), settings.password):
                throttle.record(client, True)
                session.clear()
                session.permanent = True
                session["signed_in"] = sign_ins.begin()
                session["seen"] = settings.clock()
                csrf_token()
                return redirect(target, code=303)
            else:
                throttle.record(client, False)
                error = "That password is not right. Check Caps Lock and try again."
        return render_template("login.html", error=error, next=target), \
            401 if error else 200

    @blueprint.route("/logout", methods=["POST"])
    def logout() -> BaseResponse:
        sign_ins.end(session.get("signed_in"))
        session.clear()
        return redirect(url_for("signin.login") if settings.password else "/", code=303)

    return blueprint
