"""Identity resolution: anonymous visitors become contacts, merges are recorded and undoable,
and the result never depends on arrival order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polku import Workspace
from polku.collect.identity import Link, contact_id_for, resolve

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def t(days: float) -> datetime:
    return T0 + timedelta(days=days)


def test_anonymous_history_joins_the_identified_contact() -> None:
    first = {"anon:d1": t(0), "email:a@acme.fi": t(1)}
    res = resolve(first, [Link(t(1), "anon:d1", "email:a@acme.fi", "identify")])
    assert res.contact_of["anon:d1"] == res.contact_of["email:a@acme.fi"] == contact_id_for("anon:d1")
    assert res.merges == []  # identification is not a merge


def test_second_device_is_not_a_merge_but_two_known_people_are() -> None:
    first = {"anon:d1": t(0), "email:a@acme.fi": t(1), "anon:d2": t(2), "email:b@acme.fi": t(3)}
    links = [
        Link(t(1), "anon:d1", "email:a@acme.fi", "identify"),
        Link(t(4), "anon:d2", "email:a@acme.fi", "identify"),
        Link(t(5), "anon:d2", "email:b@acme.fi", "event", "ev9"),
    ]
    res = resolve(first, links)
    assert len(set(res.contact_of.values())) == 1
    [merge] = res.merges
    assert (merge.survivor, merge.merged, merge.link.event_id) == ("anon:d1", "email:b@acme.fi", "ev9")


def test_crm_id_announced_with_an_email_is_one_person_not_a_merge() -> None:
    first = {"email:a@acme.fi": t(0), "crm:C1": t(3)}
    res = resolve(first, [Link(t(3), "crm:C1", "email:a@acme.fi", "identify")])
    assert res.merges == [] and len(set(res.contact_of.values())) == 1


def test_split_keeps_two_contacts_apart_on_every_path() -> None:
    first = {"anon:d1": t(0), "email:a@acme.fi": t(1), "email:b@acme.fi": t(2)}
    links = [
        Link(t(1), "anon:d1", "email:a@acme.fi", "identify"),
        Link(t(2), "anon:d1", "email:b@acme.fi", "identify"),
        Link(t(3), "email:a@acme.fi", "email:b@acme.fi", "event"),
    ]
    res = resolve(first, links, splits=[("anon:d1", "email:b@acme.fi")])
    assert res.contact_of["email:a@acme.fi"] != res.contact_of["email:b@acme.fi"]
    assert len(res.blocked) == 2 and res.merges == []


# ---- order independence, pure ---------------------------------------------------------
IDS = [f"anon:d{i}" for i in range(6)] + [f"email:p{i}@acme.fi" for i in range(4)] + ["crm:C1", "crm:C2"]


@st.composite
def graphs(draw: st.DrawFn) -> tuple[dict[str, datetime], list[Link]]:
    nodes = draw(st.lists(st.sampled_from(IDS), min_size=2, max_size=len(IDS), unique=True))
    first = {n: t(draw(st.integers(0, 5))) for n in nodes}
    links = []
    for _ in range(draw(st.integers(0, 12))):
        a, b = draw(st.sampled_from(nodes)), draw(st.sampled_from(nodes))
        if a != b:
            links.append(Link(max(first[a], first[b]) + timedelta(days=draw(st.integers(0, 3))), a, b,
                              draw(st.sampled_from(["identify", "event"]))))
    return first, links


@settings(max_examples=200, deadline=None)
@given(graphs(), st.randoms(use_true_random=False))
def test_resolution_is_independent_of_order(graph: tuple[dict[str, datetime], list[Link]], rnd: random.Random) -> None:
    first, links = graph
    shuffled = links[:]
    rnd.shuffle(shuffled)
    items = list(first.items())
    rnd.shuffle(items)
    a, b = resolve(first, links), resolve(dict(items), shuffled)
    assert a.contact_of == b.contact_of
    assert [m.merge_id for m in a.merges] == [m.merge_id for m in b.merges]


# ---- order independence, end to end through the store ------------------------------------
CALL = st.one_of(
    st.builds(lambda d, day: ("track", {"type": "page_view", "channel": "web", "anonymous_id": f"d{d}", "ts": t(day)}),
              st.integers(0, 3), st.integers(0, 20)),
    st.builds(lambda d, p, day: ("identify", {"anonymous_id": f"d{d}", "email": f"p{p}@acme{p % 2}.fi", "ts": t(day)}),
              st.integers(0, 3), st.integers(0, 2), st.integers(0, 20)),
    st.builds(lambda p, day: ("track", {"type": "content_download", "channel": "web", "email": f"p{p}@acme{p % 2}.fi", "ts": t(day)}),
              st.integers(0, 2), st.integers(0, 20)),
)


def _outcome(ws: Workspace) -> tuple[object, ...]:
    ws.refresh(force=True)
    contacts = ws.store.query(
        "SELECT contact_id, account_id, stage, identities, event_count FROM contacts ORDER BY contact_id"
    )
    accounts = ws.store.query("SELECT account_id, stage, contact_count FROM accounts ORDER BY account_id")
    merges = ws.store.query("SELECT merge_id FROM merges ORDER BY merge_id")
    return tuple(map(repr, (contacts, accounts, merges)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(CALL, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_any_arrival_order_gives_the_same_contacts_and_accounts(
    tmp_path_factory: object, calls: list[tuple[str, dict[str, object]]], rnd: random.Random
) -> None:
    base = Path(tmp_path_factory.mktemp("order"))  # type: ignore[attr-defined]
    calls = [(kind, {**fields, "event_id": f"e{i}"}) for i, (kind, fields) in enumerate(calls)]
    outcomes = []
    for n, order in enumerate((calls, rnd.sample(calls, len(calls)))):
        with Workspace(base / str(n)) as ws:
            for kind, fields in order:
                getattr(ws, kind)(**fields)
            outcomes.append(_outcome(ws))
    assert outcomes[0] == outcomes[1]


def test_one_identify_call_naming_three_ids_is_not_a_merge() -> None:
    # The e-mail had its own history (newsletters) before the person identified on the web
    # with a cookie and a brand-new CRM id: one record, one person, no merge.
    first = {"email:a@acme.fi": t(0), "anon:d1": t(1), "crm:C9": t(5)}
    links = [
        Link(t(5), "crm:C9", "email:a@acme.fi", "identify", "id1"),
        Link(t(5), "email:a@acme.fi", "anon:d1", "identify", "id1"),
        Link(t(5), "crm:C9", "anon:d1", "identify", "id1"),
    ]
    res = resolve(first, links)
    assert res.merges == [] and len(set(res.contact_of.values())) == 1


def test_one_record_joining_two_known_people_is_one_merge_with_the_link_between_them() -> None:
    first = {"anon:d1": t(0), "email:a@acme.fi": t(1), "email:b@acme.fi": t(2), "crm:B": t(2)}
    links = [
        Link(t(1), "email:a@acme.fi", "anon:d1", "identify", "e1"),
        Link(t(2), "crm:B", "email:b@acme.fi", "identify", "e2"),
        Link(t(3), "crm:B", "email:b@acme.fi", "identify", "e3"),  # already linked: ignored
        Link(t(3), "email:b@acme.fi", "anon:d1", "identify", "e3"),
        Link(t(3), "crm:B", "anon:d1", "identify", "e3"),
    ]
    [merge] = resolve(first, links).merges
    assert (merge.survivor, merge.merged) == ("anon:d1", "crm:B")  # B's earliest identifier (ties: by name)
    assert merge.link.event_id == "e3" and "anon:d1" in (merge.link.a, merge.link.b)
