"""Scores in a real workspace: rescore, MQL handover with reasons, explain, rank, the CLI and the API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from polku import ConfigError, NotFound, Workspace
from polku.api import create_app
from polku.cli import app

NOW = dt.datetime.now(dt.UTC)


def _ago(days: float) -> str:
    return (NOW - dt.timedelta(days=days)).isoformat()


def _world(ws: Workspace) -> None:
    """Anna: an engaged decision-maker (a prospect); Bo: one page view."""
    ws.identify(email="anna@acme.fi", traits={"role": "decision_maker", "org_level": "executive"},
                account={"domain": "acme.fi", "employees": 500}, ts=_ago(20))
    for i in range(6):
        ws.track("content_download", "web", email="anna@acme.fi", topic="pricing", ts=_ago(10 - i))
        ws.track("page_view", "web", email="anna@acme.fi", properties={"path": "/pricing"}, ts=_ago(10 - i + 0.1))
    ws.track("page_view", "web", email="bo@acme.fi", ts=_ago(3))


def test_a_rescore_makes_engaged_prospects_leads_with_the_score_and_reasons(ws: Workspace) -> None:
    _world(ws)
    assert ws.contact("anna@acme.fi")["contact"]["stage"] == "prospect"
    result = ws.leads.rescore()
    assert (result.contacts, result.accounts) == (2, 1)
    anna = ws.contact("anna@acme.fi")
    assert result.qualified == [anna["contact"]["contact_id"]]
    assert anna["contact"]["stage"] == "lead"
    reason = anna["stage_history"][-1]["reason"]
    assert "lead_qualified" in reason and "downloaded 6 documents" in reason and "score" in reason
    again = ws.leads.rescore()
    assert again.qualified == []  # a lead is not qualified twice


def test_ranked_leads_and_account_scores(ws: Workspace) -> None:
    _world(ws)
    ws.leads.rescore(qualify=False)
    ranked = ws.leads.ranked()
    assert [r["email"] for r in ranked] == ["anna@acme.fi", "bo@acme.fi"]
    assert ranked[0]["score"] > ranked[1]["score"]
    assert ws.leads.ranked(min_score=ranked[0]["score"] + 1) == []
    account = ws.leads.account("acme.fi")
    assert account["coverage"]["decision_maker_engaged"] is True
    assert any("decision-maker" in r["text"] for r in account["reasons"])
    for _ in range(3):  # stored scores follow new events, without a rescore
        ws.track("meeting_held", "meeting", email="bo@acme.fi")
    moved = {r["email"]: r for r in ws.leads.ranked()}["bo@acme.fi"]
    assert moved["score"] > ranked[1]["score"] and moved["scored_at"] > ranked[1]["scored_at"]
    assert ws.leads.account("acme.fi")["coverage"]["active"] == 2


def test_one_contact_scores_now_without_a_rescore_and_agrees_with_it(ws: Workspace) -> None:
    _world(ws)
    at = NOW + dt.timedelta(minutes=1)
    card = ws.leads.contact("anna@acme.fi", as_of=at)
    assert card["rescored_at"] is None
    assert any(r["text"] == "downloaded 6 documents in 11 days" for r in card["reasons"])
    ws.leads.rescore(as_of=at, qualify=False)
    stored = ws.leads.ranked(limit=1)[0]
    assert stored["score"] == pytest.approx(card["score"], abs=0.01)
    ws.track("meeting_held", "meeting", email="anna@acme.fi", ts=NOW.isoformat())
    assert ws.leads.contact("anna@acme.fi", as_of=at)["score"] > card["score"]  # the new event counts at once


def test_scoring_rules_come_from_the_workspace_file(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "polku.yaml").write_text("scoring:\n  mql_threshold: 99\n")
    with Workspace(home) as ws:
        _world(ws)
        assert ws.leads.rescore().qualified == []
    (home / "polku.yaml").write_text("scoring:\n  mql_threshold: 99\n  engagement:\n    rules:\n      - nonsense: 1\n")
    with Workspace(home) as ws, pytest.raises(ConfigError, match="polku.yaml"):
        ws.leads.rescore()


def test_misses_are_clear(ws: Workspace) -> None:
    _world(ws)
    with pytest.raises(NotFound, match="nobody"):
        ws.leads.contact("nobody@x.fi")
    with pytest.raises(NotFound, match="polku score"):
        ws.leads.account("acme.fi")  # not rescored yet
    with pytest.raises(NotFound, match="polku score train"):
        ws.leads.report()


def test_score_routes(ws: Workspace) -> None:
    _world(ws)
    ws.leads.rescore(qualify=False)
    token = {"Authorization": f"Bearer {ws.create_key('read')}"}
    with TestClient(create_app(ws)) as client:
        assert client.get("/v1/leads").status_code == 401
        body = client.get("/v1/contacts/anna@acme.fi/score", headers=token).json()
        assert body["grade"] and body["reasons"]
        assert client.get("/v1/accounts/acme.fi/score", headers=token).json()["coverage"]["decision_maker_engaged"]
        leads = client.get("/v1/leads", params={"min_score": 1, "stage": "prospect"}, headers=token).json()
        assert [r["email"] for r in leads] == ["anna@acme.fi"]
        assert client.get("/v1/leads", params={"min_score": 101}, headers=token).status_code == 422
        assert client.get("/v1/leads", params={"stage": "vip"}, headers=token).status_code == 422
        assert client.get("/v1/contacts/nobody/score", headers=token).status_code == 404


def test_score_commands(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    with Workspace(home) as ws:
        _world(ws)
    runner = CliRunner()

    def polku(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["--home", str(home), *args], env={"COLUMNS": "200"})
        return result.exit_code, result.output

    code, output = polku("score")
    assert code == 0 and "1 prospects became leads" in output
    code, output = polku("score", "--explain", "anna@acme.fi")
    assert code == 0 and "downloaded 6 documents" in output
    code, output = polku("score", "leads", "--limit", "1")
    assert code == 0 and "anna@acme.fi" in output and "bo@acme.fi" not in output
    code, output = polku("score", "report")
    assert code == 1 and "polku score train" in output


def test_nurture_score_triggers_read_the_last_rescore(ws: Workspace) -> None:
    from polku.nurture.scores import default_scores

    _world(ws)
    assert default_scores(ws.store) is None
    ws.leads.rescore(qualify=False)
    scores = default_scores(ws.store)
    assert scores is not None and scores.num_rows == 2 and set(scores.column_names) == {"contact_id", "score"}
