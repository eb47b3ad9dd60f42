"""The journey summaries (heads and transitions): the store's tables equal their Ibis
definitions, stay equal as events arrive and contacts merge, and the variants and
transitions read from them equal the same analytics computed from the touchpoints."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pandas as pd
import pytest

from polku import Workspace
from polku.analytics.journeys import HEAD_RUNS, head_ts, head_type
from polku.analytics.paths import transition_counts, transitions, window_transition_counts
from polku.analytics.funnel import FunnelQuery
from polku.analytics.tables import (
    ACCOUNTS_SCHEMA,
    CONTACTS_SCHEMA,
    JOURNEY_HEADS_SCHEMA,
    JOURNEY_TRANSITIONS_SCHEMA,
    STAGES_SCHEMA,
    TOUCHPOINTS_SCHEMA,
    Tables,
    define_journey_heads,
    define_journey_transitions,
    from_records,
)
from polku.analytics.variants import VariantsQuery
from polku.sim import generate
from polku.sim.write import write_world
from polku.store.schema import SCHEMA_VERSION

T0 = datetime(2025, 1, 1, tzinfo=UTC)
TRANSITION_KEYS = ["source_type", "source_channel", "target_type", "target_channel"]
VARIANT_SHAPES: list[dict[str, Any]] = [
    {},
    {"until_goal": False},
    {"max_length": 3},
    {"max_length": HEAD_RUNS - 1},
    {"max_length": 1, "goal": {"stage": "customer"}},
    {"goal": {"event": "email_open"}},
    {"goal": {"event": "webinar_attended"}, "until_goal": False, "max_length": 5},
]


@pytest.fixture(scope="module")
def world_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A refreshed workspace of 30 simulated accounts (tests copy it before changing it)."""
    base = tmp_path_factory.mktemp("journey-world")
    files = write_world(generate(30, seed=11, events_per_account=120), base / "sim")
    with Workspace(base / "ws") as ws:
        ws.import_accounts(files["accounts"])
        ws.import_contacts(files["contacts"])
        ws.import_events(files["events"])
        ws.refresh()
    return base / "ws"


@pytest.fixture
def ws(world_home: Path, tmp_path: Path) -> Iterator[Workspace]:
    """A private copy of the simulated workspace."""
    home = shutil.copytree(world_home, tmp_path / "ws")
    with Workspace(home) as workspace:
        yield workspace


def frame(expr: Any, keys: list[str]) -> pd.DataFrame:
    """An expression's rows in a canonical order, for comparing two computations."""
    return expr.to_pandas().sort_values(keys, na_position="first").reset_index(drop=True)


def assert_summaries_match_definitions(tables: Tables) -> None:
    """The stored heads and transitions hold exactly what their definitions give."""
    assert tables.journey_heads is not None and tables.journey_transitions is not None
    stored = frame(tables.journey_heads, ["contact_id"])
    defined = frame(define_journey_heads(tables.touchpoints), ["contact_id"])
    pd.testing.assert_frame_equal(stored, defined[stored.columns])
    stored = frame(tables.journey_transitions, TRANSITION_KEYS)
    defined = frame(define_journey_transitions(tables.touchpoints), TRANSITION_KEYS)
    pd.testing.assert_frame_equal(stored, defined[stored.columns])


def variant_counts(q: VariantsQuery, journeys: Any) -> pd.DataFrame:
    counts = q.counts(journeys)
    return frame(counts, [c for c in counts.columns if c not in ("journeys", "converted")])


def test_the_store_keeps_the_summaries_its_definitions_describe(ws: Workspace) -> None:
    tables = ws.tables()
    for name, schema in (("journey_heads", JOURNEY_HEADS_SCHEMA), ("journey_transitions", JOURNEY_TRANSITIONS_SCHEMA)):
        assert ws.store.query_arrow(f"SELECT * FROM {name} LIMIT 0").schema.names == list(schema.names)
    assert tables.journey_heads is not None
    heads = tables.journey_heads.to_pandas()
    assert len(heads) == tables.touchpoints.contact_id.nunique().to_pyarrow().as_py() > 50
    assert heads[head_type(HEAD_RUNS)].notna().any()  # some journeys fill every slot
    assert_summaries_match_definitions(tables)


def test_summaries_are_rebuilt_when_events_arrive_and_contacts_merge(ws: Workspace) -> None:
    known = "SELECT email FROM contacts WHERE email IS NOT NULL ORDER BY contact_id LIMIT 1"
    person = ws.store.query(known)[0]["email"]
    first = ws.store.query(f"SELECT min(ts) AS ts FROM events WHERE email = '{person}'")[0]["ts"]
    early = first - timedelta(days=3)
    # Out of order (before everything the person did), two at the same time, and an
    # anonymous visitor whose history joins the person's when it identifies.
    ws.track("webinar_attended", "event", email=person, ts=early.isoformat())
    ws.track("ticket_opened", "service", email=person, ts=(early + timedelta(hours=1)).isoformat())
    ws.track("call_held", "phone", email=person, ts=(early + timedelta(hours=1)).isoformat())
    ws.track("survey_answered", "email", anonymous_id="dev-new", ts=(early - timedelta(days=1)).isoformat())
    ws.identify(anonymous_id="dev-new", email=person, ts=(early + timedelta(hours=2)).isoformat())
    assert not ws.is_fresh()
    tables = ws.tables()  # refreshes first
    assert ws.is_fresh()
    assert_summaries_match_definitions(tables)
    contact = ws.store.query(f"SELECT contact_id FROM contacts WHERE email = '{person}'")[0]["contact_id"]
    heads = tables.journey_heads.to_pandas().set_index("contact_id").loc[contact]
    assert [heads[head_type(k)] for k in (1, 2, 3, 4)] == [
        "survey_answered", "webinar_attended", "ticket_opened", "call_held",
    ]
    assert heads[head_ts(3)] == heads[head_ts(4)] == pd.Timestamp(early + timedelta(hours=1))


def test_variants_from_the_store_equal_variants_from_touchpoints(ws: Workspace) -> None:
    tables = ws.tables()
    middle = ws.store.query("SELECT quantile_disc(ts, 0.5) AS ts FROM events")[0]["ts"]
    for shape in [*VARIANT_SHAPES, {"date_to": middle}, {"date_to": middle, "until_goal": False, "max_length": 4}]:
        q = VariantsQuery.model_validate({"top": 1000, **shape})
        assert q.reads_heads(), shape
        fast = variant_counts(q, q.journeys_from_heads(tables))
        slow = variant_counts(q, q.journeys_from_touchpoints(tables))
        pd.testing.assert_frame_equal(fast, slow[fast.columns], obj=str(shape))
        assert len(fast) > 1


def test_transitions_from_the_store_equal_a_window_over_touchpoints(ws: Workspace) -> None:
    tables = ws.tables()
    for node_by in ("type", "channel_type"):
        fast = frame(transition_counts(tables, node_by=node_by), ["source", "target"])
        slow = frame(window_transition_counts(tables, node_by=node_by), ["source", "target"])
        pd.testing.assert_frame_equal(fast, slow[fast.columns], check_dtype=False, obj=node_by)
    assert transitions(tables)["count"].sum() == len(tables.touchpoints.to_pandas()) - len(
        tables.journey_heads.to_pandas()
    )


def test_variant_shapes_outside_the_heads_read_the_touchpoints() -> None:
    assert not VariantsQuery.model_validate({"max_length": HEAD_RUNS}).reads_heads()
    assert not VariantsQuery.model_validate({"subject": "account"}).reads_heads()
    assert not VariantsQuery.model_validate({"collapse_repeats": False}).reads_heads()
    assert not VariantsQuery.model_validate({"node_by": "channel_type"}).reads_heads()
    assert not VariantsQuery.model_validate({"exclude": ["page_view"]}).reads_heads()
    assert not VariantsQuery.model_validate({"date_from": T0}).reads_heads()
    assert VariantsQuery.model_validate({"date_to": T0}).reads_heads()  # a prefix of every journey


def touch(contact: str, hours: float, kind: str, seq: int, channel: str = "web") -> dict[str, Any]:
    return {
        "event_id": f"{contact}-{seq}", "seq": seq, "ts": T0 + timedelta(hours=hours), "type": kind,
        "channel": channel, "contact_id": contact,
    }


def test_heads_by_hand_with_ties_repeats_and_the_goal_time() -> None:
    t = from_records(
        [
            touch("a", 2, "email_open", 5, "email"), touch("a", 0, "page_view", 1),  # out of order
            touch("a", 1, "page_view", 3), touch("a", 1, "email_open", 2, "email"),  # tie: seq 2 first
            touch("a", 3, "demo_requested", 4),
            touch("b", 0, "page_view", 6), touch("b", 0, "page_view", 7),
        ],
        stages=[{"subject": "contact", "subject_id": "a", "stage": "opportunity", "ts": T0 + timedelta(hours=3)}],
    )
    heads = frame(t.heads(), ["contact_id"]).set_index("contact_id")
    runs = [heads.loc["a", head_type(k)] for k in range(1, 6)]
    assert runs == ["page_view", "email_open", "page_view", "email_open", "demo_requested"]
    assert heads.loc["a", head_ts(2)] == pd.Timestamp(T0 + timedelta(hours=1))
    assert heads.loc["b", head_type(1)] == "page_view" and pd.isna(heads.loc["b", head_type(2)])
    # The opportunity at hour 3 cuts before the demo request (strictly earlier touchpoints only).
    q = VariantsQuery.model_validate({"max_length": 3})
    got = q.run(t).variants.set_index("variant")[["journeys", "converted"]].to_dict("index")
    assert got == {
        "page_view > email_open > page_view > …": {"journeys": 1, "converted": 1},
        "page_view": {"journeys": 1, "converted": 0},
    }
    pairs = frame(t.transitions(), TRANSITION_KEYS)
    got_pairs = dict(zip(zip(pairs["source_type"], pairs["target_type"], strict=True), pairs["count"], strict=True))
    assert got_pairs == {
        ("page_view", "email_open"): 2, ("email_open", "page_view"): 1, ("email_open", "demo_requested"): 1,
        ("page_view", "page_view"): 1,
    }


def test_a_version_7_workspace_gains_the_summaries_and_refreshes(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    with Workspace(home) as ws:
        ws.track("page_view", "web", email="a@x.fi", ts="2025-01-01T10:00:00Z")
        ws.track("form_submit", "web", email="a@x.fi", ts="2025-01-01T11:00:00Z")
        ws.refresh()
    con = duckdb.connect(str(home / "polku.duckdb"))
    con.execute("DROP TABLE journey_heads")
    con.execute("DROP TABLE journey_transitions")
    con.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    con.close()
    with Workspace(home) as ws:
        assert ws.store.schema_version() == SCHEMA_VERSION
        assert not ws.is_fresh()  # the migration asks for a refresh that fills them
        got = transitions(ws.tables())
        assert got[["source", "target", "count"]].values.tolist() == [["page_view", "form_submit", 1]]


def _abstract_tables(*, summaries: bool) -> Tables:
    """Unbound tables with the contract's schemas, for compiling to other engines' SQL."""
    return Tables(
        touchpoints=ibis.table(TOUCHPOINTS_SCHEMA, name="touchpoints"),
        stages=ibis.table(STAGES_SCHEMA, name="stages"),
        contacts=ibis.table(CONTACTS_SCHEMA, name="contacts"),
        accounts=ibis.table(ACCOUNTS_SCHEMA, name="accounts"),
        journey_heads=ibis.table(JOURNEY_HEADS_SCHEMA, name="journey_heads") if summaries else None,
        journey_transitions=ibis.table(JOURNEY_TRANSITIONS_SCHEMA, name="journey_transitions") if summaries else None,
    )


@pytest.mark.parametrize("dialect", ["postgres", "snowflake"])  # Ibis has no Trino quantile (funnel times)
@pytest.mark.parametrize("summaries", [True, False])
def test_funnel_variants_and_transitions_compile_for_other_engines(dialect: str, summaries: bool) -> None:
    tables = _abstract_tables(summaries=summaries)
    funnel = FunnelQuery.model_validate(
        {"steps": [{"event": "page_view"}, {"stage": "lead"}, {"event": "demo_requested", "channel": "web"}],
         "breakdown": "channel", "date_from": T0}
    )
    expressions = [
        funnel.summary(tables),
        VariantsQuery.model_validate({"date_to": T0}).summary(tables),
        VariantsQuery.model_validate({"collapse_repeats": False}).summary(tables),
        transition_counts(tables, node_by="channel_type"),
        define_journey_heads(tables.touchpoints),
        define_journey_transitions(tables.touchpoints),
    ]
    for expr in expressions:
        sql = ibis.to_sql(expr, dialect=dialect)
        assert "SELECT" in sql and ("journey_heads" in sql) <= summaries
