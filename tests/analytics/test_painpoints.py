"""Pain points on a hand-built log, and the interval statistics they rest on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from polku.analytics.painpoints import PainPointsQuery, pain_points
from polku.analytics.stats import rate_difference_interval, risk_ratio_interval, wilson_interval
from polku.analytics.tables import Tables, from_records

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def touch(contact: str, days: float, kind: str) -> dict[str, Any]:
    return {
        "event_id": f"{contact}-{days}-{kind}", "ts": T0 + timedelta(days=days), "type": kind,
        "channel": "web", "contact_id": contact,
    }


@pytest.fixture
def log() -> Tables:
    events = []
    for i in range(6):  # leave right after unsubscribing
        events += [touch(f"gone{i}", 0, "page_view"), touch(f"gone{i}", 1, "unsubscribe")]
    for i in range(6):  # open e-mails; half convert on day 3, half go quiet
        events += [touch(f"open{i}", 0, "page_view"), touch(f"open{i}", 1, "email_open")]
        events += [touch(f"open{i}", 2, "email_open")]
    events += [touch("late", 99, "page_view")]  # too recent to judge
    events += [touch("back", 0, "unsubscribe"), touch("back", 45, "page_view")]  # back after 45 days
    stages = [
        {"subject": "contact", "subject_id": f"open{i}", "stage": "opportunity", "ts": T0 + timedelta(days=3)}
        for i in range(3)
    ]
    return from_records(events, stages=stages)


def test_drop_outs_counted_by_hand(log: Tables) -> None:
    r = pain_points(log, min_support=1, as_of=T0 + timedelta(days=100))
    # judged: gone 12, open 18, back 2 (its page view on day 45 is 55 days old) = 32; late is undecided
    assert r.touchpoints == 32
    # drop-outs: 6 unsubscribes, 3 last e-mail opens, back's unsubscribe (45 quiet days) and page view
    assert r.dropouts == 11
    rows = r.ranked.set_index(["kind", "node"])
    unsub = rows.loc[("touchpoint", "unsubscribe")]
    assert (unsub["touchpoints"], unsub["dropouts"], unsub["rate"]) == (7, 7, 1.0)
    assert unsub["baseline"] == pytest.approx(4 / 25)
    assert unsub["significant"] and unsub["small_sample"]
    assert r.ranked.iloc[0]["node"] == "unsubscribe"
    pair = r.ranked[(r.ranked["kind"] == "transition") & (r.ranked["node"] == "unsubscribe")].iloc[0]
    assert (pair["previous"], pair["touchpoints"], pair["dropouts"]) == ("page_view", 6, 6)


def test_support_inactivity_and_goal(log: Tables) -> None:
    strict = pain_points(log, min_support=8, as_of=T0 + timedelta(days=100))
    assert set(strict.ranked["node"]) == {"page_view", "email_open"}
    patient = pain_points(log, inactivity="60d", min_support=1, as_of=T0 + timedelta(days=100))
    assert patient.dropouts == 9  # back returned within 60 days
    event_goal = pain_points(log, goal={"event": "unsubscribe"}, min_support=1, as_of=T0 + timedelta(days=100))
    assert "unsubscribe" not in set(event_goal.ranked["node"])  # touchpoints at the goal are not judged


def test_empty_log_and_bad_requests() -> None:
    r = pain_points(from_records([]))
    assert r.touchpoints == 0 and r.ranked.empty and r.warnings
    with pytest.raises(ValidationError, match="inactivity"):
        PainPointsQuery.model_validate({"inactivity": "-3d"})
    with pytest.raises(ValidationError, match="min_support"):
        PainPointsQuery.model_validate({"min_support": 0})


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval([0, 5, 10, 0], [10, 10, 10, 0])
    assert low[:3] == pytest.approx([0.0, 0.236593, 0.722467], abs=1e-6)
    assert high[:3] == pytest.approx([0.277533, 0.763407, 1.0], abs=1e-6)
    assert np.isnan(low[3]) and np.isnan(high[3])
    with pytest.raises(ValueError, match="between 0 and trials"):
        wilson_interval(3, 2)


def test_difference_and_ratio_intervals() -> None:
    # Newcombe (1998) example: 56/70 vs 48/80 -> difference 0.2, 95% CI 0.0524 to 0.3339
    diff, low, high = rate_difference_interval(56, 70, 48, 80)
    assert (float(diff), float(low), float(high)) == pytest.approx((0.2, 0.0524, 0.3339), abs=5e-4)
    ratio, r_low, r_high = risk_ratio_interval(20, 100, 10, 100)
    assert float(ratio) == pytest.approx(2.0)
    se = np.sqrt(1 / 20 - 1 / 100 + 1 / 10 - 1 / 100)
    assert (float(r_low), float(r_high)) == pytest.approx((2 * np.exp(-1.959964 * se), 2 * np.exp(1.959964 * se)))
    zero, z_low, z_high = risk_ratio_interval(0, 10, 5, 10)
    assert float(zero) == 0.0 and 0 < float(z_low) < float(z_high)
