"""The dashboard pages show what the store holds, export it as CSV, and guard the marketer's action."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from typing import Any

from polku.web import Page, has_rows, registry

from .conftest import Web


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def busiest_account(web: Web) -> dict[str, Any]:
    key = web.ws.store.query("SELECT account_id FROM accounts ORDER BY contact_count DESC, account_id LIMIT 1")[0]
    return web.ws.account(key["account_id"])


def test_overview_shows_funnel_trend_mix_and_top_accounts(web: Web) -> None:
    web.sign_in("vic")
    page = web.client.get("/overview").text
    stats = web.ws.stats()
    for chart in ("chart-contacts-funnel", "chart-accounts-funnel", "chart-weekly", "chart-channels"):
        assert f'data-chart-for="{chart}"' in page
    assert f"{stats['accounts']:,}" in page and f"{stats['events']:,}" in page
    stages = {r["stage"]: r for r in csv_rows(web.client.get("/overview?export=stages").text)}
    assert {s: int(r["contacts_now"]) for s, r in stages.items()} == stats["contacts_by_stage"]
    assert int(stages["visitor"]["contacts_reached"]) == stats["contacts"]  # everyone reached the first stage
    top = csv_rows(web.client.get("/overview?export=top_accounts").text)
    assert [r["account_id"] for r in top] == [a["account_id"] for a in stats["top_accounts"]]
    weekly = csv_rows(web.client.get("/overview?export=weekly").text)
    assert len(weekly) == 52 and set(weekly[0]) >= {"week", "lead_contacts", "opportunity_contacts"}
    assert '<script src="https://' not in page and "cdn" not in page.lower()  # everything is served locally


def test_search_finds_accounts_and_contacts(web: Web) -> None:
    web.sign_in("vic")
    account = busiest_account(web)["account"]
    page = web.client.get("/search", params={"q": account["domain"]}).text
    assert f'href="/accounts/{account["account_id"]}"' in page
    member = next(m for m in busiest_account(web)["buying_group"] if m["email"])
    found = csv_rows(web.client.get("/search", params={"q": member["email"].upper(), "export": "contacts"}).text)
    assert found[0]["contact_id"] == member["contact_id"]
    assert "at least 2 characters" in web.client.get("/search?q=x").text


def test_account_page_matches_the_store(web: Web) -> None:
    web.sign_in("vic")
    view = busiest_account(web)
    aid = view["account"]["account_id"]
    page = web.client.get(f"/accounts/{aid}").text
    grid = page[page.index('id="buying-map"'):page.index("</table>", page.index('id="buying-map"'))]
    rows = re.findall(r'data-level="(\w+)">(.*?)</tr>', grid, flags=re.S)
    placed = {cid: level for level, html in rows for cid in re.findall(r'data-contact="([^"]+)"', html)}
    assert placed == {m["contact_id"]: m["org_level"] or "unknown" for m in view["buying_group"]}
    group = csv_rows(web.client.get(f"/accounts/{aid}?export=buying_group").text)
    assert [r["contact_id"] for r in group] == [m["contact_id"] for m in view["buying_group"]]
    timeline = csv_rows(web.client.get(f"/accounts/{aid}?export=timeline").text)
    assert len(timeline) == view["event_count"]  # the export holds every touchpoint (under 10,000)
    assert [r["event_id"] for r in timeline[:50]] == [e["event_id"] for e in view["timeline"]]
    shown = re.findall(r"<td[^>]*>(\w{16})</td></tr>", page)
    assert shown == [e["event_id"] for e in view["timeline"]]
    history = csv_rows(web.client.get(f"/accounts/{aid}?export=stage_history").text)
    assert [r["stage"] for r in history] == [h["stage"] for h in view["stage_history"]]


def test_timeline_filters(web: Web) -> None:
    web.sign_in("vic")
    view = busiest_account(web)
    aid = view["account"]["account_id"]
    email = web.ws.account(aid, channel="email", limit=1000)
    rows = csv_rows(web.client.get(f"/accounts/{aid}?channel=email&export=timeline").text)
    assert [r["event_id"] for r in rows] == [e["event_id"] for e in email["timeline"]]
    last = view["timeline"][0]
    day = last["ts"].date().isoformat()
    rows = csv_rows(web.client.get(f"/accounts/{aid}", params={"type": last["type"], "since": day, "until": day,
                                                                "export": "timeline"}).text)
    assert rows and all(r["type"] == last["type"] and r["ts"].startswith(day) for r in rows)
    assert last["event_id"] in {r["event_id"] for r in rows}
    bad = web.client.get(f"/accounts/{aid}?channel=fax")
    assert bad.status_code == 422 and "unknown channel" in bad.text


def test_csv_export_defuses_spreadsheet_formulas() -> None:
    from polku.web.tables import Column, Table, _lines

    text = "".join(_lines(Table("t", "T", [Column("a", "A"), Column("n", "N")], [{"a": "=HYPERLINK(1)", "n": -3}])))
    assert csv_rows(text) == [{"a": "'=HYPERLINK(1)", "n": "-3"}]


def test_contact_page_and_the_lead_decision_by_role(web: Web) -> None:
    store = web.ws.store
    lead = store.query("SELECT contact_id FROM contacts WHERE stage = 'lead' ORDER BY contact_id LIMIT 1")[0]["contact_id"]
    web.sign_in("vic")
    page = web.client.get(f"/contacts/{lead}").text
    assert "not accept or reject" in page and f'action="/contacts/{lead}/lead"' not in page  # no form for a viewer
    r = web.client.post(f"/contacts/{lead}/lead", data={"decision": "accept", "reason": "x", "csrf": web.csrf()})
    assert r.status_code == 403 and "viewer" in unescape(r.text)
    assert web.ws.contact(lead)["contact"]["stage"] == "lead"
    web.client.cookies.clear()
    web.sign_in("mark")
    page = web.client.get(f"/contacts/{lead}").text
    assert f'action="/contacts/{lead}/lead"' in page
    r = web.client.post(f"/contacts/{lead}/lead", data={"decision": "accept", "reason": "budget agreed",
                                                        "csrf": web.csrf()})
    assert r.status_code == 200 and "Lead accepted" in r.text
    view = web.ws.contact(lead)
    assert view["contact"]["stage"] == "opportunity"
    assert view["timeline"][0]["type"] == "sales_accepted" and view["timeline"][0]["properties"]["by"] == "mark"


def test_a_registered_page_appears_only_when_its_data_exists(web: Web) -> None:
    from fastapi import APIRouter
    from fastapi.responses import HTMLResponse

    from polku.api import create_app
    from polku.web.site import Site

    def routes(site: Site) -> APIRouter:
        api = APIRouter(route_class=site.route_class)

        @api.get("/scores-demo", response_class=HTMLResponse)
        def scores() -> str:
            return "scores here"

        return api

    page = registry.add_page(Page("scores-demo", "Scores demo", "/scores-demo", routes=routes,
                                  available=lambda ws: has_rows(ws, "scores_demo"), order=30))
    try:
        from fastapi.testclient import TestClient

        with TestClient(create_app(web.ws)) as client:
            web.client, old = client, web.client
            try:
                web.sign_in("vic")
                assert "Scores demo" not in client.get("/overview").text
                assert client.get("/scores-demo").status_code == 404
                web.ws.store.execute("CREATE TABLE scores_demo AS SELECT 1 AS x")
                registry._cache.clear()
                assert 'href="/scores-demo"' in client.get("/overview").text
                assert client.get("/scores-demo").text == "scores here"
                client.cookies.clear()
                assert client.get("/scores-demo", follow_redirects=False).status_code == 303
            finally:
                web.client = old
    finally:
        registry.pages.remove(page)
        registry._cache.clear()


def test_panels_add_tables_to_the_360_pages(web: Web) -> None:
    from polku.web import Panel
    from polku.web.tables import Column, Table

    def tables(ws: Any, subject: str, sid: str) -> list[Table]:
        return [Table("demo_score", "Demo score", [Column("why", "Why")], [{"why": f"{subject} {sid}"}])]

    panel = registry.add_panel(Panel("demo-score", "Demo score", tables=tables))
    try:
        web.sign_in("vic")
        aid = busiest_account(web)["account"]["account_id"]
        assert "Demo score" in web.client.get(f"/accounts/{aid}").text
        assert csv_rows(web.client.get(f"/accounts/{aid}?export=demo_score").text) == [{"why": f"account {aid}"}]
    finally:
        registry.panels.remove(panel)
        registry._cache.clear()


def test_unknown_things_get_html_error_pages(web: Web) -> None:
    web.sign_in("vic")
    r = web.client.get("/accounts/no-such-account")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"] and "no account" in unescape(r.text)
    r = web.client.get(f"/accounts/{busiest_account(web)['account']['account_id']}?export=nope")
    assert r.status_code == 404 and "no table" in unescape(r.text)
