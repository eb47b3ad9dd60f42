"""The Journeys pages and the score panels in Debian's Chromium (Playwright, headless) against a real `polku serve`.

The world of conftest.py gets journeys that ran and a rescore (``test_journeys_page.prepare``)
before the server takes the workspace over. A marketer pauses and resumes a journey (with the
keyboard too), a viewer gets no button and a hand-made POST is refused; screenshots of the
pages go to test-output/screenshots/ (git-ignored; or POLKU_SCREENSHOTS).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from polku import Workspace

from .conftest import PASSWORD
from .serving import polku_server, screenshots
from .test_journeys_page import prepare

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed here (apt-get install chromium); CI installs it"
)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402 - after the skip reason


@dataclass
class Served:
    base: str
    home: Path
    contact: str  # the best-scored contact
    grade: str  # its grade as of the rescore
    account: str  # an account with a score and CX answers
    shots: Path



@pytest.fixture(scope="module")
def served(world_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("browser-journeys") / "ws"
    shutil.copytree(world_home, home)
    with Workspace(home) as ws:
        facts: dict[str, Any] = prepare(ws)
        best = ws.leads.ranked(limit=1)[0]
    shots = screenshots()
    with polku_server(home) as base:
        yield Served(base, home, best["contact_id"], best["grade"], facts["account"], shots)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield b
        b.close()


def sign_in(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/overview")


def status_in_file(served: Served) -> str:
    """The journey's status as its file says (the server owns the database, not the files)."""
    from polku.nurture.loader import load_definitions

    return load_definitions(served.home).journeys["welcome"].status


def test_a_marketer_pauses_and_resumes_a_journey(served: Served, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in(page, served.base, "mark")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Journeys").click()
    expect(page).to_have_url(f"{served.base}/journeys")
    expect(page.get_by_role("heading", name="Journeys", level=1)).to_be_visible()
    expect(page.locator("#table-journeys tr[data-journey='welcome'] .status")).to_have_text("active")
    page.screenshot(path=served.shots / "journeys.png", full_page=True)

    page.get_by_role("link", name="Welcome series").click()
    expect(page).to_have_url(f"{served.base}/journeys/welcome")
    for chart in ("chart-steps", "chart-rates", "chart-lift"):
        expect(page.locator(f"#{chart}[data-drawn='true'] svg")).to_have_count(1)  # ECharts drew it
    expect(page.get_by_role("img", name="Contacts per step, and messages sent, opened and clicked")).to_be_visible()
    expect(page.locator("#report-warnings")).to_contain_text("too small to tell")
    expect(page.locator("#table-lift dd[data-key='verdict']")).to_contain_text("points")
    page.screenshot(path=served.shots / "journey.png", full_page=True)

    # keyboard only: from the top of the content, Tab reaches the crumbs link, then the pause button; Enter presses it
    page.locator("main").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Journeys").last).to_be_focused()
    page.keyboard.press("Tab")
    pause = page.get_by_role("button", name="Pause journey Welcome series")
    expect(pause).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{served.base}/journeys/welcome?done=paused")
    expect(page.get_by_role("status").first).to_contain_text("Journey paused")
    expect(page.locator("h1 .status")).to_have_text("paused")
    assert status_in_file(served) == "paused"
    page.screenshot(path=served.shots / "journey-paused.png", full_page=True)

    # resume from the list, with the mouse
    page.goto(f"{served.base}/journeys")
    page.get_by_role("button", name="Resume journey Welcome series").click()
    expect(page).to_have_url(f"{served.base}/journeys?done=resumed&journey=welcome")
    expect(page.locator("#table-journeys tr[data-journey='welcome'] .status")).to_have_text("active")
    expect(page.get_by_role("button", name="Pause journey Welcome series")).to_be_visible()
    assert status_in_file(served) == "active"
    context.close()


def test_a_viewer_cannot_pause_a_journey(served: Served, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in(page, served.base, "vic")
    page.goto(f"{served.base}/journeys")
    expect(page.locator("#table-journeys")).to_contain_text("Welcome series")
    expect(page.get_by_role("button", name="Pause journey Welcome series")).to_have_count(0)
    page.goto(f"{served.base}/journeys/welcome")
    expect(page.get_by_role("button", name="Pause journey Welcome series")).to_have_count(0)
    expect(page.locator(".journey-action")).to_contain_text("can see this journey but not pause or resume it")
    # even a hand-made request with the session's own CSRF token is refused
    csrf = page.locator("form.signout input[name=csrf]").get_attribute("value")
    answer = page.request.post(f"{served.base}/journeys/welcome/pause", form={"csrf": csrf or ""})
    assert answer.status == 403
    assert status_in_file(served) == "active"
    page.reload()
    expect(page.locator("h1 .status")).to_have_text("active")
    page.screenshot(path=served.shots / "journey-viewer.png", full_page=True)
    context.close()


def test_score_panels_on_the_contact_and_account_pages(served: Served, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in(page, served.base, "vic")
    page.goto(f"{served.base}/contacts/{served.contact}")
    panel = page.get_by_role("region", name="Score", exact=True)
    expect(panel).to_be_visible()
    expect(panel.get_by_role("heading", name="Lead score")).to_be_visible()
    expect(page.locator("#table-score dd[data-key='grade']")).to_have_text(served.grade)
    expect(page.locator("#table-score_reasons tbody tr").first).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Export CSV\s*: Why this score$"))).to_be_visible()
    page.screenshot(path=served.shots / "contact-score.png", full_page=True)

    page.goto(f"{served.base}/accounts/{served.account}")
    expect(page.get_by_role("heading", name="Account score and buying-group coverage")).to_be_visible()
    expect(page.locator("#buying-map .person-cx").first).to_contain_text("Latest CX:")
    expect(page.locator("#buying-map .person-score").first).to_contain_text("Score")
    page.screenshot(path=served.shots / "account-score.png", full_page=True)
    # a tablet in portrait shows the journey page without sideways scrolling of the page
    tablet = browser.new_context(viewport={"width": 820, "height": 1180}, storage_state=context.storage_state())
    tab = tablet.new_page()
    tab.goto(f"{served.base}/journeys/welcome")
    expect(tab.locator("#chart-lift[data-drawn='true'] svg")).to_have_count(1)
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    tab.screenshot(path=served.shots / "journey-tablet.png", full_page=True)
    tablet.close()
    context.close()
