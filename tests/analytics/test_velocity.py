"""Velocity on a hand-built stage history: time in stage, monthly cohorts and stalls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from polku.analytics.tables import Tables, from_records
from polku.analytics.velocity import VelocityQuery, velocity

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def stage(subject_id: str, name: str, days: float, subject: str = "contact") -> dict[str, Any]:
    return {"subject": subject, "subject_id": subject_id, "stage": name, "ts": T0 + timedelta(days=days)}


@pytest.fixture
def history() -> Tables:
    stages = [
        # a: identified and interested at once (zero days as suspect), lead 10 days later
        stage("a", "visitor", 0), stage("a", "suspect", 0), stage("a", "prospect", 0), stage("a", "lead", 10),
        # b: skips prospect; 33 days as suspect
        stage("b", "visitor", 5), stage("b", "suspect", 7), stage("b", "lead", 40),
        # c: still a suspect since day 36
        stage("c", "visitor", 35), stage("c", "suspect", 36),
        # d: a customer; customers never stall
        stage("d", "visitor", 1), stage("d", "customer", 2),
        # an account-level entry must not leak into contact figures
        stage("A", "lead", 3, subject="account"),
    ]
    touch = {"event_id": "x", "ts": T0 + timedelta(days=100), "type": "page_view", "channel": "web", "contact_id": "a"}
    return from_records([touch], stages=stages)


def test_time_in_stage_by_hand(history: Tables) -> None:
    r = velocity(history)
    s = r.stages.set_index("stage")
    assert s.loc["suspect", ["entered", "moved_on", "current"]].tolist() == [3, 2, 1]
    # suspect: a 0 days, b 33 days -> median 16.5, p90 0 + 0.9 * 33 = 29.7
    assert s.loc["suspect", "median_days"] == pytest.approx(16.5)
    assert s.loc["suspect", "p90_days"] == pytest.approx(29.7)
    assert s.loc["visitor", ["entered", "moved_on"]].tolist() == [4, 4]
    assert s.loc["visitor", "median_days"] == pytest.approx(1.0)  # 0, 2, 1, 1 days
    assert s.loc["lead", ["entered", "current"]].tolist() == [2, 2]
    assert s.loc["opportunity", "entered"] == 0
    assert r.as_of == T0 + timedelta(days=100)


def test_cohorts_by_month_with_a_horizon(history: Tables) -> None:
    r = velocity(history, within="30d")
    c = r.cohorts.set_index(["stage", "cohort"])
    assert c.loc[("suspect", "2025-01"), ["entered", "advanced"]].tolist() == [2, 1]  # b took 33 days
    assert c.loc[("suspect", "2025-02"), ["entered", "advanced"]].tolist() == [1, 0]
    assert c.loc[("visitor", "2025-01"), "rate"] == 1.0
    assert bool(c.loc[("suspect", "2025-01"), "complete"])
    assert "customer" not in r.cohorts["stage"].tolist()
    without = velocity(history).cohorts.set_index(["stage", "cohort"])
    assert without.loc[("suspect", "2025-01"), "advanced"] == 2


def test_stalls_are_current_entries_past_the_p90_of_movers(history: Tables) -> None:
    r = velocity(history, as_of=T0 + timedelta(days=60))
    s = r.stalls.set_index("stage")
    assert "customer" not in s.index
    # c has been a suspect 24 days; the p90 of movers is 29.7 days: not stalled yet
    assert s.loc["suspect", ["current", "stalled"]].tolist() == [1, 0]
    late = velocity(history, as_of=T0 + timedelta(days=70))
    assert late.stalls.set_index("stage").loc["suspect", "stalled"] == 1
    assert late.stalled[["entity", "stage"]].values.tolist() == [["c", "suspect"]]
    assert late.stalled["age_days"].iloc[0] == pytest.approx(34.0)
    # nobody ever moved on from lead: no threshold, so no stall is claimed
    assert late.stalls.set_index("stage").loc["lead", "stalled"] == 0


def test_account_history_and_date_range(history: Tables) -> None:
    r = velocity(history, subject="account")
    assert r.stages.set_index("stage").loc["lead", "entered"] == 1
    ranged = velocity(history, date_from=T0 + timedelta(days=30))
    assert ranged.stages.set_index("stage").loc["suspect", "entered"] == 1


def test_empty_history_and_bad_input() -> None:
    empty = from_records([])
    r = velocity(empty)
    assert r.stages["entered"].sum() == 0 and r.cohorts.empty and r.stalled.empty
    assert r.warnings
    with pytest.raises(ValidationError, match="within"):
        VelocityQuery.model_validate({"within": "0h"})
    with pytest.raises(ValidationError, match="subject"):
        VelocityQuery.model_validate({"subject": "lead"})
