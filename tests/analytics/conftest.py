"""Shared analytics fixtures: a small simulated world as plain records and as Tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from polku.analytics.tables import Tables, from_records
from polku.model import STAGE_ORDER, STAGE_RANK
from polku.sim import generate


def _person_of(truth: dict[str, Any]) -> Callable[[dict[str, Any]], str | None]:
    """Map a sim event to its person (e-mail) through the truth: e-mail, CRM id or device."""
    by_crm = {c["crm_id"]: c["email"] for c in truth["contacts"] if c["crm_id"]}
    by_device = {a: c["email"] for c in truth["contacts"] for a in c["anonymous_ids"]}

    def person(event: dict[str, Any]) -> str | None:
        if event["email"]:
            return str(event["email"])
        if event["crm_id"] in by_crm:
            return by_crm[event["crm_id"]]
        return by_device.get(event["anonymous_id"]) or event["anonymous_id"]

    return person


def _stage_history(touchpoints: list[dict[str, Any]], rule: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Forward-only stage entries from the sim's stage rule (first evidence of each stage)."""
    evidence: dict[str, int] = {}
    pricing: int | None = None
    for name, types in rule.items():
        for t in types:
            if t.startswith("page_view:"):
                pricing = STAGE_RANK[name]
            else:
                evidence[t] = STAGE_RANK[name]
    firsts: dict[tuple[str, int], datetime] = {}
    for r in touchpoints:
        rank = evidence.get(r["type"])
        if r["type"] == "page_view" and pricing is not None and "/pricing" in (r["properties"] or ""):
            rank = pricing
        if rank is not None:
            key = (r["contact_id"], rank)
            firsts[key] = min(firsts.get(key, r["ts"]), r["ts"])
    history = []
    for contact in sorted({c for c, _ in firsts}):
        current = -1
        moves = sorted((ts, rank) for (c, rank), ts in firsts.items() if c == contact)
        for ts, rank in moves:
            if rank > current:
                history.append({"subject": "contact", "subject_id": contact, "stage": STAGE_ORDER[rank], "ts": ts})
                current = rank
    return history


@pytest.fixture(scope="session")
def sim_world() -> Any:
    """A small simulated world (40 accounts, about 6,000 events)."""
    return generate(40, seed=7, events_per_account=150)


@pytest.fixture(scope="session")
def sim_records(sim_world: Any) -> dict[str, list[dict[str, Any]]]:
    """The sim world as plain records: touchpoints (contact = the person's e-mail), stages, contacts, accounts."""
    truth = sim_world.truth
    person = _person_of(truth)
    people = {c["email"]: c for c in truth["contacts"]}
    touchpoints = []
    for i, e in enumerate(sim_world.events.to_pylist()):
        if e["type"] == "identify":
            continue
        who = person(e)
        known = people.get(who or "")
        touchpoints.append(
            {
                **{k: e[k] for k in ("event_id", "ts", "type", "channel", "topic", "value", "properties")},
                "seq": i,
                "contact_id": who,
                "account_id": known["account_id"] if known else None,
                "role": known["role"] if known else None,
                "org_level": known["org_level"] if known else None,
            }
        )
    contacts = [
        {"contact_id": c["email"], "account_id": c["account_id"], "role": c["role"], "org_level": c["org_level"]}
        for c in truth["contacts"]
    ]
    return {
        "touchpoints": touchpoints,
        "stages": _stage_history(touchpoints, truth["stage_rule"]),
        "contacts": contacts,
        "accounts": sim_world.accounts.to_pylist(),
    }


@pytest.fixture(scope="session")
def sim_tables(sim_records: dict[str, list[dict[str, Any]]]) -> Tables:
    """Tables over the sim world's records."""
    return from_records(
        sim_records["touchpoints"], sim_records["stages"], sim_records["contacts"], sim_records["accounts"]
    )
