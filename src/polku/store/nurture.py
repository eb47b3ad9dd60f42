"""All SQL of nurture state: journeys seen, enrolments, step history, outbox, requests, trigger state.

The tick works on sets: per-tick scratch tables (TEMP tables of the writing connection,
prefixed ``nurture_x_``) hold the contacts, their recent events, scores and consent; each
advance of the journeys is a handful of statements over every due enrolment at once,
committed in one transaction with the outbox rows it writes. Condition predicates arrive
compiled (``polku.nurture.conditions``) and read the row alias ``x``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

import pyarrow as pa

from polku.model import STAGE_ORDER
from polku.store.duck import DuckStore

OPEN: Final[tuple[str, ...]] = ("pending", "sending", "committing")
COUNTED: Final[str] = "('pending', 'sending', 'committing', 'sent', 'in_doubt')"  # messages a cap counts
_PEOPLE_COLUMNS = (
    "contact_id, NULL::TIMESTAMPTZ AS since, NULL::VARCHAR AS msg_prefix, c_traits, c_stage, c_email, c_crm_id, "
    "c_name, c_title, c_role, c_org_level, c_consent, c_score, a_account_id, a_name, a_domain, a_industry, a_employees, a_country, "
    "a_owner, a_traits"
)
_STAGE_RANK = "CASE {col} " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(STAGE_ORDER)) + " END"


def lit(value: Any) -> str:
    """A SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMPTZ '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _in(values: Iterable[Any]) -> str:
    items = [lit(v) for v in values]
    return "(" + ", ".join(items) + ")" if items else "(NULL)"


def uniform_sql(seed_expr: str) -> str:
    """A deterministic number in [0, 1) from a text (the first 52 bits of its MD5)."""
    return f"(('0x' || substr(md5({seed_expr}), 1, 13))::UBIGINT::DOUBLE / 4503599627370496.0)"


# ---- scratch tables of one tick ---------------------------------------------------------------------


def prepare_scratch(
    store: DuckStore, *, now: datetime, horizon: datetime | None, types: Sequence[str], scores: pa.Table | None
) -> None:
    """Build the tick's view of contacts, their relevant events, scores and consent."""
    since = f"AND e.ts >= {lit(horizon)}" if horizon is not None else ""
    store.execute(
        f"""CREATE OR REPLACE TEMP TABLE nurture_x_ce AS
        SELECT i.contact_id, e.type, e.topic, e.channel, e.ts,
               CASE WHEN e.type IN ('email_open', 'email_click')
                    THEN json_extract_string(e.properties, '$.message_id') END AS message_id
        FROM events e JOIN identities i ON i.identity = e.identity
        WHERE e.type IN {_in(types)} AND e.ts <= {lit(now)} {since}"""
    )
    if scores is not None:
        store.create_table_as("nurture_x_scores_in", "SELECT contact_id::VARCHAR AS contact_id, score::DOUBLE AS score FROM _s", tables={"_s": scores})
        store.execute("CREATE OR REPLACE TEMP TABLE nurture_x_scores AS SELECT * FROM nurture_x_scores_in")
        store.execute("DROP TABLE nurture_x_scores_in")
    else:
        store.execute("CREATE OR REPLACE TEMP TABLE nurture_x_scores (contact_id VARCHAR, score DOUBLE)")
    # the latest word on marketing consent: an unsubscribe says no; an identify may say yes or no
    store.execute(
        """CREATE OR REPLACE TEMP TABLE nurture_x_consent AS
        SELECT i.contact_id,
               arg_max(CASE WHEN e.type = 'unsubscribe' THEN 'false'
                            ELSE lower(json_extract_string(e.properties, '$.marketing_consent')) END, e.ts) AS consent
        FROM events e JOIN identities i ON i.identity = e.identity
        WHERE e.type = 'unsubscribe'
           OR (e.type = 'identify' AND json_extract_string(e.properties, '$.marketing_consent') IS NOT NULL)
        GROUP BY i.contact_id"""
    )
    store.execute("CREATE OR REPLACE TEMP TABLE nurture_x_zones AS SELECT name FROM pg_timezone_names()")
    store.execute(
        """CREATE OR REPLACE TEMP TABLE nurture_x_people AS
        SELECT c.contact_id, c.traits::JSON AS c_traits, c.stage AS c_stage, c.email AS c_email, c.crm_id AS c_crm_id,
               c.name AS c_name, c.title AS c_title, c.role AS c_role, c.org_level AS c_org_level,
               k.consent AS c_consent, s.score AS c_score,
               a.account_id AS a_account_id, a.name AS a_name, a.domain AS a_domain, a.industry AS a_industry,
               a.employees AS a_employees, a.country AS a_country, a.owner AS a_owner, a.traits::JSON AS a_traits
        FROM contacts c LEFT JOIN accounts a ON a.account_id = c.account_id
        LEFT JOIN nurture_x_consent k ON k.contact_id = c.contact_id
        LEFT JOIN (SELECT contact_id, max(score) AS score FROM nurture_x_scores GROUP BY contact_id) s ON s.contact_id = c.contact_id"""
    )


def load_plan(store: DuckStore, steps: list[dict[str, Any]], splits: list[dict[str, Any]], variants: list[dict[str, Any]]) -> None:
    """The active journeys' steps, split arms and template variants, as scratch tables."""
    _values_table(store, "nurture_x_steps", steps, {
        "journey_id": "VARCHAR", "step_id": "VARCHAR", "kind": "VARCHAR", "delay_s": "BIGINT", "nxt": "VARCHAR",
        "alt": "VARCHAR", "template_id": "VARCHAR", "param": "VARCHAR", "journey_name": "VARCHAR",
        "priority": "INTEGER", "seed": "VARCHAR",
    })
    _values_table(store, "nurture_x_splits", splits, {
        "journey_id": "VARCHAR", "step_id": "VARCHAR", "variant": "VARCHAR", "lo": "DOUBLE", "hi": "DOUBLE", "nxt": "VARCHAR",
    })
    _values_table(store, "nurture_x_variants", variants, {
        "template_id": "VARCHAR", "version": "VARCHAR", "language": "VARCHAR", "roles": "VARCHAR", "pos": "INTEGER",
    })


def _values_table(store: DuckStore, name: str, rows: list[dict[str, Any]], columns: dict[str, str]) -> None:
    store.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({', '.join(f'{c} {t}' for c, t in columns.items())})")
    for start in range(0, len(rows), 500):
        chunk = rows[start:start + 500]
        values = ", ".join("(" + ", ".join(lit(r.get(c)) for c in columns) + ")" for r in chunk)
        store.execute(f"INSERT INTO {name} VALUES {values}")


def drop_scratch(store: DuckStore) -> None:
    """Drop the tick's scratch tables."""
    for name in ("people", "ce", "scores", "consent", "zones", "steps", "splits", "variants", "cand", "cand_raw",
                 "level", "due", "moves", "send", "recent", "goal"):
        store.execute(f"DROP TABLE IF EXISTS temp.main.nurture_x_{name}")


# ---- definitions ---------------------------------------------------------------------------------


def sync_journeys(store: DuckStore, rows: list[dict[str, Any]], now: datetime) -> None:
    """Record the journeys now defined (new ones, changed ones) and mark vanished ones removed."""
    _values_table(store, "nurture_x_defs", rows, {
        "journey_id": "VARCHAR", "version": "VARCHAR", "name": "VARCHAR", "priority": "INTEGER", "status": "VARCHAR",
        "definition": "VARCHAR", "source": "VARCHAR", "exclusive": "BOOLEAN",
    })
    store.execute(
        f"""INSERT INTO nurture_journeys (journey_id, version, name, priority, status, definition, source,
               event_cursor, loaded_at, first_loaded_at)
        SELECT journey_id, version, name, priority, status, definition::JSON, source, NULL, {lit(now)}, {lit(now)}
        FROM nurture_x_defs
        ON CONFLICT (journey_id) DO UPDATE SET version = excluded.version, name = excluded.name,
            priority = excluded.priority, status = excluded.status, definition = excluded.definition,
            source = excluded.source, loaded_at = excluded.loaded_at"""
    )
    store.execute(
        f"""UPDATE nurture_journeys SET status = 'removed', loaded_at = {lit(now)}
        WHERE status <> 'removed' AND journey_id NOT IN (SELECT journey_id FROM nurture_x_defs)"""
    )
    # a changed priority applies to journeys already running
    store.execute(
        """UPDATE nurture_enrolments AS n SET priority = d.priority, exclusive = d.exclusive FROM nurture_x_defs d
        WHERE n.journey_id = d.journey_id AND n.status = 'active' AND (n.priority <> d.priority OR n.exclusive <> d.exclusive)"""
    )
    store.execute("DROP TABLE temp.main.nurture_x_defs")


def sync_content(store: DuckStore, rows: list[dict[str, Any]], now: datetime) -> None:
    """Keep every template version ever loaded (the outbox renders the exact version it names)."""
    known = {r["version"] for r in store.query("SELECT version FROM nurture_content")}
    for r in rows:
        if r["version"] not in known:
            store.execute(
                "INSERT INTO nurture_content VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [r["version"], r["content_id"], r["definition"], now],
            )


def exit_orphans(store: DuckStore, now: datetime) -> None:
    """End active enrolments whose step was removed from their (active) journey's definition."""
    orphans = """SELECT n.enrolment_id, n.step_id FROM nurture_enrolments n
        WHERE n.status = 'active' AND n.journey_id IN (SELECT DISTINCT journey_id FROM nurture_x_steps)
          AND NOT EXISTS (SELECT 1 FROM nurture_x_steps s WHERE s.journey_id = n.journey_id AND s.step_id = n.step_id)"""
    store.execute(
        f"INSERT INTO nurture_steps SELECT enrolment_id, step_id, 'exit', {lit(now)}, 'exited', "
        f"'the step was removed from the journey' FROM ({orphans})"
    )
    store.execute(
        f"""UPDATE nurture_enrolments SET status = 'exited', ended_at = {lit(now)}, due_at = NULL,
               end_reason = 'step ' || step_id || ' was removed from the journey'
            WHERE enrolment_id IN (SELECT enrolment_id FROM ({orphans}))"""
    )


def journey_states(store: DuckStore) -> dict[str, dict[str, Any]]:
    """Stored journey rows by id (cursor, first load, status)."""
    return {r["journey_id"]: r for r in store.query("SELECT journey_id, status, event_cursor, first_loaded_at FROM nurture_journeys")}


def journey_rows(store: DuckStore) -> list[dict[str, Any]]:
    """Every journey ever loaded."""
    return store.query("SELECT * FROM nurture_journeys ORDER BY priority DESC, journey_id")


def content_version(store: DuckStore, version: str) -> dict[str, Any] | None:
    """A stored template version."""
    rows = store.query("SELECT definition FROM nurture_content WHERE version = ?", [version])
    return rows[0] if rows else None


# ---- enrolment -------------------------------------------------------------------------------------


def start_candidates(store: DuckStore) -> None:
    """An empty list of candidates for this tick."""
    store.execute(
        "CREATE OR REPLACE TEMP TABLE nurture_x_cand_raw (journey_id VARCHAR, contact_id VARCHAR, trig VARCHAR, request_id VARCHAR)"
    )


def event_candidates(store: DuckStore, items: list[tuple[str, str, int | None, datetime | None]], upto_seq: int) -> None:
    """Contacts with a matching event stored after each journey's cursor (or since a time on first load).

    ``items`` are (journey id, predicate over events e, cursor, since); one statement for all.
    """
    parts = []
    for journey_id, predicate, after_seq, since in items:
        if after_seq is None and since is None:
            continue
        window = f"e.seq > {int(after_seq)}" if after_seq is not None else f"e.ts >= {lit(since)}"
        parts.append(
            f"""SELECT {lit(journey_id)}, i.contact_id, 'event ' || min(e.type), NULL
            FROM events e JOIN identities i ON i.identity = e.identity
            WHERE {window} AND e.seq <= {int(upto_seq)} AND {predicate} GROUP BY i.contact_id"""
        )
    if parts:
        store.execute("INSERT INTO nurture_x_cand_raw " + " UNION ALL ".join(parts))


def level_candidates(store: DuckStore, items: list[tuple[str, str, str, bool]]) -> None:
    """Contacts who entered a stage/score/segment condition since the last tick (edge-triggered).

    ``items`` are (journey id, predicate over x, label, enrol); afterwards each journey
    remembers who is inside now, so staying inside enrols nobody again.
    """
    if not items:
        return
    people = f"(SELECT {_PEOPLE_COLUMNS} FROM nurture_x_people) x"
    store.execute(
        "CREATE OR REPLACE TEMP TABLE nurture_x_level AS "
        + " UNION ALL ".join(f"SELECT {lit(j)} AS journey_id, {lit(label)} AS label, {lit(enrol)} AS enrol, x.contact_id FROM {people} WHERE {pred}"
                             for j, pred, label, enrol in items)
    )
    store.execute(
        """INSERT INTO nurture_x_cand_raw SELECT l.journey_id, l.contact_id, l.label, NULL FROM nurture_x_level l
        WHERE l.enrol AND NOT EXISTS (SELECT 1 FROM nurture_members m WHERE m.journey_id = l.journey_id AND m.contact_id = l.contact_id)"""
    )
    store.execute(f"DELETE FROM nurture_members WHERE journey_id IN {_in(j for j, *_ in items)}")
    store.execute("INSERT INTO nurture_members SELECT journey_id, contact_id FROM nurture_x_level")


def request_candidates(store: DuckStore, journey_ids: Sequence[str]) -> None:
    """Pending enrolment requests of active journeys."""
    store.execute(
        f"""INSERT INTO nurture_x_cand_raw SELECT journey_id, contact_id, 'request: ' || source, request_id
        FROM nurture_requests WHERE status = 'pending' AND journey_id IN {_in(journey_ids)}"""
    )


def group_candidates(store: DuckStore, journeys: list[dict[str, Any]]) -> None:
    """One candidate per journey and contact, with the journey's priority; reason NULL means eligible."""
    _values_table(store, "nurture_x_jp", journeys, {"journey_id": "VARCHAR", "priority": "INTEGER", "exclusive": "BOOLEAN", "first_step": "VARCHAR", "delay_s": "BIGINT"})
    store.execute(
        """CREATE OR REPLACE TEMP TABLE nurture_x_cand AS
        SELECT r.journey_id, r.contact_id, string_agg(DISTINCT r.trig, '; ') AS trig,
               list(r.request_id) FILTER (WHERE r.request_id IS NOT NULL) AS requests,
               any_value(j.priority) AS priority, any_value(j.exclusive) AS exclusive,
               any_value(j.first_step) AS first_step, any_value(j.delay_s) AS delay_s,
               NULL::VARCHAR AS reason, 'treatment' AS arm
        FROM nurture_x_cand_raw r JOIN nurture_x_jp j USING (journey_id)
        GROUP BY r.journey_id, r.contact_id"""
    )
    store.execute("DROP TABLE temp.main.nurture_x_jp")
    store.execute("UPDATE nurture_x_cand SET reason = 'no such contact' WHERE contact_id NOT IN (SELECT contact_id FROM nurture_x_people)")


def reject_candidates(store: DuckStore, items: list[tuple[str, str, str]]) -> None:
    """Mark still-eligible candidates failing their journey's test: (journey id, predicate over x, reason), one statement."""
    if not items:
        return
    reason = "CASE k.journey_id " + " ".join(f"WHEN {lit(j)} THEN {lit(r)}" for j, _, r in items) + " END"
    same: dict[str, list[str]] = {}  # journeys sharing a test are tested once
    for j, pred, _ in items:
        same.setdefault(pred, []).append(j)
    failing = " OR ".join(f"(k.journey_id IN {_in(js)} AND NOT ({pred}))" for pred, js in same.items())
    store.execute(
        f"""UPDATE nurture_x_cand AS k SET reason = {reason}
        FROM (SELECT {_PEOPLE_COLUMNS} FROM nurture_x_people) x
        WHERE k.contact_id = x.contact_id AND k.reason IS NULL AND ({failing})"""
    )


def consent_sql(opt_in: bool) -> str:
    """A predicate over x: the contact may be sent marketing e-mail (its latest word on consent)."""
    return "coalesce(x.c_consent = 'true', FALSE)" if opt_in else "coalesce(x.c_consent <> 'false', TRUE)"


def reject_by_history(store: DuckStore, items: list[tuple[str, str | int, int]], now: datetime) -> None:
    """Re-entry rules, for (journey id, reentry, goal window) items.

    Nobody is in a journey twice at once (a holdout contact counts as in it for the goal
    window, as long as a treated one could be); `never` allows one entry; a duration waits that long.
    """
    if not items:
        return
    window = "CASE n.journey_id " + " ".join(f"WHEN {lit(j)} THEN {int(w)}" for j, _, w in items) + " END"
    rules = [(f"n.status = 'active' OR (n.status = 'holdout' AND n.enrolled_at + {window} * INTERVAL 1 SECOND > {lit(now)})",
              [j for j, _, _ in items], "already in the journey")]
    rules.append(("TRUE", [j for j, r, _ in items if r == "never"], "went through the journey before (reentry: never)"))
    waits = [(j, r) for j, r, _ in items if not isinstance(r, str)]
    if waits:
        wait = "CASE n.journey_id " + " ".join(f"WHEN {lit(j)} THEN {int(r)}" for j, r in waits) + " END"
        rules.append((f"n.enrolled_at > {lit(now)} - {wait} * INTERVAL 1 SECOND", [j for j, _ in waits], "entered too recently to re-enter"))
    for cond, journeys, why in rules:
        if journeys:
            store.execute(
                f"""UPDATE nurture_x_cand AS k SET reason = {lit(why)}
                WHERE k.reason IS NULL AND k.journey_id IN {_in(journeys)}
                AND EXISTS (SELECT 1 FROM nurture_enrolments n WHERE n.journey_id = k.journey_id AND n.contact_id = k.contact_id AND ({cond}))"""
            )


def assign_arms(store: DuckStore, items: list[tuple[str, str, float]]) -> None:
    """Holdout by a seeded hash of (journey seed, contact): the same contact always lands in the same arm.

    ``items`` are (journey id, seed, share); journeys without a holdout are left out.
    """
    items = [i for i in items if i[2] > 0]
    if not items:
        return
    seed = "CASE journey_id " + " ".join(f"WHEN {lit(j)} THEN {lit(s + '|')}" for j, s, _ in items) + " END"
    share = "CASE journey_id " + " ".join(f"WHEN {lit(j)} THEN {float(h)!r}" for j, _, h in items) + " END"
    store.execute(
        f"""UPDATE nurture_x_cand SET arm = 'control' WHERE reason IS NULL AND journey_id IN {_in(j for j, _, _ in items)}
        AND {uniform_sql(seed + ' || contact_id')} < {share}"""
    )


def resolve_priorities(store: DuckStore, now: datetime) -> None:
    """Per contact, the highest-priority exclusive journey wins; it pre-empts a lower one already running."""
    store.execute(
        """UPDATE nurture_x_cand AS k SET reason = 'a higher-priority journey won: ' || w.winner
        FROM (SELECT journey_id, contact_id,
                     first_value(journey_id) OVER (PARTITION BY contact_id ORDER BY priority DESC, journey_id) AS winner,
                     row_number() OVER (PARTITION BY contact_id ORDER BY priority DESC, journey_id) AS rk
              FROM nurture_x_cand WHERE reason IS NULL AND arm = 'treatment' AND exclusive) w
        WHERE k.journey_id = w.journey_id AND k.contact_id = w.contact_id AND w.rk > 1"""
    )
    incumbents = """SELECT n.contact_id, n.enrolment_id, n.journey_id, n.priority FROM nurture_enrolments n
        WHERE n.status = 'active' AND n.exclusive"""
    store.execute(
        f"""UPDATE nurture_x_cand AS k SET reason = 'in journey ' || i.journey_id || ' of equal or higher priority'
        FROM ({incumbents}) i
        WHERE k.contact_id = i.contact_id AND k.reason IS NULL AND k.arm = 'treatment' AND k.exclusive
          AND i.journey_id <> k.journey_id AND i.priority >= k.priority"""
    )
    preempted = f"""SELECT i.enrolment_id, i.journey_id AS old, k.journey_id AS new FROM ({incumbents}) i
        JOIN nurture_x_cand k ON k.contact_id = i.contact_id AND k.reason IS NULL AND k.arm = 'treatment'
             AND k.exclusive AND i.journey_id <> k.journey_id"""
    store.execute(
        f"""INSERT INTO nurture_steps SELECT p.enrolment_id, n.step_id, 'exit', {lit(now)}, 'exited', 'pre-empted by journey ' || p.new
        FROM ({preempted}) p JOIN nurture_enrolments n USING (enrolment_id)"""
    )
    store.execute(
        f"""UPDATE nurture_enrolments AS n SET status = 'exited', ended_at = {lit(now)}, due_at = NULL,
               end_reason = 'pre-empted by journey ' || p.new
        FROM ({preempted}) p WHERE n.enrolment_id = p.enrolment_id"""
    )


def insert_enrolments(store: DuckStore, now: datetime) -> None:
    """Enrol every eligible candidate (treatment at its first step; control waits for its goal only)."""
    store.execute(
        """CREATE OR REPLACE TEMP TABLE nurture_x_new AS
        SELECT k.*, k.journey_id || '.' || k.contact_id || '.' || (coalesce(p.entries, 0) + 1) AS enrolment_id,
               coalesce(p.entries, 0) + 1 AS entry
        FROM nurture_x_cand k
        LEFT JOIN (SELECT journey_id, contact_id, max(entry) AS entries FROM nurture_enrolments GROUP BY ALL) p
               USING (journey_id, contact_id)
        WHERE k.reason IS NULL"""
    )
    store.execute(
        f"""INSERT INTO nurture_enrolments
        SELECT enrolment_id, journey_id, contact_id, entry, arm,
               CASE arm WHEN 'control' THEN 'holdout' ELSE 'active' END,
               CASE arm WHEN 'control' THEN NULL ELSE first_step END,
               {lit(now)},
               CASE arm WHEN 'control' THEN NULL ELSE {lit(now)} + coalesce(delay_s, 0) * INTERVAL 1 SECOND END,
               priority, exclusive, trig, {lit(now)}, NULL, NULL, NULL
        FROM nurture_x_new"""
    )
    store.execute(
        f"""INSERT INTO nurture_steps SELECT enrolment_id, '', 'enrol', {lit(now)},
               CASE arm WHEN 'control' THEN 'enrolled in the holdout (gets nothing)' ELSE 'enrolled' END, trig
        FROM nurture_x_new"""
    )
    store.execute(
        f"""UPDATE nurture_requests AS r SET status = 'done', processed_at = {lit(now)},
               result = coalesce(k.reason, CASE k.arm WHEN 'control' THEN 'enrolled in the holdout' ELSE 'enrolled' END)
        FROM (SELECT unnest(requests) AS request_id, reason, arm FROM nurture_x_cand) k
        WHERE r.request_id = k.request_id"""
    )
    store.execute("DROP TABLE temp.main.nurture_x_new")


def close_requests(store: DuckStore, active: Sequence[str], known: Sequence[str], now: datetime) -> None:
    """Answer requests for journeys that cannot take them."""
    store.execute(
        f"""UPDATE nurture_requests SET status = 'done', processed_at = {lit(now)},
               result = CASE WHEN journey_id IN {_in(known)} THEN 'the journey is paused' ELSE 'no such journey' END
        WHERE status = 'pending' AND journey_id NOT IN {_in(active)}
          AND (journey_id NOT IN {_in(known)} OR journey_id IN (SELECT journey_id FROM nurture_journeys WHERE status = 'removed'))"""
    )


def set_cursors(store: DuckStore, journey_ids: Sequence[str], seq: int) -> None:
    """Move the journeys' event cursors past the events looked at."""
    store.execute(f"UPDATE nurture_journeys SET event_cursor = {int(seq)} WHERE journey_id IN {_in(journey_ids)}")


def add_requests(store: DuckStore, rows: list[dict[str, Any]]) -> None:
    """Queue enrolment requests (the next tick decides them)."""
    for r in rows:
        store.execute(
            "INSERT INTO nurture_requests VALUES (?, ?, ?, ?, ?, 'pending', NULL, NULL) ON CONFLICT DO NOTHING",
            [r["request_id"], r["journey_id"], r["contact_id"], r["requested_at"], r["source"]],
        )


def requests(store: DuckStore, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Enrolment requests by id."""
    return store.query(f"SELECT * FROM nurture_requests WHERE request_id IN {_in(ids)} ORDER BY requested_at")


# ---- goals -----------------------------------------------------------------------------------------


def record_goals(store: DuckStore, items: list[dict[str, Any]], now: datetime) -> None:
    """Note when each enrolment (either arm) reached its journey's goal within the window; a running journey ends there.

    ``items`` hold journey_id, types, topics, stage and within (seconds), one per journey with a goal.
    """
    if not items:
        return
    parts = []
    for g in items:
        j = lit(g["journey_id"])
        window = (f"AND n.enrolled_at >= {lit(now)} - INTERVAL {int(g['within'])} SECOND "
                  f"AND {{ts}} >= n.enrolled_at AND {{ts}} <= n.enrolled_at + INTERVAL {int(g['within'])} SECOND AND {{ts}} <= {lit(now)}")
        if g["stage"] is not None:
            rank = _STAGE_RANK.format(col="h.stage")
            parts.append(f"""SELECT n.enrolment_id, min(h.ts) AS at FROM nurture_enrolments n
                JOIN stage_history h ON h.subject = 'contact' AND h.subject_id = n.contact_id
                WHERE n.journey_id = {j} AND n.goal_at IS NULL AND {rank} >= {STAGE_ORDER.index(g["stage"])}
                {window.format(ts='h.ts')} GROUP BY n.enrolment_id""")
        else:
            topic = f"AND e.topic IN {_in(g['topics'])}" if g["topics"] else ""
            parts.append(f"""SELECT n.enrolment_id, min(e.ts) AS at FROM nurture_enrolments n
                JOIN nurture_x_ce e ON e.contact_id = n.contact_id
                WHERE n.journey_id = {j} AND n.goal_at IS NULL AND e.type IN {_in(g["types"])} {topic}
                {window.format(ts='e.ts')} GROUP BY n.enrolment_id""")
    store.execute("CREATE OR REPLACE TEMP TABLE nurture_x_goal AS " + " UNION ALL ".join(parts))
    store.execute(
        f"""INSERT INTO nurture_steps SELECT n.enrolment_id, coalesce(n.step_id, ''), 'goal', {lit(now)}, 'goal reached', NULL
        FROM nurture_enrolments n JOIN nurture_x_goal g USING (enrolment_id) WHERE n.status = 'active'"""
    )
    store.execute(
        f"""UPDATE nurture_enrolments AS n SET goal_at = g.at,
               status = CASE WHEN n.status = 'active' THEN 'goal' ELSE n.status END,
               ended_at = CASE WHEN n.status = 'active' THEN {lit(now)} ELSE n.ended_at END,
               end_reason = CASE WHEN n.status = 'active' THEN 'goal reached' ELSE n.end_reason END,
               due_at = CASE WHEN n.status = 'active' THEN NULL ELSE n.due_at END
        FROM nurture_x_goal g WHERE n.enrolment_id = g.enrolment_id"""
    )


# ---- advancing -------------------------------------------------------------------------------------


def build_due(store: DuckStore, now: datetime, *, check_waits: bool) -> None:
    """The enrolments to advance now, with their contact's columns (and wait_for ones to re-check)."""
    waits = "OR s.kind = 'wait_for'" if check_waits else ""
    store.execute(
        f"""CREATE OR REPLACE TEMP TABLE nurture_x_due AS
        SELECT n.enrolment_id, n.journey_id, n.step_id, n.step_since, n.enrolled_at, n.due_at, n.priority,
               s.kind, s.journey_name, CASE s.kind WHEN 'wait_for' THEN n.step_since ELSE n.enrolled_at END AS since,
               n.enrolment_id AS msg_prefix,
               p.* EXCLUDE (contact_id), n.contact_id
        FROM nurture_enrolments n JOIN nurture_x_steps s USING (journey_id, step_id)
        JOIN nurture_x_people p ON p.contact_id = n.contact_id
        WHERE n.status = 'active' AND (n.due_at <= {lit(now)} {waits})"""
    )
    store.execute(
        """CREATE OR REPLACE TEMP TABLE nurture_x_moves (enrolment_id VARCHAR, journey_id VARCHAR, step_id VARCHAR,
            kind VARCHAR, outcome VARCHAR, detail VARCHAR, nxt VARCHAR, defer_until TIMESTAMPTZ, end_status VARCHAR)"""
    )


def moves_simple(store: DuckStore, now: datetime) -> None:
    """Waits that are over, exits, enrol requests, stage events and webhooks: one statement for all journeys."""
    store.execute(
        f"""INSERT INTO nurture_x_moves
        SELECT d.enrolment_id, d.journey_id, d.step_id, d.kind,
               CASE d.kind WHEN 'wait' THEN 'waited' WHEN 'exit' THEN 'exited' WHEN 'enrol' THEN 'enrolment requested'
                    WHEN 'set_stage' THEN 'stage event appended' WHEN 'webhook' THEN 'queued' END,
               CASE d.kind WHEN 'enrol' THEN 'journey ' || s.param WHEN 'set_stage' THEN s.param
                    WHEN 'exit' THEN s.param WHEN 'webhook' THEN s.param END,
               s.nxt, NULL, CASE d.kind WHEN 'exit' THEN 'exited' END
        FROM nurture_x_due d JOIN nurture_x_steps s USING (journey_id, step_id)
        WHERE d.kind IN ('wait', 'exit', 'enrol', 'set_stage', 'webhook') AND d.due_at <= {lit(now)}"""
    )


def moves_split(store: DuckStore, now: datetime) -> None:
    """Random splits: a seeded hash of (journey seed, enrolment, step) picks the arm, reproducibly."""
    u = uniform_sql("s.seed || '|' || d.enrolment_id || '|' || d.step_id")
    store.execute(
        f"""INSERT INTO nurture_x_moves
        SELECT d.enrolment_id, d.journey_id, d.step_id, 'split', 'variant ' || v.variant, NULL, v.nxt, NULL, NULL
        FROM nurture_x_due d JOIN nurture_x_steps s USING (journey_id, step_id)
        JOIN nurture_x_splits v ON v.journey_id = d.journey_id AND v.step_id = d.step_id
             AND {u} >= v.lo AND {u} < v.hi
        WHERE d.kind = 'split' AND d.due_at <= {lit(now)}"""
    )


def moves_branch(store: DuckStore, items: list[tuple[str, str, str]], now: datetime) -> None:
    """Branches: then or else by each step's condition, for every enrolment at one; items are (journey, step, predicate)."""
    if not items:
        return
    test = "CASE " + " ".join(f"WHEN x.journey_id = {lit(j)} AND x.step_id = {lit(s)} THEN coalesce({p}, FALSE)" for j, s, p in items) + " END"
    store.execute(
        f"""INSERT INTO nurture_x_moves
        SELECT x.enrolment_id, x.journey_id, x.step_id, 'branch', CASE WHEN c THEN 'then' ELSE 'else' END, NULL,
               CASE WHEN c THEN s.nxt ELSE s.alt END, NULL, NULL
        FROM (SELECT x.*, {test} AS c FROM nurture_x_due x WHERE x.kind = 'branch' AND x.due_at <= {lit(now)}) x
        JOIN nurture_x_steps s USING (journey_id, step_id)"""
    )


def moves_wait_for(store: DuckStore, items: list[tuple[str, str, str]], now: datetime) -> None:
    """Waits for a condition: go on when it holds, or take the timeout path when time is up."""
    if not items:
        return
    test = "CASE " + " ".join(f"WHEN x.journey_id = {lit(j)} AND x.step_id = {lit(s)} THEN coalesce({p}, FALSE)" for j, s, p in items) + " END"
    store.execute(
        f"""INSERT INTO nurture_x_moves
        SELECT x.enrolment_id, x.journey_id, x.step_id, 'wait_for', CASE WHEN c THEN 'condition met' ELSE 'timed out' END,
               NULL, CASE WHEN c THEN s.nxt ELSE s.alt END, NULL, NULL
        FROM (SELECT x.*, {test} AS c FROM nurture_x_due x WHERE x.kind = 'wait_for') x
        JOIN nurture_x_steps s USING (journey_id, step_id)
        WHERE c OR x.due_at <= {lit(now)}"""
    )


def send_candidates(store: DuckStore, now: datetime, *, opt_in: bool) -> None:
    """Marketing sends due now, with the reason a send is skipped (no address, no consent)."""
    store.execute(
        f"""CREATE OR REPLACE TEMP TABLE nurture_x_send AS
        SELECT x.*, s.template_id,
               CASE WHEN x.c_email IS NULL THEN 'no e-mail address'
                    WHEN NOT {consent_sql(opt_in)} THEN {lit('no consent' if opt_in else 'unsubscribed')}
               END AS reason,
               NULL::TIMESTAMPTZ AS defer_until
        FROM nurture_x_due x JOIN nurture_x_steps s USING (journey_id, step_id)
        WHERE x.kind = 'send' AND x.due_at <= {lit(now)}"""
    )


def apply_quiet_hours(store: DuckStore, now: datetime, start: str, end: str, default_zone: str) -> None:
    """Defer sends that would land in the contact's quiet hours to the hour they end, in the contact's zone."""
    zone = f"""CASE WHEN json_extract_string(c_traits, '$.timezone') IN (SELECT name FROM nurture_x_zones)
                    THEN json_extract_string(c_traits, '$.timezone') ELSE {lit(default_zone)} END"""
    local = f"timezone({zone}, {lit(now)})"
    t = f"({local})::TIME"
    s, e = f"TIME '{start}'", f"TIME '{end}'"
    quiet = f"CASE WHEN {s} < {e} THEN {t} >= {s} AND {t} < {e} ELSE {t} >= {s} OR {t} < {e} END"
    resume = f"CASE WHEN {s} > {e} AND {t} >= {s} THEN ({local})::DATE + 1 + {e} ELSE ({local})::DATE + {e} END"
    store.execute(f"UPDATE nurture_x_send SET defer_until = timezone({zone}, {resume}) WHERE reason IS NULL AND {quiet}")


def apply_frequency_cap(store: DuckStore, now: datetime, messages: int, per: int) -> None:
    """At most ``messages`` marketing e-mails per ``per`` seconds per contact, across journeys; priority first."""
    store.execute(
        f"""CREATE OR REPLACE TEMP TABLE nurture_x_recent AS
        SELECT contact_id, count(*) AS n, min(created_at) AS oldest FROM nurture_outbox
        WHERE purpose = 'marketing' AND created_at > {lit(now)} - INTERVAL {int(per)} SECOND AND status IN {COUNTED}
          AND contact_id IN (SELECT contact_id FROM nurture_x_send)
        GROUP BY contact_id"""
    )
    store.execute(
        f"""UPDATE nurture_x_send AS s SET defer_until = coalesce(k.oldest, {lit(now)}) + INTERVAL {int(per)} SECOND
        FROM (SELECT w.enrolment_id, r.oldest, coalesce(r.n, 0)
                     + row_number() OVER (PARTITION BY w.contact_id ORDER BY w.priority DESC, w.enrolment_id) AS used
              FROM nurture_x_send w LEFT JOIN nurture_x_recent r USING (contact_id)
              WHERE w.reason IS NULL AND w.defer_until IS NULL) k
        WHERE s.enrolment_id = k.enrolment_id AND k.used > {int(messages)}"""
    )


def _context_sql(sender: dict[str, Any], tracking_url: str) -> str:
    """The frozen render context of a message to the contact x (JSON)."""
    return f"""json_object(
        'contact', json_object('contact_id', x.contact_id, 'email', x.c_email, 'stage', x.c_stage, 'crm_id', x.c_crm_id,
                               'name', x.c_name, 'title', x.c_title, 'role', x.c_role, 'org_level', x.c_org_level),
        'traits', x.c_traits,
        'account', json_object('account_id', x.a_account_id, 'name', x.a_name, 'domain', x.a_domain,
                               'industry', x.a_industry, 'employees', x.a_employees, 'country', x.a_country, 'owner', x.a_owner),
        'account_traits', x.a_traits,
        'journey', json_object('id', x.journey_id, 'name', x.journey_name),
        'sender', {lit(_json(sender))}::JSON, 'tracking_url', {lit(tracking_url)})"""


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def queue_sends(store: DuckStore, now: datetime, *, sender: dict[str, Any], tracking_url: str) -> None:
    """Write the outbox rows of the sends allowed now (variant by language and role), and their moves."""
    lang = "lower(json_extract_string(x.c_traits, '$.language'))"
    role = "json_extract_string(x.c_traits, '$.role')"
    lang_default = lit(sender.get("default_language", "en"))
    store.execute(
        f"""INSERT INTO nurture_outbox
        SELECT x.enrolment_id || '.' || x.step_id, x.enrolment_id, x.journey_id, x.step_id, x.contact_id,
               'email', 'marketing', x.c_email,
               (SELECT arg_max(v.version, (CASE WHEN v.language = {lang} THEN 4 WHEN v.language IS NULL THEN 2
                                                WHEN v.language = {lang_default} THEN 1 ELSE 0 END) * 4
                                          + (CASE WHEN list_contains(string_split(v.roles, ','), {role}) THEN 2
                                                  WHEN v.roles IS NULL THEN 1 ELSE 0 END)
                                          - v.pos / 1000000.0)
                FROM nurture_x_variants v WHERE v.template_id = x.template_id),
               {_context_sql(sender, tracking_url)},
               'pending', 0, {lit(now)}, NULL, NULL, {lit(now)}, NULL, 0, NULL
        FROM nurture_x_send x WHERE x.reason IS NULL AND x.defer_until IS NULL
        ON CONFLICT DO NOTHING"""
    )
    store.execute(
        """INSERT INTO nurture_x_moves
        SELECT x.enrolment_id, x.journey_id, x.step_id, 'send',
               CASE WHEN x.reason IS NULL THEN 'queued' ELSE 'skipped' END,
               coalesce(x.reason, x.template_id), s.nxt, x.defer_until, NULL
        FROM nurture_x_send x JOIN nurture_x_steps s USING (journey_id, step_id)"""
    )


def queue_notifications(store: DuckStore, now: datetime, *, sender: dict[str, Any], tracking_url: str) -> None:
    """Internal e-mails to account owners (no consent, caps or quiet hours: they go to our own staff)."""
    owner = "CASE WHEN x.a_owner LIKE '%_@_%._%' THEN x.a_owner END"
    store.execute(
        f"""CREATE OR REPLACE TEMP TABLE nurture_x_notify AS
        SELECT x.*, s.template_id, coalesce({owner}, s.param) AS owner_address
        FROM nurture_x_due x JOIN nurture_x_steps s USING (journey_id, step_id)
        WHERE x.kind = 'notify_owner' AND x.due_at <= {lit(now)}"""
    )
    store.execute(
        f"""INSERT INTO nurture_outbox
        SELECT x.enrolment_id || '.' || x.step_id, x.enrolment_id, x.journey_id, x.step_id, x.contact_id,
               'email', 'notify', x.owner_address,
               (SELECT arg_max(v.version, -v.pos) FROM nurture_x_variants v WHERE v.template_id = x.template_id),
               {_context_sql(sender, tracking_url)},
               'pending', 0, {lit(now)}, NULL, NULL, {lit(now)}, NULL, 0, NULL
        FROM nurture_x_notify x WHERE x.owner_address IS NOT NULL
        ON CONFLICT DO NOTHING"""
    )
    store.execute(
        """INSERT INTO nurture_x_moves
        SELECT x.enrolment_id, x.journey_id, x.step_id, 'notify_owner',
               CASE WHEN x.owner_address IS NULL THEN 'skipped' ELSE 'queued' END,
               coalesce(x.owner_address, 'the account has no owner and the step no fallback'), s.nxt, NULL, NULL
        FROM nurture_x_notify x JOIN nurture_x_steps s USING (journey_id, step_id)"""
    )
    store.execute("DROP TABLE temp.main.nurture_x_notify")


def queue_webhooks(store: DuckStore, now: datetime, *, sender: dict[str, Any], tracking_url: str) -> None:
    """Webhook calls (e.g. a CRM task), with the contact and account as their payload."""
    store.execute(
        f"""INSERT INTO nurture_outbox
        SELECT x.enrolment_id || '.' || x.step_id, x.enrolment_id, x.journey_id, x.step_id, x.contact_id,
               'webhook', 'webhook', s.param, s.template_id,
               {_context_sql(sender, tracking_url)},
               'pending', 0, {lit(now)}, NULL, NULL, {lit(now)}, NULL, 0, NULL
        FROM nurture_x_due x JOIN nurture_x_steps s USING (journey_id, step_id)
        WHERE x.kind = 'webhook' AND x.due_at <= {lit(now)}
        ON CONFLICT DO NOTHING"""
    )


def queue_enrol_requests(store: DuckStore, now: datetime) -> None:
    """Enrol steps: a request to the other journey, keyed by (enrolment, step) so it is made once."""
    store.execute(
        f"""INSERT INTO nurture_requests
        SELECT d.enrolment_id || '.' || d.step_id, s.param, d.contact_id, {lit(now)},
               'journey ' || d.journey_id || ' step ' || d.step_id, 'pending', NULL, NULL
        FROM nurture_x_due d JOIN nurture_x_steps s USING (journey_id, step_id)
        WHERE d.kind = 'enrol' AND d.due_at <= {lit(now)}
        ON CONFLICT DO NOTHING"""
    )


def stage_step_rows(store: DuckStore, now: datetime, steps: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Enrolments due at set_stage steps, with the contact's strongest identifier (read before the write)."""
    if not steps:
        return []
    pairs = " OR ".join(f"(n.journey_id = {lit(j)} AND n.step_id = {lit(s)})" for j, s in steps)
    return store.query(
        f"""SELECT n.enrolment_id, n.journey_id, n.step_id, c.crm_id, c.email, c.anchor, c.account_id FROM nurture_enrolments n
        JOIN contacts c USING (contact_id)
        WHERE n.status = 'active' AND n.due_at <= ? AND ({pairs})""",
        [now],
    )


def apply_moves(store: DuckStore, now: datetime) -> None:
    """Record the step history, defer what waits, and move every enrolment to its next step."""
    store.execute(
        f"""INSERT INTO nurture_steps SELECT enrolment_id, step_id, kind, {lit(now)}, outcome, detail
        FROM nurture_x_moves WHERE defer_until IS NULL"""
    )
    store.execute(
        """UPDATE nurture_enrolments AS n SET due_at = m.defer_until FROM nurture_x_moves m
        WHERE n.enrolment_id = m.enrolment_id AND m.defer_until IS NOT NULL"""
    )
    store.execute(
        f"""UPDATE nurture_enrolments AS n SET
               step_id = m.nxt, step_since = {lit(now)},
               due_at = CASE WHEN m.nxt IS NULL OR m.end_status IS NOT NULL THEN NULL
                             ELSE {lit(now)} + coalesce(s.delay_s, 0) * INTERVAL 1 SECOND END,
               status = coalesce(m.end_status, CASE WHEN m.nxt IS NULL THEN 'completed' ELSE n.status END),
               ended_at = CASE WHEN m.nxt IS NULL OR m.end_status IS NOT NULL THEN {lit(now)} END,
               end_reason = CASE WHEN m.end_status IS NOT NULL THEN coalesce('exit step ' || m.step_id || ': ' || m.detail, 'exit step ' || m.step_id)
                                 WHEN m.nxt IS NULL THEN 'completed' END
        FROM nurture_x_moves m LEFT JOIN nurture_x_steps s ON s.journey_id = m.journey_id AND s.step_id = m.nxt
        WHERE n.enrolment_id = m.enrolment_id AND m.defer_until IS NULL"""
    )


def due_count(store: DuckStore, journey_ids: Sequence[str], now: datetime) -> int:
    """How many active enrolments of these journeys are due (committed state)."""
    rows = store.query(
        f"SELECT count(*) AS n FROM nurture_enrolments WHERE status = 'active' AND due_at <= ? AND journey_id IN {_in(journey_ids)}",
        [now],
    )
    return int(rows[0]["n"])


def horizon(store: DuckStore, now: datetime, longest_goal: int) -> datetime | None:
    """The earliest enrolment whose conditions or goal window may still read events."""
    rows = store.query(
        """SELECT min(enrolled_at) AS t FROM nurture_enrolments
        WHERE status = 'active' OR (goal_at IS NULL AND enrolled_at >= ? - ? * INTERVAL 1 SECOND)""",
        [now, longest_goal],
    )
    return rows[0]["t"] if rows else None


def totals(store: DuckStore) -> dict[str, int]:
    """Running totals a tick's result is the difference of: enrolments, steps taken, outbox rows, active."""
    row = store.query(
        """SELECT (SELECT count(*) FROM nurture_enrolments) AS enrolled,
                  (SELECT count(*) FROM nurture_steps WHERE kind NOT IN ('enrol', 'goal')) AS steps,
                  (SELECT count(*) FROM nurture_outbox) AS queued,
                  (SELECT count(*) FROM nurture_enrolments WHERE status = 'active') AS active"""
    )[0]
    return {k: int(v) for k, v in row.items()}


# ---- the outbox and its delivery -------------------------------------------------------------------


def recover(store: DuckStore, run_id: str, *, resend_in_doubt: bool, now: datetime) -> dict[str, int]:
    """Settle messages a dead process left mid-delivery.

    ``sending``: the final hand-over never started, so sending again cannot repeat it.
    ``committing``: the hand-over may have happened; webhooks (idempotency key) and a
    ``resend`` policy send again, otherwise the message is held as ``in_doubt`` for review.
    """
    mine = f"claim LIKE {lit(run_id + ':%')}"
    counts = store.query(
        f"""SELECT count(*) FILTER (WHERE status = 'sending') AS sending, count(*) FILTER (WHERE status = 'committing') AS committing
        FROM nurture_outbox WHERE status IN ('sending', 'committing') AND NOT {mine}"""
    )[0]
    if not counts["sending"] and not counts["committing"]:
        return {"sending": 0, "committing": 0}
    resend = "TRUE" if resend_in_doubt else "channel = 'webhook'"
    with store.transaction():
        store.execute(
            f"""UPDATE nurture_outbox SET status = 'pending', claim = NULL, next_attempt_at = {lit(now)},
                   error = 'interrupted before the hand-over; it is sent again'
            WHERE status = 'sending' AND NOT {mine}"""
        )
        store.execute(
            f"""UPDATE nurture_outbox SET in_doubt = in_doubt + 1, claim = NULL, next_attempt_at = {lit(now)},
                   status = CASE WHEN {resend} THEN 'pending' ELSE 'in_doubt' END,
                   error = 'interrupted during the hand-over: it may or may not have been delivered'
            WHERE status = 'committing' AND NOT {mine}"""
        )
    return {k: int(v) for k, v in counts.items()}


def claim(store: DuckStore, token: str, channels: Sequence[str], limit: int, now: datetime) -> list[dict[str, Any]]:
    """Claim up to ``limit`` due pending messages (status sending), then read them back."""
    with store.transaction():
        store.execute(
            f"""UPDATE nurture_outbox SET status = 'sending', claim = {lit(token)}, claimed_at = {lit(now)}, attempts = attempts + 1
            WHERE message_id IN (SELECT message_id FROM nurture_outbox
                WHERE status = 'pending' AND channel IN {_in(channels)}
                  AND (next_attempt_at IS NULL OR next_attempt_at <= {lit(now)})
                ORDER BY created_at, message_id LIMIT {int(limit)})"""
        )
    return store.query("SELECT * FROM nurture_outbox WHERE claim = ? AND status = 'sending' ORDER BY created_at, message_id", [token])


def set_status(store: DuckStore, token: str, ids: Sequence[str], status: str, *, error: str | None = None,
               sent_at: datetime | None = None, retry_at: datetime | None = None, doubt: bool = False) -> None:
    """Move claimed messages to a new status (inside the caller's transaction)."""
    if not ids:
        return
    store.execute(
        f"""UPDATE nurture_outbox SET status = {lit(status)}, error = {lit(error)},
               sent_at = coalesce({lit(sent_at)}, sent_at), next_attempt_at = {lit(retry_at)},
               in_doubt = in_doubt + {1 if doubt else 0},
               claim = CASE WHEN {lit(status)} IN ('sending', 'committing') THEN claim END
        WHERE claim = {lit(token)} AND message_id IN {_in(ids)}"""
    )


def content_versions(store: DuckStore, versions: Iterable[str]) -> dict[str, str]:
    """Stored template versions' JSON by version."""
    wanted = sorted({v for v in versions if v})
    if not wanted:
        return {}
    return {r["version"]: r["definition"] for r in store.query(f"SELECT version, definition FROM nurture_content WHERE version IN {_in(wanted)}")}


def consent_changes(store: DuckStore, after_seq: int) -> tuple[list[dict[str, Any]], int]:
    """Consent words by e-mail address stored after ``after_seq`` (oldest first), and the new high-water mark."""
    rows = store.query(
        """SELECT seq, lower(email) AS email, ts,
                  CASE WHEN type = 'unsubscribe' THEN 'false'
                       ELSE lower(json_extract_string(properties, '$.marketing_consent')) END AS consent
        FROM events WHERE seq > ? AND email IS NOT NULL
          AND (type = 'unsubscribe' OR (type = 'identify' AND json_extract_string(properties, '$.marketing_consent') IS NOT NULL))
        ORDER BY ts, seq""",
        [after_seq],
    )
    top = store.query("SELECT coalesce(max(seq), 0) AS s FROM events")[0]["s"]
    return rows, int(top)


def outbox(store: DuckStore, *, status: str | None = None, journey_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Outbox rows (newest first) without their contexts."""
    where, params = [], []
    if status:
        where.append("status = ?")
        params.append(status)
    if journey_id:
        where.append("journey_id = ?")
        params.append(journey_id)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    return store.query(
        f"""SELECT message_id, journey_id, step_id, contact_id, channel, purpose, recipient, status, attempts,
                   in_doubt, created_at, sent_at, next_attempt_at, error
            FROM nurture_outbox {clause} ORDER BY created_at DESC, message_id LIMIT ?""",
        [*params, limit],
    )


def outbox_counts(store: DuckStore) -> dict[str, int]:
    """Outbox rows by status."""
    return {r["status"]: int(r["n"]) for r in store.query("SELECT status, count(*) AS n FROM nurture_outbox GROUP BY status")}


def outbox_row(store: DuckStore, message_id: str) -> dict[str, Any] | None:
    """One outbox row."""
    rows = store.query("SELECT * FROM nurture_outbox WHERE message_id = ?", [message_id])
    return rows[0] if rows else None


def resolve_in_doubt(store: DuckStore, message_id: str, status: str, note: str, now: datetime) -> None:
    """An operator's decision on a message held in doubt: sent, pending (send again) or failed (drop)."""
    store.execute(
        """UPDATE nurture_outbox SET status = ?, error = ?, next_attempt_at = ?,
               sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END
        WHERE message_id = ? AND status = 'in_doubt'""",
        [status, note, now, status, now, message_id],
    )


def sent_without_event(store: DuckStore, now: datetime) -> list[dict[str, Any]]:
    """Marketing e-mails sent in the last week whose email_sent event is missing (a crash came between)."""
    return store.query(
        """SELECT message_id, journey_id, step_id, recipient, purpose, sent_at FROM nurture_outbox o
        WHERE status = 'sent' AND purpose = 'marketing' AND sent_at > ? - INTERVAL 7 DAY
          AND NOT EXISTS (SELECT 1 FROM events e WHERE e.type = 'email_sent' AND e.ts > ? - INTERVAL 8 DAY
                          AND e.event_id = 'nurture-sent:' || o.message_id)""",
        [now, now],
    )


# ---- reports and views -----------------------------------------------------------------------------


def journey_row(store: DuckStore, journey_id: str) -> dict[str, Any] | None:
    """The stored row of one journey."""
    rows = store.query("SELECT * FROM nurture_journeys WHERE journey_id = ?", [journey_id])
    return rows[0] if rows else None


def arm_counts(store: DuckStore, journey_id: str, within: int | None, now: datetime) -> list[dict[str, Any]]:
    """Per arm: enrolments, by status, goal reached, and how many have seen their whole goal window."""
    window = f"enrolled_at + INTERVAL {int(within)} SECOND <= {lit(now)}" if within else "FALSE"
    return store.query(
        f"""SELECT arm, count(*) AS enrolled,
                   count(*) FILTER (WHERE status = 'active') AS active,
                   count(*) FILTER (WHERE status = 'completed') AS completed,
                   count(*) FILTER (WHERE status = 'exited') AS exited,
                   count(*) FILTER (WHERE status = 'goal') AS ended_by_goal,
                   count(*) FILTER (WHERE goal_at IS NOT NULL) AS goal_reached,
                   count(*) FILTER (WHERE goal_at IS NOT NULL OR {window}) AS matured,
                   count(DISTINCT contact_id) AS contacts
            FROM nurture_enrolments WHERE journey_id = ? GROUP BY arm ORDER BY arm""",
        [journey_id],
    )


def step_counts(store: DuckStore, journey_id: str) -> list[dict[str, Any]]:
    """Per step: how often it ran and its outcomes; for sends, queued, sent, opened and clicked."""
    steps = store.query(
        """SELECT h.step_id, h.outcome, count(*) AS n FROM nurture_steps h
        WHERE h.enrolment_id LIKE ? || '.%' AND h.kind NOT IN ('enrol', 'goal') GROUP BY ALL ORDER BY ALL""",
        [journey_id],
    )
    mail = store.query(
        """WITH tracked AS (
               SELECT json_extract_string(properties, '$.message_id') AS message_id, bool_or(type = 'email_click') AS clicked
               FROM events WHERE type IN ('email_open', 'email_click')
                 AND json_extract_string(properties, '$.journey') = ? GROUP BY 1)
        SELECT o.step_id, count(*) AS queued,
               count(*) FILTER (WHERE o.status = 'sent') AS sent,
               count(*) FILTER (WHERE o.status IN ('failed', 'suppressed')) AS not_sent,
               count(t.message_id) AS opened,
               count(*) FILTER (WHERE t.clicked) AS clicked
        FROM nurture_outbox o LEFT JOIN tracked t ON t.message_id = o.message_id
        WHERE o.journey_id = ? GROUP BY o.step_id""",
        [journey_id, journey_id],
    )
    return [*steps, *[{"step_id": m["step_id"], "mail": m} for m in mail]]


def contact_enrolments(store: DuckStore, contact_id: str) -> list[dict[str, Any]]:
    """A contact's enrolments, newest first, with the journeys' names."""
    return store.query(
        """SELECT n.*, j.name AS journey_name FROM nurture_enrolments n LEFT JOIN nurture_journeys j USING (journey_id)
        WHERE n.contact_id = ? ORDER BY n.enrolled_at DESC, n.enrolment_id""",
        [contact_id],
    )


def contact_history(store: DuckStore, enrolment_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Step history of some enrolments, oldest first."""
    return store.query(
        f"""SELECT enrolment_id, step_id, kind, ts, outcome, detail FROM nurture_steps
        WHERE enrolment_id IN {_in(enrolment_ids)} ORDER BY ts, enrolment_id, kind = 'enrol' DESC"""
    )


def contact_messages(store: DuckStore, enrolment_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Messages of some enrolments with whether they were opened or clicked."""
    return store.query(
        f"""WITH tracked AS (
               SELECT json_extract_string(properties, '$.message_id') AS message_id, type FROM events
               WHERE type IN ('email_open', 'email_click'))
        SELECT o.enrolment_id, o.message_id, o.step_id, o.channel, o.purpose, o.recipient, o.status, o.created_at,
               o.sent_at, o.error,
               bool_or(t.type IS NOT NULL) AS opened, bool_or(t.type = 'email_click') AS clicked
        FROM nurture_outbox o LEFT JOIN tracked t ON t.message_id = o.message_id
        WHERE o.enrolment_id IN {_in(enrolment_ids)} GROUP BY ALL ORDER BY o.created_at"""
    )


def contact_requests(store: DuckStore, contact_id: str) -> list[dict[str, Any]]:
    """A contact's enrolment requests, newest first."""
    return store.query(
        "SELECT * FROM nurture_requests WHERE contact_id = ? ORDER BY requested_at DESC", [contact_id]
    )


def journey_totals(store: DuckStore) -> dict[str, dict[str, int]]:
    """Enrolled, active, held-out, completed and goal-reaching counts of every journey."""
    return {
        r["journey_id"]: {"enrolled": int(r["enrolled"]), "active": int(r["active"]), "in_holdout": int(r["holdout"]),
                          "completed": int(r["completed"]), "goal_reached": int(r["goal_reached"])}
        for r in store.query(
            """SELECT journey_id, count(*) AS enrolled, count(*) FILTER (WHERE status = 'active') AS active,
                      count(*) FILTER (WHERE arm = 'control') AS holdout,
                      count(*) FILTER (WHERE status = 'completed') AS completed,
                      count(*) FILTER (WHERE goal_at IS NOT NULL) AS goal_reached
               FROM nurture_enrolments GROUP BY journey_id"""
        )
    }


def contact_memberships(store: DuckStore, contact_id: str) -> list[dict[str, Any]]:
    """The journeys whose stage, score or segment condition the contact is inside now (as of the last tick)."""
    return store.query(
        """SELECT m.journey_id, j.name AS journey_name, json_extract(j.definition, '$.trigger') AS trigger
        FROM nurture_members m LEFT JOIN nurture_journeys j USING (journey_id)
        WHERE m.contact_id = ? ORDER BY m.journey_id""",
        [contact_id],
    )
