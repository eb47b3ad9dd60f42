"""End to end in Debian's Chromium (Playwright, headless) against a real `polku serve` on 127.0.0.1.

The workspace is a simulated world with two users (the CLI that makes users is tested in test_users_cli.py).
What the pages must show is read from the workspace before the server takes it over. Each
page is saved as a screenshot in test-output/screenshots/ (git-ignored; or POLKU_SCREENSHOTS).
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from polku import Workspace
from polku.web import users

from .conftest import PASSWORD
from .serving import polku_server, screenshots

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed here (apt-get install chromium); CI installs it"
)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402 - after the skip reason



@dataclass
class Served:
    base: str
    account: dict[str, Any]  # Workspace.account(key) of the busiest account, read before serving
    email_view: dict[str, Any]  # the same account's timeline filtered to e-mail
    lead: str  # a contact in the lead stage
    shots: Path


@pytest.fixture(scope="module")
def served(world_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("browser") / "ws"
    shutil.copytree(world_home, home)
    with Workspace(home) as ws:
        for name, role in (("alma", "admin"), ("vera", "viewer")):
            users.create_user(ws.store, name, role, PASSWORD)
        key = ws.store.query("SELECT account_id FROM accounts ORDER BY contact_count DESC, account_id LIMIT 1")[0]
        account = ws.account(key["account_id"])
        email_view = ws.account(key["account_id"], channel="email")
        lead = ws.store.query("SELECT contact_id FROM contacts WHERE stage = 'lead' ORDER BY contact_id LIMIT 1")
    shots = screenshots()
    with polku_server(home) as base:
        yield Served(base, account, email_view, lead[0]["contact_id"], shots)
    print(f"\nscreenshots of the dashboard: {shots}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield b
        b.close()


def sign_in(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login?next=%2Foverview")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/overview")


def test_sign_in_overview_search_account_and_contact(served: Served, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    sign_in(page, served.base, "alma")
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    for chart in ("chart-contacts-funnel", "chart-accounts-funnel", "chart-weekly", "chart-channels"):
        expect(page.locator(f"#{chart}[data-drawn='true'] svg")).to_have_count(1)  # ECharts drew it
    page.screenshot(path=served.shots / "overview.png", full_page=True)

    # keyboard: the first Tab lands on the skip link, which moves focus to the content
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()

    a = served.account["account"]
    page.get_by_role("searchbox", name="Search accounts and contacts").fill(a["domain"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Search", level=1)).to_be_visible()
    page.screenshot(path=served.shots / "search.png", full_page=True)
    page.locator("#table-accounts").get_by_role("link", name=a["name"]).click()
    expect(page).to_have_url(f"{served.base}/accounts/{a['account_id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(a["name"])

    # the buying-group map puts every member of the store's buying group in their level's row
    for m in served.account["buying_group"]:
        level = m["org_level"] or "unknown"
        person = page.locator(f"#buying-map tr[data-level='{level}'] a[data-contact='{m['contact_id']}']")
        expect(person).to_have_count(1)
        expect(person.locator(".stage")).to_have_text(m["stage"])
    # the timeline lists the store's latest touchpoints, in order
    ids = page.locator("#table-timeline tbody tr td:last-child").all_inner_texts()
    assert ids == [e["event_id"] for e in served.account["timeline"]]
    expect(page.locator("#chart-activity[data-drawn='true'] svg")).to_have_count(1)
    page.screenshot(path=served.shots / "account.png", full_page=True)

    # filter the timeline to e-mail with the form
    page.get_by_label("Channel", exact=True).select_option("email")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(f"{served.base}/accounts/{a['account_id']}?channel=email&type=&since=&until=&limit=50")
    expect(page.get_by_label("Channel", exact=True)).to_have_value("email")
    expect(page.locator("#table-timeline tbody tr")).to_have_count(len(served.email_view["timeline"]))
    ids = page.locator("#table-timeline tbody tr td:last-child").all_inner_texts()
    assert ids == [e["event_id"] for e in served.email_view["timeline"]]

    # export the buying group as CSV
    with page.expect_download() as download:
        page.locator("#t-buying_group + a.export, .table-head:has(#t-buying_group) a.export").first.click()
    path = download.value.path()
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["contact_id"] for r in rows] == [m["contact_id"] for m in served.account["buying_group"]]
    assert [r["stage"] for r in rows] == [m["stage"] for m in served.account["buying_group"]]

    # one person of the map opens their own 360° view
    first = served.account["buying_group"][0]
    page.locator(f"#buying-map a[data-contact='{first['contact_id']}']").click()
    expect(page).to_have_url(f"{served.base}/contacts/{first['contact_id']}")
    expect(page.locator("#table-stage_history")).to_be_visible()
    page.screenshot(path=served.shots / "contact.png", full_page=True)

    page.goto(f"{served.base}/users")
    expect(page.locator("#table-users")).to_contain_text("vera")
    page.screenshot(path=served.shots / "users.png", full_page=True)

    # a tablet in portrait shows the same account page without sideways scrolling of the page
    tablet = browser.new_context(viewport={"width": 820, "height": 1180}, storage_state=context.storage_state())
    tab = tablet.new_page()
    tab.goto(f"{served.base}/accounts/{a['account_id']}")
    expect(tab.locator("#buying-map")).to_be_visible()
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    tab.screenshot(path=served.shots / "account-tablet.png", full_page=True)
    tablet.close()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{served.base}/login")
    context.close()


def test_a_viewer_cannot_act(served: Served, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in(page, served.base, "vera")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Users")).to_have_count(0)
    page.goto(f"{served.base}/contacts/{served.lead}")
    expect(page.locator(".lead-decision")).to_contain_text("not accept or reject")
    expect(page.get_by_role("button", name="Record decision")).to_have_count(0)
    # even a hand-made request with the session's own CSRF token is refused
    csrf = page.locator("form.signout input[name=csrf]").get_attribute("value")
    answer = page.request.post(f"{served.base}/contacts/{served.lead}/lead",
                               form={"decision": "accept", "reason": "sneaky", "csrf": csrf or ""})
    assert answer.status == 403
    response = page.goto(f"{served.base}/users")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("viewer")
    page.screenshot(path=served.shots / "viewer-refused.png", full_page=True)
    page.goto(f"{served.base}/contacts/{served.lead}")
    expect(page.locator("h1 .stage")).to_have_text("lead")  # nothing changed
    context.close()


def test_analytics_pages_draw_their_charts(served: Served, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in(page, served.base, "vera")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Funnels").click()
    expect(page.get_by_role("heading", name="Funnel builder", level=1)).to_be_visible()
    page.get_by_label("Add a step").select_option("stage:opportunity")
    page.get_by_role("button", name="Show funnel").click()
    expect(page.locator("#table-steps tbody tr")).to_have_count(4)  # the three default steps and the added one
    expect(page.locator("#chart-funnel[data-drawn='true'] svg")).to_have_count(1)
    page.screenshot(path=served.shots / "analytics-funnel.png", full_page=True)
    page.goto(f"{served.base}/analytics/paths")
    expect(page.locator("#chart-paths[data-drawn='true'] svg")).to_have_count(1)
    page.screenshot(path=served.shots / "analytics-paths.png", full_page=True)
    tablet = browser.new_context(viewport={"width": 820, "height": 1180}, storage_state=context.storage_state())
    tab = tablet.new_page()
    tab.goto(f"{served.base}/analytics/attribution")
    expect(tab.locator("#chart-attribution[data-drawn='true'] svg")).to_have_count(1)
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    tab.screenshot(path=served.shots / "analytics-attribution-tablet.png", full_page=True)
    tablet.close()
    context.close()
