"""Account CX health on hand-made accounts: every component, person balancing and recency, the weights,
the touchpoint network and the accounts at risk (simulated worlds: test_health_sim.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from polku.analytics.tables import Tables, from_records
from polku.cx.answers import answers_of
from polku.cx.config import CxConfig
from polku.cx.health import AccountHealth, account_health, load_inputs
from polku.cx.network import touchpoint_network
from polku.cx.risk import accounts_at_risk

AS_OF = datetime(2025, 7, 1, tzinfo=UTC)
LEVELS = {"exec": ("executive", "decision_maker"), "mgr": ("management", "purchaser"), "op": ("operational", "user")}


class World:
    """Hand-made touchpoints of three customer accounts: happy, mid and sad."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.contacts: list[dict[str, Any]] = []

    def person(self, account: str, who: str) -> str:
        cid = f"{account}_{who}"
        level, role = LEVELS[who]
        self.contacts.append({"contact_id": cid, "account_id": account, "name": f"{who} of {account}", "role": role,
                              "org_level": level, "first_seen": AS_OF - timedelta(days=400)})
        return cid

    def add(self, cid: str, days_ago: float, type_: str, props: dict[str, Any] | None = None,
            value: float | None = None) -> None:
        account, who = cid.split("_")
        level, role = LEVELS[who]
        self.rows.append({"event_id": f"e{len(self.rows)}", "ts": AS_OF - timedelta(days=days_ago), "type": type_,
                          "channel": "web", "value": value, "properties": json.dumps(props) if props else None,
                          "contact_id": cid, "account_id": account, "role": role, "org_level": level})

    def tables(self) -> Tables:
        accounts = [{"account_id": a, "name": a.title(), "owner": f"owner@{a}.example", "stage": "customer"}
                    for a in ("happy", "mid", "sad")]
        stages = [{"subject": "account", "subject_id": a["account_id"], "stage": "customer",
                   "ts": AS_OF - timedelta(days=300)} for a in accounts]
        return from_records(self.rows, stages=stages, contacts=self.contacts, accounts=accounts)


def _world() -> World:
    w = World()
    people = {a: {who: w.person(a, who) for who in LEVELS if not (a == "sad" and who == "exec")}
              for a in ("happy", "mid", "sad")}
    say = {"happy": [("exec", "nps", 10), ("op", "nps", 9), ("mgr", "csat", 5), ("op", "ces", 7)],
           "mid": [("exec", "nps", 8), ("op", "nps", 7), ("mgr", "csat", 4), ("op", "ces", 5)],
           "sad": [("mgr", "nps", 2), ("op", "nps", 3), ("mgr", "csat", 1), ("op", "ces", 2)]}
    for account, answers in say.items():
        for i, (who, measure, score) in enumerate(answers):
            w.add(people[account][who], 20 + i, "survey_answered", {"survey": measure, "score": score}, score)
    tickets = {"happy": (1, 2.0, 0), "mid": (3, 20.0, 0), "sad": (8, 120.0, 3)}
    for account, (k, hours, reopened) in tickets.items():
        op = people[account]["op"]
        for t in range(k):
            ticket = {"ticket": f"{account}-{t}"}
            w.add(op, 100 - t, "ticket_opened", ticket)
            w.add(op, 100 - t - hours / 24, "ticket_closed", ticket, hours)
            if t < reopened:
                w.add(op, 99 - t - hours / 24, "ticket_reopened", ticket)
    deliveries = {"happy": [True, True, True], "mid": [True, True, False], "sad": [True, False, False]}
    for account, kept in deliveries.items():
        for i, on_time in enumerate(kept):
            w.add(people[account]["mgr"], 50 + i, "order_delivered", {"on_time": on_time})
    wear = {"happy": 2.0, "mid": 2.5, "sad": 3.4}
    for account, level in wear.items():
        for i in range(10):
            w.add(people[account]["op"], 10 + i, "sensor_reading", {"sensor": "vibration"}, level + 0.01 * i)
    activity = {"happy": (12, 6), "mid": (6, 6), "sad": (0, 14)}  # (last 90 days, the 90 before)
    for account, (recent, previous) in activity.items():
        for i in range(recent):
            w.add(people[account]["mgr"], 5 + i, "page_view")
        for i in range(previous):
            w.add(people[account]["mgr"], 95 + i, "page_view")
    w.add(people["happy"]["exec"], 3, "meeting_held")
    return w


def _health(config: CxConfig | None = None) -> tuple[dict[str, AccountHealth], Any]:
    config = config or CxConfig()
    tables = _world().tables()
    inputs = load_inputs(tables, config, AS_OF, answers_of(tables))
    return account_health(inputs, config), inputs


def test_every_component_and_the_ranking() -> None:
    cards, _ = _health()
    assert cards["happy"].health > cards["mid"].health > cards["sad"].health
    for card in cards.values():
        assert {c.name for c in card.components} == {
            "nps", "csat", "ces", "activity", "tickets", "reopened", "resolution", "promise", "product"}
        assert card.coverage == pytest.approx(1.0)
        assert 0 <= card.health <= 100
    sad = {c.name: c for c in cards["sad"].components}
    assert all(sad[n].score < 50 for n in ("nps", "csat", "ces", "activity", "tickets", "reopened", "resolution",
                                           "promise", "product"))
    assert sad["nps"].reason.startswith("NPS answers average 2.5 on 0-10 from 2 people")
    assert sad["nps"].detail["nps"] == -100.0 and sad["nps"].detail["detractors"] == 2
    assert sad["activity"].reason.startswith("activity fell")
    assert sad["reopened"].reason == "3 of 8 tickets reopened"
    assert sad["resolution"].detail["median_hours"] == pytest.approx(120.0)
    assert sad["promise"].reason == "2 of 3 deliveries late"
    assert "vibration readings" in sad["product"].reason and "worse" in sad["product"].reason
    assert sad["tickets"].detail["tickets"] == 8
    assert any("NPS answers average 2.5" in r for r in cards["sad"].reasons)  # concerns lead the reasons
    happy = {c.name: c for c in cards["happy"].components}
    assert happy["ces"].reason.startswith("effort (CES) answers average 7.0 on 1-7 (7 = least effort)")


def test_weights_come_from_the_config() -> None:
    only_nps = CxConfig.model_validate({"health": {"weights": {
        "nps": 1, "csat": 0, "ces": 0, "activity": 0, "tickets": 0, "reopened": 0, "resolution": 0, "promise": 0,
        "product": 0}}})
    cards, _ = _health(only_nps)
    for card in cards.values():
        assert [c.name for c in card.components] == ["nps"]
        assert card.health == pytest.approx(card.components[0].score)
    turned = CxConfig.model_validate({"measures": {"ces": {"better": "lower"}},
                                      "alerts": {"detractor": [{"measure": "nps", "at_most": 6}]}})
    ces = {a: next(c for c in card.components if c.name == "ces") for a, card in _health(turned)[0].items()}
    assert ces["sad"].score > ces["happy"].score  # on an effort scale a 2 is easy


def test_answers_balanced_by_person_and_weighted_by_recency() -> None:
    w = World()
    talker, quiet, old = w.person("acme", "op"), w.person("acme", "mgr"), w.person("acme", "exec")
    for i in range(5):
        w.add(talker, 0.001 * (i + 1), "survey_answered", {"survey": "nps", "score": 0})
    w.add(quiet, 0.001, "survey_answered", {"survey": "nps", "score": 10})
    config = CxConfig()
    tables = w.tables()
    card = account_health(load_inputs(tables, config, AS_OF, answers_of(tables)), config)["acme"]
    nps = next(c for c in card.components if c.name == "nps")
    assert nps.detail["mean_answer"] == pytest.approx(5.0, abs=0.01)  # one voice each, not 5 against 1
    w.add(old, 365, "survey_answered", {"survey": "nps", "score": 10})
    w.add(old, 0.001, "survey_answered", {"survey": "nps", "score": 0})
    tables = w.tables()
    card = account_health(load_inputs(tables, config, AS_OF, answers_of(tables)), config)["acme"]
    # the executive's old 10 counts 0.5^(365/180) = 0.245 against a fresh 0 (about 1.97); people count alike
    nps = next(c for c in card.components if c.name == "nps")
    assert nps.detail["mean_answer"] == pytest.approx((0 + 10 + 10 * 0.2451 / 1.2451) / 3, abs=0.02)


def test_touchpoint_network_and_risks() -> None:
    cards, inputs = _health()
    nets = touchpoint_network(inputs.people, inputs.activity, inputs.answers, as_of=AS_OF)
    assert "no signal from executive level: nobody known there" in nets["sad"]["reasons"]
    assert nets["happy"]["levels"]["executive"]["signal"] == "recent"
    assert nets["happy"]["levels"]["executive"]["answers"] == 1
    assert nets["happy"]["roles"]["decision_maker"]["contacts"] == 1
    assert "no decision maker known in the buying group" in nets["sad"]["reasons"]
    assert not [r for r in nets["happy"]["reasons"] if "executive" in r]
    config = CxConfig.model_validate({"health": {"at_risk_below": 40}})
    risks = accounts_at_risk(cards, {}, nets, inputs.accounts, config)
    assert [r["account_id"] for r in risks] == ["sad"]
    assert risks[0]["owner"] == "owner@sad.example"
    assert risks[0]["reasons"][0].startswith("health ") and any("executive" in r for r in risks[0]["reasons"])
