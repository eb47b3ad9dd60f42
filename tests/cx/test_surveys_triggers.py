"""Survey triggers: a touchpoint invites its contact once, after its delay, within the cooldown and sample;
and the `polku cx invite` / `polku cx tick` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polku import Workspace
from polku.cli import app
from polku.cx.surveys import Surveys
from polku.cx.surveys.triggers import sampled
from polku.model import utcnow

SURVEY = """\
title: {en: "How did we do?", fi: "Miten onnistuimme?"}
questions:
  - id: csat
    type: csat
    text: {en: "How satisfied are you with the help you got?", fi: "Kuinka tyytyväinen olet saamaasi apuun?"}
triggers:
  - event: ticket_closed
    where: {priority: high, reopened: false}
    delay: 1h
    cooldown: 30d
    channel: email
  - event: meeting_held
    channel: portal
    max_age: 2d
"""
NOW = utcnow().replace(microsecond=0)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    home = tmp_path / "ws"
    (home / "surveys").mkdir(parents=True)
    (home / "surveys" / "support.yaml").write_text(SURVEY, encoding="utf-8")
    with Workspace(home) as workspace:
        for who in ("anna", "bo", "cy"):
            workspace.identify(email=f"{who}@acme.fi", account_id="A1", traits={"name": who.title()})
        yield workspace


def ticket(ws: Workspace, event_id: str, who: str, at: datetime, **props: object) -> None:
    ws.track("ticket_closed", "service", event_id=event_id, email=f"{who}@acme.fi", ts=at.isoformat(),
             properties={"priority": "high", "reopened": False, **props})


def invites(ws: Workspace) -> list[tuple[str, str | None, str | None, str]]:
    return [(r["identity"], r["trigger_event_id"], r["trigger_type"], r["channel"]) for r in
            ws.store.query("SELECT * FROM survey_invites ORDER BY created_at, identity")]


def test_a_touchpoint_invites_its_contact_once_after_the_delay(ws: Workspace) -> None:
    surveys = Surveys(ws)
    ticket(ws, "t1", "anna", NOW - timedelta(hours=2))
    ticket(ws, "t2", "bo", NOW - timedelta(minutes=10))  # its hour is not over yet
    ticket(ws, "t3", "cy", NOW - timedelta(hours=2), priority="low")  # filtered out
    ticket(ws, "t4", "cy", NOW - timedelta(hours=2), reopened=True)  # filtered out
    first = surveys.tick(NOW)
    assert first.invites == {"support": 1} and first.waiting == 1
    assert invites(ws) == [("email:anna@acme.fi", "t1", "ticket_closed", "email")]
    again = surveys.tick(NOW)
    assert again.invites == {} and again.waiting == 1 and len(invites(ws)) == 1  # a rerun makes nothing twice
    ticket(ws, "t5", "anna", NOW - timedelta(hours=1, minutes=30))  # a second ticket within her cooldown
    later = surveys.tick(NOW + timedelta(hours=1))
    assert later.invites == {"support": 1} and later.skipped == {"invited within the cooldown": 1}
    assert [i[1] for i in invites(ws)] == ["t1", "t2"]
    assert surveys.tick(NOW + timedelta(hours=2)).invites == {}


def test_too_old_touchpoints_and_unreachable_contacts_are_skipped_with_reasons(ws: Workspace) -> None:
    ws.track("meeting_held", "meeting", event_id="m-old", email="anna@acme.fi", ts=(NOW - timedelta(days=3)).isoformat())
    ws.track("meeting_held", "meeting", event_id="m-new", email="bo@acme.fi", ts=(NOW - timedelta(hours=3)).isoformat())
    ws.track("ticket_closed", "service", event_id="t-anon", anonymous_id="visitor-9",
             ts=(NOW - timedelta(hours=3)).isoformat(), properties={"priority": "high", "reopened": False})
    result = Surveys(ws).tick(NOW)
    assert result.invites == {"support": 1}
    assert result.skipped == {"older than max_age": 1, "no e-mail address": 1}
    assert invites(ws) == [("email:bo@acme.fi", "m-new", "meeting_held", "portal")]


def test_the_sample_is_a_stable_share() -> None:
    picked = [sampled("support", f"event-{i}", 0.3) for i in range(2000)]
    assert picked == [sampled("support", f"event-{i}", 0.3) for i in range(2000)]
    assert 0.25 < sum(picked) / len(picked) < 0.35
    assert all(sampled("support", f"event-{i}", 1.0) for i in range(50))


def test_polku_cx_invite_and_tick(tmp_path: Path, ws: Workspace) -> None:
    ticket(ws, "t1", "anna", NOW - timedelta(hours=2))
    ws.track("survey_answered", "email", event_id="a-1", email="anna@acme.fi", ts=(NOW - timedelta(hours=1)).isoformat(),
             value=3, properties={"survey": "nps", "score": 3, "comment": "Too slow."})
    home = str(ws.home)
    ws.close()
    runner = CliRunner(env={"COLUMNS": "200"})
    made = runner.invoke(app, ["--home", home, "cx", "invite", "support", "bo@acme.fi", "cy@acme.fi",
                               "--language", "fi", "--base-url", "https://cx.acme.example", "--json"])
    assert made.exit_code == 0, made.output
    rows = json.loads(made.output)
    assert [r["identity"] for r in rows] == ["email:bo@acme.fi", "email:cy@acme.fi"]
    assert all(r["url"].startswith("https://cx.acme.example/s/") and r["language"] == "fi" for r in rows)
    missing = runner.invoke(app, ["--home", home, "cx", "invite", "support", "nobody@acme.fi"])
    assert missing.exit_code == 1 and "no contact for 1 of the keys: nobody@acme.fi" in missing.output
    ticked = runner.invoke(app, ["--home", home, "cx", "tick", "--now", NOW.isoformat()])
    assert ticked.exit_code == 0 and "1 invitations (support 1)" in ticked.output, ticked.output
    assert "CX alerts: 1 new, 1 open" in ticked.output, ticked.output  # the detractor answer's alert
    again = runner.invoke(app, ["--home", home, "cx", "tick", "--now", NOW.isoformat()])
    assert "CX alerts: 0 new, 1 open" in again.output, again.output
    listed = runner.invoke(app, ["--home", home, "cx", "surveys", "--json"])
    [survey] = json.loads(listed.output)
    assert (survey["id"], survey["invites"], survey["open"], survey["answers"]) == ("support", 3, 3, 0)
