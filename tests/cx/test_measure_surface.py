"""The CX measurement commands and /v1/cx routes over a real workspace: scores, targets, health,
a contact's answers, risks and alerts (with the write scope to acknowledge and close)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from polku import Workspace
from polku.api import create_app
from polku.cli import app
from polku.cx.alerts import check_alerts
from polku.cx.config import CX_FILE
from polku.model import utcnow

NOW = utcnow()
CX_YAML = """\
min_n: 2
targets:
  - id: exec-loyalty
    title: Executives recommend us
    granularity: {measure: nps, target: 30, direction: at_least}
    attribution: {org_levels: [executive]}
    scope: business
"""


def _fill(home: Path) -> None:
    """Two people at Acme with answers (one a detractor) and a cx.yaml with one target."""
    with Workspace(home) as ws:
        ws.identify(email="anna@acme.fi", account_id="acme", traits={"name": "Anna", "role": "decision_maker",
                    "org_level": "executive"}, account={"name": "Acme", "domain": "acme.fi", "owner": "o@polku.example"})
        ws.identify(email="olli@acme.fi", account_id="acme", traits={"name": "Olli", "org_level": "operational"})
        for i, (email, props) in enumerate([
            ("anna@acme.fi", {"survey": "nps", "score": 9}), ("anna@acme.fi", {"survey": "nps", "score": 10}),
            ("olli@acme.fi", {"survey": "support", "scores": {"nps": 2, "csat": 2}, "comment": "slow"}),
        ]):
            ws.track("survey_answered", "email", email=email, ts=(NOW - timedelta(days=3 + i)).isoformat(), properties=props)
        ws.track("page_view", "web", email="olli@acme.fi", ts=(NOW - timedelta(days=1)).isoformat())
    (home / CX_FILE).write_text(CX_YAML)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "ws"
    _fill(h)
    return h


def polku(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--home", str(home), "cx", *args])
    return result.exit_code, result.output


def test_cli(home: Path) -> None:
    code, out = polku(home, "scores", "--json")
    assert code == 0
    nps = json.loads(out)["rows"][0]["nps"]
    assert (nps["n"], nps["value"]) == (3, pytest.approx(100 / 3, abs=1e-3))
    code, out = polku(home, "scores", "--by", "org_level")
    assert code == 0 and "executive" in out and "operational" in out and "small sample" in out
    code, out = polku(home, "scores", "--by", "colour")
    assert code == 1 and "--by must be one of" in out
    code, out = polku(home, "targets")
    assert code == 0 and "Executives recommend us" in out and "≥ 30" in out
    code, out = polku(home, "targets", "--json")
    target = json.loads(out)["targets"][0]
    assert target["dimensions"][0]["value"] == 100 and target["dimensions"][0]["n"] == 2
    code, out = polku(home, "health", "acme.fi")
    assert code == 0 and "acme" in out and "nps" in out and "network:" in out
    code, out = polku(home, "health", "--json")
    assert code == 0 and json.loads(out)[0]["account_id"] == "acme"
    code, out = polku(home, "risks", "--json")
    assert code == 0 and isinstance(json.loads(out), list)
    code, out = polku(home, "alerts", "--check", "--json")
    alerts = json.loads(out)["alerts"]
    assert code == 0 and len(alerts) == 1 and alerts[0]["owner"] == "o@polku.example"
    aid = alerts[0]["alert_id"]
    code, out = polku(home, "alert", "ack", aid, "--note", "on it")
    assert code == 0 and f"{aid} is acknowledged" in out
    code, out = polku(home, "alert", "close", aid, "--note", "called back")
    assert code == 0 and "closed" in out
    code, out = polku(home, "alert", "close", aid)
    assert code == 1 and "cannot be closed" in out
    code, out = polku(home, "alerts", "--status", "closed")
    assert code == 0 and "called back" in out
    code, out = polku(home, "config", "check")
    assert code == 0 and "1 targets (exec-loyalty)" in out
    (home / CX_FILE).write_text("targets:\n  - id: x\n    granularity: {measure: joy, target: 1, direction: at_least}\n"
                                "    scope: business\n")
    code, out = polku(home, "config", "check")
    assert code == 1 and f"{CX_FILE}:3: targets.0.granularity.0: unknown measure 'joy'" in out.replace("\n", "")


@pytest.fixture
def api(home: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]], Workspace]]:
    with Workspace(home) as ws:
        keys = {s: {"Authorization": f"Bearer {ws.create_key(s)}"} for s in ("read", "write")}
        with TestClient(create_app(ws, refresh_seconds=0.2)) as client:
            yield client, keys, ws


def test_routes(api: tuple[TestClient, dict[str, dict[str, str]], Workspace]) -> None:
    client, keys, ws = api
    read, write = keys["read"], keys["write"]
    assert client.get("/v1/cx/scores").status_code == 401
    body = client.get("/v1/cx/scores", headers=read, params={"by": "org_level"}).json()
    assert {r["org_level"] for r in body["rows"]} == {"executive", "operational"}
    assert client.get("/v1/cx/scores", headers=read, params={"by": "colour"}).status_code == 422
    since = (NOW - timedelta(days=3, hours=12)).isoformat()
    assert client.get("/v1/cx/scores", headers=read, params={"from": since}).json()["answers"] == 1
    targets = client.get("/v1/cx/targets", headers=read).json()["targets"]
    assert targets[0]["id"] == "exec-loyalty" and targets[0]["status"] in ("met", "uncertain")
    card = client.get("/v1/cx/accounts/acme/health", headers=read).json()
    assert card["account_id"] == "acme" and card["owner"] == "o@polku.example"
    assert card["network"]["levels"]["executive"]["answers"] == 2
    assert "no signal from management level: nobody known there" in card["reasons"]
    assert client.get("/v1/cx/accounts/nope/health", headers=read).status_code == 404
    answers = client.get("/v1/cx/contacts/olli@acme.fi/answers", headers=read).json()
    assert [(a["measure"], a["score"]) for a in answers["answers"]] == [("nps", 2.0), ("csat", 2.0)]
    assert client.get("/v1/cx/contacts/nobody@x.fi/answers", headers=read).status_code == 404
    assert isinstance(client.get("/v1/cx/risks", headers=read).json(), list)
    assert client.get("/v1/cx/alerts", headers=read).json() == []
    check_alerts(ws)
    alerts = client.get("/v1/cx/alerts", headers=read, params={"status": "open"}).json()
    assert len(alerts) == 1
    url = f"/v1/cx/alerts/{alerts[0]['alert_id']}"
    assert client.post(url, headers=read, json={"action": "ack"}).status_code == 403
    assert client.post(url, headers=write, json={"action": "snooze"}).status_code == 422
    done = client.post(url, headers=write, json={"action": "ack", "note": "calling", "by": "o@polku.example"})
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    assert done.json()["actions"][-1] == {"at": done.json()["actions"][-1]["at"], "by": "o@polku.example",
                                          "action": "acknowledged", "note": "calling"}
    again = client.post(url, headers=write, json={"action": "ack"})
    assert again.status_code == 422 and "cannot be acknowledged again" in again.json()["error"]["message"]
    assert client.post("/v1/cx/alerts/cxa_nope", headers=write, json={"action": "close"}).status_code == 404
