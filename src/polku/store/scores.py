"""Stored lead and account scores, and the per-contact score states that keep them current.

A full rescore swaps in every contact's score, every account's roll-up and every
contact's incremental state (``score_state``, one row per contact, tied to the rules it
was built with). Between rescores, ``polku.scoring.live`` loads a few states, folds new
events in and saves them back with the contacts' new scores, in the write transaction
that stored the events. Every write here happens inside ``store.transaction()``.

A state row's JSON is ``ContactState.to_dict()`` with its ``rules`` list kept sparse
(``rule_count``, and ``rule_states`` by position for the rules a contact ever matched:
most match few), plus what the live path keeps beside it: ``events`` (how many stored events of the contact it has seen, identify calls
included, compared with ``contacts.event_count`` after a refresh), ``probability`` (the
model's, from the last rescore) and ``mql_events`` (the event count just after the live
path made the contact a lead, so it does not do so twice before the next refresh).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from polku.store.duck import DuckStore

if TYPE_CHECKING:  # the scoring package is heavy to import; the live path's gate must not need it
    from polku.scoring.match import Touch
    from polku.scoring.rules import ScoringRules

_CONTACT_TRAITS: Final = ("role", "org_level")  # fit traits the contacts table keeps; the rest are the account's

STATE_RULES_META: Final = "score_state_rules"  # rules_key of the states the last rescore wrote
STALE_META: Final = "scores_stale"  # why some stored scores may lag the log, until caught up
ACCOUNTS_BEHIND_META: Final = "score_accounts_behind"  # large accounts rolled up at the next rescore


_EMPTY_RULE: Final = {"value": 0.0, "as_of_us": 0, "days": {}, "count": 0, "first_day": -1}  # RuleState()


def pack_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """A ``ContactState.to_dict()`` (with the live path's extras) in its stored form: rules
    that never matched left out of a sparse ``rule_states``."""
    out = {k: v for k, v in state.items() if k != "rules"}
    out["rule_count"] = len(state["rules"])
    out["rule_states"] = {str(i): r for i, r in enumerate(state["rules"]) if r != _EMPTY_RULE}
    return out


def unpack_state(data: Mapping[str, Any]) -> dict[str, Any]:
    """A stored state as ``ContactState.from_dict`` reads it (every rule, in rule order)."""
    if "rule_states" not in data:  # already in full
        return dict(data)
    out = {k: v for k, v in data.items() if k not in ("rule_count", "rule_states")}
    sparse = data.get("rule_states") or {}
    out["rules"] = [sparse.get(str(i), _EMPTY_RULE) for i in range(int(data["rule_count"]))]
    return out


def replace(
    store: DuckStore, contacts: pa.Table, accounts: list[dict[str, Any]], as_of: datetime,
    *, rules: ScoringRules | None = None, rules_key: str | None = None,
) -> None:
    """Swap in a rescore's results (contact score columns, account cards) in one transaction.

    With ``rules`` (and their ``rules_key``), every contact's incremental state is rebuilt
    from its events in the same transaction, so the live path can carry the scores on;
    without, the states are dropped and stored scores stay as of ``as_of`` until the next
    rescore that writes them.
    """
    if "probability" not in contacts.column_names:
        contacts = contacts.append_column("probability", pa.nulls(contacts.num_rows, pa.float64()))
    account_table = pa.table({
        "account_id": pa.array([a["account_id"] for a in accounts], pa.string()),
        "score": pa.array([a["score"] for a in accounts], pa.float64()),
        "grade": pa.array([a["grade"] for a in accounts], pa.string()),
        "card": pa.array([json.dumps(a, default=str) for a in accounts], pa.string()),
    })
    with store.transaction():
        store.execute("DELETE FROM lead_scores")
        store.execute("DELETE FROM account_scores")
        store.execute("DELETE FROM score_state")
        # in contact order: DuckDB's min/max zone maps let a point lookup skip all row groups but one
        store.insert_arrow(
            "lead_scores",
            "SELECT contact_id, account_id, fit, engagement, score, grade, fit_grade, NULL, probability, ? "
            "FROM _in ORDER BY contact_id",
            contacts, [as_of],
        )
        store.insert_arrow(
            "account_scores",
            "SELECT account_id, score, grade, card::JSON, ? FROM _in ORDER BY account_id",
            account_table, [as_of],
        )
        if rules is not None and rules_key is not None:
            store.execute(
                f"INSERT INTO score_state SELECT contact_id, ?, state, ? FROM ({state_sql(rules, 'identities')}) "
                "ORDER BY contact_id",
                [rules_key, as_of, rules_key],
            )
            store.set_meta(STATE_RULES_META, rules_key)
        else:
            store.execute("DELETE FROM meta WHERE key = ?", [STATE_RULES_META])
        store.execute("DELETE FROM meta WHERE key IN (?, ?)", [STALE_META, ACCOUNTS_BEHIND_META])


def following(store: DuckStore) -> dict[str, str] | None:
    """The meta values the live path reads when stored scores follow the log (the last
    rescore stored states); None when they do not. Sees the open transaction's writes."""
    keys = ("refreshed", STATE_RULES_META, STALE_META, ACCOUNTS_BEHIND_META)
    rows = store.query_writing("SELECT key, value FROM meta WHERE key IN (?, ?, ?, ?)", list(keys))
    meta = {r["key"]: r["value"] for r in rows}
    return meta if STATE_RULES_META in meta else None


def defer(store: DuckStore, why: str) -> None:
    """Note that stored scores lag the log, and why (a refresh or a rescore catches them up)."""
    if following(store) is not None:
        store.set_meta(STALE_META, why)


# ---- bulk states -----------------------------------------------------------------------------

_COMPILED: dict[str, str] = {}


def _matches_sql(rules: ScoringRules, ids: str) -> str:
    """SQL over the log: per stored event of a contact in ``ids`` (identity, contact_id), its
    contact, time, whether it is a touchpoint, and ``m<i>``: whether engagement rule i matches.

    The rule tests are the scoring core's own Ibis predicates, compiled for DuckDB, so the
    bulk states match exactly what ``apply_event`` folds in one event at a time.
    """
    from polku.scoring.state import rules_key

    known = _COMPILED.get(f"{rules_key(rules)}|{ids}")
    if known is not None:
        return known
    import ibis

    from polku.scoring.match import rule_predicate

    events = ibis.table(
        {"identity": "string", "ts": "timestamp('UTC')", "type": "string", "channel": "string",
         "topic": "string", "value": "float64", "properties": "string"},
        name="events",
    )
    people = ibis.table({"identity": "string", "contact_id": "string"}, name=ids)
    j = events.join(people, events.identity == people.identity)
    touch = j.type != "identify"
    expr = j.select(
        j.contact_id, j.ts, is_touch=touch,
        **{f"m{i}": touch & rule_predicate(j, rule).fill_null(False) for i, rule in enumerate(rules.engagement.rules)},
    )
    sql = str(ibis.to_sql(expr, dialect="duckdb"))
    if len(_COMPILED) > 64:
        _COMPILED.clear()
    _COMPILED[f"{rules_key(rules)}|{ids}"] = sql
    return sql


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _rule_state_json(kind: str) -> str:
    """SQL for one rule's state as ``RuleState`` JSON, over a per-(contact, rule) row."""
    value = {"none": "cnt", "half_life": "v"}.get(kind, "0")
    return (
        f"""'{{"value":' || to_json(({value})::DOUBLE) || ',"as_of_us":' || {'ref' if kind == 'half_life' else '0'}"""
        f""" || ',"days":' || {"'{}'" if kind == 'none' else 'days'}"""
        f""" || ',"count":' || {'cnt' if kind == 'none' else '0'}"""
        f""" || ',"first_day":' || {'first_day' if kind == 'none' else '-1'} || '}}'"""
    )


def state_sql(rules: ScoringRules, ids: str) -> str:
    """``SELECT contact_id, state`` (the JSON the live path keeps) for every contact with an
    identity in the relation ``ids``, built from all its stored events in one pass.

    Reads the same as replaying the contact's touchpoints through ``apply_event`` at any
    time from the log's newest event on: a half-life rule keeps its decayed sum as of that
    newest event (``apply_event`` keeps it as of the rule's newest match; both decay
    alike from there); every rule but a ``none`` one keeps its matches per UTC day within
    its span of the contact's newest day; a ``none`` rule keeps its count and first day.
    Takes one parameter, the rules_key.
    """
    from polku.scoring.engagement import DAY_US
    from polku.scoring.fit import TRAITS

    settings = rules.engagement
    decays = [settings.decay_of(r) for r in settings.rules]
    ln2 = repr(math.log(2.0))
    hits = " UNION ALL ".join(
        f"SELECT contact_id, us, {i} AS rule, '{d.kind}' AS kind, "
        f"{float(d.days or 0.0) * DAY_US if d.kind == 'half_life' else 1.0!r} AS hl, {d.recent_days or 1} AS span "
        f"FROM t WHERE m{i}"
        for i, d in enumerate(decays)
    ) or "SELECT NULL::VARCHAR AS contact_id, 0::BIGINT AS us, 0 AS rule, '' AS kind, 1.0 AS hl, 1 AS span WHERE false"
    traits = ", ".join(f"'{t}', {('c' if t in _CONTACT_TRAITS else 'a')}.{t}" for t in TRAITS)
    kinds = sorted({d.kind for d in decays})
    rule_state = "CASE kind " + " ".join(f"WHEN '{k}' THEN {_rule_state_json(k)}" for k in kinds) + " END" if kinds else "NULL"
    return f"""
WITH m AS ({_matches_sql(rules, ids)}),
t AS (SELECT *, epoch_us(ts) AS us FROM m),
per_contact AS (
    SELECT contact_id, count(*) AS events, max(us) FILTER (WHERE is_touch) AS last_us FROM t GROUP BY contact_id
),
newest AS (SELECT max(epoch_us(ts)) AS us FROM events),  -- half-life sums are kept as of this time
hit AS ({hits}),
daily AS (
    SELECT contact_id, rule, any_value(kind) AS kind, any_value(span) AS span, us // {DAY_US} AS day,
           count(*) AS n, sum(exp(-{ln2} * ((SELECT us FROM newest) - us) / hl)) AS v
    FROM hit GROUP BY contact_id, rule, day
),
rule_state AS (
    SELECT contact_id, rule, {rule_state} AS rs
    FROM (SELECT d.contact_id, d.rule, any_value(d.kind) AS kind, sum(d.n) AS cnt, min(d.day) AS first_day,
                 sum(d.v) AS v, (SELECT us FROM newest) AS ref,
                 '{{' || coalesce(string_agg('"' || d.day || '":' || d.n, ',')
                                  FILTER (WHERE p.last_us // {DAY_US} - d.day < d.span), '') || '}}' AS days
          FROM daily d JOIN per_contact p USING (contact_id) GROUP BY d.contact_id, d.rule)
),
rule_list AS (
    SELECT contact_id, '{{' || string_agg('"' || rule || '":' || rs, ',' ORDER BY rule) || '}}' AS rules
    FROM rule_state GROUP BY contact_id
)
SELECT c.contact_id, to_json({{
    'contact_id': c.contact_id, 'rules_key': ?::VARCHAR, 'account_id': c.account_id,
    'traits': json_merge_patch('{{}}', json_object({traits})),
    'last_touch_us': p.last_us, 'newest_day': p.last_us // {DAY_US},
    'rule_count': {len(decays)}, 'rule_states': coalesce(r.rules, '{{}}')::JSON,
    'events': coalesce(p.events, 0), 'probability': l.probability
}}) AS state
FROM contacts c LEFT JOIN accounts a USING (account_id) LEFT JOIN per_contact p USING (contact_id)
LEFT JOIN rule_list r USING (contact_id) LEFT JOIN lead_scores l USING (contact_id)
WHERE c.contact_id IN (SELECT contact_id FROM {ids})
"""


# ---- the live path ----------------------------------------------------------------------------

_MANY: Final = 200  # rows beyond this many are written through Arrow rather than as parameters


def _in(values: Sequence[str]) -> tuple[str, list[Any]]:
    """An ``IN`` operand for ``values``. One value is an equality DuckDB prunes row groups
    with; several go as one list parameter, a semi-join (DuckDB scans far more for an
    ``IN`` list of several parameters)."""
    if len(values) == 1:
        return "(?)", list(values)
    return "(SELECT unnest(?::VARCHAR[]))", [list(values)]


def new_events(store: DuckStore, after_seq: int) -> list[dict[str, Any]]:
    """Events stored after ``after_seq``, this transaction's own included, in ingest order."""
    return store.query_writing(
        "SELECT seq, event_id, identity_key, ts, type, channel, topic, value, properties FROM events "
        "WHERE seq > ? ORDER BY seq",
        [after_seq],
    )


def identity_keys(store: DuckStore) -> pa.Table:
    """Every resolved identity's key (``hash(identity)``, as events carry it) and contact, by key."""
    return store.query_arrow("SELECT hash(identity) AS key, contact_id FROM identities ORDER BY key")


@dataclass(frozen=True)
class Loaded:
    """A stored state as read in the open transaction."""

    rowid: int  # its row: replacing it in the same transaction deletes by rowid, without a scan
    data: dict[str, Any]


def load_states(store: DuckStore, contact_ids: Sequence[str]) -> dict[str, Loaded]:
    """The stored states of some contacts (those that have one), as parsed JSON."""
    if not contact_ids:
        return {}
    where, params = _in(contact_ids)
    rows = store.query_writing(f"SELECT rowid, contact_id, state FROM score_state WHERE contact_id IN {where}", params)
    return {r["contact_id"]: Loaded(int(r["rowid"]), unpack_state(json.loads(r["state"]))) for r in rows}


def account_states(
    store: DuckStore, account_ids: Sequence[str], limit: int, known: Iterable[str] = ()
) -> dict[str, dict[str, dict[str, Any] | None] | None]:
    """Per account, its scored contacts with their stored states (None for a contact without
    one; not read for ``known`` contacts); None for an account with more than ``limit``."""
    if not account_ids:
        return {}
    where, params = _in(account_ids)
    skip = sorted(set(known))
    rows = store.query_writing(
        f"""SELECT l.account_id, l.contact_id, l.n,
                   CASE WHEN l.n <= ? AND NOT list_contains(?::VARCHAR[], l.contact_id) THEN s.state END AS state
            FROM (SELECT account_id, contact_id, count(*) OVER (PARTITION BY account_id) AS n
                  FROM lead_scores WHERE account_id IN {where}) l
            LEFT JOIN score_state s USING (contact_id)""",
        [limit, skip, *params],
    )
    out: dict[str, dict[str, dict[str, Any] | None] | None] = {a: {} for a in account_ids}
    for r in rows:
        group = out[r["account_id"]]
        if r["n"] > limit:
            out[r["account_id"]] = None
        elif group is not None:
            group[r["contact_id"]] = unpack_state(json.loads(r["state"])) if r["state"] is not None else None
    return out


def contact_stages(store: DuckStore, contact_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Stage, anchor identity and event count of some contacts, as of the last refresh."""
    if not contact_ids:
        return {}
    where, params = _in(contact_ids)
    rows = store.query_writing(
        f"SELECT contact_id, stage, anchor, event_count FROM contacts WHERE contact_id IN {where}", params
    )
    return {r["contact_id"]: r for r in rows}


_STATE_COLUMNS: Final = (("contact_id", "VARCHAR"), ("rules_key", "VARCHAR"), ("state", "JSON"))
_LEAD_TYPES: Final = (
    ("contact_id", "VARCHAR"), ("account_id", "VARCHAR"), ("fit", "DOUBLE"), ("engagement", "DOUBLE"),
    ("score", "DOUBLE"), ("grade", "VARCHAR"), ("fit_grade", "VARCHAR"), ("reasons", "VARCHAR[]"),
    ("probability", "DOUBLE"),
)
_ACCOUNT_COLUMNS: Final = (("account_id", "VARCHAR"), ("score", "DOUBLE"), ("grade", "VARCHAR"), ("card", "JSON"))


def _update(store: DuckStore, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]],
            stamp: str, now: datetime) -> int:
    """Update rows keyed by the first column in one statement; how many were there to update."""
    key = columns[0][0]
    if len(rows) == 1:
        sets = ", ".join(f"{c} = ?::{t}" for c, t in columns[1:])
        done = store.query_writing(f"UPDATE {table} SET {sets}, {stamp} = ? WHERE {key} = ?",
                                   [*rows[0][1:], now, rows[0][0]])
    else:
        values = ", ".join("(" + ", ".join(f"?::{t}" for _, t in columns) + ")" for _ in rows)
        sets = ", ".join(f"{c} = v.{c}" for c, _ in columns[1:])
        names = ", ".join(c for c, _ in columns)
        done = store.query_writing(
            f"UPDATE {table} SET {sets}, {stamp} = ? FROM (VALUES {values}) v({names}) WHERE {table}.{key} = v.{key}",
            [now, *(v for r in rows for v in r)],
        )
    return int(next(iter(done[0].values())))


def _replace_rows(
    store: DuckStore, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]],
    stamp: str, now: datetime, *, in_place: bool = False, rowids: Sequence[int] | None = None,
) -> None:
    """Replace rows keyed by the first column, stamping ``stamp`` with ``now``.

    ``in_place`` updates a few rows in one statement when they all exist; otherwise the
    old rows are deleted (by ``rowids``, read in this transaction, when given: no scan)
    and the new ones inserted, as parameters when few, through Arrow when many.
    """
    if not rows:
        return
    if in_place and len(rows) <= _MANY and _update(store, table, columns, rows, stamp, now) == len(rows):
        return
    if rowids is not None and len(rowids) == len(rows):
        where, params = ("(?)", list(rowids)) if len(rowids) == 1 else ("(SELECT unnest(?::BIGINT[]))", [list(rowids)])
        store.execute(f"DELETE FROM {table} WHERE rowid IN {where}", params)
    else:
        where, params = _in([r[0] for r in rows])
        store.execute(f"DELETE FROM {table} WHERE {columns[0][0]} IN {where}", params)
    casts = ", ".join(f"{c}::{t}" for c, t in columns)
    if len(rows) > _MANY:
        arrow = pa.table({c: [r[i] for r in rows] for i, (c, _) in enumerate(columns)})
        store.insert_arrow(table, f"SELECT {casts}, ? FROM _in", arrow, [now])
        return
    names = ", ".join(c for c, _ in columns)
    values = ", ".join("(" + ", ".join(f"?::{t}" for _, t in columns) + ", ?)" for _ in rows)
    store.execute(f"INSERT INTO {table} ({names}, {stamp}) VALUES {values}", [v for r in rows for v in (*r, now)])


def save(
    store: DuckStore, states: Sequence[dict[str, Any]], leads: Sequence[dict[str, Any]],
    accounts: Sequence[dict[str, Any]], now: datetime, *, loaded: Mapping[str, Loaded] | None = None,
) -> None:
    """Replace some contacts' states and scores and some accounts' roll-ups (call in a transaction).

    A state row is deleted and inserted afresh (score_state rows are never updated in
    place), by its rowid when it was ``loaded`` in this transaction. A score row is
    updated where it exists.
    """
    loaded = loaded or {}
    rowids = [loaded[s["contact_id"]].rowid for s in states if s["contact_id"] in loaded]
    _replace_rows(store, "score_state", _STATE_COLUMNS,
                  [(s["contact_id"], s["rules_key"], json.dumps(pack_state(s))) for s in states],
                  "updated_at", now, rowids=rowids)
    _replace_rows(store, "lead_scores", _LEAD_TYPES, [[r[c] for c, _ in _LEAD_TYPES] for r in leads],
                  "scored_at", now, in_place=True)
    _replace_rows(store, "account_scores", _ACCOUNT_COLUMNS,
                  [(a["account_id"], a["score"], a["grade"], json.dumps(a, default=str)) for a in accounts],
                  "scored_at", now, in_place=True)


def drop(store: DuckStore, contact_ids: Sequence[str]) -> None:
    """Forget the states and scores of contacts that no longer exist (merged away or split)."""
    if contact_ids:
        where, params = _in(contact_ids)
        store.execute(f"DELETE FROM score_state WHERE contact_id IN {where}", params)
        store.execute(f"DELETE FROM lead_scores WHERE contact_id IN {where}", params)


def rebuild_states(store: DuckStore, rules: ScoringRules, rules_key: str, contact_ids: Sequence[str]) -> list[dict[str, Any]]:
    """States of some contacts built afresh from all their stored events (not saved)."""
    if not contact_ids:
        return []
    ids = store.query_arrow(
        "SELECT identity, contact_id FROM identities WHERE contact_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(contact_ids)],
    )
    rows = store.query_writing(state_sql(rules, "_ids"), [rules_key], tables={"_ids": ids})
    return [unpack_state(json.loads(r["state"])) for r in rows]


def drift(store: DuckStore, rules_key: str) -> tuple[list[str], list[str]]:
    """After a refresh: contacts whose state is missing, built with other rules, or behind
    the log (event count, last touch, account or fit traits differ); and states of
    contacts that no longer exist."""
    from polku.scoring.fit import TRAITS

    paths = ["$.events", "$.last_touch_us", "$.account_id", *(f"$.traits.{t}" for t in TRAITS)]
    traits = " OR ".join(
        f"f[{i + 4}] IS DISTINCT FROM {'c' if t in _CONTACT_TRAITS else 'a'}.{t}::VARCHAR" for i, t in enumerate(TRAITS)
    )
    behind = store.query_writing(
        f"""SELECT c.contact_id FROM contacts c LEFT JOIN accounts a USING (account_id)
            LEFT JOIN (SELECT contact_id, rules_key, json_extract_string(state, {_sql_list(paths)}) AS f
                       FROM score_state) s USING (contact_id)
            WHERE s.contact_id IS NULL OR s.rules_key <> ?
               OR f[1]::BIGINT IS DISTINCT FROM c.event_count
               OR (f[2] IS NOT NULL AND f[2]::BIGINT <> epoch_us(c.last_seen))
               OR f[3] IS DISTINCT FROM c.account_id OR {traits}
            ORDER BY c.contact_id""",
        [rules_key],
    )
    gone = store.query_writing(
        "SELECT contact_id FROM score_state WHERE contact_id NOT IN (SELECT contact_id FROM contacts) ORDER BY 1"
    )
    return [r["contact_id"] for r in behind], [r["contact_id"] for r in gone]


def moved_accounts(store: DuckStore) -> list[str]:
    """Accounts with a contact whose stored score moved after the account's roll-up."""
    rows = store.query_writing(
        """SELECT DISTINCT l.account_id FROM lead_scores l LEFT JOIN account_scores a USING (account_id)
           WHERE l.account_id IS NOT NULL AND (a.scored_at IS NULL OR l.scored_at > a.scored_at)
           ORDER BY 1"""
    )
    return [r["account_id"] for r in rows]


def state_counts(store: DuckStore) -> dict[str, int]:
    """How many stored states each rules_key has."""
    return {r["rules_key"]: r["n"] for r in store.query("SELECT rules_key, count(*) AS n FROM score_state GROUP BY ALL")}


def touches_of(store: DuckStore, contact_id: str) -> tuple[list[Touch], dict[str, Any], str | None]:
    """A contact's touchpoints (identify calls left out), its fit traits and its account."""
    from polku.scoring.fit import TRAITS
    from polku.scoring.match import Touch

    people = store.query(
        """SELECT c.account_id, c.role, c.org_level, a.industry, a.employees, a.country
           FROM contacts c LEFT JOIN accounts a USING (account_id) WHERE c.contact_id = ?""",
        [contact_id],
    )
    person = people[0] if people else {}
    rows = store.query(
        """SELECT e.ts, e.type, e.channel, e.topic, e.value, e.properties FROM events e
           WHERE e.identity_key IN (SELECT hash(identity) FROM identities WHERE contact_id = ?)
             AND e.type <> 'identify' ORDER BY e.ts, e.seq""",
        [contact_id],
    )
    touches = [Touch.from_row(r) for r in rows]
    traits = {k: person[k] for k in TRAITS if person.get(k) is not None}
    return touches, traits, person.get("account_id")


def contact_row(store: DuckStore, contact_id: str) -> dict[str, Any] | None:
    """The stored score of one contact, or None before the first rescore."""
    rows = store.query("SELECT * FROM lead_scores WHERE contact_id = ?", [contact_id])
    return rows[0] if rows else None


def account_row(store: DuckStore, account_id: str) -> dict[str, Any] | None:
    """The stored score of one account with its buying-group coverage, or None."""
    rows = store.query("SELECT card, scored_at FROM account_scores WHERE account_id = ?", [account_id])
    if not rows:
        return None
    return {**json.loads(rows[0]["card"]), "rescored_at": rows[0]["scored_at"]}


def ranked(store: DuckStore, *, min_score: float, limit: int, stage: str | None) -> list[dict[str, Any]]:
    """Contacts by stored score, highest first, with name, account and stage."""
    where = "s.score >= ?" + (" AND c.stage = ?" if stage else "")
    params: list[Any] = [min_score, *([stage] if stage else []), limit]
    return store.query(
        f"""SELECT s.contact_id, c.name, c.email, s.account_id, c.stage, s.score, s.fit, s.engagement, s.grade,
                   s.probability, s.scored_at
            FROM lead_scores s LEFT JOIN contacts c USING (contact_id)
            WHERE {where} ORDER BY s.score DESC, s.contact_id LIMIT ?""",
        params,
    )
