"""The analytics tables built over a real workspace: resolved touchpoints and the stage history."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from polku import Workspace
from polku.analytics.tables import ACCOUNTS_SCHEMA, CONTACTS_SCHEMA, STAGES_SCHEMA, TOUCHPOINTS_SCHEMA

T0 = "2026-03-02T09:00:00Z"


def test_touchpoints_carry_the_resolved_contact_and_account(ws: Workspace) -> None:
    ws.track("page_view", "web", anonymous_id="dev-1", ts="2026-03-01T09:00:00Z")
    ws.identify(anonymous_id="dev-1", email="ann@acme.example", traits={"role": "decision_maker"}, ts=T0)
    ws.track("content_download", "web", email="ann@acme.example", topic="pricing", ts="2026-03-03T09:00:00Z")
    ws.track("page_view", "web", anonymous_id="dev-2", ts="2026-03-04T09:00:00Z")

    tables = ws.tables()
    rows = tables.touchpoints.order_by("seq").to_pyarrow().to_pylist()

    assert [r["type"] for r in rows] == ["page_view", "content_download", "page_view"]  # no identify
    ann, stranger = rows[0]["contact_id"], rows[2]["contact_id"]
    assert rows[1]["contact_id"] == ann != stranger
    assert [r["account_id"] for r in rows] == ["acme.example", "acme.example", None]
    assert rows[0]["role"] == "decision_maker"
    assert rows[1]["topic"] == "pricing"


def test_tables_have_the_documented_schemas(ws: Workspace) -> None:
    ws.track("page_view", "web", email="bo@acme.example", ts=T0)
    tables = ws.tables()
    assert tables.touchpoints.schema() == TOUCHPOINTS_SCHEMA
    assert tables.stages.schema() == STAGES_SCHEMA
    assert tables.contacts.schema() == CONTACTS_SCHEMA
    assert tables.accounts.schema() == ACCOUNTS_SCHEMA
    stages = tables.stages.filter(tables.stages.subject == "contact").to_pyarrow().to_pylist()
    assert [s["stage"] for s in stages] == ["visitor", "suspect"]


def test_tables_follow_new_events_after_refresh(ws: Workspace) -> None:
    ws.track("page_view", "web", email="bo@acme.example", ts=T0)
    assert ws.tables().touchpoints.count().execute() == 1
    ws.track("page_view", "web", email="bo@acme.example", ts="2026-03-03T09:00:00Z")
    assert ws.tables().touchpoints.count().execute() == 2


def test_read_cursors_work_in_utc_whatever_the_machine_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Helsinki")
    time.tzset()
    try:
        with Workspace(tmp_path / "ws") as ws:
            ws.track("page_view", "web", email="bo@acme.example", ts="2026-03-01T23:30:00Z")
            rows = ws.store.query("SELECT current_setting('TimeZone') AS tz, date_trunc('day', ts)::VARCHAR AS d FROM events")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert rows[0]["tz"] in ("UTC", "Etc/UTC")
    assert rows[0]["d"].startswith("2026-03-01")
