"""On worlds with a known true effect (polku.sim.treatment), the reported 95% interval covers it about 95% of the time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from polku import Workspace
from polku.model import utcnow
from polku.nurture.engine import Engine
from polku.nurture.report import journey_report
from polku.sim.treatment import TreatmentWorld

WORLDS = 40
CONTACTS = 200
BASE, EFFECT = 0.20, 0.10


def write_events(path: Path, items: list[dict[str, Any]], *, identify: bool = False) -> Path:
    """Events (or identify calls) as a Parquet file for the fast import path."""
    rows = []
    for e in items:
        props = e.get("traits", {})
        rows.append({"event_id": e.get("event_id") or f"id-{e['email']}", "ts": e.get("ts") or datetime.now(UTC).isoformat(),
                     "type": "identify" if identify else e["type"], "channel": e.get("channel", "web"), "email": e["email"],
                     "topic": e.get("topic"), "properties": json.dumps(props)})
    table = pa.table({k: [r[k] for r in rows] for k in rows[0]})
    pq.write_table(table, path)
    return path


def test_the_lift_interval_covers_the_true_effect_at_about_the_nominal_rate(home, tmp_path) -> None:
    worlds = [TreatmentWorld(index=k, contacts=CONTACTS, base_rate=BASE, effect=EFFECT, seed=7) for k in range(WORLDS)]
    for w in worlds:
        home.journey(f"world-{w.index}", trigger={"event": "content_download", "topic": w.topic, "lookback": "30d"},
                     holdout=0.5, goal={"did": "quote_requested", "topic": w.topic, "within": "14d"},
                     steps=[{"id": "intro", "send": "hello"}])
    start = utcnow() - timedelta(days=10)
    with Workspace(home.path) as ws:
        ws.import_events(write_events(tmp_path / "people.parquet", [c for w in worlds for c in w.identify_calls()], identify=True))
        ws.import_events(write_events(tmp_path / "triggers.parquet", [e for w in worlds for e in w.trigger_events(start)]))
        engine = Engine(ws)
        engine.tick(start + timedelta(hours=2))
        arms = ws.store.query("SELECT c.email, n.arm FROM nurture_enrolments n JOIN contacts c USING (contact_id)")
        assert len(arms) == WORLDS * CONTACTS
        treated = {r["email"]: r["arm"] == "treatment" for r in arms}
        goals = [e for w in worlds for e in w.goal_events(treated, start + timedelta(days=1))]
        ws.import_events(write_events(tmp_path / "goals.parquet", goals))
        engine.tick()
        reports = [journey_report(ws.store, f"world-{w.index}") for w in worlds]
    covered = sum(r["lift"]["low"] <= EFFECT <= r["lift"]["high"] for r in reports)
    assert covered >= 0.85 * WORLDS, f"the 95% interval covered the true effect in only {covered} of {WORLDS} worlds"
    assert all(r["enrolled"] == CONTACTS and r["arms"]["control"]["enrolled"] > 0 for r in reports)
    mean = sum(r["lift"]["estimate"] for r in reports) / WORLDS
    assert mean == pytest.approx(EFFECT, abs=0.04)  # unbiased: the average estimate is near the truth
    assert all(not any("too small" in w for w in r["warnings"]) for r in reports)


def test_a_small_sample_is_flagged(home, identify) -> None:
    home.journey("tiny", trigger={"segment": {"trait": "name", "present": True}}, holdout=0.5,
                 goal={"did": "quote_requested", "within": "7d"}, steps=[{"id": "w", "wait": "1d"}])
    with Workspace(home.path) as ws:
        identify(ws, [{"email": f"t{i}@acme.example", "traits": {"name": "T"}} for i in range(12)])
        Engine(ws).tick()
        report = journey_report(ws.store, "tiny")
    assert any(w.startswith("the sample is too small to tell") for w in report["warnings"])
    assert report["lift"] is not None and report["verdict"].startswith("no effect shown")
