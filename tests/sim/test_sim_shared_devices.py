"""Shared devices: a colleague of the same account identifies on a contact's device, a wrong
link the simulator plants (and records in the truth) for identity resolution to merge."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from polku.sim import SimParams, World, generate

PARAMS = SimParams(p_shared_device=0.1, block_size=40)


@pytest.fixture(scope="module")
def world() -> World:
    """A world with many shared devices, over several blocks."""
    return generate(120, seed=21, events_per_account=60, params=PARAMS)


def _identifies(world: World) -> list[dict[str, Any]]:
    return world.events.filter(pc.equal(world.events["type"], "identify")).to_pylist()


def test_shared_devices_are_deterministic(world: World) -> None:
    again = generate(120, seed=21, events_per_account=60, params=PARAMS)
    assert again.truth["shared_devices"] == world.truth["shared_devices"]
    assert again.events.equals(world.events)
    other = generate(120, seed=22, events_per_account=60, params=PARAMS)
    assert other.truth["shared_devices"] != world.truth["shared_devices"]


def test_each_shared_device_is_one_identify_by_a_colleague_after_both_were_identified(
    world: World,
) -> None:
    truth = world.truth
    shared = truth["shared_devices"]
    assert len(shared) >= 10
    person = {c["email"]: c for c in truth["contacts"]}
    identifies = _identifies(world)
    planted = {(s["anonymous_id"], s["colleague"]) for s in shared}
    own_first: dict[str, datetime] = {}
    for r in identifies:
        if (r["anonymous_id"], r["email"]) not in planted:
            own_first[r["email"]] = min(own_first.get(r["email"], r["ts"]), r["ts"])
    links = {tuple(x) for x in truth["anonymous_links"]}
    for s in shared:
        owner, colleague = person[s["owner"]], person[s["colleague"]]
        assert s["owner"] != s["colleague"]
        assert owner["account_id"] == colleague["account_id"]
        assert owner["stage"] != "visitor" and colleague["stage"] != "visitor"
        # the owner's own device, linked to the owner; never to the colleague
        assert s["anonymous_id"] == owner["anonymous_ids"][0]
        assert (s["anonymous_id"], s["owner"]) in links
        assert (s["anonymous_id"], s["colleague"]) not in links
        assert s["anonymous_id"] not in colleague["anonymous_ids"]
        [event] = [
            r for r in identifies if r["anonymous_id"] == s["anonymous_id"] and r["email"] == s["colleague"]
        ]
        assert event["ts"].isoformat() == s["ts"]
        assert event["ts"] > max(own_first[s["owner"]], own_first[s["colleague"]])
        assert event["channel"] == "web"
        assert event["crm_id"] == colleague["crm_id"]  # None when the CRM does not know them
        if colleague["crm_id"] or colleague["freemail"]:
            assert event["account_id"] == colleague["account_id"]
        assert json.loads(event["properties"])["name"] == colleague["name"]
    # at most one per account, so each is exactly one merge of two people
    assert max(Counter(person[s["owner"]]["account_id"] for s in shared).values()) == 1
    people = [s["owner"] for s in shared] + [s["colleague"] for s in shared]
    assert len(set(people)) == len(people)


def test_event_ids_stay_unique_and_sorted(world: World) -> None:
    ids = world.events["event_id"].to_pylist()
    assert len(set(ids)) == len(ids)
    ts = pc.cast(world.events["ts"], pa.int64()).to_pylist()
    assert ts == sorted(ts)


def test_planting_changes_nothing_else() -> None:
    def without_ids(w: World) -> list[dict[str, Any]]:
        return w.events.drop_columns(["event_id"]).to_pylist()

    none = generate(60, seed=5, events_per_account=80, params=SimParams(p_shared_device=0.0))
    some = generate(60, seed=5, events_per_account=80, params=SimParams(p_shared_device=0.2))
    assert none.truth["shared_devices"] == [] and some.truth["shared_devices"]
    planted = {(s["anonymous_id"], s["colleague"]) for s in some.truth["shared_devices"]}
    rest = [r for r in without_ids(some) if (r["anonymous_id"], r["email"]) not in planted]
    assert rest == without_ids(none)
    assert some.contacts.equals(none.contacts) and some.accounts.equals(none.accounts)
    assert some.truth["contacts"] == none.truth["contacts"]
    assert some.truth["anonymous_links"] == none.truth["anonymous_links"]
    assert some.truth["stage_counts"] == none.truth["stage_counts"]


def test_default_share_is_about_one_percent() -> None:
    truth = generate(250, seed=7).truth
    assert truth["base_rates"]["shared_device"] == 0.01
    assert 0 < len(truth["shared_devices"]) < 0.025 * truth["n_identified"]
