"""answer_rows reads both survey-answer property shapes, from hand-made tables and a real workspace."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd

from polku import Workspace
from polku.analytics.tables import from_records
from polku.cx.answers import ANSWER_COLUMNS, answer_rows

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def _tp(event_id: str, props: object, **extra: object) -> dict[str, object]:
    """One survey_answered touchpoint record with ``props`` as its properties JSON."""
    text = props if isinstance(props, str) or props is None else json.dumps(props)
    return {"event_id": event_id, "ts": T0, "type": "survey_answered", "channel": "email",
            "properties": text, "contact_id": "c1", "account_id": "a1", "role": "user",
            "org_level": "operational", **extra}


def test_both_shapes_one_row_per_measure() -> None:
    new = {"survey": "onboarding", "response": "r1", "invite": None, "scores": {"nps": 9, "ces": 3},
           "answers": {"nps": 9, "ces": 3, "why": "fast"}, "comment": "fast", "language": "en",
           "trigger": {"event_id": "e0", "type": "ticket_closed"}, "phase": "post-purchase",
           "role": "decision_maker", "org_level": "executive"}
    old = {"survey": "csat", "score": 4, "comment": "ok", "language": "fi"}
    tables = from_records([
        _tp("e1", new), _tp("e2", old),
        _tp("e3", {"survey": "custom", "score": 3}),  # legacy shape, not a standard measure: skipped
        _tp("e4", "not json"), _tp("e5", None),
        _tp("e6", {"scores": {"nps": "nine", "csat": True}}),  # nothing numeric: skipped
        {"event_id": "e7", "ts": T0, "type": "page_view", "channel": "web", "contact_id": "c1"},
    ])
    rows = answer_rows(tables.touchpoints)
    assert tuple(rows.columns) == ANSWER_COLUMNS
    assert rows[["event_id", "measure", "score"]].values.tolist() == [
        ["e1", "nps", 9.0], ["e1", "ces", 3.0], ["e2", "csat", 4.0]]
    first = rows.iloc[0]
    assert (first.role, first.org_level, first.phase, first.trigger_type) == (
        "decision_maker", "executive", "post-purchase", "ticket_closed")
    legacy = rows.iloc[2]
    assert (legacy.survey, legacy.role, legacy.org_level, legacy.language, legacy.comment) == (
        "csat", "user", "operational", "fi", "ok")
    assert legacy.phase is None and legacy.trigger_type is None


def test_empty_table_gives_typed_empty_frame() -> None:
    rows = answer_rows(from_records([]).touchpoints)
    assert rows.empty and tuple(rows.columns) == ANSWER_COLUMNS
    assert rows["score"].dtype == "float64"


def test_reads_a_real_workspace(ws: Workspace) -> None:
    ws.identify(email="anna@acme.fi", account_id="acme", traits={"role": "purchaser", "org_level": "management"})
    ws.track("survey_answered", "email", email="anna@acme.fi", ts=T0.isoformat(), value=8,
             properties={"survey": "nps", "score": 8, "language": "fi"})
    ws.track("survey_answered", "web", email="anna@acme.fi", ts=T0.isoformat(), value=2,
             properties={"survey": "onboarding-ces", "scores": {"ces": 2}, "phase": "pre_purchase"})
    rows = answer_rows(ws.tables().touchpoints)
    assert sorted(rows["measure"]) == ["ces", "nps"]
    assert set(rows["account_id"]) == {"acme"} and set(rows["org_level"]) == {"management"}
    assert rows.set_index("measure").loc["ces", "phase"] == "pre-purchase"
    assert isinstance(rows["ts"].iloc[0], pd.Timestamp)
