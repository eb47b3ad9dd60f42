"""Journey variants on a hand-built log, and on a sim world against a count by hand."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from polku.analytics.tables import Tables, from_records
from polku.analytics.variants import VariantsQuery, variants

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
            touch("a", 2, "email_open", "email"), touch("a", 3, "quote_requested"),
            touch("a", 4, "order_placed", "crm"),
            touch("b", 1, "email_open", "email"), touch("b", 0, "page_view"),  # out of order
            touch("c", 0, "page_view"), touch("c", 1, "email_open", "email"), touch("c", 2, "form_submit"),
            touch("d", 0, "page_view"),
        ],
        stages=[{"subject": "contact", "subject_id": "a", "stage": "opportunity", "ts": T0 + timedelta(hours=3)}],
    )


def table(result: Any) -> dict[str, tuple[int, int]]:
    return {v: (n, c) for v, n, c in result.variants[["variant", "journeys", "converted"]].itertuples(index=False)}


def test_variants_until_the_goal_with_repeats_collapsed(log: Tables) -> None:
    r = variants(log)
    assert table(r) == {
        "page_view > email_open": (2, 1),  # a (until its opportunity) and b
        "page_view > email_open > form_submit": (1, 0),
        "page_view": (1, 0),
    }
    top = r.variants.iloc[0]
    assert (top["rank"], top["share"], top["conversion_rate"], top["length"]) == (1, 0.5, 0.5, 2)
    assert (r.journeys, r.converted, r.conversion_rate) == (4, 1, 0.25)


def test_repeats_kept_the_whole_journey_and_a_cut(log: Tables) -> None:
    r = variants(log, collapse_repeats=False, until_goal=False, max_length=3)
    assert table(r) == {
        "page_view > email_open > email_open > …": (1, 1),
        "page_view > email_open": (1, 0),
        "page_view > email_open > form_submit": (1, 0),
        "page_view": (1, 0),
    }
    assert r.variants.set_index("variant").loc["page_view > email_open > email_open > …", "truncated"]


def test_event_goals_channel_nodes_and_top(log: Tables) -> None:
    r = variants(log, goal={"event": "email_open"}, node_by="channel_type", top=1)
    assert table(r) == {"web:page_view": (4, 3)}  # three journeys open an e-mail after a page view
    assert len(r.variants) == 1


def test_empty_range_and_bad_requests(log: Tables) -> None:
    r = variants(log, date_from=T0 + timedelta(days=10))
    assert r.journeys == 0 and r.variants.empty and r.warnings
    with pytest.raises(ValidationError, match="max_length"):
        VariantsQuery.model_validate({"max_length": 0})
    with pytest.raises(ValidationError, match="goal.event"):
        VariantsQuery.model_validate({"goal": {"neither": 1}})


def test_sim_variants_match_a_count_by_hand(sim_records: dict[str, list[dict[str, Any]]], sim_tables: Tables) -> None:
    journeys: dict[str, list[tuple[datetime, int, str]]] = defaultdict(list)
    for r in sim_records["touchpoints"]:
        journeys[r["contact_id"]].append((r["ts"], r["seq"], r["type"]))
    expected: Counter[str] = Counter()
    for events in journeys.values():
        nodes: list[str] = []
        for _, _, kind in sorted(events):
            if not nodes or nodes[-1] != kind:
                nodes.append(kind)
        expected[" > ".join(nodes[:4]) + (" > …" if len(nodes) > 4 else "")] += 1
    r = VariantsQuery.model_validate({"max_length": 4, "top": 15, "until_goal": False}).run(sim_tables)
    assert r.journeys == len(journeys)
    got = dict(zip(r.variants["variant"], r.variants["journeys"], strict=True))
    assert got == {v: n for v, n in expected.items() if v in got}
    assert sorted(got.values(), reverse=True) == [n for _, n in expected.most_common(15)]
