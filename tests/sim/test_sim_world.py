"""Tests of the synthetic world generator: determinism, schema, realism and exact truth."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import polku.sim
from polku.model import (
    CHANNELS,
    EARLIEST_TS,
    EVENT_COLUMNS,
    STAGE_ORDER,
    STAGE_RANK,
    STANDARD_EVENTS,
    OrgLevel,
    Role,
)
from polku.sim import SimParams, World, generate, write_events_parquet, write_world

START = datetime(2025, 1, 1, tzinfo=UTC)
FREEMAIL = ("gmail.com", "outlook.com", "yahoo.com")
IDS = ("anonymous_id", "email", "crm_id")


@pytest.fixture(scope="module")
def world() -> World:
    """A mid-sized world shared by the read-only tests."""
    return generate(250, seed=7)


@pytest.fixture(scope="module")
def rows(world: World) -> list[dict[str, Any]]:
    """The events as Python rows (ts as datetime)."""
    return world.events.to_pylist()


def _contact_of(truth: dict[str, Any]) -> dict[tuple[str, str], int]:
    """Map each true identity (kind, value) to its contact's position in truth['contacts']."""
    out: dict[tuple[str, str], int] = {}
    for i, c in enumerate(truth["contacts"]):
        out["email", c["email"]] = i
        if c["crm_id"]:
            out["crm_id", c["crm_id"]] = i
        for anon in c["anonymous_ids"]:
            out["anonymous_id", anon] = i
    return out


def _shared(truth: dict[str, Any]) -> set[tuple[str, str]]:
    """(anonymous_id, colleague e-mail) of each planted shared-device identify."""
    return {(s["anonymous_id"], s["colleague"]) for s in truth["shared_devices"]}


def _owner(
    row: dict[str, Any], contact_of: dict[tuple[str, str], int], shared: set[tuple[str, str]]
) -> int:
    """The true contact behind an event, asserting all its identities agree, except the
    cookie of a shared-device identify (the event is the colleague's, on someone's device)."""
    keys = IDS
    if row["type"] == "identify" and (row["anonymous_id"], row["email"]) in shared:
        keys = ("email", "crm_id")
    found = {contact_of[k, row[k]] for k in keys if row[k] is not None}
    assert len(found) == 1, row
    return found.pop()


def test_public_names() -> None:
    assert set(polku.sim.__all__) == {
        "SimParams", "World", "generate", "stream_world", "write_world", "write_events_parquet",
    }


def test_same_seed_gives_identical_world() -> None:
    a, b = generate(30, seed=3), generate(30, seed=3)
    assert a.events.equals(b.events)
    assert a.accounts.equals(b.accounts)
    assert a.contacts.equals(b.contacts)
    assert json.dumps(a.truth) == json.dumps(b.truth)


def test_different_seed_gives_different_world() -> None:
    a, b = generate(30, seed=3), generate(30, seed=4)
    assert not a.events.equals(b.events)
    assert a.accounts["name"].to_pylist() != b.accounts["name"].to_pylist()
    assert not set(a.events["event_id"].to_pylist()) & set(b.events["event_id"].to_pylist())


def test_event_schema(world: World) -> None:
    schema = world.events.schema
    assert tuple(schema.names) == EVENT_COLUMNS
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert schema.field("value").type == pa.float64()
    for name in EVENT_COLUMNS:
        if name not in ("ts", "value"):
            assert schema.field(name).type == pa.string(), name


def test_event_values_are_valid(world: World, rows: list[dict[str, Any]]) -> None:
    assert abs(world.events.num_rows - 250 * 150) < 0.02 * 250 * 150
    assert set(world.events["channel"].to_pylist()) <= CHANNELS
    assert set(world.events["type"].to_pylist()) <= set(STANDARD_EVENTS)
    ids = world.events["event_id"].to_pylist()
    assert len(set(ids)) == len(ids)
    for r in rows:
        assert any(r[k] for k in IDS), r
        assert isinstance(json.loads(r["properties"]), dict)


def test_timestamps_sorted_and_inside_the_window(world: World) -> None:
    ts = world.events["ts"].to_pylist()
    assert ts == sorted(ts)
    assert ts[0] >= max(START, EARLIEST_TS)
    assert ts[-1] < START + timedelta(days=365)
    assert len(set(ts)) < len(ts), "timestamp ties must be possible"


def test_buying_groups(world: World) -> None:
    truth = world.truth
    sizes = Counter(c["account_id"] for c in truth["contacts"])
    assert set(sizes) == set(world.accounts["account_id"].to_pylist())
    assert min(sizes.values()) >= 2 and max(sizes.values()) <= 8
    assert len(set(sizes.values())) >= 4
    roles = {r.value for r in Role}
    levels = {lv.value for lv in OrgLevel}
    assert {c["role"] for c in truth["contacts"]} <= roles
    assert {c["org_level"] for c in truth["contacts"]} <= levels
    assert set(world.contacts["role"].to_pylist()) <= roles
    assert set(world.contacts["org_level"].to_pylist()) <= levels

    def share(level: str, role: str) -> float:
        group = [c for c in truth["contacts"] if c["org_level"] == level]
        return sum(c["role"] == role for c in group) / len(group)

    assert share("executive", "decision_maker") > share("operational", "decision_maker")
    assert share("operational", "user") > 0.4 > share("executive", "user")


def test_accounts_table(world: World) -> None:
    acc = world.accounts
    assert acc.column_names == [
        "account_id", "name", "domain", "industry", "employees", "country", "owner",
    ]
    assert acc["account_id"].to_pylist()[:2] == ["A00001", "A00002"]
    for col in ("account_id", "name", "domain"):
        assert len(set(acc[col].to_pylist())) == acc.num_rows, col
    assert acc.schema.field("employees").type == pa.int64()
    assert all(o.endswith("@polku.example") for o in acc["owner"].to_pylist())
    assert len(set(acc["industry"].to_pylist())) >= 5


def test_crm_export(world: World) -> None:
    crm = world.contacts
    assert crm.column_names == [
        "crm_id", "email", "name", "title", "role", "org_level", "account_id", "language", "updated_at",
    ]
    truth = world.truth
    identified = {c["email"] for c in truth["contacts"] if c["stage"] != "visitor"}
    emails = crm["email"].to_pylist()
    assert set(emails) <= identified
    assert 0.45 < len(emails) / len(identified) < 0.75
    assert len(set(crm["crm_id"].to_pylist())) == crm.num_rows
    assert set(crm["account_id"].to_pylist()) <= set(world.accounts["account_id"].to_pylist())
    assert set(crm["language"].to_pylist()) <= {"fi", "en", "no", "sv"}
    by_email = {c["email"]: c for c in truth["contacts"]}
    for r in crm.to_pylist():
        assert by_email[r["email"]]["crm_id"] == r["crm_id"]
        assert by_email[r["email"]]["account_id"] == r["account_id"]


def test_identify_calls(world: World, rows: list[dict[str, Any]]) -> None:
    identifies = [r for r in rows if r["type"] == "identify"]
    assert identifies
    accounts = world.accounts.to_pylist()
    domains = {a["account_id"]: a["domain"] for a in accounts}
    crm_ids = set(world.contacts["crm_id"].to_pylist())
    freemail = 0
    for r in identifies:
        assert r["channel"] in ("web", "email")
        assert r["anonymous_id"] and r["email"]
        props = json.loads(r["properties"])
        assert {"name", "title", "role", "org_level", "account"} <= set(props)
        assert {"name", "domain", "industry", "employees"} <= set(props["account"])
        assert (r["crm_id"] is not None) == (r["crm_id"] in crm_ids)
        if r["email"].rsplit("@", 1)[1] in FREEMAIL:
            freemail += 1
            assert r["account_id"] is not None
            assert props["account"]["domain"] == domains[r["account_id"]]
    assert freemail > 0


def test_second_devices_get_their_own_identify(world: World, rows: list[dict[str, Any]]) -> None:
    anon_by_email: dict[str, set[str]] = defaultdict(set)
    shared = _shared(world.truth)
    for r in rows:
        if r["type"] == "identify" and (r["anonymous_id"], r["email"]) not in shared:
            anon_by_email[r["email"]].add(r["anonymous_id"])
    two = [e for e, a in anon_by_email.items() if len(a) == 2]
    assert 0.07 < len(two) / len(anon_by_email) < 0.25
    links = {tuple(x) for x in world.truth["anonymous_links"]}
    assert links == {(a, e) for e, ids in anon_by_email.items() for a in ids}
    assert all(world.truth["devices"][e] == 2 for e in two)
    # each second device browsed anonymously before it was identified
    first_seen: dict[str, datetime] = {}
    for r in rows:
        if r["anonymous_id"]:
            first_seen.setdefault(r["anonymous_id"], r["ts"])
    identify_ts = {
        r["anonymous_id"]: r["ts"] for r in rows
        if r["type"] == "identify" and (r["anonymous_id"], r["email"]) not in shared
    }
    assert all(first_seen[a] <= identify_ts[a] for e in two for a in anon_by_email[e])


def test_visitors_stay_anonymous(world: World) -> None:
    emails = set(world.events["email"].drop_null().to_pylist())
    visitors = [c for c in world.truth["contacts"] if c["stage"] == "visitor"]
    assert visitors
    assert not emails & {c["email"] for c in visitors}
    assert all(c["devices"] >= 1 for c in visitors)


def test_stage_distribution_is_plausible(world: World) -> None:
    counts = world.truth["stage_counts"]
    total = sum(counts.values())
    assert set(counts) == set(STAGE_ORDER)
    assert counts["customer"] > 0 and counts["opportunity"] > 0 and counts["lead"] > 0
    assert (counts["visitor"] + counts["suspect"]) / total > 0.4
    assert counts["customer"] / total < 0.2


def test_truth_is_json_and_holds_the_true_effects(world: World) -> None:
    truth = json.loads(json.dumps(world.truth))
    effects = truth["channel_effects"]
    assert {"web", "email", "event", "meeting", "phone", "social"} <= set(effects)
    assert effects["meeting"] > effects["event"] > effects["email"] > effects["social"]
    assert truth["seed"] == 7 and truth["n_accounts"] == 250
    assert truth["n_events"] == world.events.num_rows
    assert set(truth["stages"]) == {c["email"] for c in truth["contacts"]}
    assert {"identify", "prospect", "crm_known"} <= set(truth["base_rates"])
    for key in ("purchase_rate", "repeat_orders_per_year", "renewal_rate", "opportunity_intercept"):
        assert isinstance(truth[key], float)


def test_truth_stages_follow_the_stage_rule(world: World, rows: list[dict[str, Any]]) -> None:
    rule: dict[str, int] = {}
    for stage, types in world.truth["stage_rule"].items():
        for t in types:
            rule[t] = STAGE_RANK[stage]
    contact_of, shared = _contact_of(world.truth), _shared(world.truth)
    stage = [0] * len(world.truth["contacts"])
    for r in rows:
        i = _owner(r, contact_of, shared)
        rank = rule.get(r["type"], 0)
        if r["type"] == "page_view" and json.loads(r["properties"])["path"].startswith("/pricing"):
            rank = rule["page_view:/pricing*"]
        stage[i] = max(stage[i], rank)
    assert [STAGE_ORDER[s] for s in stage] == [c["stage"] for c in world.truth["contacts"]]


def test_truth_touches_are_exactly_the_logged_touches(
    world: World, rows: list[dict[str, Any]]
) -> None:
    truth = world.truth
    contact_of, shared = _contact_of(truth), _shared(truth)
    windows = {
        i: tuple(datetime.fromisoformat(c["nurture"][k]) for k in ("start", "end"))
        for i, c in enumerate(truth["contacts"])
        if c["nurture"]
    }
    counted: dict[int, Counter[str]] = defaultdict(Counter)
    for r in rows:
        i = _owner(r, contact_of, shared)
        if i in windows and r["type"] != "identify" and r["channel"] in truth["channel_effects"]:
            lo, hi = windows[i]
            if lo <= r["ts"] < hi:
                counted[i][r["channel"]] += 1
    complete = 0
    for i in windows:
        nurture = truth["contacts"][i]["nurture"]
        assert {k: v for k, v in nurture["touches"].items() if v} == dict(counted[i])
        complete += nurture["complete"]
        if nurture["converted"]:
            assert nurture["complete"]
    assert complete > 50


def test_attribution_can_recover_the_true_effects() -> None:
    truth = generate(800, seed=11, events_per_account=60).truth
    channels = list(truth["channel_effects"])
    windows = [c["nurture"] for c in truth["contacts"] if c["nurture"] and c["nurture"]["complete"]]
    x = np.array([[1.0] + [w["touches"][ch] for ch in channels] for w in windows])
    y = np.array([w["converted"] for w in windows], dtype=float)
    beta = np.zeros(x.shape[1])
    for _ in range(25):  # Newton-Raphson for the logistic likelihood
        p = 1.0 / (1.0 + np.exp(-x @ beta))
        hessian = (x * (p * (1 - p))[:, None]).T @ x
        beta += np.linalg.solve(hessian, x.T @ (y - p))
    se = np.sqrt(np.diag(np.linalg.inv(hessian)))
    effects = [truth["channel_effects"][ch] for ch in channels]
    true = np.array([truth["opportunity_intercept"], *effects])
    assert np.all(np.abs(beta - true) < 4.5 * se), (beta, true, se)
    fitted = dict(zip(channels, beta[1:], strict=True))
    assert fitted["meeting"] > fitted["email"] and fitted["event"] > fitted["social"]


def test_surveys_and_values(rows: list[dict[str, Any]]) -> None:
    ranges = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
    kinds: Counter[str] = Counter()
    for r in rows:
        if r["type"] == "survey_answered":
            props = json.loads(r["properties"])
            low, high = ranges[props["survey"]]
            assert low <= props["score"] <= high
            kinds[props["survey"]] += 1
        if r["type"] in ("order_placed", "contract_renewed", "sensor_reading", "product_usage"):
            assert r["value"] is not None
        if r["type"] in ("content_download", "webinar_registered"):
            assert r["topic"]
    assert set(kinds) == set(ranges)
    answers = [json.loads(r["properties"]) for r in rows if r["type"] == "survey_answered"]
    assert any("comment" in a for a in answers)


def test_every_channel_family_is_used(world: World) -> None:
    used = set(world.events["channel"].to_pylist())
    assert used == CHANNELS - {"other"}


def test_write_world_round_trip(tmp_path: Path) -> None:
    w = generate(20, seed=5)
    paths = write_world(w, tmp_path / "out")
    assert set(paths) == {"events", "accounts", "contacts", "truth"}
    assert all(p.exists() for p in paths.values())
    events = pq.read_table(paths["events"])
    assert events.num_rows == w.events.num_rows
    assert events.schema.names == list(EVENT_COLUMNS)
    assert pcsv.read_csv(paths["accounts"]).num_rows == w.accounts.num_rows
    assert pcsv.read_csv(paths["contacts"]).num_rows == w.contacts.num_rows
    assert json.loads(paths["truth"].read_text(encoding="utf-8"))["n_events"] == w.events.num_rows


def test_write_events_parquet_streams_the_same_blocks(tmp_path: Path) -> None:
    params = SimParams(block_size=20)
    path = tmp_path / "big" / "events.parquet"
    n = write_events_parquet(path, 50, seed=2, events_per_account=80, params=params)
    world = generate(50, seed=2, events_per_account=80, params=params)
    assert n == world.events.num_rows == pq.ParquetFile(path).metadata.num_rows
    stored = pq.read_table(path)
    assert stored.schema.equals(world.events.schema)
    assert sorted(stored["event_id"].to_pylist()) == sorted(world.events["event_id"].to_pylist())


def test_blocks_do_not_depend_on_the_world_size() -> None:
    params = SimParams(block_size=10)
    small = generate(10, seed=9, params=params)
    large = generate(25, seed=9, params=params)
    assert large.accounts.slice(0, 10).equals(small.accounts)
    mine = set(small.accounts["account_id"].to_pylist())
    ids = large.events.filter(pc.is_in(large.events["account_id"], pa.array(sorted(mine))))
    assert set(ids["event_id"].to_pylist()) <= set(small.events["event_id"].to_pylist())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seed": -1},
        {"n_accounts": 0},
        {"start": datetime(1985, 1, 1, tzinfo=UTC)},
        {"start": datetime.now(UTC)},
        {"days": 0},
    ],
)
def test_rejects_impossible_worlds(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"n_accounts": 5} | kwargs
    with pytest.raises(ValueError):
        generate(**args)


def test_rejects_unknown_effect_channels() -> None:
    with pytest.raises(ValueError):
        SimParams(channel_effects={"carrier_pigeon": 1.0})


def test_some_tickets_are_logged_closed_before_opened(rows: list[dict[str, Any]]) -> None:
    opened: dict[str, datetime] = {}
    closed: dict[str, datetime] = {}
    for r in rows:
        if r["type"] in ("ticket_opened", "ticket_closed"):
            ticket = json.loads(r["properties"])["ticket"]
            (opened if r["type"] == "ticket_opened" else closed)[ticket] = r["ts"]
    assert set(closed) <= set(opened)
    early = sum(closed[t] < opened[t] for t in closed)
    assert 0 < early < 0.1 * len(closed)


def test_stream_world_writes_the_same_world_in_blocks(tmp_path: Path) -> None:
    from polku.sim import stream_world

    world = generate(30, seed=5, events_per_account=100)
    paths, n = stream_world(tmp_path, 30, 5, events_per_account=100)
    assert n == world.events.num_rows == pq.read_table(paths["events"]).num_rows
    assert pq.read_table(paths["events"]).sort_by("event_id").equals(world.events.sort_by("event_id"))
    assert json.loads(paths["truth"].read_text())["n_contacts"] == world.truth["n_contacts"]


def test_crm_contacts_are_dated_by_their_identification() -> None:
    world = generate(20, seed=4, events_per_account=100)
    crm = world.contacts.to_pylist()
    firsts = {}
    for e in world.events.filter(pc.equal(world.events["type"], "identify")).to_pylist():
        firsts[e["email"]] = min(firsts.get(e["email"], e["ts"]), e["ts"])
    assert crm and all(c["updated_at"] == firsts.get(c["email"]) for c in crm)
