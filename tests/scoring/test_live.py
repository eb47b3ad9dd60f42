"""Stored scores follow the log: a new event moves its contact's stored state and score in
the transaction that stores it; prospects crossing the threshold become leads once; what
cannot be scored at once (account roll-ups, new visitors, merges, bulk imports) waits for
the refresh, and a changed rules file for the rescore, and the status says so."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from polku import Workspace
from polku.api import create_app
from polku.scoring import ContactState, read_score, rules_key, state_from_touches
from polku.scoring.live import Held
from polku.sim import generate, write_world
from polku.store import scores as stored

NOW = dt.datetime.now(dt.UTC)

# Every kind of decay, a property test, a topic and a channel rule: what the bulk states must get right.
RULES_YAML = """\
scoring:
  mql_threshold: 50
  engagement:
    decay: 200d
    inactive_after: 400d
    rules:
      - {name: meeting, types: [meeting_held, call_held], points: 20, cap: 60}
      - {name: downloads, types: [content_download], points: 6, cap: 30, decay: {window: 300d}}
      - {name: forms, types: [form_submit], points: 5, cap: 20, decay: {linear: 400d}}
      - {name: pricing, types: [page_view], properties: {path: {contains: pricing}}, points: 8, cap: 24}
      - {name: topic pages, types: [page_view], topics: [remote-monitoring, predictive-maintenance], points: 2, cap: 10}
      - {name: e-mail, channels: [email], points: 1, cap: 10, decay: 30d}
      - {name: unsubscribed, types: [unsubscribe], points: -20, decay: none}
"""


def _ago(days: float) -> str:
    return (NOW - dt.timedelta(days=days)).isoformat()


def _world(ws: Workspace) -> None:
    """Anna: an engaged decision-maker (a prospect); Bo: one page view; both at acme.fi."""
    ws.identify(email="anna@acme.fi", traits={"role": "decision_maker", "org_level": "executive"},
                account={"domain": "acme.fi", "employees": 500}, ts=_ago(20))
    for i in range(6):
        ws.track("content_download", "web", email="anna@acme.fi", topic="pricing", ts=_ago(10 - i))
        ws.track("page_view", "web", email="anna@acme.fi", properties={"path": "/pricing"}, ts=_ago(10 - i + 0.1))
    ws.track("page_view", "web", email="bo@acme.fi", ts=_ago(3))


def _row(ws: Workspace, email: str) -> dict[str, Any]:
    rows = ws.store.query(
        "SELECT s.* FROM lead_scores s JOIN contacts c USING (contact_id) WHERE c.email = ?", [email]
    )
    assert len(rows) == 1, rows
    return rows[0]


def _state(ws: Workspace, contact_id: str) -> dict[str, Any]:
    row = ws.store.query("SELECT state FROM score_state WHERE contact_id = ?", [contact_id])[0]
    return stored.unpack_state(json.loads(row["state"]))


def _mqls(ws: Workspace, email: str) -> list[dict[str, Any]]:
    return ws.store.query(
        "SELECT source, properties FROM events WHERE type = 'lead_qualified' AND email = ? ORDER BY seq", [email]
    )


def test_a_new_event_moves_the_stored_score_at_once_and_the_account_at_the_refresh(ws: Workspace) -> None:
    _world(ws)
    rescored = ws.leads.rescore(qualify=False)
    assert ws.leads.status()["follows_events"] is True
    before, account_before = _row(ws, "bo@acme.fi"), ws.leads.account("acme.fi")
    stored_account = ws.store.query("SELECT card, scored_at FROM account_scores")
    ws.track("meeting_held", "meeting", email="bo@acme.fi")
    assert ws.store.query("SELECT card, scored_at FROM account_scores") == stored_account
    after = _row(ws, "bo@acme.fi")
    assert after["score"] > before["score"] and after["scored_at"] > rescored.as_of
    now = ws.leads.contact("bo@acme.fi")  # computed from the contact's touchpoints
    assert after["score"] == pytest.approx(now["score"], abs=0.01) and after["grade"] == now["grade"]
    assert "meeting" in " ".join(after["reasons"])
    state = _state(ws, after["contact_id"])
    assert state["events"] == 2 and state["last_touch_us"] > before["scored_at"].timestamp() * 1e6
    account = ws.leads.account("acme.fi")  # reading it refreshes first, which rolls it up again
    assert account["engagement"] > account_before["engagement"]
    assert account["coverage"]["active"] == 2 and account["rescored_at"] > account_before["rescored_at"]
    assert ws.leads.ranked()[0]["email"] == "anna@acme.fi"
    assert ws.leads.status()["warnings"] == []


def test_a_prospect_crossing_the_threshold_becomes_a_lead_once(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "polku.yaml").write_text("scoring:\n  mql_threshold: 55\n")
    with Workspace(home) as ws:
        ws.identify(email="carl@acme.fi", traits={"role": "decision_maker", "org_level": "executive"},
                    account={"domain": "acme.fi", "employees": 500}, ts=_ago(5))
        ws.track("content_download", "web", email="carl@acme.fi", ts=_ago(4))
        ws.leads.rescore()
        assert ws.contact("carl@acme.fi")["contact"]["stage"] == "prospect"
        for i in range(5):
            ws.track("content_download", "web", email="carl@acme.fi", ts=_ago(3 - i * 0.1))
            ws.track("page_view", "web", email="carl@acme.fi", properties={"path": "/pricing"})
        made = _mqls(ws, "carl@acme.fi")
        assert len(made) == 1 and made[0]["source"] == "scoring"
        props = json.loads(made[0]["properties"])
        assert props["score"] >= 55 and props["reason"].startswith(f"score {props['score']:.0f} (")
        assert "downloaded" in props["reason"]
        carl = ws.contact("carl@acme.fi")
        assert carl["contact"]["stage"] == "lead"
        assert "lead_qualified via crm (score" in carl["stage_history"][-1]["reason"]
        ws.track("content_download", "web", email="carl@acme.fi")
        assert len(_mqls(ws, "carl@acme.fi")) == 1  # a lead is not qualified twice

        ws.decide_lead("carl@acme.fi", "reject", reason="not yet")
        assert ws.contact("carl@acme.fi")["contact"]["stage"] == "prospect"
        ws.track("content_download", "web", email="carl@acme.fi")  # still over the threshold: qualifies again
        assert len(_mqls(ws, "carl@acme.fi")) == 2
        assert ws.contact("carl@acme.fi")["contact"]["stage"] == "lead"
        assert ws.leads.rescore().qualified == []


def test_a_rescore_does_not_qualify_twice_through_the_live_path(ws: Workspace) -> None:
    _world(ws)
    result = ws.leads.rescore()
    assert len(result.qualified) == 1
    ws.track("content_download", "web", email="anna@acme.fi")  # before any refresh: still "prospect" in contacts
    assert len(_mqls(ws, "anna@acme.fi")) == 1
    assert ws.contact("anna@acme.fi")["contact"]["stage"] == "lead"


def test_new_visitors_and_merges_are_scored_at_the_next_refresh(ws: Workspace) -> None:
    _world(ws)
    ws.track("page_view", "web", anonymous_id="v-1", properties={"path": "/pricing"}, ts=_ago(2))
    ws.leads.rescore(qualify=False)
    ws.track("content_download", "web", email="dora@acme.fi")  # an identity no refresh has seen
    assert ws.store.query("SELECT count(*) AS n FROM lead_scores")[0]["n"] == 3
    ws.identify(anonymous_id="v-1", email="dora@acme.fi")  # the visitor is dora
    ws.refresh()
    dora = _row(ws, "dora@acme.fi")
    assert ws.contact("v-1")["contact"]["contact_id"] == dora["contact_id"]
    states = {r["contact_id"] for r in ws.store.query("SELECT contact_id FROM score_state")}
    assert dora["contact_id"] in states and len(states) == 3  # the visitor's own state is gone
    now = ws.leads.contact("dora@acme.fi")
    assert dora["score"] == pytest.approx(now["score"], abs=0.01)
    assert {r["factor"] for r in now["reasons"]} >= {"pricing page", "document download"}
    assert ws.store.query("SELECT count(*) AS n FROM lead_scores")[0]["n"] == 3
    assert ws.leads.status()["stale"] is None


def test_a_bulk_import_leaves_scores_to_the_refresh(ws: Workspace, tmp_path: Path) -> None:
    _world(ws)
    ws.leads.rescore(qualify=False)
    before = _row(ws, "bo@acme.fi")
    path = tmp_path / "more.jsonl"
    path.write_text("".join(
        json.dumps({"event_id": f"m{i}", "ts": _ago(1), "type": "meeting_held", "channel": "meeting",
                    "email": "bo@acme.fi"}) + "\n" for i in range(3)
    ))
    assert ws.import_events(path).inserted == 3
    assert _row(ws, "bo@acme.fi")["score"] == before["score"]
    assert "3 events imported from more.jsonl" in ws.leads.status()["stale"]
    ws.refresh()
    after = _row(ws, "bo@acme.fi")
    assert after["score"] == pytest.approx(ws.leads.contact("bo@acme.fi")["score"], abs=0.01)
    assert after["score"] > before["score"]
    assert ws.leads.status()["stale"] is None


def test_a_rules_change_stops_the_live_path_until_the_next_rescore(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    with Workspace(home) as ws:
        _world(ws)
        ws.leads.rescore(qualify=False)
        before = _row(ws, "bo@acme.fi")
        (home / "polku.yaml").write_text(
            "scoring:\n  engagement:\n    rules:\n      - {name: meeting, types: [meeting_held], points: 50}\n"
        )
        ws.track("meeting_held", "meeting", email="bo@acme.fi")
        assert _row(ws, "bo@acme.fi")["score"] == before["score"]  # not mixed with the old rules' state
        status = ws.leads.status()
        assert status["follows_events"] is False and status["states_with_other_rules"] == 2
        assert any("other rules" in w for w in status["warnings"])
        assert "rules changed" in status["stale"]

        (home / "polku.yaml").write_text("scoring:\n  engagement:\n    rules:\n      - nonsense: 1\n")
        events = ws.stats()["events"]
        ws.track("meeting_held", "meeting", email="bo@acme.fi")  # a broken rules file never stops ingestion
        assert ws.stats()["events"] == events + 1
        assert any("cannot be read" in w for w in ws.leads.status()["warnings"])

        (home / "polku.yaml").write_text(
            "scoring:\n  engagement:\n    rules:\n      - {name: meeting, types: [meeting_held], points: 50}\n"
        )
        ws.leads.rescore(qualify=False)
        rescored = _row(ws, "bo@acme.fi")
        ws.track("meeting_held", "meeting", email="bo@acme.fi")
        assert _row(ws, "bo@acme.fi")["score"] > rescored["score"]
        assert ws.leads.status()["warnings"] == []


def test_a_rescore_as_of_a_past_time_stores_no_states(ws: Workspace) -> None:
    _world(ws)
    ws.leads.rescore(as_of=NOW - dt.timedelta(days=1), qualify=False)
    status = ws.leads.status()
    assert status["follows_events"] is False and status["states"] == 0
    before = _row(ws, "bo@acme.fi")
    ws.track("meeting_held", "meeting", email="bo@acme.fi")
    assert _row(ws, "bo@acme.fi") == before


def test_events_and_the_scores_they_move_commit_together(ws: Workspace) -> None:
    _world(ws)
    ws.leads.rescore(qualify=False)
    before, events = _row(ws, "bo@acme.fi"), ws.stats()["events"]
    state = _state(ws, before["contact_id"])
    with pytest.raises(RuntimeError), ws.store.transaction():
        ws.track("meeting_held", "meeting", email="bo@acme.fi")
        raise RuntimeError("the caller fails after the write")
    assert ws.stats()["events"] == events
    assert _row(ws, "bo@acme.fi") == before and _state(ws, before["contact_id"]) == state


def test_events_through_the_server_move_stored_scores(ws: Workspace) -> None:
    _world(ws)
    ws.leads.rescore(qualify=False)
    before = _row(ws, "bo@acme.fi")
    write = {"Authorization": f"Bearer {ws.create_key('write')}"}
    read = {"Authorization": f"Bearer {ws.create_key('read')}"}
    with TestClient(create_app(ws)) as client:
        sent = client.post("/v1/events", headers=write, json=[
            {"type": "meeting_held", "channel": "meeting", "email": "bo@acme.fi"},
            {"type": "page_view", "channel": "web", "email": "bo@acme.fi", "properties": {"path": "/pricing"}},
        ])
        assert sent.status_code == 200 and sent.json()["accepted"] == 2
        leads = client.get("/v1/leads", headers=read).json()
    bo = next(r for r in leads if r["email"] == "bo@acme.fi")
    assert bo["score"] > before["score"]
    assert _state(ws, before["contact_id"])["events"] == 3


# ---- on a simulated world: bulk states and live folding equal a replay of each contact's log ----


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, list[dict[str, Any]]]]:
    """A simulated world with every decay kind in its rules: 80% of its events imported and
    rescored; the rest (touchpoints) returned to be sent one batch at a time."""
    home = tmp_path_factory.mktemp("live-sim")
    world = generate(30, seed=7, events_per_account=40)
    files = write_world(world, home / "files")
    events = pq.read_table(files["events"]).sort_by("ts")
    cut = int(events.num_rows * 0.8)
    later = events.slice(cut)
    pq.write_table(events.slice(0, cut), home / "a.parquet")
    identifies = later.filter(pc.equal(later.column("type"), "identify"))
    pq.write_table(identifies, home / "b.parquet")
    rest = later.filter(pc.not_equal(later.column("type"), "identify")).to_pylist()
    (home / "ws").mkdir()
    (home / "ws" / "polku.yaml").write_text(RULES_YAML)
    with Workspace(home / "ws") as ws:
        ws.import_accounts(files["accounts"])
        ws.import_contacts(files["contacts"])
        ws.import_events(home / "a.parquet")
        ws.import_events(home / "b.parquet")
        ws.leads.rescore(qualify=False)
        yield ws, rest


def test_bulk_states_read_as_replaying_each_contacts_touchpoints(sim: tuple[Workspace, list[dict[str, Any]]]) -> None:
    ws, _ = sim
    rules = ws.leads.rules()
    rows = ws.store.query("SELECT contact_id, state FROM score_state ORDER BY contact_id")
    assert len(rows) == ws.stats()["contacts"] > 40
    at = NOW + dt.timedelta(seconds=1)
    checked = 0
    for r in rows:
        bulk = ContactState.from_dict(stored.unpack_state(json.loads(r["state"])))
        touches, traits, account = stored.touches_of(ws.store, r["contact_id"])
        replay = state_from_touches(r["contact_id"], touches, rules, account_id=account, traits=traits)
        a, b = read_score(bulk, rules, at), read_score(replay, rules, at)
        assert (a.score, a.engagement, a.fit) == pytest.approx((b.score, b.engagement, b.fit), abs=1e-9)
        assert a.grade == b.grade and [x.text for x in a.reasons] == [x.text for x in b.reasons]
        assert (bulk.traits, bulk.account_id, bulk.last_touch_us) == (replay.traits, replay.account_id, replay.last_touch_us)
        checked += bool(touches)
    assert checked > 40
    assert {json.loads(r["state"])["rules_key"] for r in rows} == {rules_key(rules)}


def test_live_states_equal_a_rebuild_from_the_log(sim: tuple[Workspace, list[dict[str, Any]]]) -> None:
    ws, rest = sim
    rules = ws.leads.rules()
    key = rules_key(rules)
    known = {r["contact_id"] for r in ws.store.query("SELECT contact_id FROM score_state")}
    for start in range(0, len(rest), 25):
        items = [
            {k: (v.isoformat() if k == "ts" else json.loads(v) if k == "properties" and v else v)
             for k, v in e.items() if v is not None}
            for e in rest[start:start + 25]
        ]
        assert not ws.ingest(items, "test").rejected
    assert ws.leads.status()["stale"] is None
    moved = [r["contact_id"] for r in ws.store.query(
        "SELECT contact_id FROM score_state WHERE updated_at > (SELECT min(scored_at) FROM account_scores)")]
    assert len(moved) > 10
    rebuilt = {d["contact_id"]: Held.from_json(d) for d in stored.rebuild_states(ws.store, rules, key, sorted(known))}
    at = NOW + dt.timedelta(days=1)
    for cid in sorted(known):
        live = Held.from_json(_state(ws, cid))
        again = rebuilt[cid]
        assert live.events == again.events
        a, b = read_score(live.state, rules, at), read_score(again.state, rules, at)
        assert (a.score, a.engagement) == pytest.approx((b.score, b.engagement), abs=1e-9)
        assert [x.text for x in a.reasons] == [x.text for x in b.reasons]
    ws.refresh()  # new identities become contacts; the catch-up leaves the live states as they are
    assert ws.leads.status()["stale"] is None
    assert stored.drift(ws.store, key) == ([], [])
