"""Rule scores by hand: points, decay, caps, fit, grades, reasons; one event at a time
gives exactly what a full rescore gives."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from polku.analytics.tables import Tables, from_records
from polku.scoring import (
    ScoringRules,
    Touch,
    apply_event,
    new_state,
    parse_scoring_rules,
    read_score,
    score_contacts,
    state_from_touches,
)
from polku.scoring.grades import grade
from polku.scoring.match import matches, rule_predicate
from polku.scoring.state import ContactState

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)

RULES = parse_scoring_rules({
    "engagement": {
        "scale": 100,
        "decay": "30d",
        "inactive_after": "60d",
        "rules": [
            {"name": "meeting", "types": ["meeting_held"], "points": 20, "cap": 30},
            {"name": "pricing", "types": ["content_download"], "topics": ["pricing"], "points": 10,
             "decay": {"window": "14d"}},
            {"name": "web", "channels": ["web"], "points": 1, "decay": {"linear": "10d"}},
            {"name": "unsubscribed", "types": ["unsubscribe"], "points": -50, "decay": "none",
             "says": "unsubscribed from e-mail"},
        ],
    },
    "fit": {
        "scale": 50,
        "rules": [
            {"name": "decision-maker", "field": "role", "one_of": ["decision_maker"], "points": 30},
            {"name": "mid-size", "field": "employees", "min": 50, "max": 500, "points": 20},
            {"name": "finland", "field": "country", "one_of": ["FI"], "points": 5},
        ],
    },
})


def touch(days_ago: float, type_: str, channel: str, contact: str = "c1", **kw: Any) -> dict[str, Any]:
    row = {"event_id": f"e{random.random()}", "ts": NOW - timedelta(days=days_ago), "type": type_,
           "channel": channel, "contact_id": contact, **kw}
    if isinstance(row.get("properties"), dict):
        row["properties"] = json.dumps(row["properties"])
    return row


PEOPLE = [
    {"contact_id": "c1", "account_id": "a1", "role": "decision_maker", "org_level": "executive"},
    {"contact_id": "c2", "account_id": "a1", "role": "user", "org_level": "operational"},
    {"contact_id": "c3", "account_id": None, "role": None, "org_level": None},
]
ACCOUNTS = [{"account_id": "a1", "industry": "Manufacturing", "employees": 200, "country": "fi"}]


def tables(rows: list[dict[str, Any]]) -> Tables:
    return from_records(rows, contacts=PEOPLE, accounts=ACCOUNTS)


def card(rows: list[dict[str, Any]], contact: str = "c1", rules: ScoringRules = RULES):
    scores = score_contacts(tables(rows), rules, NOW)
    return scores.card(scores.position(contact))


def test_a_meeting_30_days_ago_is_worth_half() -> None:
    c = card([touch(30, "meeting_held", "meeting"), touch(45, "meeting_held", "meeting"),
              touch(90, "meeting_held", "meeting")])
    assert c.engagement == pytest.approx(10 + 20 * 2**-1.5 + 2.5)
    assert c.reasons[0].text.startswith("role: decision-maker")
    meeting = next(r for r in c.reasons if r.factor == "meeting")
    # reasons count the matches of the last two half-lives
    assert meeting.text == "had 2 meetings in 46 days"
    assert meeting.weight == pytest.approx(c.engagement * 0.6)  # points times the engagement share


def test_a_cap_bounds_one_rule() -> None:
    c = card([touch(0, "meeting_held", "meeting") for _ in range(3)])
    assert c.engagement == pytest.approx(30)


def test_a_window_counts_fully_then_not_at_all() -> None:
    rows = [touch(d, "content_download", "email", topic="pricing") for d in (0.5, 5, 13, 20)]
    c = card(rows)
    assert c.engagement == pytest.approx(30)
    assert any(r.text == "downloaded 3 documents on pricing in 14 days" for r in c.reasons)


def test_linear_decay_fades_by_whole_days() -> None:
    # NOW is noon: 2.25 days ago is two UTC days back; 10.5 days ago has faded out
    c = card([touch(2.25, "page_view", "web"), touch(10.5, "page_view", "web")])
    assert c.engagement == pytest.approx(0.8)


def test_negative_points_never_fade_and_the_score_stays_in_range() -> None:
    c = card([touch(400, "unsubscribe", "email"), touch(1, "meeting_held", "meeting")])
    assert c.engagement == 0.0
    assert c.reasons[0].text == "unsubscribed from e-mail" and c.reasons[0].weight < 0


def test_fit_from_role_size_and_country() -> None:
    c = card([])
    assert c.fit == pytest.approx(100.0)  # 30 + 20 + 5 points, capped at the scale of 50
    assert [r.text for r in c.reasons if r.kind == "fit"] == [
        "role: decision-maker", "company of 200 employees", "based in fi",
    ]
    assert c.reasons[-1].text == "no activity recorded"
    assert card([], "c2").fit == pytest.approx(50.0)
    assert card([], "c3").fit == 0.0


def test_inactivity_is_a_reason() -> None:
    c = card([touch(61, "meeting_held", "meeting")])
    assert c.reasons[-1].text == "no activity for 61 days"
    assert "no activity" not in " ".join(r.text for r in card([touch(59, "meeting_held", "meeting")]).reasons)


@pytest.mark.parametrize(
    ("fit", "engagement", "expected"),
    [(100, 10, "A4"), (0, 80, "D1"), (75, 75, "A1"), (74.99, 50, "B2"), (25, 24.99, "C4"), (24.99, 25, "D3")],
)
def test_grade_matrix(fit: float, engagement: float, expected: str) -> None:
    assert grade(fit, engagement, RULES.grades) == expected


def test_combined_score_weighs_fit_and_engagement() -> None:
    c = card([touch(30, "meeting_held", "meeting")])
    assert c.score == pytest.approx(0.4 * 100 + 0.6 * 10)
    assert c.grade == "A4"


PROPERTY_RULES = parse_scoring_rules({
    "engagement": {"rules": [
        {"name": "pricing", "types": ["page_view"], "properties": {"path": {"contains": "PRICING"}}, "points": 1},
        {"name": "plan", "types": ["form_submit"], "properties": {"plan": {"one_of": ["pro", "team"]}}, "points": 1},
        {"name": "three", "types": ["form_submit"], "properties": {"seats": {"equals": 3}}, "points": 1},
        {"name": "text three", "types": ["form_submit"], "properties": {"seats": {"equals": "3"}}, "points": 1},
        {"name": "trial", "types": ["form_submit"], "properties": {"trial": {"equals": True}}, "points": 1},
        {"name": "big order", "types": ["order_placed"], "min_value": 1000, "points": 1},
    ]},
})


def test_python_and_engine_matching_agree() -> None:
    props = [{"path": "/Pricing/pro"}, {"path": "/about"}, {"about": "pricing"}, {"plan": "pro"}, {"plan": "free"},
             {"seats": 3}, {"seats": 3.0}, {"seats": "3"}, {"trial": True}, {"trial": "true"}, {}, None]
    rows = [touch(1, t, "web", properties=p) for p in props for t in ("page_view", "form_submit")]
    rows += [touch(1, "order_placed", "crm", value=v) for v in (999.0, 1000.0, None, float("nan"))]
    t = from_records(rows)
    engine = t.touchpoints.select(
        *(rule_predicate(t.touchpoints, r).fill_null(False).name(f"m{i}")
          for i, r in enumerate(PROPERTY_RULES.engagement.rules))
    ).to_pyarrow().to_pylist()
    python = [
        {f"m{i}": matches(r, Touch.from_row(row)) for i, r in enumerate(PROPERTY_RULES.engagement.rules)}
        for row in rows
    ]
    assert engine == python
    assert sum(m["m0"] for m in python) == 1 and sum(m["m2"] for m in python) == 2
    assert sum(m["m3"] for m in python) == 1 and sum(m["m4"] for m in python) == 1
    assert sum(m["m5"] for m in python) == 1 and sum(m["m1"] for m in python) == 1


def _random_rows(seed: int, n: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    kinds = [("meeting_held", "meeting", None), ("content_download", "web", "pricing"),
             ("content_download", "web", "other"), ("page_view", "web", None), ("unsubscribe", "email", None),
             ("call_held", "phone", None)]
    rows = []
    for _ in range(n):
        t, ch, topic = rnd.choice(kinds)
        rows.append(touch(rnd.uniform(0, 120), t, ch, contact=rnd.choice(["c1", "c2", "c3"]), topic=topic))
    return rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_event_at_a_time_equals_a_full_rescore(seed: int) -> None:
    rows = _random_rows(seed, 300)
    scores = score_contacts(tables(rows), RULES, NOW)
    rnd = random.Random(seed)
    for i, cid in enumerate(scores.contact_id):
        mine = [Touch.from_row(r) for r in rows if r["contact_id"] == cid]
        rnd.shuffle(mine)  # arrival order need not be time order
        traits = {k: v[i] for k, v in scores.traits.items() if v[i] is not None}
        state = new_state(str(cid), RULES, account_id=scores.account_id[i], traits=traits)
        for t in mine:
            state = apply_event(state, t, RULES)
        state = ContactState.from_dict(json.loads(json.dumps(state.to_dict())))
        inc, full = read_score(state, RULES, NOW), scores.card(i)
        assert inc.engagement == pytest.approx(full.engagement, rel=1e-9, abs=1e-9)
        assert inc.fit == pytest.approx(full.fit) and inc.grade == full.grade
        assert [r.text for r in inc.reasons] == [r.text for r in full.reasons]


def test_the_state_stays_small() -> None:
    rows = [touch(d / 10, "page_view", "web") for d in range(3000)] + [
        touch(d / 10, "meeting_held", "meeting") for d in range(3000)
    ]
    state = state_from_touches("c1", [Touch.from_row(r) for r in rows], RULES)
    spans = [d.recent_days for d in (RULES.engagement.decay_of(r) for r in RULES.engagement.rules)]
    for rs, span in zip(state.rules, spans, strict=True):
        assert len(rs.days) <= (span or 0)


def test_a_state_belongs_to_its_rules_and_its_time() -> None:
    state = state_from_touches("c1", [Touch.from_row(touch(1, "meeting_held", "meeting"))], RULES)
    other = parse_scoring_rules({})
    with pytest.raises(ValueError, match="other rules"):
        read_score(state, other, NOW)
    with pytest.raises(ValueError, match="before the state's newest event"):
        read_score(state, RULES, NOW - timedelta(days=2))
