"""The CX pages of the dashboard and the CX panels of the 360° pages, over a simulated world.

The world of conftest.py (whose simulator already answers NPS, CSAT and CES surveys) gets a
cx.yaml with two target experiences, a survey definition, invitations answered through the
real answer flow (one comment with HTML in it, one detractor) and the alerts ``polku cx tick``
would raise. What the pages show is compared with what the functions behind the /v1/cx routes
answer.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from polku import Workspace
from polku.api import create_app
from polku.cx import measure_ops
from polku.cx.alerts import check_alerts, list_alerts
from polku.cx.config import CX_FILE
from polku.cx.surveys import Asked, Occasion, Surveys
from polku.model import utcnow
from polku.web import cx_data, cx_feedback, cx_pages, registry

from .conftest import Web, copy_home

CX_YAML = """\
min_n: 5
targets:
  - id: recommend
    title: Customers recommend us
    granularity: {measure: nps, target: -20, direction: at_least}
    scope: business
  - id: onboarding-effort
    title: Getting started feels easy to operational staff
    granularity:
      - {measure: ces, target: 5, direction: at_least}
    attribution: {org_levels: [operational]}
    scope: {survey: onboarding}
    min_n: 50
"""
SURVEY = """\
title: {en: "How was getting started?", fi: "Miten alkuun pääsy sujui?"}
questions:
  - id: ces
    type: ces
    text: {en: "It was easy to get started.", fi: "Alkuun pääsy oli helppoa."}
  - id: nps
    type: nps
    text: {en: "Would you recommend us?", fi: "Suosittelisitko meitä?"}
  - id: comment
    type: text
    text: {en: "What could we do better?", fi: "Mitä voisimme tehdä paremmin?"}
"""
HOSTILE = "<script>alert('x')</script> & the <b>invoice</b> was late"


def prepare(ws: Workspace) -> dict[str, Any]:
    """cx.yaml, a survey answered through its links (a detractor with HTML in the comment), and the alerts."""
    (ws.home / CX_FILE).write_text(CX_YAML, encoding="utf-8")
    (ws.home / "surveys").mkdir(exist_ok=True)
    (ws.home / "surveys" / "onboarding.yaml").write_text(SURVEY, encoding="utf-8")
    account = ws.store.query(
        """SELECT account_id FROM contacts WHERE account_id IS NOT NULL GROUP BY account_id
           HAVING count(*) >= 3 ORDER BY count(*) DESC, account_id LIMIT 1""")[0]["account_id"]
    people = [r["contact_id"] for r in ws.store.query(
        "SELECT contact_id FROM contacts WHERE account_id = ? ORDER BY contact_id LIMIT 4", [account])]
    surveys = Surveys(ws)
    invites = surveys.invite("onboarding", people, Occasion(channel="link"), "http://127.0.0.1")
    forms = [{"ces": "2", "nps": "3", "comment": HOSTILE}, {"ces": "6", "nps": "9", "comment": "Clear and quick."},
             {"ces": "5", "nps": "8", "comment": ""}]
    for invite, form in zip(invites, forms, strict=False):
        page = surveys.answer(invite["url"].rsplit("/s/", 1)[1], form, Asked())
        assert page.status == 200, page.html
    unhappy = ws.store.query(
        """SELECT account_id FROM contacts WHERE account_id IS NOT NULL AND account_id <> ? AND email IS NOT NULL
           GROUP BY account_id HAVING count(*) >= 3 ORDER BY count(*) DESC, account_id LIMIT 1""", [account])[0]["account_id"]
    emails = [r["email"] for r in ws.store.query(
        "SELECT email FROM contacts WHERE account_id = ? AND email IS NOT NULL ORDER BY contact_id LIMIT 3", [unhappy])]
    now = utcnow()
    complaints = [{"event_id": f"unhappy-{i}-{k}", "type": "survey_answered", "channel": "email", "email": email,
                   "ts": (now - timedelta(days=2 + k)).isoformat(),
                   "properties": {"survey": "relationship", "scores": {"nps": k, "csat": 1}, "comment": "Nothing works."}}
                  for i, email in enumerate(emails) for k in range(3)]
    assert not ws.ingest(complaints, "test").rejected
    ws.refresh()
    created = check_alerts(ws)["created"]
    assert created, "the detractor answers raise alerts"
    answered = {r["contact_id"] for r in ws.store.query(
        """SELECT DISTINCT i.contact_id FROM events e JOIN identities i ON i.identity = e.identity
           WHERE e.type = 'survey_answered' AND i.contact_id IS NOT NULL""")}
    silent = ws.store.query("SELECT contact_id FROM contacts ORDER BY contact_id")
    return {"account": account, "people": people, "detractor": people[0],
            "unanswered": [r["contact_id"] for r in silent if r["contact_id"] not in answered][:1],
            "alert": next(a["alert_id"] for a in list_alerts(ws) if a["contact_id"] == people[0]), "unhappy": unhappy}


@pytest.fixture(scope="module")
def cxweb(world_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Web, dict[str, Any]]]:
    """The world with CX data, served by an in-process app."""
    home = copy_home(world_home, tmp_path_factory.mktemp("cx-pages") / "ws")
    with Workspace(home) as ws:
        facts = prepare(ws)
        registry._cache.clear()
        cx_data.clear()
        with TestClient(create_app(ws, refresh_seconds=0.2)) as client:
            yield Web(client, ws), facts
    registry._cache.clear()
    cx_data.clear()


@pytest.fixture
def cw(cxweb: tuple[Web, dict[str, Any]]) -> Iterator[tuple[Web, dict[str, Any]]]:
    """The module's app with a clean cookie jar."""
    cxweb[0].client.cookies.clear()
    yield cxweb
    cxweb[0].client.cookies.clear()


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def num(text: str) -> float | None:
    return None if text == "" else float(text)


def test_the_cx_pages_appear_in_the_navigation_only_with_cx_data(cw, tmp_path: Path) -> None:
    web, _ = cw
    web.sign_in("vic")
    nav = web.client.get("/overview").text
    assert 'href="/cx"' in nav and 'href="/cx/surveys"' not in nav  # one entry; the CX pages are tabs
    tabs = web.client.get("/cx/surveys").text
    assert '<a href="/cx/surveys" aria-current="page">' in tabs and '<a href="/cx" aria-current="location">' in tabs
    for path in ("/cx", "/cx/surveys", "/cx/risks", "/cx/feedback"):
        assert f'href="{path}"' in tabs
    # a workspace without answers, surveys, alerts or cx.yaml has none of them (nor the CX panels)
    with Workspace(tmp_path / "empty") as ws:
        ws.track("page_view", "web", email="a@b.fi")
        ws.refresh()
        for page in cx_pages.PAGES:
            assert not page.available(ws), page.slug
        assert not cx_feedback.PAGE.available(ws)
        assert not any(p.available(ws) for p in registry.panels if p.slug.startswith("cx_"))
        (ws.home / CX_FILE).write_text(CX_YAML, encoding="utf-8")
        assert [p.slug for p in cx_pages.PAGES if p.available(ws)] == ["cx"]  # targets set up, nothing measured yet


def test_targets_show_measured_value_gap_interval_n_and_the_not_enough_data_flag(cw) -> None:
    web, _ = cw
    web.sign_in("vic")
    html = web.client.get("/cx").text
    assert "Customers recommend us" in html and "cx-not_enough_data" in html
    assert "not enough data: 2 of 50 answers needed" in html  # 2 of the 3 answerers... see the CSV check below
    expected = {t["id"]: t for t in measure_ops.targets(web.ws)["targets"]}  # GET /v1/cx/targets
    rows = {r["target_id"]: r for r in csv_rows(web.client.get("/cx?export=targets").text)}
    assert set(rows) == {"recommend", "onboarding-effort"}
    for target_id, row in rows.items():
        dim = expected[target_id]["dimensions"][0]
        assert num(row["value"]) == pytest.approx(dim["value"], abs=1e-9)
        assert num(row["gap"]) == pytest.approx(dim["gap"], abs=1e-9)
        assert int(row["n"]) == dim["n"]
        assert (num(row["ci_low"]), num(row["ci_high"])) == tuple(dim["ci"] or (None, None))
        assert row["status_text"].replace(" ", "_") == dim["status"]
        assert row["trend"] == dim["trend"]["direction"]
    assert rows["onboarding-effort"]["flag"].startswith("not enough data")
    assert rows["recommend"]["flag"] == "" and expected["recommend"]["dimensions"][0]["n"] >= 5
    for chart in ("chart-targets-nps", "chart-targets-ces", "chart-scores-nps", "chart-scores-csat", "chart-scores-ces"):
        assert f'data-chart-for="{chart}"' in html


def test_scores_overall_and_by_level_role_and_phase_match_the_api(cw) -> None:
    web, _ = cw
    web.sign_in("vic")
    overall = measure_ops.scores(web.ws)["rows"][0]  # GET /v1/cx/scores
    for by in ("org_level", "phase"):
        api = measure_ops.scores(web.ws, by=by)  # GET /v1/cx/scores?by=
        rows = csv_rows(web.client.get(f"/cx?by={by}&export=scores").text)
        everyone = {r["measure"]: r for r in rows if r["breakdown"] == "All"}
        assert num(everyone["NPS"]["value"]) == pytest.approx(overall["nps"]["value"])
        assert int(everyone["NPS"]["n"]) == overall["nps"]["n"]
        groups = {(r["group"], r["measure"]): r for r in rows if r["breakdown"] != "All"}
        for g in api["rows"]:
            if g["nps"]["n"]:
                row = groups[(str(g[by]).replace("_", " "), "NPS")]
                assert num(row["value"]) == pytest.approx(g["nps"]["value"])
                assert (num(row["ci_low"]), num(row["ci_high"])) == tuple(g["nps"]["ci"])
                assert row["few"] == ("yes" if g["nps"]["small_sample"] else "no")
    html = web.client.get("/cx?by=phase").text
    assert '<option value="phase" selected>' in html
    assert web.client.get("/cx?by=colour").status_code == 422
    assert web.client.get("/cx?as_of=yesterday").status_code == 422


def test_as_of_measures_an_earlier_day(cw) -> None:
    web, _ = cw
    web.sign_in("vic")
    answers = cx_data.answers(web.ws)
    nps = answers[answers["measure"] == "nps"].sort_values("ts")
    day = nps["ts"].iloc[len(nps) // 2].date()
    rows = csv_rows(web.client.get(f"/cx?as_of={day.isoformat()}&export=scores").text)
    everyone = {r["measure"]: r for r in rows if r["breakdown"] == "All"}
    early = nps[nps["ts"].dt.date <= day]
    assert int(everyone["NPS"]["n"]) == len(early) < len(nps)


def test_the_surveys_list_and_a_surveys_page(cw) -> None:
    web, facts = cw
    web.sign_in("vic")
    listed = {r["id"]: r for r in csv_rows(web.client.get("/cx/surveys?export=surveys").text)}
    onboarding = listed["onboarding"]
    assert (int(onboarding["invites"]), int(onboarding["answered"]), onboarding["response_rate"]) == (4, 3, "75")
    assert int(onboarding["responses"]) == 3 and onboarding["defined"] == "yes"
    assert listed["nps"]["defined"].startswith("no") and int(listed["nps"]["responses"]) > 0  # the simulator's surveys
    html = web.client.get("/cx/surveys").text
    assert 'href="/cx/surveys/onboarding"' in html

    page = web.client.get("/cx/surveys/onboarding")
    assert page.status_code == 200
    # the comment is shown as text: its HTML is escaped, never run
    assert HOSTILE not in page.text and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    assert "<b>invoice</b>" not in page.text
    for chart in ("chart-dist-nps", "chart-dist-ces"):
        assert f'data-chart-for="{chart}"' in page.text
    dist = csv_rows(web.client.get("/cx/surveys/onboarding?export=distribution").text)
    nps = {int(r["score"]): int(r["answers"]) for r in dist if r["measure"] == "NPS"}
    assert sorted(nps) == list(range(11)) and (nps[3], nps[8], nps[9]) == (1, 1, 1) and sum(nps.values()) == 3
    comments = csv_rows(web.client.get("/cx/surveys/onboarding?export=comments").text)
    assert [c["comment"] for c in comments] == ["Clear and quick.", HOSTILE] or [c["comment"] for c in comments] == [
        HOSTILE, "Clear and quick."]
    survey = csv_rows(web.client.get("/cx/surveys/onboarding?export=survey").text)[0]
    assert survey["response_rate"] == "75" and survey["responses"] == "3"
    channels = csv_rows(web.client.get("/cx/surveys/onboarding?export=channels").text)
    assert [(c["channel"], int(c["invites"]), int(c["answered"])) for c in channels] == [("link", 4, 3)]
    # a survey only known from answers (the simulator's) has a page; an unknown one is a 404
    legacy = web.client.get("/cx/surveys/nps")
    assert legacy.status_code == 200 and "no definition under surveys/" in unescape(legacy.text)
    assert web.client.get("/cx/surveys/nope").status_code == 404


def test_risks_and_alerts_and_a_viewer_cannot_act(cw) -> None:
    web, facts = cw
    web.sign_in("vic")
    at_risk = measure_ops.risks(web.ws)  # GET /v1/cx/risks
    rows = csv_rows(web.client.get("/cx/risks?export=risks").text)
    assert facts["unhappy"] in [r["account_id"] for r in at_risk]
    assert [r["account_id"] for r in rows] == [r["account_id"] for r in at_risk]
    for row, api in zip(rows, at_risk, strict=True):
        assert row["reasons_text"] == "; ".join(api["reasons"])
    html = web.client.get("/cx/risks").text
    for r in at_risk:
        assert f'href="/accounts/{r["account_id"]}"' in html
    alerts = csv_rows(web.client.get("/cx/risks?export=alerts").text)
    assert facts["alert"] in [a["alert_id"] for a in alerts]
    assert "not acknowledge or close them" in html
    page = web.client.get(f"/cx/alerts/{facts['alert']}")
    assert page.status_code == 200 and 'action="/cx/alerts/' not in page.text and "alert-readonly" in page.text
    refused = web.client.post(f"/cx/alerts/{facts['alert']}", data={"csrf": web.csrf(), "action": "close", "note": "x"})
    assert refused.status_code == 403
    assert facts["alert"] in [a["alert_id"] for a in list_alerts(web.ws, status="open")]
    assert web.client.get("/cx/alerts/cxa_nope").status_code == 404
    assert web.client.get("/cx/risks?status=maybe").status_code == 422


def test_a_marketer_acknowledges_and_closes_an_alert_with_a_note(cw) -> None:
    web, facts = cw
    alert = facts["alert"]
    web.sign_in("mark")
    page = web.client.get(f"/cx/alerts/{alert}").text
    assert f'action="/cx/alerts/{alert}"' in page
    assert web.client.post(f"/cx/alerts/{alert}", data={"csrf": "wrong", "action": "ack"}).status_code == 403
    done = web.client.post(f"/cx/alerts/{alert}", data={"csrf": web.csrf(), "action": "ack", "note": "Calling <them>"},
                           follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/cx/alerts/{alert}?done=ack"
    shown = web.client.get(done.headers["location"]).text
    assert "Alert acknowledged" in shown and "Calling &lt;them&gt;" in shown
    web.client.post(f"/cx/alerts/{alert}", data={"csrf": web.csrf(), "action": "close", "note": "Fixed the invoice"})
    stored = next(a for a in list_alerts(web.ws) if a["alert_id"] == alert)
    assert stored["status"] == "closed"
    assert [(a["action"], a["by"], a["note"]) for a in stored["actions"][-2:]] == [
        ("acknowledged", "mark", "Calling <them>"), ("closed", "mark", "Fixed the invoice")]
    log = csv_rows(web.client.get(f"/cx/alerts/{alert}?export=actions").text)
    assert [r["action"] for r in log][-2:] == ["acknowledged", "closed"]
    again = web.client.post(f"/cx/alerts/{alert}", data={"csrf": web.csrf(), "action": "close"})
    assert again.status_code == 422 and "cannot be closed" in unescape(again.text)


def test_the_account_page_has_a_cx_health_panel_with_the_touchpoint_network(cw) -> None:
    web, facts = cw
    web.sign_in("vic")
    account = facts["account"]
    html = web.client.get(f"/accounts/{account}").text
    # GET /v1/cx/accounts/{key}/health is this card over a fresh view; the page reuses a view for two minutes
    card = measure_ops.account_card(cx_data.health_view(web.ws), account)
    assert 'data-panel="cx_health"' in html and 'id="cx-network-grid"' in html
    assert 'data-chart-for="chart-cx-components"' in html
    health = csv_rows(web.client.get(f"/accounts/{account}?export=cx_health").text)[0]
    assert num(health["health"]) == card["health"]
    comps = csv_rows(web.client.get(f"/accounts/{account}?export=cx_components").text)
    assert [c["name"] for c in comps] == [c["name"] for c in card["components"]]
    reasons = [r["reason"] for r in csv_rows(web.client.get(f"/accounts/{account}?export=cx_reasons").text)]
    assert reasons == card["reasons"]
    network = csv_rows(web.client.get(f"/accounts/{account}?export=cx_network").text)
    per_level = {r["org_level"]: r for r in network if r["role_label"] == "all roles"}
    for level, group in card["network"]["levels"].items():
        assert int(per_level[level]["contacts"]) == group["contacts"]
        assert int(per_level[level]["answers"]) == group["answers"]
    # the role cells of a level add up to the level
    for level in card["network"]["levels"]:
        cells = [r for r in network if r["org_level"] == level and r["role_label"] != "all roles"]
        assert sum(int(c["contacts"]) for c in cells) == int(per_level[level]["contacts"])
    assert re.search(r'data-signal="(recent|stale|old|none|nobody)"', html)
    # an account without CX data has no panel
    quiet = web.ws.store.query(
        """SELECT a.account_id FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM events e JOIN identities i
           ON i.identity = e.identity JOIN contacts c ON c.contact_id = i.contact_id
           WHERE c.account_id = a.account_id AND e.type IN ('survey_answered', 'ticket_opened', 'ticket_closed'))
           ORDER BY a.account_id LIMIT 1""")
    if quiet:
        assert 'data-panel="cx_health"' not in web.client.get(f"/accounts/{quiet[0]['account_id']}").text


def test_the_contact_page_lists_the_persons_answers_latest_first(cw) -> None:
    web, facts = cw
    web.sign_in("vic")
    who = facts["detractor"]
    api = measure_ops.contact_answers(web.ws, who)  # GET /v1/cx/contacts/{key}/answers
    html = web.client.get(f"/contacts/{who}").text
    assert 'data-panel="cx_answers"' in html and HOSTILE not in html
    rows = csv_rows(web.client.get(f"/contacts/{who}?export=cx_answers").text)
    assert [r["event_id"] for r in rows] == list(dict.fromkeys(a["event_id"] for a in api["answers"]))
    assert rows[0]["survey"] == "onboarding" and rows[0]["nps"] == "3" and rows[0]["ces"] == "2"
    assert rows[0]["comment"] == HOSTILE
    silent = facts["unanswered"][0]
    assert 'data-panel="cx_answers"' not in web.client.get(f"/contacts/{silent}").text


def test_keyboard_labels_and_csv_links_on_every_cx_page(cw) -> None:
    web, facts = cw
    web.sign_in("vic")
    for path in ("/cx", "/cx/surveys", "/cx/surveys/onboarding", "/cx/risks", f"/cx/alerts/{facts['alert']}"):
        html = web.client.get(path).text
        tables = re.findall(r'data-table="([a-z_]+)"', html)
        for name in tables:
            assert f"export={name}" in html, (path, name)
        for field in re.findall(r'<(?:input|select|textarea) id="([^"]+)"', html):
            assert f'for="{field}"' in html, (path, field)
        assert 'aria-label="CX pages"' in html


def test_the_feedback_page_groups_the_comments_into_topics(cw) -> None:
    from polku.cx.text.ops import feedback
    from polku.cx.text.sources import feedback_frame

    web, _ = cw
    web.sign_in("vic")
    assert 'href="/cx/feedback"' in web.client.get("/cx").text
    page = web.client.get("/cx/feedback")
    assert page.status_code == 200 and HOSTILE not in page.text
    frame = feedback_frame(web.ws.tables())
    assert HOSTILE in frame["text"].tolist() and "Nothing works." in frame["text"].tolist()
    expected = feedback(web.ws)  # what GET /v1/cx/feedback reports
    rows = csv_rows(web.client.get("/cx/feedback?export=topics").text)
    assert [(r["topic"], int(r["volume"])) for r in rows] == [(t["topic"], t["volume"]) for t in expected["topics"]]
    assert sum(int(r["volume"]) for r in rows) == expected["texts"]
    for r, t in zip(rows, expected["topics"], strict=True):
        assert num(r["sentiment"]) == t["sentiment"]["mean"]
        assert num(r["nps_effect"]) == (t["scores"].get("nps") or {}).get("effect")
    quotes = csv_rows(web.client.get("/cx/feedback?export=examples").text)
    assert {q["quote"] for q in quotes} == {x for t in expected["topics"] for x in t["examples"]}
    assert 'data-chart-for="chart-topics"' in page.text


def test_a_broken_cx_yaml_is_shown_with_its_line_and_the_scores_still_show(cw) -> None:
    web, _ = cw
    web.sign_in("vic")
    path = web.ws.home / CX_FILE
    good = path.read_text(encoding="utf-8")
    try:
        path.write_text(good.replace("measure: nps", "measure: joy"), encoding="utf-8")
        page = web.client.get("/cx")
        text = unescape(page.text)
        assert page.status_code == 200 and 'id="config-problem"' in page.text
        assert f"{CX_FILE}:5" in text and "unknown measure 'joy'" in text
        assert 'data-chart-for="chart-scores-nps"' in page.text
    finally:
        path.write_text(good, encoding="utf-8")
