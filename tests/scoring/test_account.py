"""Account scores roll up the buying group: top contacts, decision-makers, levels, roles."""

from __future__ import annotations

from datetime import timedelta

import pytest

from polku.analytics.tables import from_records
from polku.scoring import Member, account_card, parse_scoring_rules, score_accounts, score_contacts
from polku.scoring.account import members_of, probabilities

from .test_points import NOW, RULES, touch

PEOPLE = [
    {"contact_id": "dm", "account_id": "a1", "role": "decision_maker", "org_level": "executive"},
    {"contact_id": "inf", "account_id": "a1", "role": "influencer", "org_level": "management"},
    {"contact_id": "usr", "account_id": "a1", "role": "user", "org_level": "operational"},
    {"contact_id": "idle", "account_id": "a1", "role": "purchaser", "org_level": "management"},
    {"contact_id": "solo", "account_id": "a2", "role": "user", "org_level": "operational"},
]
ACCOUNTS = [{"account_id": "a1", "employees": 200}, {"account_id": "a2", "employees": 20}]


def _scores():
    rows = [
        touch(3, "meeting_held", "meeting", "dm"),
        touch(10, "meeting_held", "meeting", "inf"), touch(12, "meeting_held", "meeting", "inf"),
        touch(20, "page_view", "web", "usr"),
        touch(90, "meeting_held", "meeting", "idle"),
        touch(1, "meeting_held", "meeting", "solo"),
    ]
    return score_contacts(from_records(rows, contacts=PEOPLE, accounts=ACCOUNTS), RULES, NOW)


def test_coverage_of_a_buying_group() -> None:
    accounts = score_accounts(_scores())
    a1 = accounts.card("a1")
    cov = a1.coverage
    assert (cov.contacts, cov.active) == (4, 3)
    assert cov.decision_maker_engaged and cov.executive_engaged
    assert cov.levels == ("executive", "management", "operational")
    assert cov.roles == ("decision_maker", "influencer", "user")
    texts = [r.text for r in a1.reasons]
    assert "decision-maker engaged in the last 30 days" in texts
    assert "3 organisational levels active: executive, management, operational" in texts
    a2 = accounts.card("a2")
    assert not a2.coverage.decision_maker_engaged
    assert "no decision-maker engaged in the last 30 days" in [r.text for r in a2.reasons]


def test_engagement_is_top_contacts_plus_coverage_points() -> None:
    s = _scores()
    a1 = score_accounts(s).card("a1")
    top3 = sorted((s.engagement[s.position(c)] for c in ("dm", "inf", "usr", "idle")), reverse=True)[:3]
    bonus = 15 + 5 * 2 + 3 * 2  # decision-maker, two more levels, two more roles
    assert a1.engagement == pytest.approx(min(100, sum(top3) / 3 + bonus))
    assert a1.fit == pytest.approx(max(s.fit[s.position(c)] for c in ("dm", "inf", "usr", "idle")))


def test_one_account_equals_the_bulk_roll_up() -> None:
    s = _scores()
    p = probabilities([0.5, 0.2, 0.1, 0.0, 0.3], ["dm", "inf", "usr", "idle", "solo"])
    bulk = score_accounts(s, p)
    for account in ("a1", "a2"):
        one = account_card(account, members_of(s, account, p), RULES, NOW)
        assert one.as_dict() == bulk.card(account).as_dict()
    assert bulk.card("a1").probability == pytest.approx(1 - 0.5 * 0.8 * 0.9)


def test_activity_window_is_configurable() -> None:
    rules = parse_scoring_rules({"accounts": {"active_within": "7d"}})
    members = [Member("x", "decision_maker", "executive", 50, 40, None),
               Member("y", "user", "operational", 10, 80, int((NOW - timedelta(days=3)).timestamp() * 1e6))]
    card = account_card("a", members, rules, NOW)
    assert card.coverage.active == 1 and not card.coverage.decision_maker_engaged
    assert card.engagement == pytest.approx((80 + 40) / 2)
