"""The Journeys pages, pausing and resuming from the dashboard, and the score panels of the 360° pages.

The world of conftest.py gets a content library, two journeys (one run by a real tick whose
e-mails a loopback SMTP server receives, some opened and clicked through the same events the
tracking links record) and a rescore; what the pages show is compared with what the
library's functions (the ones behind the /v1 routes) answer.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from polku import Workspace
from polku.api import create_app
from polku.nurture import ops
from polku.nurture.delivery import Deliverer
from polku.nurture.engine import Engine
from polku.nurture.report import journey_report
from polku.nurture.settings import SmtpSettings
from polku.web import registry, scored

from .conftest import Web, copy_home

LIBRARY = """templates:
  - id: hello
    subject: "Hello {{ contact.name | default('there') }}"
    text: "Hi, read our guide: {{ link('https://example.com/guide') }}"
"""
WELCOME = {"name": "Welcome series", "trigger": {"stage": {"at_least": "prospect"}}, "holdout": 0.3,
           "goal": {"stage": "customer", "within": "30d"},
           "steps": [{"id": "intro", "send": "hello"}, {"id": "later", "wait": "3d"}, {"id": "again", "send": "hello"}]}
VIP = {"name": "VIP follow-up", "trigger": {"manual": True}, "steps": [{"id": "w", "wait": "1d"}]}


class _Accept:
    """An SMTP handler that takes every message."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(ws: Workspace) -> dict[str, Any]:
    """Journeys that ran (e-mails delivered, some opened and clicked), a rescore and two CX answers of new shape."""
    home = ws.home
    (home / "content").mkdir(exist_ok=True)
    (home / "content" / "library.yaml").write_text(LIBRARY, encoding="utf-8")
    (home / "journeys").mkdir(exist_ok=True)
    for jid, body in (("welcome", WELCOME), ("vip", VIP)):
        (home / "journeys" / f"{jid}.yaml").write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    engine = Engine(ws)
    now = engine.tick().now
    port = free_port()
    controller = Controller(_Accept(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        deliverer = Deliverer(ws, settings=SmtpSettings(host="127.0.0.1", port=port, security="none", connections=2))
        try:
            deliverer.deliver()
        finally:
            deliverer.close()
    finally:
        controller.stop()
    sent = ws.store.query("SELECT message_id, recipient FROM nurture_outbox WHERE status = 'sent' ORDER BY message_id")
    tracking = []  # what /t/open and /t/click record
    for n, m in enumerate(sent[:20]):
        props = {"message_id": m["message_id"], "journey": "welcome", "step": "intro"}
        tracking.append({"event_id": f"open:{m['message_id']}", "type": "email_open", "channel": "email",
                         "email": m["recipient"], "properties": props})
        if n % 3 == 0:
            tracking.append({"event_id": f"click:{m['message_id']}:x", "type": "email_click", "channel": "email",
                             "email": m["recipient"], "properties": {**props, "url": "https://example.com/guide"}})
    assert not ws.ingest(tracking, "nurture-tracking").rejected
    engine.tick(now + timedelta(days=4))  # the second e-mail is queued
    last = ws.store.query("SELECT max(ts) AS ts FROM events WHERE type <> 'identify'")[0]["ts"]
    account = ws.store.query("SELECT account_id FROM accounts ORDER BY contact_count DESC, account_id LIMIT 1")[0]["account_id"]
    members = ws.store.query("SELECT contact_id, email FROM contacts WHERE account_id = ? AND email IS NOT NULL "
                             "ORDER BY contact_id", [account])
    answers = [{"event_id": f"cx-{i}", "type": "survey_answered", "channel": "email", "email": m["email"],
                "ts": (last - timedelta(days=1)).isoformat(),
                "properties": {"survey": "relationship", "scores": {"nps": 9 - i}}} for i, m in enumerate(members[:2])]
    assert not ws.ingest(answers, "test").rejected
    ws.refresh()
    ws.leads.rescore(as_of=last, qualify=False)
    return {"account": account, "answered": [m["contact_id"] for m in members[:2]]}


@pytest.fixture(scope="module")
def jweb(world_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Web, dict[str, Any]]]:
    """The world with journeys and scores, served by an in-process app."""
    home = copy_home(world_home, tmp_path_factory.mktemp("journeys-page") / "ws")
    with Workspace(home) as ws:
        facts = prepare(ws)
        registry._cache.clear()
        with TestClient(create_app(ws, refresh_seconds=0.2)) as client:
            yield Web(client, ws), facts
    registry._cache.clear()


@pytest.fixture
def jw(jweb: tuple[Web, dict[str, Any]]) -> Iterator[tuple[Web, dict[str, Any]]]:
    """The module's app with a clean cookie jar."""
    jweb[0].client.cookies.clear()
    yield jweb
    jweb[0].client.cookies.clear()


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def pct(value: float | None) -> str:
    return "" if value is None else f"{round(100 * value, 1):g}"


def test_the_journeys_page_lists_status_and_counts(jw) -> None:
    web, _ = jw
    web.sign_in("vic")
    page = web.client.get("/overview").text
    assert 'href="/journeys"' in page  # in the navigation once journeys exist
    listed = ops.list_journeys(web.ws)  # GET /v1/journeys
    rows = csv_rows(web.client.get("/journeys?export=journeys").text)
    assert [r["id"] for r in rows] == [j["id"] for j in listed] == ["vip", "welcome"]
    for r, j in zip(rows, listed, strict=True):
        assert (r["status"], int(r["enrolled"]), int(r["active"]), int(r["completed"]), int(r["goal_reached"])) == (
            j["status"], j["enrolled"], j["active"], j["completed"], j["goal_reached"])
    welcome = next(j for j in listed if j["id"] == "welcome")
    assert welcome["enrolled"] > 30 and welcome["in_holdout"] > 0
    html = web.client.get("/journeys").text
    assert 'href="/journeys/welcome"' in html and "Welcome series" in html
    assert "/journeys/welcome/pause" not in html and "not pause or resume them" in html  # a viewer gets no buttons


def test_a_journey_page_shows_steps_holdout_and_lift(jw) -> None:
    web, _ = jw
    web.sign_in("vic")
    report = journey_report(web.ws.store, "welcome")  # GET /v1/journeys/welcome/report
    page = unescape(web.client.get("/journeys/welcome").text)
    for warning in report["warnings"]:
        assert warning in page
    assert any("too small to tell" in w for w in report["warnings"])
    assert report["verdict"] in page
    for chart in ("chart-steps", "chart-rates", "chart-lift"):
        assert f'data-chart-for="{chart}"' in page
    steps = csv_rows(web.client.get("/journeys/welcome?export=steps").text)
    assert [(s["step_id"], s["kind"], int(s["ran"])) for s in steps] == [
        (s["step_id"], s["kind"], s["ran"]) for s in report["steps"]]
    intro = steps[0]
    expected = report["steps"][0]
    assert (int(intro["sent"]), int(intro["opened"]), int(intro["clicked"])) == (
        expected["sent"], expected["opened"], expected["clicked"])
    assert expected["sent"] > 20 and expected["opened"] == 20 and expected["clicked"] == 7
    assert intro["open_rate"] == pct(expected["opened"] / expected["sent"])
    assert int(steps[2]["queued"]) == report["steps"][2]["queued"] > 0  # the second e-mail waits in the outbox
    lift = csv_rows(web.client.get("/journeys/welcome?export=lift").text)[0]
    assert (lift["lift_points"], lift["low_points"], lift["high_points"]) == (
        pct(report["lift"]["estimate"]), pct(report["lift"]["low"]), pct(report["lift"]["high"]))
    arms = {r["arm"]: r for r in csv_rows(web.client.get("/journeys/welcome?export=arms").text)}
    assert int(arms["Holdout"]["enrolled"]) == report["arms"]["control"]["enrolled"]
    assert int(arms["In the journey"]["enrolled"]) == report["arms"]["treatment"]["enrolled"]
    # a journey that never enrolled anyone has a page too; an unknown one is a 404 page
    vip = web.client.get("/journeys/vip")
    assert vip.status_code == 200 and "VIP follow-up" in vip.text and "the journey has no goal" in unescape(vip.text)
    missing = web.client.get("/journeys/nope")
    assert missing.status_code == 404 and "no journey" in unescape(missing.text)


def test_a_marketer_pauses_and_resumes_and_a_viewer_cannot(jw) -> None:
    web, _ = jw
    web.sign_in("vic")
    refused = web.client.post("/journeys/welcome/pause", data={"csrf": web.csrf()})
    assert refused.status_code == 403 and "viewer" in unescape(refused.text)
    assert ops.journey_detail(web.ws, "welcome")["status"] == "active"
    web.client.cookies.clear()

    web.sign_in("mark")
    page = web.client.get("/journeys/welcome").text
    assert 'action="/journeys/welcome/pause"' in page and ">Pause<" in page
    assert web.client.post("/journeys/welcome/pause", data={"csrf": "wrong"}).status_code == 403  # no CSRF token
    assert ops.journey_detail(web.ws, "welcome")["status"] == "active"
    done = web.client.post("/journeys/welcome/pause", data={"csrf": web.csrf()})
    assert done.status_code == 200 and "Journey paused" in done.text
    assert ops.journey_detail(web.ws, "welcome")["status"] == "paused"
    assert 'action="/journeys/welcome/resume"' in done.text
    listed = web.client.post("/journeys/welcome/resume", data={"csrf": web.csrf(), "back": "list"}, follow_redirects=False)
    assert listed.status_code == 303 and listed.headers["location"] == "/journeys?done=resumed&journey=welcome"
    assert ops.journey_detail(web.ws, "welcome")["status"] == "active"
    assert "Journey welcome resumed" in web.client.get(listed.headers["location"]).text
    assert web.client.post("/journeys/nope/pause", data={"csrf": web.csrf()}).status_code == 404


def test_the_contact_page_shows_the_score_with_reasons(jw) -> None:
    web, _ = jw
    web.sign_in("vic")
    best = web.ws.leads.ranked(limit=1)[0]["contact_id"]
    card = web.ws.leads.contact(best)  # GET /v1/contacts/{key}/score
    page = web.client.get(f"/contacts/{best}").text
    assert 'data-panel="score"' in page and page.index('data-panel="score"') < page.index('id="lead-title"')  # at the top
    score = csv_rows(web.client.get(f"/contacts/{best}?export=score").text)[0]
    assert (float(score["score"]), score["grade"], float(score["fit"]), float(score["engagement"])) == (
        card["score"], card["grade"], card["fit"], card["engagement"])
    reasons = csv_rows(web.client.get(f"/contacts/{best}?export=score_reasons").text)
    assert [r["text"] for r in reasons] == [r["text"] for r in card["reasons"]] and reasons
    for r in card["reasons"]:
        assert r["text"] in unescape(page)
    journeys = csv_rows(web.client.get(f"/contacts/{best}?export=journeys").text)
    enrolled = web.ws.store.query("SELECT journey_id FROM nurture_enrolments WHERE contact_id = ?", [best])
    assert sorted(r["journey_id"] for r in journeys) == sorted(r["journey_id"] for r in enrolled)


def test_the_account_page_shows_its_score_and_each_persons_score_and_cx_answer(jw) -> None:
    web, facts = jw
    web.sign_in("vic")
    aid = facts["account"]
    card = web.ws.leads.account(aid)  # GET /v1/accounts/{key}/score
    score = csv_rows(web.client.get(f"/accounts/{aid}?export=account_score").text)[0]
    assert (float(score["score"]), score["grade"], int(score["contacts"]), int(score["active"])) == (
        card["score"], card["grade"], card["coverage"]["contacts"], card["coverage"]["active"])
    assert score["decision_maker_engaged"] == ("yes" if card["coverage"]["decision_maker_engaged"] else "no")
    reasons = csv_rows(web.client.get(f"/accounts/{aid}?export=account_score_reasons").text)
    assert [r["text"] for r in reasons] == [r["text"] for r in card["reasons"]]

    group = scored.buying_group(web.ws.store, aid)  # GET /v1/accounts/{key}/buying-group
    exported = {r["contact_id"]: r for r in csv_rows(web.client.get(f"/accounts/{aid}?export=buying_group").text)}
    assert list(exported) == [m["contact_id"] for m in group["members"]]
    for m in group["members"]:
        row = exported[m["contact_id"]]
        assert row["stage"] == m["stage"] and row["grade"] == (m["grade"] or "")
        assert (float(row["score"]) if row["score"] else None) == m["score"]
        assert row["cx_answer"] == (m["cx_answer"] or "")
    first, second = facts["answered"]
    by_id = {m["contact_id"]: m for m in group["members"]}
    assert by_id[first]["cx_answer"] == "relationship: NPS 9" and by_id[second]["cx_answer"] == "relationship: NPS 8"
    page = unescape(web.client.get(f"/accounts/{aid}").text)
    grid = page[page.index('id="buying-map"'):page.index("</table>", page.index('id="buying-map"'))]
    card_html = re.search(rf'data-contact="{first}">(.*?)</a>', grid, flags=re.S)
    assert card_html and "Latest CX: relationship: NPS 9" in card_html.group(1)
    assert f"Score {round(by_id[first]['score'])} · {by_id[first]['grade']}" in card_html.group(1)


def test_latest_answers_read_both_shapes(jw) -> None:
    assert scored.answer_text({"survey": "nps", "score": 8}) == ("nps", {"nps": 8.0})
    assert scored.answer_text({"scores": {"csat": 4, "ces": "x"}, "survey": "onboarding"}) == ("onboarding", {"csat": 4.0})
    assert scored.answer_text({"survey": "custom", "score": 3}) == ("custom", {})
    web, _ = jw
    legacy = web.ws.store.query(
        "SELECT i.contact_id FROM events e JOIN identities i USING (identity) WHERE e.type = 'survey_answered' "
        "AND e.event_id NOT LIKE 'cx-%' ORDER BY e.ts DESC LIMIT 1")
    if legacy:  # the simulator writes the older shape
        cid = legacy[0]["contact_id"]
        answer = scored.latest_answers(web.ws.store, [cid])[cid]
        assert re.fullmatch(r"(NPS|CSAT|CES) \d+", answer["cx_answer"] or "")


def test_the_overview_ranks_accounts_by_score(jw) -> None:
    web, _ = jw
    web.sign_in("vic")
    ranked = scored.accounts_by_score(web.ws.store, limit=10)  # GET /v1/leads/accounts
    page = web.client.get("/overview").text
    assert 'data-chart-for="chart-top-scored"' in page and page.index("Top accounts by score") < page.index("Most active")
    rows = csv_rows(web.client.get("/overview?export=top_scored").text)
    assert [r["account_id"] for r in rows] == [r["account_id"] for r in ranked] and len(rows) == 10
    assert [float(r["score"]) for r in rows] == sorted((float(r["score"]) for r in rows), reverse=True)


def test_the_new_v1_routes_with_an_api_key(jw) -> None:
    web, facts = jw
    c = web.client
    assert c.get("/v1/leads/accounts").status_code == 401
    key = {"Authorization": f"Bearer {web.ws.create_key('read')}"}
    ranked = c.get("/v1/leads/accounts?limit=3", headers=key).json()
    assert [r["account_id"] for r in ranked] == [r["account_id"] for r in scored.accounts_by_score(web.ws.store, limit=3)]
    assert c.get("/v1/leads/accounts?limit=0", headers=key).status_code == 422
    group = c.get(f"/v1/accounts/{facts['account']}/buying-group", headers=key).json()
    assert group["account_id"] == facts["account"] and {"score", "grade", "cx_answer", "stage"} <= set(group["members"][0])
    assert c.get("/v1/accounts/nope/buying-group", headers=key).status_code == 404


def test_no_journeys_page_and_no_score_panels_without_their_data(web: Web) -> None:
    registry._cache.clear()
    web.sign_in("vic")
    page = web.client.get("/overview").text
    assert 'href="/journeys"' not in page and "Top accounts by score" not in page
    assert web.client.get("/journeys").status_code == 404
    aid = web.ws.store.query("SELECT account_id FROM accounts LIMIT 1")[0]["account_id"]
    assert 'data-panel="score"' not in web.client.get(f"/accounts/{aid}").text
