"""Who sees what on the front-desk page: the passcode shown once to its sender, the token that opens
the page without a password, the sign-in delays and the setting for a TLS proxy. The real app answers
through Flask's test client, on a clock the tests move by hand; email goes to a real SMTP server."""

from __future__ import annotations

import contextlib
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from conftest import cli, copy_library
from flask import Flask
from flask.testing import FlaskClient
from servers import PASSWORD, SmtpServer, use_server
from test_web_sessions import (
    WRONG,
    Desk,
    HandClock,
    attempt,
    form_token,
    sign_in_error,
    wait_after_a_wrong_password,
    waiting,
)
from web_helpers import ServeProcess, serving

from handoutgen.library.gather import load_library
from handoutgen.web import Settings, create_app
from handoutgen.web.app import CONNECTIONS, HEADER_SECONDS
from handoutgen.web.security import FREE_FAILURES

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]
FORM = "/c/alder/"
EMAIL = {"action": "email", "documents": "aftercare", "treatment": "needling", "language": "en",
         "paper": "a4", "patient_name": "Bo Chan", "email": "bo.chan@patients.test",
         "appointment_id": "W-2001"}
PASSCODE = re.compile(r'<p class="passcode" id="passcode"[^>]*>([0-9 ]+)</p>')


@pytest.fixture
def mailing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Flask, SmtpServer]]:
    """The app in local mode for a library whose clinics email to a test SMTP server."""
    root = copy_library(tmp_path / "lib")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    with SmtpServer(tmp_path) as smtp:
        use_server(root, smtp, "assets/clinics/alder/clinic.yaml", body="detailed")
        app = create_app(Settings(root, mail_folder=tmp_path / "mail", jobs=1, warm=False, clock=HandClock()),
                         load_library(root))
        try:
            yield app, smtp
        finally:
            app.extensions["handoutgen"]["jobs"].close()


def local_client(app: Flask) -> FlaskClient:
    """A browser that opened the address `serve` printed, token and all."""
    client = app.test_client()
    token = app.extensions["handoutgen"]["token"]
    assert client.get(f"/?token={token}").status_code == 302
    return client


def email_once(client: FlaskClient) -> tuple[int, str, list[str]]:
    """Send the email form from this client: the status, the heading and the passcodes shown."""
    page = client.post(FORM, data={**EMAIL, "csrf_token": form_token(client.get(FORM))})
    heading = re.search(r'<h2 id="result-title">(.*?)</h2>', page.text)
    assert heading, page.text
    return page.status_code, heading.group(1), PASSCODE.findall(page.text)


def test_the_passcode_is_shown_once_to_the_session_that_sent_the_message(
        mailing: tuple[Flask, SmtpServer]) -> None:
    app, smtp = mailing
    sender, other = local_client(app), local_client(app)
    status, heading, shown = email_once(sender)
    assert (status, heading, len(shown), len(smtp.messages)) == (200, "Email sent", 1, 1)
    assert re.fullmatch(r"[0-9]{4} [0-9]{4} [0-9]{4} [0-9]{4}", shown[0])
    for client in (other, sender):  # the same form again, from another session and from the sender
        again = client.post(FORM, data={**EMAIL, "csrf_token": form_token(client.get(FORM))})
        assert (again.status_code, PASSCODE.findall(again.text), len(smtp.messages)) == (200, [], 1)
        assert '<h2 id="result-title">Already sent</h2>' in again.text
        assert shown[0] not in again.text and shown[0].replace(" ", "") not in again.text
        assert "Its passcode was shown once, to whoever sent it" in again.text


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Flask]:
    """The app without a password, on this computer only."""
    root = copy_library(tmp_path / "local")
    app = create_app(Settings(root, jobs=1, warm=False, clock=HandClock()), load_library(root))
    try:
        yield app
    finally:
        app.extensions["handoutgen"]["jobs"].close()


def test_without_a_password_only_the_address_with_the_token_opens_the_page(local: Flask) -> None:
    token = local.extensions["handoutgen"]["token"]
    assert isinstance(token, str) and len(token) >= 40
    stranger = local.test_client()  # a forwarder reaching 127.0.0.1 comes with no token
    for path in ("/", FORM, "/batch", f"/?token={token[:-1]}", f"/?token={token}x"):
        refused = stranger.get(path)
        assert refused.status_code == 403, path
        assert "Open this page at the address that `generate.py serve` printed" in refused.text
    assert stranger.post(f"{FORM}?token={token}", data={"csrf_token": "x"}).status_code == 403
    assert stranger.get("/health").status_code == 200  # no patient data: open to checks
    opened = stranger.get(f"{FORM}?token={token}")
    assert (opened.status_code, opened.location) == (302, FORM)  # the token leaves the address bar
    page = stranger.get(FORM)
    assert page.status_code == 200 and "Handouts for one patient" in page.text
    assert token not in page.text


def test_the_token_of_another_start_does_not_open_the_page(local: Flask, tmp_path: Path) -> None:
    root = copy_library(tmp_path / "other")
    other = create_app(Settings(root, jobs=1, warm=False), load_library(root))
    try:
        assert other.extensions["handoutgen"]["token"] != local.extensions["handoutgen"]["token"]
        client = other.test_client()
        assert client.get(f"/?token={local.extensions['handoutgen']['token']}").status_code == 403
    finally:
        other.extensions["handoutgen"]["jobs"].close()


def test_an_idle_session_keeps_the_token(local: Flask) -> None:
    client = local_client(local)
    (cookie,) = client.get(FORM).headers.getlist("Set-Cookie")
    assert "Expires=" not in cookie  # the browser keeps it until it closes, however long idle
    clock = local.extensions["handoutgen"]["settings"].clock
    clock.advance(local.extensions["handoutgen"]["settings"].session_minutes * 60 + 1)
    assert client.get(FORM).status_code == 200


def test_a_password_needs_no_token(tmp_path: Path) -> None:
    root = copy_library(tmp_path / "lib")
    app = create_app(Settings(root, password="front-desk-secret-42", jobs=1, warm=False), load_library(root))
    try:
        assert app.extensions["handoutgen"]["token"] is None
        reply = app.test_client().get(FORM)
        assert (reply.status_code, reply.location) == (302, "/login?next=/c/alder/")
    finally:
        app.extensions["handoutgen"]["jobs"].close()


def test_serve_prints_the_address_with_its_token(lib: Path, tmp_path: Path) -> None:
    with ServeProcess(lib, tmp_path / "serve.log", "--port", "0") as server:
        line = server.address()
        match = re.fullmatch(r"Serving the front-desk page on (http://127\.0\.0\.1:[0-9]+)/\?token=([\w-]{43})"
                             r" \(this computer only\); press Ctrl-C to stop", line)
        assert match, line
        url, token = match.groups()
        with pytest.raises(urllib.error.HTTPError) as refused:  # as a plain TCP forwarder would
            urllib.request.urlopen(url + FORM, timeout=30)
        assert refused.value.code == 403
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        with browser.open(f"{url}{FORM}?token={token}", timeout=30) as reply:
            assert (reply.status, reply.url) == (200, url + FORM)
            assert b"Handouts for one patient" in reply.read()


PROXY = "10.0.0.5"  # the TLS proxy in front of the page
FRONT_DESK = "front-desk-secret-42"


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[Desk]:
    """The app with a password behind a TLS proxy at PROXY."""
    root = copy_library(tmp_path / "lib")
    clock = HandClock()
    settings = Settings(root, password=FRONT_DESK, proxy=PROXY, jobs=1, warm=False, clock=clock)
    app = create_app(settings, load_library(root))
    try:
        yield Desk(app, app.test_client(), clock, settings)
    finally:
        app.extensions["handoutgen"]["jobs"].close()


def through(app: Flask, remote: str, forwarded: str | None) -> FlaskClient:
    """A browser whose requests reach the app from `remote`, with this X-Forwarded-For, over TLS."""
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": remote, "wsgi.url_scheme": "https"})
    if forwarded is not None:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded
    return client


def test_behind_the_proxy_each_forwarded_address_waits_alone(proxied: Desk) -> None:
    guesser = through(proxied.app, PROXY, "198.51.100.1, 192.0.2.7")  # the proxy added 192.0.2.7
    for _ in range(FREE_FAILURES):
        attempt(guesser, "not the password")
    assert wait_after_a_wrong_password(proxied, guesser) == 1
    assert sign_in_error(attempt(guesser, "not the password")) == WRONG
    assert sign_in_error(attempt(guesser, FRONT_DESK)) == waiting(2)
    # the guesser's first entry is its own claim: changing it does not escape the wait
    assert sign_in_error(attempt(through(proxied.app, PROXY, "203.0.113.9, 192.0.2.7"), FRONT_DESK)) == \
        waiting(2)
    desk = through(proxied.app, PROXY, "192.0.2.50")  # the front desk, through the same proxy
    reply = attempt(desk, FRONT_DESK)
    assert (reply.status_code, reply.location) == (303, "/batch")


def test_a_forwarded_address_from_anyone_but_the_proxy_is_not_believed(proxied: Desk) -> None:
    for n in range(FREE_FAILURES + 1):  # each try claims another address
        attempt(through(proxied.app, "192.0.2.99", f"198.51.100.{n}"), "not the password")
    assert sign_in_error(attempt(through(proxied.app, "192.0.2.99", "198.51.100.200"), FRONT_DESK)) == \
        waiting(1)


def test_behind_the_proxy_the_cookie_is_secure(proxied: Desk, local: Flask) -> None:
    behind = through(proxied.app, PROXY, "192.0.2.50").get("/login", base_url="https://desk.clinic.example")
    assert behind.status_code == 200  # the proxy's public name is answered
    (cookie,) = behind.headers.getlist("Set-Cookie")
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "; SameSite=Strict" in cookie
    (plain,) = local.test_client().get("/health").headers.getlist("Set-Cookie")
    assert "; Secure" not in plain


def test_serve_behind_a_proxy_needs_an_ip_address_and_a_password(lib: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HANDOUTGEN_PASSWORD", raising=False)
    run = cli(lib, "serve", "--port", "0", "--behind-proxy", "proxy.example")
    assert (run.code, run.out) == (1, "")
    assert run.errors == [
        "error: <command line>:4: --behind-proxy: 'proxy.example' is not an IP address "
        "(the address the proxy connects from, e.g. 127.0.0.1)",
        "error: <command line>:4: --behind-proxy: a proxy serves other computers and no front-desk password "
        "is set (export HANDOUTGEN_PASSWORD=<a password of at least 10 characters>)"]


SLOW = CONNECTIONS + 50  # more connections than the server takes at once


def test_connections_sending_headers_slowly_do_not_stop_the_page(tmp_path: Path) -> None:
    root = copy_library(tmp_path / "lib")
    with serving(root, jobs=1, warm=False) as served, contextlib.ExitStack() as stack:
        port = int(served.url.rsplit(":", 1)[1])
        slow = [stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
                for _ in range(SLOW)]
        for sock in slow:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        deadline = time.monotonic() + 4 * HEADER_SECONDS
        answered = False
        while not answered and time.monotonic() < deadline:
            for sock in slow:  # one more header line each round: never idle
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Slow: 1\r\n")
            try:  # the round's pace is this request's own timeout
                with urllib.request.urlopen(served.url + "/health", timeout=1) as reply:
                    answered = reply.status == 200
            except (TimeoutError, urllib.error.URLError):
                continue
        assert answered, f"/health did not answer within {4 * HEADER_SECONDS} s of {SLOW} slow connections"
        assert [ended(sock) for sock in slow] == [True] * SLOW  # none of their requests was kept


def ended(sock: socket.socket) -> bool:
    """Whether the server closed this connection (waiting for its header deadline to pass)."""
    sock.settimeout(2 * HEADER_SECONDS)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:  # closed while our last header line was on its way
        return True
    except TimeoutError:
        return False
