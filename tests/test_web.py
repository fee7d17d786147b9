"""The front-desk web page end to end: a real Chromium (Playwright) against the app on 127.0.0.1,
real PDFs read back, a real SMTP server, a real batch process. Screenshots go to tests/screenshots/."""

from __future__ import annotations

import io
import os
import re
import signal
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import bookmarks, copy_library, flat, pdf_text, spans
from playwright.sync_api import Browser, Page, Response, sync_playwright
from pypdf import PdfReader
from pypdf.generic import DictionaryObject
from servers import PASSWORD, SmtpServer, use_server
from test_batch import write_csv
from web_helpers import CHROMIUM, CHROMIUM_ARGS, DESKTOP, TABLET, ServeProcess, serving, shot

from handoutgen.web.batch import PREFIX, Jobs

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]
NAME = "Nguyễn Thị Lan"
ADDRESS = "lan.nguyen@patients.test"
FRONT_DESK = "front-desk-secret-42"
CLINICS = {"alder": "Alder Test Clinic", "birch": "Birch Test Dermatology"}  # tests/library's clinics
HEADER = ["appointment_id", "clinic", "patient_name", "treatment", "documents", "date", "time",
          "practitioner"]


@dataclass(frozen=True)
class Site:
    """The test library served for the module's tests, both clinics emailing to a test SMTP server."""

    url: str
    smtp: SmtpServer
    mail: Path  # the send ledger and passcode list
    jobs: Jobs  # the server's batches
    start: str  # the address with the token, as `serve` prints it


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("web")
    root = copy_library(folder / "lib")
    with pytest.MonkeyPatch.context() as patch, SmtpServer(folder) as smtp:
        patch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
        for clinic in CLINICS:
            use_server(root, smtp, f"assets/clinics/{clinic}/clinic.yaml", body="detailed")
        with serving(root, mail_folder=folder / "mail") as served:
            yield Site(served.url, smtp, folder / "mail", served.jobs, served.start)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    """A tab that opened the address with the token, as the person who started the server does."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.goto(site.start)
    yield tab
    context.close()


def open_form(page: Page, url: str, clinic: str = "alder") -> None:
    page.goto(url + "/")
    page.get_by_role("link", name=CLINICS[clinic]).click()
    page.get_by_role("heading", name="Handouts for one patient").wait_for()


def choose(page: Page, *kinds: str) -> None:
    for box in page.locator("input[name=documents]").all():
        box.set_checked(box.get_attribute("value") in kinds)


def download(page: Page, button: str, folder: Path) -> tuple[str, Path]:
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    target = folder / info.value.suggested_filename
    info.value.save_as(target)
    return info.value.suggested_filename, target


def csrf_token(page: Page) -> str:
    """The CSRF token of the page's first form."""
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token, page.content()
    return token


def paper_size(pdf: Path) -> tuple[int, int]:
    """The first page's width and height in points."""
    box = PdfReader(pdf).pages[0].mediabox
    return round(float(box.width)), round(float(box.height))


def batch_outcome(page: Page) -> str:
    """Wait until a batch has ended or its upload was refused; the page's heading."""
    ended = page.locator("h1", has_text=re.compile("ready|could not"))
    ended.or_(page.get_by_role("alert")).first.wait_for(timeout=60_000)
    return page.locator("h1").inner_text()


def test_preview_download_and_print_one_handout(site: Site, page: Page, tmp_path: Path) -> None:
    page.goto(site.url + "/")
    shot(page, "01-choose-clinic")
    open_form(page, site.url)
    shot(page, "02-form-empty-1280x800")
    choose(page, "pre-treatment")
    assert page.locator("#f-next_appointment_date").is_hidden()  # aftercare's field, not used
    assert page.locator("#f-appointment_time").is_visible()
    page.get_by_label("Patient's full name").fill(NAME)
    page.get_by_label("Treatment date").fill("2026-12-01")
    page.get_by_label("Treatment time").fill("10:30")
    page.get_by_label("Practitioner").select_option("ann-ash")
    page.get_by_role("button", name="Preview").click()
    images = page.locator("ol.pages img")
    images.first.wait_for()
    assert images.count() >= 2
    assert page.evaluate("Array.from(document.querySelectorAll('ol.pages img'))"
                         ".every(i => i.complete && i.naturalWidth > 300)")
    assert page.get_by_label("Patient's full name").input_value() == NAME  # the form keeps its values
    shot(page, "03-preview-1280x800")
    page.set_viewport_size(TABLET)
    shot(page, "04-preview-tablet-820x1180")
    page.set_viewport_size(DESKTOP)

    name, pdf = download(page, "Download PDF", tmp_path)
    assert name == "alder-needling-pre-treatment.pdf"  # never the patient's name
    text = flat(pdf_text(pdf))
    assert NAME in text
    assert "1 December 2026" in text and "10:30" in text and "Dr Ann Ash" in text
    assert paper_size(pdf) == (595, 842)  # A4, the clinic's paper

    page.get_by_label("US Letter (8.5 by 11 in)").check()
    name, pdf = download(page, "Download PDF", tmp_path)
    assert name == "alder-needling-pre-treatment-letter.pdf"
    assert paper_size(pdf) == (612, 792)
    assert NAME in flat(pdf_text(pdf))

    def posted(response: Response) -> bool:
        return response.request.method == "POST"

    with page.context.expect_event("response", posted) as info, page.expect_popup():
        page.get_by_role("button", name="Print").click()
    response: Response = info.value
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline;")
    assert response.headers["cache-control"] == "no-store"
    # Chromium hands the tab's body to its PDF viewer: fetch the same form's PDF in this session
    reply = page.request.post(site.url + "/c/alder/", form={
        "csrf_token": csrf_token(page), "documents": "pre-treatment", "treatment": "needling",
        "language": "en", "paper": "a4", "patient_name": NAME, "action": "print"})
    printed = PdfReader(io.BytesIO(reply.body()))
    action = printed.root_object["/OpenAction"].get_object()
    assert isinstance(action, DictionaryObject)
    assert "/JS" in action  # opens the print dialog
    assert NAME in flat(printed.pages[0].extract_text())


def test_several_documents_make_one_packet_with_bookmarks(site: Site, page: Page, tmp_path: Path) -> None:
    open_form(page, site.url, "birch")
    choose(page, "aftercare", "consent", "pre-treatment")
    page.get_by_label("Patient's full name").fill("Tom Baker")
    page.get_by_label("Next appointment date").fill("2027-01-05")
    name, pdf = download(page, "Download PDF", tmp_path)
    assert name == "birch-needling-pre-treatment-consent-aftercare.pdf"
    assert [title for title, _page in bookmarks(PdfReader(pdf))] == \
        ["Getting ready for needling", "Consent to needling", "Aftercare after needling"]
    assert paper_size(pdf) == (612, 792)  # Birch prints on US Letter
    text = flat(pdf_text(pdf))
    assert text.count("Tom Baker") >= 3 and "January 5, 2027" in text


def test_email_shows_the_passcode_that_opens_the_attachment(site: Site, page: Page) -> None:
    open_form(page, site.url)
    choose(page, "consent", "aftercare")
    page.get_by_label("Patient's full name").fill(NAME)
    page.get_by_label("Patient's email address").fill(ADDRESS)
    page.get_by_label("Appointment number").fill("W-1001")
    before = len(site.smtp.messages)
    page.get_by_role("button", name="Email to patient").click()
    page.get_by_role("heading", name="Email sent").wait_for()
    passcode = page.locator("#passcode").inner_text().strip()
    assert re.fullmatch(r"[0-9]{4} [0-9]{4} [0-9]{4} [0-9]{4}", passcode)
    shot(page, "05-email-sent-1280x800")
    (received,) = site.smtp.messages[before:]
    assert received.recipients == [ADDRESS]
    (attachment,) = list(received.message.iter_attachments())
    assert attachment.get_filename() == "needling-packet.pdf"  # the test clinics send detailed emails
    reader = PdfReader(io.BytesIO(attachment.get_content()))
    assert reader.is_encrypted
    assert not reader.decrypt("0000 0000 0000 0000")
    assert reader.decrypt(passcode) and reader.decrypt(passcode.replace(" ", ""))
    assert NAME in flat(reader.pages[0].extract_text())
    page.goto(page.url)  # the passcode is on that one response page only
    assert passcode not in page.content()
    assert (site.mail / "passcodes.csv").exists()


def test_field_errors_are_shown_beside_their_fields(site: Site, page: Page) -> None:
    open_form(page, site.url)
    choose(page, "consent")
    page.get_by_label("Area treated").fill("Face \u4e2d")
    page.get_by_label("Treatment date").fill("2026-12-01")
    page.get_by_role("button", name="Preview").click()
    summary = page.get_by_role("alert")
    summary.wait_for()
    assert page.evaluate("document.activeElement.id") == "problems"
    name = page.get_by_label("Patient's full name")
    assert name.get_attribute("aria-invalid") == "true"
    assert "patient_name-error" in (name.get_attribute("aria-describedby") or "")
    assert flat(page.locator("#patient_name-error").inner_text()) == "Error: Enter the patient's name."
    area = page.locator("#treatment_area")
    assert "treatment_area-error" in (area.get_attribute("aria-describedby") or "")
    assert "U+4E2D" in page.locator("#treatment_area-error").inner_text()
    assert "Noto Sans" in page.locator("#treatment_area-error").inner_text()  # alder's font
    assert page.locator("ol.pages img").count() == 0
    assert "Traceback" not in page.content()
    shot(page, "06-field-errors-1280x800")
    page.set_viewport_size(TABLET)
    shot(page, "07-field-errors-tablet-820x1180")
    page.get_by_label("Patient's full name").fill(NAME)  # the server kept serving: fix and go on
    page.get_by_label("Area treated").fill("Face")
    page.get_by_role("button", name="Preview").click()
    page.locator("ol.pages img").first.wait_for()


def test_keyboard_only_path_through_the_form(site: Site, page: Page) -> None:
    page.goto(site.url + "/c/alder/")
    seen = []
    for _ in range(40):  # Tab from the top until the name field, noting what gets focus
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
        seen.append(focused)
        if focused == "kind-consent":
            page.keyboard.press("Space")  # consent on, as well as the preselected aftercare
        if focused == "patient_name":
            break
    assert seen[0] == "Skip to the main content"
    assert "kind-consent" in seen
    assert seen[-1] == "patient_name"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.type("Ana Lima")
    shot(page, "08-keyboard-focus-1280x800")
    page.keyboard.press("Enter")  # Enter submits with the first button: Preview
    page.locator("ol.pages img").first.wait_for()
    assert page.locator("h2", has_text="Preview").inner_text().startswith("Preview: ")
    # the preview page keeps the documents chosen: consent by keyboard, aftercare preselected
    assert page.locator("input[name=documents]:checked").evaluate_all("boxes => boxes.map(b => b.value)") \
        == ["consent", "aftercare"]


def test_batch_upload_with_good_and_bad_rows(site: Site, page: Page, tmp_path: Path) -> None:
    rows = [["A1", "alder", "Ana Lima", "needling", "consent;aftercare", "2026-12-01", "10:30", "ann-ash",
             ""],
            ["A2", "birch", "Tom Baker", "peel", "pre-treatment", "2026-12-02", "15:00", "cara-cole", ""],
            ["A3", "alder", "Bad Date", "needling", "aftercare", "2026-13-01", "", "", ""],
            ["A4", "nowhere", "Lost Clinic", "needling", "aftercare", "2026-12-01", "", "", ""]]
    upload = write_csv(tmp_path / "list.csv", rows, [*HEADER, "email"])
    page.goto(site.url + "/batch")
    shot(page, "09-batch-upload-1280x800")
    page.get_by_label("Appointments file (CSV)").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and build").click()
    assert batch_outcome(page) == "Handouts ready", page.locator("main").inner_text()
    table = page.locator("table.problems tbody tr")
    assert table.count() == 2
    cells = [flat(row.inner_text()) for row in table.all()]
    assert cells[0].startswith("4 date") and "not a date" in cells[0]
    assert cells[1].startswith("5 clinic") and "unknown clinic 'nowhere'" in cells[1]
    assert "2 rows have problems" in page.locator(".result-line").inner_text()
    shot(page, "10-batch-done-1280x800")
    page.set_viewport_size(TABLET)
    shot(page, "11-batch-done-tablet-820x1180")
    job_url = page.url
    name, archive = download(page, "Download the zip file", tmp_path)
    assert name.endswith(".zip")
    with zipfile.ZipFile(archive) as zipped:
        names = sorted(zipped.namelist())
        assert names == ["alder/A1/needling-packet.pdf", "birch/A2/peel-packet.pdf", "manifest.jsonl",
                         "row-problems.csv"]
        assert len(zipped.read("manifest.jsonl").decode().splitlines()) == 3
        (tmp_path / "a1.pdf").write_bytes(zipped.read("alder/A1/needling-packet.pdf"))
    assert "Ana Lima" in flat(pdf_text(tmp_path / "a1.pdf"))
    gone = page.goto(job_url)
    assert gone is not None
    assert gone.status == 404  # served once, then deleted
    assert batch_folders() == []  # nothing of the batch is left on disk


def batch_folders() -> list[Path]:
    """The batch folders of the server running in this process."""
    return sorted(Path(tempfile.gettempdir()).glob(f"{PREFIX}{os.getpid()}-*/batch-*"))


def test_a_batch_whose_page_was_closed_does_not_block_the_next(site: Site, browser: Browser, page: Page,
                                                               tmp_path: Path) -> None:
    upload = write_csv(tmp_path / "list.csv", [["B1", "alder", "Bo Chan", "needling", "aftercare",
                                                "2026-12-01", "10:30", ""]], HEADER)
    left = browser.new_context(viewport=DESKTOP)  # someone uploads, then closes the tab at once
    tab = left.new_page()
    tab.route("**/status", lambda route: route.abort())  # the closed tab never asks how it went
    tab.goto(site.start)
    tab.goto(site.url + "/batch")
    tab.get_by_label("Appointments file (CSV)").set_input_files(str(upload))
    tab.get_by_role("button", name="Upload and build").click()
    tab.wait_for_url(re.compile(r"/batch/[^/]+$"))
    job = site.jobs.items[tab.url.rsplit("/", 1)[1]]
    left.close()
    job.process.join(timeout=120)  # the abandoned batch ends: a new upload must not be refused
    assert job.process.exitcode == 0, f"the batch process has not ended well: {job.process.exitcode}"
    page.goto(site.url + "/batch")
    page.get_by_label("Appointments file (CSV)").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and build").click()
    assert batch_outcome(page) == "Handouts ready", page.locator("main").inner_text()


def test_batch_rejects_a_bad_header_and_a_large_file(site: Site, page: Page, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("appointment_id,clinic,patient_name\nA1,alder,Ana\n", encoding="utf-8")
    page.goto(site.url + "/batch")
    page.get_by_label("Appointments file (CSV)").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and build").click()
    alert = page.get_by_role("alert")
    assert "Line 1, treatment: Missing column" in alert.inner_text()
    shot(page, "12-batch-bad-header-1280x800")
    big = tmp_path / "big.csv"
    big.write_bytes(b"appointment_id,clinic\n" + b"x" * (3 * 1024 * 1024))
    page.get_by_label("Appointments file (CSV)").set_input_files(str(big))
    page.get_by_role("button", name="Upload and build").click()
    assert "larger than 2 MB" in page.get_by_role("alert").inner_text()


def test_posts_without_the_csrf_token_and_foreign_hosts_are_refused(site: Site, page: Page) -> None:
    page.goto(site.url + "/c/alder/")
    form: dict[str, str | float | bool] = {"documents": "consent", "patient_name": "Ana",
                                           "treatment": "needling", "language": "en", "paper": "a4",
                                           "action": "download"}
    reply = page.request.post(site.url + "/c/alder/", form=form)
    assert reply.status == 400
    assert "This form has expired" in reply.text()
    reply = page.request.post(site.url + "/c/alder/", form={**form, "csrf_token": csrf_token(page)})
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/pdf"
    request = urllib.request.Request(site.url + "/", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    # through a reverse proxy other computers reach the page: without a password it refuses
    proxied = urllib.request.Request(site.url + "/", headers={"X-Forwarded-For": "192.0.2.7"})
    with pytest.raises(urllib.error.HTTPError) as forwarded:
        urllib.request.urlopen(proxied, timeout=10)
    assert forwarded.value.code == 403
    assert b"proxy" in forwarded.value.read()
    with urllib.request.urlopen(site.url + "/c/birch/logo", timeout=10) as logo:  # an SVG
        assert logo.headers["Content-Type"].startswith("image/svg+xml")
        assert logo.headers["Content-Security-Policy"].endswith("; sandbox")


def test_a_password_protects_the_page(browser: Browser, tmp_path: Path) -> None:
    root = copy_library(tmp_path / "lib")
    with serving(root, clinic="birch", password=FRONT_DESK, warm=False) as served:
        url = served.url
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        page.goto(url + "/c/birch/")
        assert page.get_by_role("heading", name="Sign in").is_visible()
        page.get_by_label("Front-desk password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        assert "not right" in page.locator("#password-error").inner_text()
        shot(page, "13-login-1280x800")
        page.get_by_label("Front-desk password").fill(FRONT_DESK)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Handouts for one patient").wait_for()
        assert page.url == url + "/c/birch/"
        (cookie,) = context.cookies()
        assert cookie.get("httpOnly") is True
        assert cookie.get("sameSite") == "Strict"
        assert cookie.get("expires", 0) > 0
        shot(page, "14-birch-form-signed-in-1280x800")
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("heading", name="Sign in").wait_for()
        copied = browser.new_context()  # a copy of the signed-in cookie is useless after sign-out
        copied.add_cookies([{"name": cookie["name"], "value": cookie["value"], "url": url}])
        replay = copied.new_page()
        replay.goto(url + "/c/birch/")
        assert replay.get_by_role("heading", name="Sign in").is_visible()
        copied.close()
        context.close()
        fresh = browser.new_context()  # no session: a POST is refused, nothing is built
        reply = fresh.request.post(url + "/c/birch/", form={"patient_name": "Ana"})
        assert reply.status == 401
        fresh.close()


def test_serve_stops_cleanly_on_sigterm(lib: Path, tmp_path: Path) -> None:
    with ServeProcess(lib, tmp_path / "serve.log", "--port", "0") as server:
        server.address()
        folders = list(Path(tempfile.gettempdir()).glob(f"{PREFIX}{server.process.pid}-*"))
        assert len(folders) == 1
        server.process.send_signal(signal.SIGTERM)
        code, out, err = server.finish()
    assert code == 0, err
    assert out.strip() == "Stopped."
    assert not folders[0].exists()


def test_serve_refuses_another_address_without_a_password(lib: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HANDOUTGEN_PASSWORD"}
    with ServeProcess(lib, tmp_path / "serve.log", "--host", "0.0.0.0", "--port", "0", env=env) as refused:
        assert refused.first_line() is None, refused.output()  # it ends without serving
        code, out, err = refused.finish()
    assert code == 1
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith("error: <command line>:2: --host: '0.0.0.0' can be reached from other computers "
                           "and no front-desk password is set (export HANDOUTGEN_PASSWORD=")
    with ServeProcess(lib, tmp_path / "short.log", "--host", "0.0.0.0", "--port", "0",
                      env={**env, "HANDOUTGEN_PASSWORD": "short"}) as short:
        assert short.first_line() is None, short.output()
        code, _out, err = short.finish()
    assert code == 1
    assert "at least 10 characters" in err


def test_the_large_print_box_gives_the_large_print_edition(site: Site, page: Page, tmp_path: Path) -> None:
    open_form(page, site.url)
    choose(page, "aftercare")
    page.get_by_label("Patient's full name").fill(NAME)
    _name, standard = download(page, "Download PDF", tmp_path)
    page.get_by_label("Large print").check()
    name, large = download(page, "Download PDF", tmp_path)
    assert name == "alder-needling-aftercare.large.pdf"
    drawn = {s.text: s.size for s in spans(large)}
    assert drawn["Keep the area clean."] == 16 and drawn[NAME] >= 14
    assert {s.text: s.size for s in spans(standard)}["Keep the area clean."] == 12
    assert len(PdfReader(large).pages) > len(PdfReader(standard).pages)
