"""`polku nurture ...` end to end in-process: validate, tick, report, enrol, contact, outbox, content, resolve."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from polku import Workspace
from polku.cli import app

runner = CliRunner()


def polku(home, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--home", str(home.path), *args])


def test_the_nurture_commands(home, identify) -> None:
    home.journey("welcome", trigger={"segment": {"trait": "name", "present": True}}, holdout=0.5,
                 goal={"did": "quote_requested", "within": "7d"}, steps=[{"id": "intro", "send": "hello"}])
    home.journey("vip", trigger={"manual": True}, priority=5, steps=[{"id": "w", "wait": "1d"}])
    with Workspace(home.path) as ws:
        identify(ws, [{"email": f"p{i}@acme.example", "traits": {"name": f"P{i}"}} for i in range(6)])
    assert polku(home, "nurture", "validate").stdout.startswith("ok: 2 journeys (2 active), 3 templates")
    result = polku(home, "nurture", "tick", "--no-deliver")
    assert result.exit_code == 0 and "6 enrolled" in result.stdout
    listed = json.loads(polku(home, "nurture", "list", "--json").stdout)
    assert [(j["id"], j["enrolled"]) for j in listed] == [("vip", 0), ("welcome", 6)]
    report = polku(home, "nurture", "report", "welcome")
    assert report.exit_code == 0 and "lift:" in report.stdout and "too small to tell" in report.stdout
    tick = json.loads(polku(home, "nurture", "tick", "--json").stdout)
    assert tick["delivery"]["waiting"] == {"email": tick["delivery"]["waiting"]["email"]} and tick["delivery"]["sent"] == 0
    assert polku(home, "nurture", "enrol", "vip", "p0@acme.example").exit_code == 0
    polku(home, "nurture", "tick", "--no-deliver")
    contact = json.loads(polku(home, "nurture", "contact", "p0@acme.example", "--json").stdout)
    assert "vip" in {e["journey_id"] for e in contact["enrolments"]}
    assert [m["journey_id"] for m in contact["lists"]] == ["welcome"]
    looped = polku(home, "nurture", "run", "--max-ticks", "1", "--interval", "0.1", "--no-deliver")
    assert looped.exit_code == 0 and "a round every 0.1 s" in looped.stdout and "enrolled" in looped.stdout
    assert "pending" in polku(home, "nurture", "outbox").stdout
    assert "hello" in polku(home, "nurture", "content", "--language", "fi").stdout
    refused = polku(home, "nurture", "resolve", "no-such-message", "--as", "sent")
    assert refused.exit_code == 1 and "no message 'no-such-message'" in refused.output

    home.write("journeys/broken.yaml", "trigger: {manual: true}\nsteps:\n  - id: a\n    wait: soon\n")
    broken = polku(home, "nurture", "validate")
    assert broken.exit_code == 1 and "journeys/broken.yaml:4: steps.0.wait: 'soon' is not a duration" in broken.output
    assert polku(home, "nurture", "tick").exit_code == 1  # nothing runs while a file is wrong
