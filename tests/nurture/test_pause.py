"""Pausing and resuming a journey: the file edit, the tick obeying it, and the API and CLI around it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from polku import Workspace
from polku.api import create_app
from polku.cli import app
from polku.errors import ConfigError, InvalidInput, NotFound
from polku.model import utcnow
from polku.nurture.engine import Engine
from polku.nurture.loader import load_definitions
from polku.nurture.ops import request_enrolment, set_journey_status

EVERYONE = {"segment": {"trait": "name", "present": True}}
COMMENTED = """# The welcome journey: keep this comment
name: Welcome   # for people
trigger: {manual: true}
steps:
  - id: hello
    wait: 1d
"""


def status_of(home: Any, journey_id: str) -> str:
    return load_definitions(home.path).journeys[journey_id].status


def test_pausing_adds_or_replaces_only_the_status(home) -> None:
    path = home.write("journeys/welcome.yaml", COMMENTED)
    paused = set_journey_status(home.path, "welcome", "paused")
    assert paused == {"id": "welcome", "status": "paused", "previous": "active", "changed": True,
                      "file": "journeys/welcome.yaml"}
    assert path.read_text() == COMMENTED.replace("name: Welcome", "status: paused\nname: Welcome")
    assert set_journey_status(home.path, "welcome", "paused")["changed"] is False  # twice is once
    set_journey_status(home.path, "welcome", "active")
    assert path.read_text() == COMMENTED.replace("name: Welcome", "status: active\nname: Welcome")
    assert status_of(home, "welcome") == "active"
    assert not list((home.path / "journeys").glob(".*.tmp"))  # no leftovers of the atomic write

    # a journey sent to the API as JSON stays JSON; a quoted status stays quoted
    as_json = json.dumps({"trigger": {"manual": True}, "steps": [{"id": "w", "wait": "1d"}]})
    json_path = home.write("journeys/api.yaml", as_json)
    set_journey_status(home.path, "api", "paused")
    assert json.loads(json_path.read_text()) == {"status": "paused", **json.loads(as_json)}
    quoted = home.write("journeys/quoted.yaml", "status: 'active'\ntrigger: {manual: true}\nsteps: [{id: w, wait: 1d}]\n")
    set_journey_status(home.path, "quoted", "paused")
    assert quoted.read_text().startswith("status: 'paused'\n")
    # an id set inside the file is found whatever the file is called
    home.write("journeys/other-name.yaml", "id: inner\ntrigger: {manual: true}\nsteps: [{id: w, wait: 1d}]\n")
    assert set_journey_status(home.path, "inner", "paused")["file"] == "journeys/other-name.yaml"
    assert status_of(home, "inner") == "paused"


def test_bad_requests_change_nothing(home) -> None:
    home.journey("welcome", trigger={"manual": True}, steps=[{"id": "w", "wait": "1d"}])
    with pytest.raises(NotFound, match="no journey 'nope'.*journeys: welcome"):
        set_journey_status(home.path, "nope", "paused")
    with pytest.raises(InvalidInput, match="status must be one of active, paused, got 'stopped'"):
        set_journey_status(home.path, "welcome", "stopped")
    broken = home.write("journeys/broken.yaml", "trigger: {manual: true}\nsteps:\n  - id: a\n    wait: soon\n")
    with pytest.raises(ConfigError, match="journeys/broken.yaml:4: steps.0.wait"):
        set_journey_status(home.path, "broken", "paused")
    assert "status" not in broken.read_text()
    assert set_journey_status(home.path, "welcome", "paused")["changed"]  # another file's problem does not block


def test_a_paused_journey_enrols_no_one_runs_no_step_and_resume_continues(home, identify) -> None:
    home.journey("news", trigger=EVERYONE, goal={"did": "quote_requested", "within": "30d"},
                 steps=[{"id": "pause-a-day", "wait": "1d"}, {"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, [{"email": f"p{i}@acme.example", "traits": {"name": f"P{i}"}} for i in range(3)])
        engine = Engine(ws)
        t0 = utcnow()
        assert engine.tick(t0).enrolled == 3

        set_journey_status(ws.home, "news", "paused")
        identify(ws, [{"email": "late@acme.example", "traits": {"name": "Late"}}])  # enters the segment while paused
        ws.track("quote_requested", "web", email="p0@acme.example")  # reaches the goal while paused
        with pytest.raises(InvalidInput, match="is paused"):
            request_enrolment(ws, "news", ["p1@acme.example"], source="test")
        paused = engine.tick(t0 + timedelta(days=2))  # the wait is over, but nothing moves
        assert (paused.enrolled, paused.steps, paused.queued) == (0, 0, 0)
        rows = {r["email"]: r for r in ws.store.query(
            "SELECT c.email, n.status, n.step_id, n.goal_at FROM nurture_enrolments n JOIN contacts c USING (contact_id)")}
        assert sorted(rows) == ["p0@acme.example", "p1@acme.example", "p2@acme.example"]
        assert rows["p0@acme.example"]["status"] == "goal" and rows["p0@acme.example"]["goal_at"] is not None  # goals are noted
        assert {rows[e]["step_id"] for e in ("p1@acme.example", "p2@acme.example")} == {"pause-a-day"}
        assert ws.store.query("SELECT count(*) AS n FROM nurture_outbox")[0]["n"] == 0
        assert ws.store.query("SELECT status FROM nurture_journeys WHERE journey_id = 'news'")[0]["status"] == "paused"

        set_journey_status(ws.home, "news", "active")
        resumed = engine.tick(t0 + timedelta(days=2, hours=1))
        assert resumed.enrolled == 1  # the contact who entered during the pause, caught up
        sent = {r["recipient"] for r in ws.store.query("SELECT recipient FROM nurture_outbox")}
        assert sent == {"p1@acme.example", "p2@acme.example"}  # the waits that ended during the pause go on
        late = ws.store.query("SELECT n.step_id FROM nurture_enrolments n JOIN contacts c USING (contact_id) "
                              "WHERE c.email = 'late@acme.example'")
        assert [r["step_id"] for r in late] == ["pause-a-day"]


def test_pause_and_resume_over_http_need_the_write_scope(home, identify) -> None:
    home.journey("welcome", trigger={"manual": True}, steps=[{"id": "w", "wait": "1d"}])
    with Workspace(home.path) as ws:
        keys = {s: {"Authorization": f"Bearer {ws.create_key(s)}"} for s in ("read", "write")}
        with TestClient(create_app(ws, refresh_seconds=0.2)) as client:
            assert client.post("/v1/journeys/welcome/pause").status_code == 401
            refused = client.post("/v1/journeys/welcome/pause", headers=keys["read"])
            assert refused.status_code == 403 and status_of(home, "welcome") == "active"
            done = client.post("/v1/journeys/welcome/pause", headers=keys["write"])
            assert done.status_code == 200 and done.json()["status"] == "paused" and done.json()["changed"] is True
            listed = client.get("/v1/journeys", headers=keys["read"]).json()
            assert [(j["id"], j["status"]) for j in listed] == [("welcome", "paused")]
            assert client.get("/v1/journeys/welcome", headers=keys["read"]).json()["status"] == "paused"
            enrol = client.post("/v1/journeys/welcome/enrolments", headers=keys["write"], json={"contacts": ["x@y.example"]})
            assert enrol.status_code == 422 and "paused" in enrol.json()["error"]["message"]
            missing = client.post("/v1/journeys/nope/resume", headers=keys["write"])
            assert missing.status_code == 404 and "no journey 'nope'" in missing.json()["error"]["message"]
            again = client.post("/v1/journeys/welcome/resume", headers=keys["write"])
            assert again.json() == {"id": "welcome", "status": "active", "previous": "paused", "changed": True,
                                    "file": "journeys/welcome.yaml"}
    assert yaml.safe_load((home.path / "journeys/welcome.yaml").read_text())["status"] == "active"


def test_the_pause_and_resume_commands(home) -> None:
    home.journey("welcome", trigger={"manual": True}, steps=[{"id": "w", "wait": "1d"}])
    runner = CliRunner(env={"COLUMNS": "200"})

    def polku(*args: str) -> Any:
        return runner.invoke(app, ["--home", str(home.path), "nurture", *args])

    paused = polku("pause", "welcome")
    assert paused.exit_code == 0 and "welcome paused (journeys/welcome.yaml)" in paused.stdout
    assert "already paused" in polku("pause", "welcome").stdout
    assert status_of(home, "welcome") == "paused"
    resumed = polku("resume", "welcome")
    assert resumed.exit_code == 0 and "welcome resumed" in resumed.stdout and status_of(home, "welcome") == "active"
    missing = polku("pause", "nope")
    assert missing.exit_code == 1 and "no journey 'nope'" in missing.output
