"""The front-desk page against WCAG 2.2 AA in a real Chromium: a focused field is never hidden behind
the form's action bar, the preview can be reached and scrolled by keyboard, and axe-core finds no
serious or critical violation on any page or state. Screenshots go to tests/screenshots/.

axe-core comes from the npm registry: tests/install_axe.sh (run by tests/run.sh) puts it in tests/node/."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin
from xml.etree import ElementTree

import pytest
from conftest import REPO, copy_library
from playwright.sync_api import Browser, Page, Route, ViewportSize
from pypdf import PdfReader
from test_batch import write_csv
from test_web import ADDRESS, FRONT_DESK, HEADER, NAME, Site, batch_outcome, browser, choose, csrf_token, site
from web_helpers import DESKTOP, TABLET, serving, shot

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]
__all__ = ["browser", "site"]  # the fixtures of tests/test_web.py, shared here
AXE = REPO / "tests" / "node" / "node_modules" / "axe-core" / "axe.min.js"
AXE_PATH = "/axe-core-for-tests.js"  # answered by the test's route: the page's CSP stays in force
LAPTOP: ViewportSize = {"width": 1280, "height": 720}
SIZES = (DESKTOP, LAPTOP, TABLET)
# Every WCAG 2.0-2.2 A and AA rule, and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
GRAVE = ("serious", "critical")
SIGNED_OUT = "birch"  # the clinic of the password-protected server


def size_name(size: ViewportSize) -> str:
    return f"{size['width']}x{size['height']}"


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    """A tab at 1280x800 that opened the address with the token and can load axe-core from the test,
    under the page's own CSP."""
    context = browser.new_context(viewport=DESKTOP)
    context.route(f"**{AXE_PATH}", serve_axe)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.goto(site.start)
    yield tab
    context.close()


def serve_axe(route: Route) -> None:
    # An assert here would stop Playwright's handler, not the test, and the page would wait for
    # ever: a missing axe-core is refused, and axe_problems says why.
    if AXE.exists():
        route.fulfill(path=AXE, content_type="text/javascript")
    else:
        route.abort()


def axe_problems(page: Page, state: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    assert AXE.exists(), f"{AXE} is missing: bash tests/install_axe.sh"
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(url=urljoin(page.url, AXE_PATH))
    found: list[dict[str, Any]] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " targets: v.nodes.map(n => n.target.join(' '))})))", AXE_TAGS)
    return [f"{state}: {v['impact']} {v['id']} ({v['help']}) at {', '.join(v['targets'])}"
            for v in found if v["impact"] in GRAVE]


def check_sizes(page: Page, state: str) -> list[str]:
    """Screenshot the state at each size and run axe-core on it; the problems found."""
    problems: list[str] = []
    for size in SIZES:
        page.set_viewport_size(size)
        shot(page, f"a11y-{state}-{size_name(size)}")
        problems += axe_problems(page, f"{state} at {size_name(size)}")
    page.set_viewport_size(DESKTOP)
    return problems


def fill_patient(page: Page) -> None:
    page.get_by_label("Patient's full name").fill(NAME)
    page.get_by_label("Treatment date").fill("2026-12-01")


# Where the focused element is, and whether anything else is drawn over it: elementFromPoint at its
# centre and just inside the middle of each edge (the corners are rounded) must hit it.
FOCUSED = """() => {
  const el = document.activeElement, bar = document.querySelector("#handout-form .actions");
  const r = el.getBoundingClientRect(), b = bar.getBoundingClientRect();
  const x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2;
  const points = [[x, y], [r.left + 3, y], [r.right - 3, y], [x, r.top + 3], [x, r.bottom - 3]];
  const covered = points.filter(([px, py]) => {
    const hit = document.elementFromPoint(px, py);
    return !hit || !(hit === el || el.contains(hit));
  });
  return {name: el.id || el.textContent.trim(), inBar: bar.contains(el), covered: covered.length,
          overlapsBar: r.bottom > b.top && r.top < b.bottom && r.right > b.left && r.left < b.right};
}"""
LAST_BUTTON = "Email to patient"  # the action bar's last button on alder's page


def focus_walk(page: Page, key: str, start: str, end: str) -> tuple[list[str], list[str]]:
    """Press `key` from the element named `start` until `end` has focus; what got focus, and which
    of them were not fully in view or lay under the action bar."""
    seen: list[str] = []
    hidden: list[str] = []
    for _ in range(80):
        page.keyboard.press(key)
        found: dict[str, Any] = page.evaluate(FOCUSED)
        if not seen or seen[-1] != found["name"]:  # a date field's day, month and year are stops of their own
            seen.append(found["name"])
        under_bar = found["overlapsBar"] and not found["inBar"]
        if (found["covered"] or under_bar) and found["name"] not in hidden:
            hidden.append(found["name"])
        if found["name"] == end:
            return seen, hidden
    raise AssertionError(f"{end!r} never got focus from {start!r}: {seen}")


@pytest.mark.parametrize("size", SIZES, ids=size_name)
@pytest.mark.parametrize("state", ["default", "all-documents", "errors"])
def test_a_focused_field_is_never_hidden_by_the_action_bar(site: Site, page: Page, size: ViewportSize,
                                                          state: str) -> None:
    page.set_viewport_size(size)
    page.goto(site.url + "/c/alder/")
    if state != "default":
        choose(page, "consent", "pre-treatment", "aftercare")
    if state == "errors":
        page.get_by_role("button", name="Preview").click()  # no name: the form comes back with errors
        page.get_by_role("alert").wait_for()
    page.locator("main").focus()
    page.evaluate("window.scrollTo(0, 0)")
    seen, hidden = focus_walk(page, "Tab", "main", LAST_BUTTON)
    fields = ["kind-consent", "treatment", "language", "patient_name", "practitioner", "treatment_area",
              "appointment_date", "appointment_time", "next_appointment_date", "next_appointment_time",
              "email", "appointment_id", "Preview", "Print", "Download PDF", LAST_BUTTON]
    if state == "default":  # aftercare alone: the time of treatment is not used
        fields.remove("appointment_time")
    assert [name for name in seen if name in fields] == fields, " ".join(seen)
    shot(page, f"a11y-focus-{state}-{size_name(size)}")
    assert hidden == [], f"hidden when tabbed to at {size_name(size)}: {hidden}"
    back, hidden = focus_walk(page, "Shift+Tab", LAST_BUTTON, "kind-consent")
    assert back[-1] == "kind-consent"
    assert hidden == [], f"hidden when tabbed back to at {size_name(size)}: {hidden}"


def pages_of(page: Page, site: Site, kind: str) -> tuple[str, int]:
    """One document of the form on its own, as a downloaded PDF: its title and how many pages it has."""
    reply = page.request.post(site.url + "/c/alder/", form={
        "csrf_token": csrf_token(page), "documents": kind, "treatment": "needling", "language": "en",
        "paper": "a4", "patient_name": NAME, "appointment_date": "2026-12-01", "action": "download"})
    assert reply.headers["content-type"] == "application/pdf", reply.text()
    reader = PdfReader(io.BytesIO(reply.body()))
    assert reader.metadata is not None and reader.metadata.title
    return reader.metadata.title, len(reader.pages)


@pytest.mark.parametrize("duplex", [False, True], ids=["single-sided", "double-sided"])
def test_preview_pages_are_named_by_document_and_page(site: Site, page: Page, duplex: bool) -> None:
    page.goto(site.url + "/c/alder/")
    kinds = ["consent", "aftercare"]  # the order of a packet
    choose(page, *kinds)
    fill_patient(page)
    page.get_by_label("Double-sided packet").set_checked(duplex)
    page.get_by_role("button", name="Preview").click()
    page.locator("ol.pages img").first.wait_for()
    expected: list[str] = []
    for number, kind in enumerate(kinds, 1):
        title, count = pages_of(page, site, kind)  # pages are named by the document's own title
        expected += [f"{title}, page {n} of {count}" for n in range(1, count + 1)]
        if duplex and count % 2 and number < len(kinds):  # the next document starts on a front side
            expected.append("Blank back page")
    assert page.locator("ol.pages img").evaluate_all("images => images.map(i => i.alt)") == expected


# How far the preview panel (or, when it does not scroll on its own, the page) is scrolled, and how far
# it can be.
SCROLLED = """([panel, own]) => own ? [panel.scrollTop, panel.scrollHeight - panel.clientHeight]
                                   : [window.scrollY, document.documentElement.scrollHeight - innerHeight]"""


@pytest.mark.parametrize("size", SIZES, ids=size_name)
def test_the_preview_is_reached_and_scrolled_by_keyboard(site: Site, page: Page, size: ViewportSize) -> None:
    page.set_viewport_size(size)
    page.goto(site.url + "/c/alder/")
    choose(page, "consent", "aftercare")
    fill_patient(page)
    page.get_by_role("button", name="Preview").click()
    page.locator("ol.pages img").first.wait_for()
    page.get_by_role("button", name=LAST_BUTTON).focus()
    page.keyboard.press("Tab")
    panel = page.get_by_role("region", name=re.compile(r"^Preview: \d+ pages$"))
    assert panel.evaluate("el => el === document.activeElement")
    assert panel.get_attribute("tabindex") == "0"  # browsers that do not focus a scroller of their own
    assert panel.evaluate("el => getComputedStyle(el).outlineStyle") != "none"  # focus is visible
    # Beside the form the panel scrolls on its own; in one column the page scrolls.
    own = panel.evaluate("p => getComputedStyle(p).overflowY == 'auto' && p.scrollHeight > p.clientHeight")
    assert own == (size != TABLET)
    where = [panel.element_handle(), own]
    top, end = page.evaluate(SCROLLED, where)
    assert end > top
    page.keyboard.press("PageDown")
    page.wait_for_function(f"where => ({SCROLLED})(where)[0] > {top}", arg=where)
    page.keyboard.press("End")
    page.wait_for_function(f"where => ({SCROLLED})(where)[0] >= {end} - 1", arg=where)
    shot(page, f"a11y-preview-scrolled-{size_name(size)}")


def test_the_page_has_its_own_favicon(site: Site, page: Page) -> None:
    page.goto(site.url + "/")
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href is not None and href.startswith("/")  # served by the app, not fetched from elsewhere
    reply = page.request.get(site.url + href)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("image/svg+xml")
    assert ElementTree.fromstring(reply.body()).tag == "{http://www.w3.org/2000/svg}svg"


def test_axe_finds_nothing_serious_on_any_page(site: Site, page: Page, tmp_path: Path) -> None:
    problems: list[str] = []
    asked: list[str] = []  # every address the page asks for: nothing of other sites (fonts, icons, scripts)
    page.on("request", lambda request: asked.append(request.url))
    page.goto(site.url + "/")
    problems += check_sizes(page, "choose-clinic")
    page.goto(site.url + "/c/alder/")
    problems += check_sizes(page, "form-empty")
    choose(page, "consent")
    page.get_by_label("Area treated").fill("Face \u4e2d")  # a character alder's font lacks
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("alert").wait_for()
    problems += check_sizes(page, "form-errors")
    choose(page, "consent", "aftercare")
    page.get_by_label("Area treated").fill("Face")
    fill_patient(page)
    page.get_by_role("button", name="Preview").click()
    page.locator("ol.pages img").first.wait_for()
    problems += check_sizes(page, "preview")
    page.get_by_label("Patient's email address").fill(ADDRESS)
    page.get_by_role("button", name="Email to patient").click()
    page.get_by_role("heading", name="Email sent").wait_for()
    problems += check_sizes(page, "email-sent")
    page.goto(site.url + "/batch")
    problems += check_sizes(page, "batch-upload")
    bad = tmp_path / "bad.csv"
    bad.write_text("appointment_id,clinic,patient_name\nA1,alder,Ana\n", encoding="utf-8")
    page.get_by_label("Appointments file (CSV)").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and build").click()
    page.get_by_role("alert").wait_for()
    problems += check_sizes(page, "batch-refused")
    rows = [["A1", "alder", "Ana Lima", "needling", "aftercare", "2026-12-01", "10:30", "ann-ash"],
            ["A2", "alder", "Bad Date", "needling", "aftercare", "2026-13-01", "", ""]]
    page.get_by_label("Appointments file (CSV)").set_input_files(str(write_csv(tmp_path / "list.csv", rows,
                                                                                HEADER)))
    page.get_by_role("button", name="Upload and build").click()
    assert batch_outcome(page) == "Handouts ready", page.locator("main").inner_text()
    problems += check_sizes(page, "batch-result")
    page.goto(site.url + "/c/nowhere/")
    problems += check_sizes(page, "not-found")
    assert problems == [], "\n".join(problems)
    assert [url for url in asked if not url.startswith((site.url + "/", "data:"))] == []


def test_axe_finds_nothing_serious_on_the_sign_in_page(browser: Browser, tmp_path: Path) -> None:
    root = copy_library(tmp_path / "lib")
    context = browser.new_context(viewport=DESKTOP)
    context.route(f"**{AXE_PATH}", serve_axe)
    page = context.new_page()
    with serving(root, clinic=SIGNED_OUT, password=FRONT_DESK, warm=False) as served:
        page.goto(served.url + "/")
        page.get_by_role("heading", name="Sign in").wait_for()
        problems = check_sizes(page, "sign-in")
        page.get_by_label("Front-desk password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        page.locator("#password-error").wait_for()
        problems += check_sizes(page, "sign-in-refused")
        page.get_by_label("Front-desk password").fill(FRONT_DESK)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Handouts for one patient").wait_for()
        problems += check_sizes(page, "signed-in-form")
    context.close()
    assert problems == [], "\n".join(problems)
