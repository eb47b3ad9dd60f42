"""Funnels on hand-built logs whose answers are counted by hand, and on a simulated world
against a brute-force oracle written independently here."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from polku.analytics.funnel import FunnelQuery, funnel
from polku.analytics.stats import wilson_interval
from polku.analytics.tables import Tables, from_records

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def touch(contact: str, hours: float, kind: str, channel: str = "web", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"{contact}-{hours}-{kind}-{len(fields)}",
        "ts": T0 + timedelta(hours=hours),
        "type": kind,
        "channel": channel,
        "contact_id": contact,
        **fields,
    }


def stage(subject_id: str, name: str, hours: float, subject: str = "contact") -> dict[str, Any]:
    return {"subject": subject, "subject_id": subject_id, "stage": name, "ts": T0 + timedelta(hours=hours)}


def counts(result: Any) -> list[int]:
    return result.steps["converted"].tolist()


def test_counts_rates_and_times_by_hand() -> None:
    t = from_records(
        [
            touch("a", 0, "page_view"), touch("a", 1, "demo_requested"), touch("a", 3, "quote_requested"),
            touch("b", 0, "page_view"), touch("b", 5, "demo_requested"),
            touch("c", 0, "demo_requested"), touch("c", 1, "page_view"),  # wrong order: only step 1
            touch("d", 2, "page_view"),
        ]
    )
    r = funnel(t, ["page_view", "demo_requested", "quote_requested"])
    s = r.steps
    assert s["entered"].tolist() == [4, 4, 2]
    assert s["converted"].tolist() == [4, 2, 1]
    assert s["dropped"].tolist() == [0, 2, 1]
    assert s["rate"].tolist() == [1.0, 0.5, 0.5]
    assert s["overall"].tolist() == [1.0, 0.5, 0.25]
    # times from the step before: a 1 h and b 5 h -> median 3 h, p90 1 + 0.9 * 4 = 4.6 h
    assert s["median_seconds"].tolist()[1:] == [3 * 3600.0, 2 * 3600.0]
    assert s["p90_seconds"].iloc[1] == pytest.approx(4.6 * 3600)
    assert math.isnan(s["median_seconds"].iloc[0])
    low, high = wilson_interval(2, 4)
    assert (s["rate_low"].iloc[1], s["rate_high"].iloc[1]) == (pytest.approx(low), pytest.approx(high))
    assert s["name"].tolist() == ["page_view", "demo_requested", "quote_requested"]
    assert (r.started, r.completed, r.warnings) == (4, 1, ())


def test_equal_timestamps_are_ordered_by_seq() -> None:
    # Same timestamp: the step-1 touchpoint comes first in ingest order for x, second for y.
    t = from_records(
        [
            touch("x", 0, "page_view", seq=1), touch("x", 0, "form_submit", seq=2),
            touch("y", 0, "form_submit", seq=3), touch("y", 0, "page_view", seq=4),
        ]
    )
    r = funnel(t, ["page_view", "form_submit"])
    assert counts(r) == [2, 1]
    assert r.steps["median_seconds"].iloc[1] == 0.0


def test_ties_are_settled_at_every_step() -> None:
    # All at one instant; only ingest order tells the steps apart.
    t = from_records(
        [
            touch("in_order", 0, "page_view", seq=1), touch("in_order", 0, "form_submit", seq=2),
            touch("in_order", 0, "demo_requested", seq=3),
            touch("swapped", 0, "page_view", seq=4), touch("swapped", 0, "demo_requested", seq=5),
            touch("swapped", 0, "form_submit", seq=6),
            # two step-1 touchpoints at once: the earlier in seq starts the funnel
            touch("double", 0, "form_submit", seq=8), touch("double", 0, "page_view", seq=7),
            touch("double", 0, "page_view", seq=9), touch("double", 0, "demo_requested", seq=10),
        ]
    )
    assert counts(funnel(t, ["page_view", "form_submit", "demo_requested"])) == [3, 3, 2]
    assert counts(funnel(t, ["page_view", "page_view", "demo_requested"])) == [3, 1, 1]


def test_input_order_does_not_matter() -> None:
    events = [
        touch("a", 0, "page_view"), touch("a", 2, "form_submit"), touch("a", 3, "demo_requested"),
        touch("b", 1, "page_view"), touch("b", 2, "demo_requested"), touch("b", 4, "form_submit"),
    ]
    shuffled = [events[i] for i in (5, 2, 0, 4, 1, 3)]  # seq follows this (wrong) order
    for log in (events, shuffled):
        r = funnel(from_records(log), ["page_view", "form_submit", "demo_requested"])
        assert counts(r) == [2, 2, 1]


def test_a_repeated_step_needs_two_touchpoints() -> None:
    t = from_records(
        [
            touch("one", 0, "page_view"),
            touch("two", 0, "page_view"), touch("two", 1, "page_view"),
            touch("three", 0, "page_view"), touch("three", 1, "page_view"), touch("three", 2, "page_view"),
        ]
    )
    assert counts(funnel(t, ["page_view", "page_view", "page_view"])) == [3, 2, 1]


def test_the_same_type_in_two_steps_with_another_between() -> None:
    t = from_records(
        [
            touch("a", 0, "page_view"), touch("a", 1, "email_open", "email"), touch("a", 2, "page_view"),
            touch("b", 0, "page_view"), touch("b", 1, "page_view"), touch("b", 2, "email_open", "email"),
        ]
    )
    assert counts(funnel(t, ["page_view", "email_open", "page_view"])) == [2, 2, 1]


def test_contacts_merged_by_identity_resolution_are_one_journey() -> None:
    # Two identities of one person resolved to contact "m": the cookie browsed, the e-mail clicked.
    t = from_records(
        [
            touch("m", 0, "page_view", anonymous="cookie"), touch("m", 1, "email_click", "email"),
            touch("n", 0, "page_view"),
        ]
    )
    r = funnel(t, ["page_view", "email_click"])
    assert counts(r) == [2, 1]


def test_accounts_convert_when_any_member_does() -> None:
    t = from_records(
        [
            touch("a1", 0, "page_view", account_id="A"), touch("a2", 5, "demo_requested", account_id="A"),
            touch("b1", 0, "page_view", account_id="B"),
            touch("loner", 0, "page_view"),  # no account: left out at account level
        ]
    )
    assert counts(funnel(t, ["page_view", "demo_requested"])) == [3, 0]
    by_account = funnel(t, ["page_view", "demo_requested"], subject="account")
    assert counts(by_account) == [2, 1]


def test_window_is_inclusive_and_measured_from_step_one() -> None:
    t = from_records(
        [
            touch("edge", 0, "page_view"), touch("edge", 24, "form_submit"),
            touch("late", 0, "page_view"), touch("late", 24.001, "form_submit"),
            # step 2 early, step 3 past the window from step 1 although close to step 2
            touch("chain", 0, "page_view"), touch("chain", 20, "form_submit"), touch("chain", 25, "demo_requested"),
        ]
    )
    r = funnel(t, ["page_view", "form_submit"], window="1d")
    assert counts(r) == [3, 2]
    assert counts(funnel(t, ["page_view", "form_submit", "demo_requested"], window="1d")) == [3, 2, 0]
    assert counts(funnel(t, ["page_view", "form_submit", "demo_requested"], window="25h")) == [3, 3, 1]


def test_the_funnel_starts_at_the_first_step_one_and_is_not_retried() -> None:
    t = from_records(
        [touch("a", 0, "page_view"), touch("a", 100, "page_view"), touch("a", 101, "form_submit")]
    )
    assert counts(funnel(t, ["page_view", "form_submit"], window="1d")) == [1, 0]
    assert counts(funnel(t, ["page_view", "form_submit"], window="5d")) == [1, 1]


def test_stage_steps_come_after_touchpoints_of_the_same_time() -> None:
    t = from_records(
        [touch("a", 0, "page_view"), touch("a", 2, "quote_requested"), touch("b", 0, "page_view")],
        stages=[stage("a", "opportunity", 2), stage("b", "customer", 3)],  # b skipped opportunity
    )
    r = funnel(t, ["page_view", {"stage": "opportunity"}])
    assert counts(r) == [2, 2]  # customer counts as reaching opportunity
    assert r.steps["name"].tolist() == ["page_view", "stage opportunity"]
    assert counts(funnel(t, ["quote_requested", {"stage": "opportunity"}])) == [1, 1]
    # the quote request that made a an opportunity is not after the stage entry
    assert counts(funnel(t, [{"stage": "opportunity"}, "quote_requested"])) == [2, 0]


def test_property_channel_and_topic_filters() -> None:
    t = from_records(
        [
            touch("a", 0, "page_view", properties=json.dumps({"path": "/Pricing/basic"})),
            touch("a", 1, "email_click", "email", topic="safety"),
            touch("b", 0, "page_view", properties=json.dumps({"path": "/blog"})),
            touch("b", 1, "email_click", "email", topic="safety"),
            touch("c", 0, "page_view", "portal", properties=json.dumps({"path": "/pricing", "n": 3})),
            touch("d", 0, "page_view"),  # no properties at all
        ]
    )
    pricing = {"event": "page_view", "properties": {"path": {"contains": "pricing"}}}
    assert counts(funnel(t, [pricing])) == [2]
    assert counts(funnel(t, [{**pricing, "channel": "web"}])) == [1]
    assert counts(funnel(t, [{"event": "page_view", "properties": {"n": {"equals": 3}}}])) == [1]
    assert counts(funnel(t, [{"event": "page_view", "properties": {"path": {"one_of": ["/blog"]}}}])) == [1]
    safety = {"event": "email_click", "topic": "safety"}
    assert counts(funnel(t, [pricing, safety])) == [2, 1]


def test_breakdowns_by_channel_trait_and_account() -> None:
    t = from_records(
        [
            touch("a", 0, "page_view", account_id="A"), touch("a", 1, "form_submit", account_id="A"),
            touch("b", 0, "page_view", "portal", account_id="B"),
            touch("c", 0, "page_view", account_id="B"), touch("c", 1, "form_submit", account_id="B"),
        ],
        contacts=[
            {"contact_id": "a", "account_id": "A", "role": "user"},
            {"contact_id": "b", "account_id": "B", "role": "user"},
            {"contact_id": "c", "account_id": "B"},
        ],
        accounts=[{"account_id": "A", "industry": "energy"}, {"account_id": "B", "industry": "mining"}],
    )
    steps = ["page_view", "form_submit"]
    by_channel = funnel(t, steps, breakdown="channel").groups
    assert by_channel is not None
    assert by_channel[["group", "step", "converted"]].values.tolist() == [
        ["web", 1, 2], ["web", 2, 2], ["portal", 1, 1], ["portal", 2, 0],
    ]
    by_role = funnel(t, steps, breakdown="role").groups
    assert by_role is not None
    assert by_role[["group", "step", "converted"]].values.tolist() == [
        ["user", 1, 2], ["user", 2, 1], ["(none)", 1, 1], ["(none)", 2, 1],
    ]
    by_industry = funnel(t, steps, breakdown="industry", subject="account").groups
    assert by_industry is not None
    assert by_industry[["group", "step", "converted"]].values.tolist() == [
        ["energy", 1, 1], ["energy", 2, 1], ["mining", 1, 1], ["mining", 2, 1],
    ]
    result = funnel(t, steps, breakdown="industry")  # contact-level, account trait via contacts
    assert result.groups is not None and result.groups["converted"].tolist() == [2, 1, 1, 1]
    assert counts(result) == [3, 2]


def test_breakdown_limit_keeps_the_largest_groups_and_says_so() -> None:
    t = from_records([touch(c, 0, "page_view", ch) for c, ch in [("a", "web"), ("b", "web"), ("c", "email")]])
    result = FunnelQuery.model_validate(
        {"steps": [{"event": "page_view"}], "breakdown": "channel", "breakdown_limit": 1}
    ).run(t)
    assert result.groups is not None and result.groups["group"].tolist() == ["web"]
    assert "1 smaller groups left out" in result.warnings[0]


def test_bad_requests_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match="steps"):
        FunnelQuery.model_validate({"steps": []})
    with pytest.raises(ValidationError, match="window of zero"):
        FunnelQuery.model_validate({"steps": [{"event": "page_view"}], "window": "0d"})
    with pytest.raises(ValidationError, match="30d"):
        FunnelQuery.model_validate({"steps": [{"event": "page_view"}], "window": "a month"})
    with pytest.raises(ValidationError, match="30d"):
        FunnelQuery.model_validate({"steps": [{"event": "page_view"}], "window": 3600})
    with pytest.raises(ValidationError, match="'event'"):
        FunnelQuery.model_validate({"steps": ["page_view"]})
    with pytest.raises(ValidationError, match="stage"):
        FunnelQuery.model_validate({"steps": [{"stage": "champion"}]})
    with pytest.raises(ValidationError, match="event"):
        FunnelQuery.model_validate({"steps": [{"event": "Page View"}]})
    with pytest.raises(ValidationError, match="date_to"):
        FunnelQuery.model_validate(
            {"steps": [{"event": "page_view"}], "date_from": "2025-02-01", "date_to": "2025-01-01"}
        )
    with pytest.raises(ValidationError, match="step 1 to be an event"):
        FunnelQuery.model_validate({"steps": [{"stage": "lead"}], "breakdown": "channel"})
    with pytest.raises(ValidationError, match="contact trait"):
        FunnelQuery.model_validate({"steps": [{"event": "page_view"}], "breakdown": "role", "subject": "account"})
    with pytest.raises(ValidationError, match="extra"):
        FunnelQuery.model_validate({"steps": [{"event": "page_view", "colour": "red"}]})


def test_a_date_range_with_no_data_gives_explicit_zeros() -> None:
    t = from_records([touch("a", 0, "page_view"), touch("a", 1, "form_submit")])
    r = funnel(t, ["page_view", "form_submit"], date_from=T0 + timedelta(days=300))
    assert r.steps["entered"].tolist() == [0, 0]
    assert r.steps["converted"].tolist() == [0, 0]
    assert r.steps["rate"].isna().all() and r.steps["overall"].isna().all()
    assert r.warnings == ("no contact entered the funnel in the date range",)


def test_date_range_selects_the_start_and_later_steps_may_follow_it() -> None:
    t = from_records(
        [
            touch("a", 0, "page_view"), touch("a", 30, "form_submit"),
            touch("b", 30, "page_view"), touch("b", 31, "form_submit"),
        ]
    )
    r = funnel(t, ["page_view", "form_submit"], date_from=T0, date_to=T0 + timedelta(hours=24))
    assert counts(r) == [1, 1]


def test_a_step_nobody_ever_did_is_an_explicit_empty_result() -> None:
    t = from_records([touch("a", 0, "page_view")], stages=[stage("a", "lead", 0)])
    r = funnel(t, ["page_view", "webinar_attended", {"stage": "customer"}])
    assert counts(r) == [1, 0, 0]
    assert r.warnings == (
        "step 2 (webinar_attended) matches no touchpoint in the data",
        "step 3 (stage customer) matches no stage entry in the data",
    )


def test_queries_round_trip_through_json() -> None:
    body = {
        "steps": [
            {"event": "page_view", "channel": "web", "properties": {"path": {"contains": "pricing"}}},
            {"stage": "opportunity", "label": "SQL"},
        ],
        "window": "12h",
        "date_from": "2025-01-01T00:00:00Z",
        "breakdown": "country",
    }
    q = FunnelQuery.model_validate(body)
    dumped = json.loads(q.model_dump_json())
    assert dumped["window"] == "12h"
    assert FunnelQuery.model_validate(dumped) == q
    assert FunnelQuery.model_json_schema()["properties"]["window"]["type"] == "string"


def test_journeys_give_each_step_time_for_drill_down() -> None:
    t = from_records([touch("a", 0, "page_view"), touch("a", 2, "form_submit"), touch("b", 1, "page_view")])
    q = FunnelQuery.model_validate({"steps": [{"event": "page_view"}, {"event": "form_submit"}]})
    rows = q.journeys(t).order_by("entity").to_pandas()
    assert rows["entity"].tolist() == ["a", "b"]
    assert rows["ts_2"].iloc[0] == T0 + timedelta(hours=2)
    assert rows["ts_2"].isna().iloc[1]


# ---------------------------------------------------------------------------------------
# a simulated world against a brute-force oracle


def oracle(records: list[dict[str, Any]], steps: list[str], window: timedelta, key: str) -> list[int]:
    """The funnel counted the slow, obvious way: walk each journey in (ts, seq) order."""
    journeys: dict[str, list[tuple[datetime, int, str]]] = defaultdict(list)
    for r in records:
        if r[key] is not None:
            journeys[r[key]].append((r["ts"], r["seq"], r["type"]))
    reached = [0] * len(steps)
    for events in journeys.values():
        events.sort()
        starts = [e for e in events if e[2] == steps[0]]
        if not starts:
            continue
        first = starts[0]
        reached[0] += 1
        last = first
        for k, name in enumerate(steps[1:], start=1):
            nxt = next(
                (e for e in events if e[2] == name and e[:2] > last[:2] and e[0] <= first[0] + window), None
            )
            if nxt is None:
                break
            reached[k] += 1
            last = nxt
    return reached


@pytest.mark.parametrize("subject", ["contact", "account"])
def test_sim_world_matches_the_oracle(
    sim_records: dict[str, list[dict[str, Any]]], sim_tables: Tables, subject: str
) -> None:
    steps = ["email_sent", "email_open", "page_view", "page_view"]
    key = "contact_id" if subject == "contact" else "account_id"
    for window in (timedelta(days=7), timedelta(days=60)):
        r = funnel(sim_tables, steps, window=window, subject=subject)  # type: ignore[arg-type]
        expected = oracle(sim_records["touchpoints"], steps, window, key)
        assert counts(r) == expected
        assert expected[-1] > 0
    assert np.all(np.diff(counts(r)) <= 0)
