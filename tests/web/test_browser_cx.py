"""The CX pages and panels in Debian's Chromium (Playwright, headless) against a real `polku serve`.

The world of conftest.py gets the CX data of ``test_cx_pages.prepare`` (cx.yaml targets, an
answered survey, alerts) before the server takes the workspace over. A marketer opens the CX
page, a survey and an account's health panel and closes an alert; a viewer sees the alert
without a form and a hand-made POST is refused. Screenshots go to test-output/screenshots/
(git-ignored; or POLKU_SCREENSHOTS).
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
from .test_cx_pages import HOSTILE, prepare

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed here (apt-get install chromium); CI installs it"
)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402 - after the skip reason


@dataclass
class Served:
    base: str
    home: Path
    facts: dict[str, Any]
    shots: Path



@pytest.fixture(scope="module")
def served(world_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("browser-cx") / "ws"
    shutil.copytree(world_home, home)
    with Workspace(home) as ws:
        facts = prepare(ws)
    shots = screenshots()
    with polku_server(home) as base:
        yield Served(base, home, facts, shots)


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


def test_cx_targets_a_survey_and_an_accounts_health(served: Served, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in(page, served.base, "mark")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="CX", exact=True).click()
    expect(page).to_have_url(f"{served.base}/cx")
    expect(page.get_by_role("heading", name="CX targets and scores", level=1)).to_be_visible()
    for chart in ("chart-targets-nps", "chart-targets-ces", "chart-scores-nps", "chart-scores-ces"):
        expect(page.locator(f"#{chart}[data-drawn='true'] svg")).to_have_count(1)  # ECharts drew it
    expect(page.locator("#table-targets tr[data-target='onboarding-effort']")).to_contain_text("not enough data")
    expect(page.locator("#cx-headline li[data-measure='nps'] .kpi")).not_to_have_text("–")
    # keyboard: the breakdown is a labelled select, changed and submitted without a mouse
    page.get_by_label("Break scores down by").focus()
    page.keyboard.press("ArrowDown")  # org level -> role
    page.get_by_role("button", name="Show").press("Enter")
    expect(page).to_have_url(re.compile(r"/cx\?by=role"))
    expect(page.get_by_role("heading", name="Scores by role")).to_be_visible()
    page.screenshot(path=served.shots / "cx.png", full_page=True)

    page.get_by_role("navigation", name="CX pages").get_by_role("link", name="Surveys").click()
    expect(page).to_have_url(f"{served.base}/cx/surveys")
    page.get_by_role("link", name="onboarding", exact=True).click()
    expect(page).to_have_url(f"{served.base}/cx/surveys/onboarding")
    expect(page.get_by_role("heading", name="How was getting started?", level=1)).to_be_visible()
    expect(page.locator("#table-survey dd[data-key='response_rate']")).to_have_text("75")
    for chart in ("chart-dist-nps", "chart-dist-ces"):
        expect(page.locator(f"#{chart}[data-drawn='true'] svg")).to_have_count(1)
    expect(page.locator("#table-comments")).to_contain_text(HOSTILE)  # shown as text, not run as HTML
    expect(page.locator("#table-comments b")).to_have_count(0)
    page.screenshot(path=served.shots / "cx-survey.png", full_page=True)

    if page.get_by_role("navigation", name="CX pages").get_by_role("link", name="Feedback").count():
        page.get_by_role("navigation", name="CX pages").get_by_role("link", name="Feedback").click()
        expect(page.get_by_role("heading", name="Feedback topics", level=1)).to_be_visible(timeout=60_000)
        expect(page.locator("#chart-topics[data-drawn='true'] svg")).to_have_count(1)
        expect(page.locator("#table-examples")).to_contain_text("Nothing works.")
        page.screenshot(path=served.shots / "cx-feedback.png", full_page=True)

    page.goto(f"{served.base}/accounts/{served.facts['account']}")
    panel = page.get_by_role("region", name="CX health", exact=True)
    expect(panel).to_be_visible()
    expect(page.locator("#table-cx_health dd[data-key='health']")).not_to_have_text("–")
    expect(page.locator("#chart-cx-components[data-drawn='true'] svg")).to_have_count(1)
    grid = page.locator("#cx-network-grid")
    expect(grid.locator("tr[data-level]")).to_have_count(3)
    expect(grid.locator("td[data-role='all']")).to_have_count(3)
    page.screenshot(path=served.shots / "account-cx-health.png", full_page=True)

    # a tablet in portrait shows the CX page without sideways scrolling of the page
    tablet = browser.new_context(viewport={"width": 820, "height": 1180}, storage_state=context.storage_state())
    tab = tablet.new_page()
    tab.goto(f"{served.base}/cx")
    expect(tab.locator("#chart-scores-nps[data-drawn='true'] svg")).to_have_count(1)
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    tab.screenshot(path=served.shots / "cx-tablet.png", full_page=True)
    tablet.close()
    context.close()


def test_a_viewer_cannot_close_an_alert_and_a_marketer_can(served: Served, browser: Browser) -> None:
    alert = served.facts["alert"]
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in(page, served.base, "vic")
    page.goto(f"{served.base}/cx/risks")
    expect(page.locator(f"#table-alerts tr[data-alert='{alert}'] .cx-status")).to_have_text("open")
    page.screenshot(path=served.shots / "cx-risks.png", full_page=True)
    page.get_by_role("link", name=f"Open alert {alert}").click()
    expect(page).to_have_url(f"{served.base}/cx/alerts/{alert}")
    expect(page.locator("#alert-readonly")).to_contain_text("not acknowledge or close it")
    expect(page.get_by_role("button", name=re.compile("^Record"))).to_have_count(0)
    csrf = page.locator("form.signout input[name=csrf]").get_attribute("value")
    answer = page.request.post(f"{served.base}/cx/alerts/{alert}", form={"csrf": csrf or "", "action": "close"})
    assert answer.status == 403
    page.reload()
    expect(page.locator("h1 .cx-status")).to_have_text("open")
    page.screenshot(path=served.shots / "cx-alert-viewer.png", full_page=True)
    context.close()

    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in(page, served.base, "mark")
    page.goto(f"{served.base}/cx/alerts/{alert}")
    page.get_by_label("Close: it is handled").check()
    page.get_by_label("Note: what was done").fill("Called the customer; the invoice is fixed.")
    page.get_by_role("button", name=f"Record action on alert {alert}").click()
    expect(page).to_have_url(f"{served.base}/cx/alerts/{alert}?done=close")
    expect(page.get_by_role("status")).to_contain_text("Alert closed")
    expect(page.locator("h1 .cx-status")).to_have_text("closed")
    expect(page.locator("#table-actions")).to_contain_text("Called the customer; the invoice is fixed.")
    page.screenshot(path=served.shots / "cx-alert-closed.png", full_page=True)
    context.close()
