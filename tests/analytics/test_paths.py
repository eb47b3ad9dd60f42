"""Paths, transitions and journey phases on hand-built logs, and transitions on a sim world."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from polku.analytics.paths import PathsQuery, paths, transitions, with_phase
from polku.analytics.tables import Tables, from_records

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def touch(contact: str, hours: float, kind: str, channel: str = "web", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"{contact}-{hours}-{kind}", "ts": T0 + timedelta(hours=hours), "type": kind,
        "channel": channel, "contact_id": contact, **fields,
    }


@pytest.fixture
def log() -> Tables:
    return from_records(
        [
            touch("a", 0, "page_view"), touch("a", 1, "email_open", "email"),
            touch("a", 2, "email_open", "email"), touch("a", 3, "demo_requested"),
            touch("b", 2, "page_view"), touch("b", 0, "email_open", "email"),  # out of order
            touch("b", 3, "demo_requested"),
            touch("c", 0, "page_view"),
            touch("d", 5, "page_view", seq=9), touch("d", 5, "form_submit", seq=8),  # tie: seq decides
        ],
        stages=[
            {"subject": "contact", "subject_id": "a", "stage": "opportunity", "ts": T0 + timedelta(hours=2)},
            {"subject": "contact", "subject_id": "a", "stage": "customer", "ts": T0 + timedelta(hours=3)},
        ],
    )


def test_next_steps_from_an_event(log: Tables) -> None:
    r = paths(log, "page_view", steps=3)
    assert r.anchored == 4
    nodes = {(s, n): c for s, n, c in r.nodes[["step", "node", "count"]].itertuples(index=False)}
    assert nodes == {
        (0, "page_view"): 4, (1, "email_open"): 1, (1, "demo_requested"): 1,
        (2, "email_open"): 1, (3, "demo_requested"): 1,
    }
    links = r.links[["source_step", "source", "target", "count"]].values.tolist()
    assert [0, "page_view", "email_open", 1] in links and [2, "email_open", "demo_requested", 1] in links
    assert r.nodes.loc[r.nodes["step"] == 0, "share"].iloc[0] == 1.0


def test_collapsed_repeats_and_previous_steps(log: Tables) -> None:
    collapsed = paths(log, "page_view", collapse_repeats=True)
    steps = collapsed.nodes[collapsed.nodes["node"] == "demo_requested"]["step"].tolist()
    assert sorted(steps) == [1, 2]
    before = paths(log, "demo_requested", direction="previous", steps=2)
    nodes = {(s, n): c for s, n, c in before.nodes[["step", "node", "count"]].itertuples(index=False)}
    assert nodes == {(0, "demo_requested"): 2, (-1, "email_open"): 1, (-1, "page_view"): 1, (-2, "email_open"): 2}
    sankey = before.sankey()
    assert {"source": "-2:email_open", "target": "-1:page_view", "source_step": -2, "target_step": -1,
            "value": 1} in sankey["links"]
    assert {n["id"] for n in sankey["nodes"]} >= {"0:demo_requested", "-1:page_view"}
    assert json.loads(json.dumps(before.to_dict()))["sankey"] == sankey


def test_journey_start_anchor_channel_nodes_and_other(log: Tables) -> None:
    r = PathsQuery.model_validate({"node_by": "channel_type", "steps": 1, "max_nodes": 1}).run(log)
    nodes = {(s, n): c for s, n, c in r.nodes[["step", "node", "count"]].itertuples(index=False)}
    # first touchpoints: a, c web:page_view; b email:email_open; d web:form_submit (seq 8 first)
    assert nodes[(0, "web:page_view")] == 2 and nodes[(0, "(other)")] == 2
    assert sum(c for (s, _), c in nodes.items() if s == 1) == 3  # c has nothing after its start


def test_missing_anchor_and_bad_requests(log: Tables) -> None:
    r = paths(log, "webinar_attended")
    assert r.anchored == 0 and r.nodes.empty and r.warnings == ("no contact has a 'webinar_attended' touchpoint",)
    with pytest.raises(ValidationError, match="steps"):
        PathsQuery.model_validate({"steps": 0})
    with pytest.raises(ValidationError, match="direction"):
        PathsQuery.model_validate({"direction": "sideways"})
    with pytest.raises(ValidationError, match="not event type names"):
        PathsQuery.model_validate({"exclude": ["Page View"]})


def test_transitions_by_hand(log: Tables) -> None:
    t = transitions(log)
    got = {(s, d): c for s, d, c in t[["source", "target", "count"]].itertuples(index=False)}
    assert got == {
        ("page_view", "email_open"): 1, ("email_open", "email_open"): 1, ("email_open", "demo_requested"): 1,
        ("email_open", "page_view"): 1, ("page_view", "demo_requested"): 1, ("form_submit", "page_view"): 1,
    }
    out_of_email = transitions(log, source="email_open", collapse_repeats=True)
    assert out_of_email["share"].tolist() == [0.5, 0.5]
    into_demo = transitions(log, target="demo_requested")
    assert sorted(into_demo["source"]) == ["email_open", "page_view"]


def test_phase_of_each_touchpoint(log: Tables) -> None:
    rows = with_phase(log).to_pandas().sort_values(["contact_id", "ts", "seq"])
    a = rows[rows["contact_id"] == "a"]["phase"].tolist()
    assert a == ["pre_purchase", "pre_purchase", "purchase", "post_purchase"]
    assert set(rows[rows["contact_id"] != "a"]["phase"]) == {"pre_purchase"}
    accounts = with_phase(log, "account").to_pandas()
    assert accounts["phase"].isna().all()  # no touchpoint has an account


def test_sim_transitions_match_a_count_by_hand(
    sim_records: dict[str, list[dict[str, Any]]], sim_tables: Tables
) -> None:
    journeys: dict[str, list[tuple[datetime, int, str]]] = defaultdict(list)
    for r in sim_records["touchpoints"]:
        journeys[r["contact_id"]].append((r["ts"], r["seq"], r["type"]))
    expected: Counter[tuple[str, str]] = Counter()
    for events in journeys.values():
        events.sort()
        expected.update((x[2], y[2]) for x, y in zip(events, events[1:], strict=False))
    got = transitions(sim_tables)
    assert dict(zip(zip(got["source"], got["target"], strict=True), got["count"], strict=True)) == dict(expected)
