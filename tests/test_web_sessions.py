"""Time on the front-desk page, on a clock the tests move by hand: the growing waits after wrong
passwords, idle sessions, the limit on how long a sign-in lasts, and the deletion of batches
nobody came back for. The real app answers through Flask's test client; batches run for real."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import copy_library
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from handoutgen.library.gather import Library, load_library
from handoutgen.web import Settings, create_app
from handoutgen.web.batch import Jobs
from handoutgen.web.security import FREE_FAILURES, MAX_DELAY_SECONDS, MAX_SIGNED_IN_HOURS, Throttle

PASSWORD = "front-desk-secret-42"
WRONG = "That password is not right. Check Caps Lock and try again."
PAGE = "/batch"  # a page behind the sign-in that shows no patient data
SIGN_IN_FIRST = "/login?next=/batch"
SESSION_ENDED = "Please sign in again: your session has ended."


class HandClock:
    """A clock that stands still until a test moves it (the app reads it as time.monotonic)."""

    def __init__(self) -> None:
        self.now = 86_400.0  # a day after boot: any value works, the app only subtracts

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Desk:
    """One app with a password, its clock and a browser-like client (cookies kept)."""

    app: Flask
    client: FlaskClient
    clock: HandClock
    settings: Settings

    @property
    def idle(self) -> int:
        """Seconds without use after which a session ends."""
        return self.settings.session_minutes * 60

    @property
    def jobs(self) -> Jobs:
        jobs: Jobs = self.app.extensions["handoutgen"]["jobs"]
        return jobs


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Library]:
    root = copy_library(tmp_path_factory.mktemp("sessions") / "lib")
    return root, load_library(root)


@pytest.fixture
def desk(library: tuple[Path, Library]) -> Iterator[Desk]:
    root, loaded = library
    clock = HandClock()
    settings = Settings(root, password=PASSWORD, jobs=1, warm=False, clock=clock)
    app = create_app(settings, loaded)
    desk = Desk(app, app.test_client(), clock, settings)
    try:
        yield desk
    finally:
        desk.jobs.close()


def form_token(page: TestResponse) -> str:
    """The CSRF token in a page's form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def sign_in_error(page: TestResponse) -> str | None:
    """The message the sign-in page shows under the password field, if any."""
    match = re.search(r'id="password-error"><span class="visually-hidden">Error: </span>(.*?)</p>', page.text)
    return html.unescape(match.group(1)) if match else None


def attempt(client: FlaskClient, password: str) -> TestResponse:
    """Open the sign-in page and send a password from it, as the front desk does."""
    form = client.get("/login")
    return client.post("/login", data={"csrf_token": form_token(form), "password": password, "next": PAGE})


def sign_in(client: FlaskClient) -> None:
    """Sign in with the right password: the page asked for comes next."""
    reply = attempt(client, PASSWORD)
    assert (reply.status_code, reply.location) == (303, PAGE)


def opens(client: FlaskClient) -> None:
    """The page opens for this client."""
    reply = client.get(PAGE)
    assert (reply.status_code, reply.headers.get("Location")) == (200, None)


def sent_to_sign_in(client: FlaskClient) -> None:
    """The page sends this client to sign in first."""
    reply = client.get(PAGE)
    assert (reply.status_code, reply.location) == (302, SIGN_IN_FIRST)


def waiting(seconds: int) -> str:
    """What the sign-in page says while a client must wait."""
    return f"Too many wrong passwords. Try again in {seconds} second{'s' if seconds != 1 else ''}."


def wait_after_a_wrong_password(desk: Desk, client: FlaskClient) -> int:
    """Send a wrong password; the seconds the next try must wait, read off the page and then waited."""
    assert sign_in_error(attempt(client, "not the password")) == WRONG
    told = sign_in_error(attempt(client, PASSWORD))  # even the right password waits
    match = re.fullmatch(r"Too many wrong passwords\. Try again in ([0-9]+) seconds?\.", told or "")
    assert match, told
    seconds = int(match.group(1))
    desk.clock.advance(seconds - 1)
    paused = attempt(client, PASSWORD)
    assert (paused.status_code, sign_in_error(paused)) == (401, waiting(1))
    sent_to_sign_in(client)
    desk.clock.advance(1)
    return seconds


def test_wrong_passwords_past_the_first_few_make_each_next_try_wait_longer(desk: Desk) -> None:
    for _ in range(FREE_FAILURES):
        reply = attempt(desk.client, "not the password")
        assert (reply.status_code, sign_in_error(reply)) == (401, WRONG)
    waits = [wait_after_a_wrong_password(desk, desk.client) for _ in range(8)]
    assert waits == [1, 2, 4, 8, 16, MAX_DELAY_SECONDS, MAX_DELAY_SECONDS, MAX_DELAY_SECONDS]
    sign_in(desk.client)  # never locked out: after the longest wait the right password works
    opens(desk.client)


def test_a_right_password_starts_the_count_again(desk: Desk) -> None:
    for _ in range(2):
        for _ in range(FREE_FAILURES):
            assert sign_in_error(attempt(desk.client, "not the password")) == WRONG
        sign_in(desk.client)
    opens(desk.client)


def test_guessing_from_another_address_does_not_slow_the_front_desk(desk: Desk) -> None:
    guesser = desk.app.test_client()
    guesser.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    for _ in range(FREE_FAILURES):
        attempt(guesser, "not the password")
    assert [wait_after_a_wrong_password(desk, guesser) for _ in range(3)] == [1, 2, 4]
    assert sign_in_error(attempt(guesser, "not the password")) == WRONG
    assert sign_in_error(attempt(guesser, PASSWORD)) == waiting(8)
    sign_in(desk.client)  # the front desk signs in from 127.0.0.1 meanwhile, at once
    opens(desk.client)


def test_a_session_idle_past_the_limit_signs_in_again(desk: Desk) -> None:
    sign_in(desk.client)
    for _ in range(3):  # each request starts the idle time again
        desk.clock.advance(desk.idle)
        opens(desk.client)
    desk.clock.advance(desk.idle + 1)
    sent_to_sign_in(desk.client)
    again = desk.client.get(SIGN_IN_FIRST)
    assert (again.status_code, sign_in_error(again)) == \
        (401, "Your session ended after a while without use. Please sign in again.")


def test_a_form_sent_after_the_idle_limit_is_refused(desk: Desk) -> None:
    sign_in(desk.client)
    token = form_token(desk.client.get(PAGE))
    desk.clock.advance(desk.idle + 1)
    reply = desk.client.post(PAGE, data={"csrf_token": token})
    assert reply.status_code == 401
    assert SESSION_ENDED in reply.text


def test_a_sign_in_ends_after_the_hours_limit_even_in_use(desk: Desk) -> None:
    sign_in(desk.client)
    start, limit = desk.clock.now, MAX_SIGNED_IN_HOURS * 3600
    while desk.clock.now - start < limit:  # in use all day: never idle for long
        desk.clock.advance(min(desk.idle, limit - (desk.clock.now - start)))
        opens(desk.client)
    token = form_token(desk.client.get(PAGE))
    desk.clock.advance(1)
    assert desk.client.post(PAGE, data={"csrf_token": token}).status_code == 401
    sent_to_sign_in(desk.client)
    page = desk.client.get(SIGN_IN_FIRST)
    assert (page.status_code, sign_in_error(page)) == (200, None)  # not idle: no word of idling
    sign_in(desk.client)  # a new sign-in gets a new day
    opens(desk.client)


def test_an_abandoned_batch_is_deleted_a_session_time_after_it_ended(desk: Desk) -> None:
    sign_in(desk.client)
    keep = desk.idle  # a batch nobody downloads lasts as long as an idle session
    upload = (b"appointment_id,clinic,patient_name,treatment,documents,date,time,practitioner\r\n"
              b"B1,alder,Bo Chan,needling,aftercare,2026-12-01,10:30,\r\n")
    reply = desk.client.post(PAGE, data={"csrf_token": form_token(desk.client.get(PAGE)),
                                         "appointments": (io.BytesIO(upload), "list.csv")})
    assert reply.status_code == 303, reply.text
    status = f"{reply.location}/status"
    (job,) = desk.jobs.items.values()
    folder = job.folder
    job.process.join(timeout=120)  # the batch ends while nobody looks
    assert job.process.exitcode == 0
    desk.clock.advance(keep)  # its end is seen only now: the time until then does not count
    ended = desk.client.get(status)
    assert ended.get_json() == {"state": "done", "done": 1, "total": 1, "rows": 1, "built": 1, "failed": 0,
                                "problems": 0, "appointments": 1, "failed_rows": 0, "packets": 0}
    with desk.client.session_transaction() as session:
        owner = session["sid"]
    desk.clock.advance(keep)
    assert desk.client.get(status).status_code == 200
    assert (folder / "out" / "manifest.jsonl").is_file()
    desk.clock.advance(1)
    gone = desk.client.get(status)
    assert gone.status_code == 404
    assert "This batch is not here any more" in gone.text
    assert not folder.exists() and desk.jobs.items == {}
    with desk.client.session_transaction() as session:
        assert session["sid"] == owner  # still the batch's session: it is gone, not hidden


def test_the_sign_in_delays_remember_a_bounded_number_of_clients() -> None:
    throttle = Throttle(HandClock(), limit=3)
    guesser = "198.51.100.7"
    for _ in range(FREE_FAILURES + 1):
        throttle.record(guesser, False)
    assert throttle.wait(guesser) == 1
    for number in range(1, 3):  # two others: the guesser is still among the last three
        throttle.record(f"203.0.113.{number}", False)
    throttle.record(guesser, False)  # it keeps guessing: remembered as the latest
    throttle.record("203.0.113.3", False)  # the first other one is forgotten, not the guesser
    assert throttle.wait(guesser) == 2
    for number in range(4, 1004):  # a thousand addresses cannot make the table grow
        throttle.record(f"203.0.113.{number % 250}-{number}", False)
        assert len(throttle.failures) <= 3 and len(throttle.until) <= 3
    assert throttle.wait(guesser) == 0  # the longest quiet is forgotten first
