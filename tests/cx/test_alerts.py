"""Closing the loop: detractor answers and health drops become alerts for the account owner, once per
cause; owners acknowledge and close them with notes; detractors can be queued for a nurture journey."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from polku import Workspace
from polku.cx.alerts import alert_id, check_alerts, drop_alerts, list_alerts, update_alert
from polku.cx.config import CX_FILE, CxConfig
from polku.cx.health import AccountHealth, Component
from polku.errors import InvalidInput, NotFound
from polku.model import utcnow

NOW = utcnow()


def _people(ws: Workspace) -> None:
    ws.identify(email="anna@acme.fi", account_id="acme", traits={"name": "Anna", "role": "decision_maker",
                "org_level": "executive"}, account={"name": "Acme", "owner": "owner@polku.example"})
    ws.identify(email="olli@acme.fi", account_id="acme", traits={"name": "Olli", "role": "user",
                "org_level": "operational"})
    ws.identify(email="lone@nowhere.fi", account_id="orphan", account={"name": "Orphan"})


def _answer(ws: Workspace, email: str, days_ago: float, **props: object) -> str:
    return ws.track("survey_answered", "email", email=email, ts=(NOW - timedelta(days=days_ago)).isoformat(),
                    properties=props)


def test_detractors_make_one_alert_each_for_the_owner(ws: Workspace) -> None:
    _people(ws)
    bad = _answer(ws, "anna@acme.fi", 2, survey="relationship", scores={"nps": 3}, comment="Too slow  to answer.")
    _answer(ws, "olli@acme.fi", 3, survey="nps", score=10)  # a promoter: nothing
    both = _answer(ws, "olli@acme.fi", 1, survey="service", scores={"nps": 5, "csat": 1})
    _answer(ws, "anna@acme.fi", 60, survey="nps", score=0)  # older than alerts.since_days (30): nothing
    orphan = _answer(ws, "lone@nowhere.fi", 1, survey="csat", score=2)
    result = check_alerts(ws, now=NOW)
    assert sorted(result["created"]) == sorted(alert_id("detractor", e) for e in (bad, both, orphan))
    alerts = {a["event_id"]: a for a in list_alerts(ws, kind="detractor")}
    first = alerts[bad]
    assert (first["owner"], first["account_id"], first["status"], first["kind"]) == (
        "owner@polku.example", "acme", "open", "detractor")
    assert first["reason"].startswith("NPS 3 from Anna (decision_maker, executive level) on ")
    assert first["reason"].endswith('in survey relationship: "Too slow to answer."')
    assert first["actions"] == [{"at": NOW.isoformat(), "by": "polku", "action": "created",
                                 "note": "for owner@polku.example"}]
    assert alerts[both]["reason"].startswith("NPS 5 and CSAT 1 from Olli")
    assert alerts[orphan]["owner"] is None and "no owner" in alerts[orphan]["actions"][0]["note"]
    again = check_alerts(ws, now=NOW + timedelta(minutes=5))
    assert again["created"] == [] and len(list_alerts(ws)) == 3  # idempotent per cause


def test_owners_acknowledge_and_close_with_notes(ws: Workspace) -> None:
    _people(ws)
    event = _answer(ws, "anna@acme.fi", 1, survey="nps", score=2)
    check_alerts(ws, now=NOW)
    aid = alert_id("detractor", event)
    acked = update_alert(ws, aid, "ack", note="calling Anna today", by="owner@polku.example")
    assert acked["status"] == "acknowledged"
    assert acked["actions"][-1]["action"] == "acknowledged" and acked["actions"][-1]["note"] == "calling Anna today"
    with pytest.raises(InvalidInput, match="acknowledged; it cannot be acknowledged again"):
        update_alert(ws, aid, "ack")
    noted = update_alert(ws, aid, "note", note="she wants a faster SLA")
    assert noted["status"] == "acknowledged" and len(noted["actions"]) == 3
    closed = update_alert(ws, aid, "close", note="SLA upgraded")
    assert closed["status"] == "closed" and [a["action"] for a in closed["actions"]] == [
        "created", "acknowledged", "note", "closed"]
    with pytest.raises(InvalidInput, match="closed"):
        update_alert(ws, aid, "close")
    with pytest.raises(NotFound):
        update_alert(ws, "cxa_nope", "ack")
    with pytest.raises(InvalidInput, match="needs some text"):
        update_alert(ws, aid, "note", note=" ")
    with pytest.raises(InvalidInput, match="status must be one of"):
        list_alerts(ws, status="done")
    assert list_alerts(ws, status="closed")[0]["alert_id"] == aid and list_alerts(ws, status="open") == []


def _journey(home: Path, status: str = "active") -> None:
    (home / "content").mkdir(parents=True, exist_ok=True)
    (home / "content" / "library.yaml").write_text(yaml.safe_dump({"templates": [
        {"id": "owner-note", "subject": "Detractor at {{ account.name | default('an account') }}", "text": "{{ contact.email }} is unhappy."}]}))
    (home / "journeys").mkdir(exist_ok=True)
    (home / "journeys" / "win-back.yaml").write_text(yaml.safe_dump({
        "status": status, "trigger": {"manual": True},
        "steps": [{"id": "tell-owner", "notify_owner": {"template": "owner-note"}}]}))


def test_detractors_are_queued_for_the_configured_journey(ws: Workspace) -> None:
    _people(ws)
    _journey(ws.home)
    (ws.home / CX_FILE).write_text("alerts:\n  journey: win-back\n")
    event = _answer(ws, "olli@acme.fi", 1, survey="nps", score=4)
    result = check_alerts(ws, now=NOW)
    assert [e["journey_id"] for e in result["enrolled"]] == ["win-back"] and "error" not in result["enrolled"][0]
    alert = list_alerts(ws)[0]
    assert alert["alert_id"] == alert_id("detractor", event) and alert["journey_id"] == "win-back"
    assert alert["actions"][-1]["action"] == "enrolled" and result["enrolled"][0]["request_id"] in alert["actions"][-1]["note"]
    queued = ws.store.query("SELECT journey_id, contact_id, source FROM nurture_requests")
    assert queued == [{"journey_id": "win-back", "contact_id": alert["contact_id"], "source": f"cx-alert:{alert['alert_id']}"}]
    assert check_alerts(ws, now=NOW)["enrolled"] == []  # the same detractor is not queued twice


def test_a_paused_journey_is_logged_not_raised(ws: Workspace) -> None:
    _people(ws)
    _journey(ws.home, status="paused")
    (ws.home / CX_FILE).write_text("alerts:\n  journey: win-back\n")
    _answer(ws, "olli@acme.fi", 1, survey="nps", score=4)
    result = check_alerts(ws, now=NOW)
    assert "paused" in result["enrolled"][0]["error"]
    alert = list_alerts(ws)[0]
    assert alert["actions"][-1]["action"] == "enrol_failed" and alert["journey_id"] is None


def _card(account: str, score: float) -> AccountHealth:
    return AccountHealth(account, score, 1.0, [Component("nps", score, 1.0, 3, f"NPS answers for {account}")], [])


def test_health_drops_alert_once_per_week_and_not_while_one_is_open() -> None:
    config = CxConfig()
    now = {"a": _card("a", 30), "b": _card("b", 60), "c": _card("c", 20)}
    before = {"a": _card("a", 50), "b": _card("b", 65), "c": _card("c", 60)}
    owners = {"a": "x@polku.example", "b": None, "c": None}
    alerts = drop_alerts(now, before, config, owners, now=NOW, skip={"c"})
    assert [a["account_id"] for a in alerts] == ["a"]  # b fell 5 points; c already has an open alert
    year, week, _ = NOW.isocalendar()
    assert alerts[0]["alert_id"] == alert_id("health_drop", f"a|{year}-W{week:02d}")
    assert alerts[0]["reason"] == "health fell 20 points in 30 days, to 30: NPS answers for a"
    assert alerts[0]["owner"] == "x@polku.example" and alerts[0]["contact_id"] is None
    later = drop_alerts(now, before, config, owners, now=NOW + timedelta(days=7), skip=set())
    assert {a["alert_id"] for a in later}.isdisjoint({alerts[0]["alert_id"]})
