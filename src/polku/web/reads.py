"""Read queries the dashboard needs beyond the 360° views: search, stage funnel, weekly stage
entries and a filtered timeline. Each one backs a ``/v1`` route, so the dashboard and the
outside world get the same answers.

Like ``polku.profiles`` they read only the store's tables; the timeline filters the event
log on the integer ``identity_key`` and cuts the list on row ids first (decision 0007), so
an account with 100,000 events stays fast.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any, Final

from polku.errors import InvalidInput, NotFound
from polku.model import CHANNELS, STAGE_ORDER
from polku.profiles import find_contact_id
from polku.store.duck import DuckStore

SEARCH_LIMIT: Final[int] = 20
MAX_SEARCH: Final[int] = 200
MAX_TIMELINE: Final[int] = 10_000
MAX_WEEKS: Final[int] = 520
TREND_STAGES: Final[tuple[str, ...]] = ("lead", "opportunity")
# Weeks as whole numbers counted from Monday 1970-01-05: plain integer arithmetic on the
# timestamp, about twice as fast as date_trunc('week', ...) on TIMESTAMPTZ columns.
_WEEK_SQL: Final[str] = "(epoch_us({col}) - 345600000000) // 604800000000"
_WEEK_DATE: Final[str] = "(DATE '1970-01-05' + (7 * {col})::INTEGER)"


def _like(q: str) -> str:
    """An ILIKE pattern matching ``q`` anywhere, with its wildcards escaped."""
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(store: DuckStore, q: str, *, limit: int = SEARCH_LIMIT) -> dict[str, Any]:
    """Accounts by name, domain or id and contacts by name, e-mail, id or CRM id containing ``q``.

    Exact matches come first, then the most recently active.
    """
    q = q.strip()
    if len(q) < 2:
        raise InvalidInput("a search needs at least 2 characters")
    if not 1 <= limit <= MAX_SEARCH:
        raise InvalidInput(f"limit must be between 1 and {MAX_SEARCH}, got {limit}")
    pattern = _like(q)
    accounts = store.query(
        r"""SELECT account_id, name, domain, industry, country, stage, contact_count, event_count, last_seen
            FROM accounts
            WHERE name ILIKE ? ESCAPE '\' OR domain ILIKE ? ESCAPE '\' OR account_id = ?
            ORDER BY (account_id = ? OR lower(domain) = lower(?) OR lower(name) = lower(?)) DESC,
                     last_seen DESC NULLS LAST, account_id LIMIT ?""",
        [pattern, pattern, q, q, q, q, limit],
    )
    contacts = store.query(
        r"""SELECT c.contact_id, c.name, c.email, c.title, c.role, c.org_level, c.stage,
                   c.account_id, a.name AS account_name, c.event_count, c.last_seen
            FROM contacts c LEFT JOIN accounts a ON a.account_id = c.account_id
            WHERE c.name ILIKE ? ESCAPE '\' OR c.email ILIKE ? ESCAPE '\' OR c.contact_id = ? OR c.crm_id = ?
            ORDER BY (c.contact_id = ? OR lower(c.email) = lower(?)) DESC,
                     c.last_seen DESC NULLS LAST, c.contact_id LIMIT ?""",
        [pattern, pattern, q, q, q, q, limit],
    )
    return {"q": q, "accounts": accounts, "contacts": contacts}


def stage_funnel(store: DuckStore) -> dict[str, list[dict[str, Any]]]:
    """Contacts and accounts per lifecycle stage: how many are in it now and how many ever reached it or a later one."""
    out: dict[str, list[dict[str, Any]]] = {}
    order = list(STAGE_ORDER)
    for subject, table, key in (("contact", "contacts", "contact_id"), ("account", "accounts", "account_id")):
        rows = store.query(
            f"""WITH best AS (
                  SELECT subject_id, max(list_position(?::VARCHAR[], stage)) - 1 AS top FROM stage_history
                  WHERE subject = ? GROUP BY subject_id)
                SELECT list_position(?::VARCHAR[], t.stage) - 1 AS now_rank,
                       greatest(list_position(?::VARCHAR[], t.stage) - 1, coalesce(b.top, 0)) AS top_rank, count(*) AS n
                FROM {table} t LEFT JOIN best b ON b.subject_id = t.{key}
                WHERE t.stage IS NOT NULL GROUP BY ALL""",
            [order, subject, order, order],
        )
        now = [0] * len(STAGE_ORDER)
        top = [0] * len(STAGE_ORDER)
        for r in rows:
            if r["now_rank"] is None or r["now_rank"] < 0:  # a stage outside the funnel: not counted
                continue
            now[r["now_rank"]] += r["n"]
            top[r["top_rank"]] += r["n"]
        reached = [sum(top[i:]) for i in range(len(STAGE_ORDER))]
        out[table] = [
            {"stage": s, "now": now[i], "reached": reached[i]} for i, s in enumerate(STAGE_ORDER)
        ]
    return out


def weekly_stages(store: DuckStore, stages: tuple[str, ...] = TREND_STAGES, *, weeks: int = 52) -> list[dict[str, Any]]:
    """Per week (Monday), how many contacts and accounts entered each of ``stages``; the last ``weeks`` weeks of data."""
    stages = tuple(dict.fromkeys(stages))  # each stage once, in the order given
    unknown = [s for s in stages if s not in STAGE_ORDER]
    if unknown or not stages:
        raise InvalidInput(f"stages must be among {', '.join(STAGE_ORDER)}, got {', '.join(unknown) or 'none'}")
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidInput(f"weeks must be between 1 and {MAX_WEEKS}, got {weeks}")
    marks = ", ".join("?" * len(stages))
    rows = store.query(
        f"""WITH h AS (SELECT {_WEEK_SQL.format(col='ts')} AS wk, subject, stage, subject_id FROM stage_history
                       WHERE stage IN ({marks})),
                 span AS (SELECT max(wk) AS last FROM h),
                 weeks AS (SELECT unnest(range(last - {weeks - 1}, last + 1)) AS wk FROM span WHERE last IS NOT NULL),
                 grid AS (SELECT wk, stage FROM weeks, (SELECT unnest([{marks}]) AS stage)),
                 counts AS (SELECT wk, stage, count(DISTINCT subject_id) FILTER (WHERE subject = 'contact') AS contacts,
                                   count(DISTINCT subject_id) FILTER (WHERE subject = 'account') AS accounts
                            FROM h WHERE wk > (SELECT last FROM span) - {weeks} GROUP BY ALL)
            SELECT {_WEEK_DATE.format(col='g.wk')} AS week, g.stage, coalesce(c.contacts, 0) AS contacts,
                   coalesce(c.accounts, 0) AS accounts
            FROM grid g LEFT JOIN counts c ON c.wk = g.wk AND c.stage = g.stage""",
        [*stages, *stages],
    )
    order = {s: i for i, s in enumerate(stages)}
    return sorted(rows, key=lambda r: (r["week"], order[r["stage"]]))


def _people(store: DuckStore, subject: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    """The id of an account or contact and the (contact_id, identities) of the people whose events it owns."""
    if subject == "account":
        rows = store.query(
            "SELECT account_id FROM accounts WHERE account_id = ? OR lower(domain) = lower(?) ORDER BY account_id <> ? LIMIT 1",
            [key.strip(), key.strip(), key.strip()],
        )
        if not rows:
            raise NotFound(f"no account with id or domain {key!r}")
        sid = str(rows[0]["account_id"])
        people = store.query("SELECT contact_id, name, email, identities FROM contacts WHERE account_id = ?", [sid])
        return sid, people
    sid = find_contact_id(store, key)
    return sid, store.query("SELECT contact_id, name, email, identities FROM contacts WHERE contact_id = ?", [sid])


def timeline(
    store: DuckStore,
    subject: str,
    key: str,
    *,
    channel: str | None = None,
    type: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """The touchpoints of an account (all its contacts) or a contact, filtered by channel, type and dates.

    Returns the latest ``limit`` events, how many match the filters, and the matching
    touchpoints (identify calls left out) per week and channel. ``until`` is inclusive.
    """
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {channel!r}; channels are: {', '.join(sorted(CHANNELS))}")
    if not 1 <= limit <= MAX_TIMELINE:
        raise InvalidInput(f"limit must be between 1 and {MAX_TIMELINE}, got {limit}")
    if since and until and since > until:
        raise InvalidInput(f"since ({since}) is after until ({until})")
    sid, people = _people(store, subject, key)
    filters = {"channel": channel, "type": type, "since": since, "until": until}
    empty = {"subject": subject, "id": sid, "filters": filters, "events": [], "matching": 0, "weekly": []}
    owner = {identity: p for p in people for identity in p["identities"]}
    if not owner:
        return empty
    where = ["identity_key IN (SELECT hash(unnest(?::VARCHAR[])))"]
    params: list[Any] = [list(owner)]
    for sql, value in (("channel = ?", channel), ("type = ?", type), ("ts >= ?", since),
                       ("ts < ?", until + timedelta(days=1) if until else None)):
        if value is not None:
            where.append(sql)
            params.append(value)
    cond = " AND ".join(where)
    latest = f"SELECT rowid FROM events WHERE {cond} ORDER BY ts DESC, seq DESC LIMIT ?"
    events = []
    for r in store.query(
        f"SELECT event_id, ts, type, channel, topic, value, properties, identity FROM events "
        f"WHERE rowid IN ({latest}) ORDER BY ts DESC, seq DESC",
        [*params, limit],
    ):
        person = owner.get(r.pop("identity"))
        if person is None:  # a hash collision with someone else's identity
            continue
        if isinstance(r["properties"], str):
            r["properties"] = json.loads(r["properties"])
        events.append(r | {"contact_id": person["contact_id"], "contact_name": person["name"] or person["email"]})
    # Counts trust the 64-bit identity key alone (a collision is about as likely as a disk error).
    aggregates = store.query(
        f"""SELECT {_WEEK_DATE.format(col='wk')} AS week, channel, identify, n AS events FROM (
              SELECT {_WEEK_SQL.format(col='ts')} AS wk, channel, type = 'identify' AS identify, count(*) AS n
              FROM events WHERE {cond} GROUP BY ALL)""",
        params,
    )
    weekly = sorted(
        ({"week": r["week"], "channel": r["channel"], "events": r["events"]} for r in aggregates if not r["identify"]),
        key=lambda r: (r["week"], r["channel"]),
    )
    return empty | {"events": events, "matching": sum(r["events"] for r in aggregates), "weekly": weekly}
