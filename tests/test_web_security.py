"""Who sees what on the front-desk page: the token that opens the page without a password. The real
app answers through Flask's test client, on a clock the tests move by hand."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from conftest import copy_library
from flask import Flask
from flask.testing import FlaskClient
from test_web_sessions import HandClock
from web_helpers import ServeProcess

from handoutgen.library import load_library
from handoutgen.web import Settings, create_app

FORM = "/c/alder/"


def local_client(app: Flask) -> FlaskClient:
    """A browser that opened the address `serve` printed, token and all."""
    client = app.test_client()
    token = app.extensions["handoutgen"]["token"]
    assert client.get(f"/?token={token}").status_code == 302
    return client


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Flask]:
    """The app without a password, on this computer only."""
    root = copy_library(tmp_path / "lib")
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
