"""SQL on survey invitations (``survey_invites``): create, look up, count answers, and what triggers and journeys need.

Reads go through the store's read cursors (committed data); writes run inside the caller's
transaction (the server's writer thread, or the CLI owning the file).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import pyarrow as pa

from polku.store.duck import DuckStore

INVITE_COLUMNS: Final[tuple[str, ...]] = (
    "invite_id", "survey_id", "identity", "contact_id", "account_id", "trigger_event_id", "trigger_type", "phase",
    "language", "channel", "enrolment_id", "max_answers", "answers", "created_at", "expires_at", "answered_at",
)
_TYPES: Final[dict[str, pa.DataType]] = {
    "max_answers": pa.int32(), "answers": pa.int32(), "created_at": pa.timestamp("us", tz="UTC"),
    "expires_at": pa.timestamp("us", tz="UTC"), "answered_at": pa.timestamp("us", tz="UTC"),
}
SCHEMA: Final[pa.Schema] = pa.schema([(c, _TYPES.get(c, pa.string())) for c in INVITE_COLUMNS])
_COLS: Final[str] = ", ".join(INVITE_COLUMNS)


def _in(values: Sequence[str]) -> tuple[str, list[Any]]:
    """A `(?, ?, ...)` list and its parameters (an impossible match when empty)."""
    if not values:
        return "(NULL)", []
    return "(" + ", ".join("?" for _ in values) + ")", list(values)


# ---- writing ---------------------------------------------------------------------------------------


def insert_invites(store: DuckStore, rows: list[dict[str, Any]]) -> int:
    """Add invitations (rows with every column of ``INVITE_COLUMNS``); returns how many."""
    if not rows:
        return 0
    table = pa.Table.from_pylist([{c: r.get(c) for c in INVITE_COLUMNS} for r in rows], schema=SCHEMA)
    store.insert_arrow("survey_invites", f"SELECT {_COLS} FROM _in", table)
    return table.num_rows


def count_answer(store: DuckStore, invite_id: str, answers_before: int, now: datetime) -> None:
    """Note one more answer on an invitation (only if it still has ``answers_before`` answers)."""
    store.execute(
        """UPDATE survey_invites SET answers = answers + 1, answered_at = ?
        WHERE invite_id = ? AND answers = ? AND answers < max_answers""",
        [now, invite_id, answers_before],
    )


def attach_to_outbox(store: DuckStore, rows: pa.Table) -> None:
    """Journey invitations: for each queued outbox message still without a link, add the invitation
    (or give an open one its enrolment) and put its URL into the message's frozen context.

    ``rows`` has the invitation columns plus ``message_id``, ``url`` and ``reuse`` (an existing
    invitation: only its enrolment is set). Messages that were not queued (skipped or deferred)
    get nothing, so their invitations are never stored.
    """
    store.create_table_as("cx_x_journey_invites", "SELECT * FROM _t", tables={"_t": rows})
    try:
        waiting = """JOIN nurture_outbox o ON o.message_id = i.message_id
            WHERE o.status = 'pending' AND json_extract(o.context, '$.survey_url') IS NULL"""
        store.execute(
            f"""INSERT INTO survey_invites SELECT {', '.join('i.' + c for c in INVITE_COLUMNS)}
            FROM cx_x_journey_invites i {waiting} AND NOT i.reuse"""
        )
        store.execute(
            f"""UPDATE survey_invites AS s SET enrolment_id = k.enrolment_id
            FROM (SELECT i.invite_id, i.enrolment_id FROM cx_x_journey_invites i {waiting} AND i.reuse) k
            WHERE s.invite_id = k.invite_id"""
        )
        store.execute(
            """UPDATE nurture_outbox AS o SET context = json_merge_patch(o.context, json_object('survey_url', i.url))
            FROM cx_x_journey_invites i
            WHERE o.message_id = i.message_id AND o.status = 'pending' AND json_extract(o.context, '$.survey_url') IS NULL"""
        )
    finally:
        store.execute("DROP TABLE IF EXISTS cx_x_journey_invites")


# ---- reading ---------------------------------------------------------------------------------------


def invite(store: DuckStore, invite_id: str) -> dict[str, Any] | None:
    """One invitation by id (the answer page's one lookup, on the primary key)."""
    rows = store.query(f"SELECT {_COLS} FROM survey_invites WHERE invite_id = ?", [invite_id])
    return rows[0] if rows else None


_STATE = """SELECT invite_id, survey_id, language, answers, max_answers, epoch_ms(expires_at) AS expires_ms
    FROM survey_invites"""


def _state(row: dict[str, Any]) -> dict[str, Any]:
    row["expires_at"] = datetime.fromtimestamp(row.pop("expires_ms") / 1000, UTC)
    return row


def invite_state(store: DuckStore, invite_id: str) -> dict[str, Any] | None:
    """What the answer page needs of an invitation, by its primary key (few columns; times as epoch
    milliseconds, which skips a slow time-zone conversion)."""
    rows = store.query(f"{_STATE} WHERE invite_id = ?", [invite_id])
    return _state(rows[0]) if rows else None


def open_states(store: DuckStore, now: datetime, limit: int) -> list[dict[str, Any]]:
    """The page's view of the invitations that can still be answered, newest first (at most ``limit``)."""
    rows = store.query(f"{_STATE} WHERE answers < max_answers AND expires_at > ? ORDER BY created_at DESC LIMIT ?",
                       [now, limit])
    return [_state(r) for r in rows]


def open_invites(store: DuckStore, contact_id: str, now: datetime, survey_id: str | None = None) -> list[dict[str, Any]]:
    """A contact's invitations that can still be answered (newest first), by contact id or any of its identities."""
    extra = "AND survey_id = ?" if survey_id is not None else ""
    return store.query(
        f"""SELECT {_COLS} FROM survey_invites
        WHERE (contact_id = ? OR identity IN (SELECT identity FROM identities WHERE contact_id = ?))
          AND answers < max_answers AND expires_at > ? {extra}
        ORDER BY created_at DESC, invite_id""",
        [contact_id, contact_id, now, *([survey_id] if survey_id is not None else [])],
    )


def unsent_invites(store: DuckStore, survey_ids: Sequence[str], contact_ids: Sequence[str], now: datetime) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (survey, contact): the newest open invitation no journey has sent yet (a journey's survey step takes it)."""
    surveys, survey_params = _in(list(survey_ids))
    contacts, contact_params = _in(list(dict.fromkeys(contact_ids)))
    rows = store.query(
        f"""SELECT {_COLS} FROM survey_invites
        WHERE enrolment_id IS NULL AND answers < max_answers AND expires_at > ?
          AND survey_id IN {surveys} AND contact_id IN {contacts}
        ORDER BY created_at DESC, invite_id""",
        [now, *survey_params, *contact_params],
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        out.setdefault((r["survey_id"], r["contact_id"]), r)
    return out


def counts(store: DuckStore, now: datetime) -> dict[str, dict[str, int]]:
    """Per survey: invitations, those answered, answers, those still open and those expired unanswered."""
    rows = store.query(
        """SELECT survey_id, count(*) AS invites, count(*) FILTER (WHERE answers > 0) AS answered,
                  coalesce(sum(answers), 0) AS answers,
                  count(*) FILTER (WHERE answers < max_answers AND expires_at > ?) AS open,
                  count(*) FILTER (WHERE answers = 0 AND expires_at <= ?) AS expired
        FROM survey_invites GROUP BY survey_id""",
        [now, now],
    )
    return {r.pop("survey_id"): {k: int(v) for k, v in r.items()} for r in rows}


def by_channel(store: DuckStore, survey_id: str) -> list[dict[str, Any]]:
    """Invitations and answers of one survey by channel and language."""
    return store.query(
        """SELECT channel, language, count(*) AS invites, count(*) FILTER (WHERE answers > 0) AS answered
        FROM survey_invites WHERE survey_id = ? GROUP BY ALL ORDER BY channel, language""",
        [survey_id],
    )


def people(store: DuckStore, contact_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """What an invitation needs of each contact: identifiers, account, language trait and journey phase."""
    marks, params = _in(list(dict.fromkeys(contact_ids)))
    rows = store.query(
        f"""SELECT c.contact_id, c.anchor, c.email, c.crm_id, c.account_id, c.role, c.org_level,
                   json_extract_string(c.traits, '$.language') AS language,
                   coalesce(a.journey_stage, c.journey_stage) AS phase
        FROM contacts c LEFT JOIN accounts a ON a.account_id = c.account_id
        WHERE c.contact_id IN {marks}""",
        params,
    )
    return {r["contact_id"]: r for r in rows}


def person_of(store: DuckStore, identity: str) -> dict[str, Any] | None:
    """The contact an identity belongs to now (role and organisational level), if resolved."""
    rows = store.query(
        """SELECT c.contact_id, c.account_id, c.role, c.org_level FROM identities i
        JOIN contacts c ON c.contact_id = i.contact_id WHERE i.identity = ? LIMIT 1""",
        [identity],
    )
    return rows[0] if rows else None


def contacts_of(store: DuckStore, identities: Sequence[str]) -> dict[str, str]:
    """Contact ids of identities (those resolved)."""
    marks, params = _in(list(dict.fromkeys(identities)))
    rows = store.query(f"SELECT identity, contact_id FROM identities WHERE identity IN {marks}", params)
    return {r["identity"]: r["contact_id"] for r in rows}


def trigger_events(store: DuckStore, types: Sequence[str], after_seq: int, upto_seq: int, since: datetime) -> list[dict[str, Any]]:
    """Events of some types stored in (after_seq, upto_seq] that happened at or after ``since``, oldest first."""
    marks, params = _in(list(types))
    return store.query(
        f"""SELECT seq, event_id, ts, type, channel, topic, identity, account_id, properties FROM events
        WHERE seq > ? AND seq <= ? AND ts >= ? AND type IN {marks} ORDER BY seq""",
        [after_seq, upto_seq, since, *params],
    )


def event_by_id(store: DuckStore, event_id: str) -> dict[str, Any] | None:
    """One stored event (the touchpoint an invitation names as its trigger)."""
    rows = store.query("SELECT event_id, ts, type, identity FROM events WHERE event_id = ? LIMIT 1", [event_id])
    return rows[0] if rows else None


def triggered(store: DuckStore, survey_id: str, event_ids: Sequence[str]) -> set[str]:
    """Which of these trigger events already have an invitation to the survey."""
    marks, params = _in(list(event_ids))
    rows = store.query(
        f"SELECT trigger_event_id FROM survey_invites WHERE survey_id = ? AND trigger_event_id IN {marks}",
        [survey_id, *params],
    )
    return {r["trigger_event_id"] for r in rows}


def last_invited(store: DuckStore, survey_id: str, contact_ids: Sequence[str]) -> dict[str, datetime]:
    """When each contact was last invited to the survey (for the per-contact cooldown)."""
    marks, params = _in(list(contact_ids))
    rows = store.query(
        f"""SELECT contact_id, max(created_at) AS at FROM survey_invites
        WHERE survey_id = ? AND contact_id IN {marks} GROUP BY contact_id""",
        [survey_id, *params],
    )
    return {r["contact_id"]: r["at"] for r in rows}


def due_at_steps(store: DuckStore, now: datetime, steps: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Active enrolments due now at the given (journey, step) pairs, with their contact (committed state)."""
    if not steps:
        return []
    pairs = " OR ".join("(n.journey_id = ? AND n.step_id = ?)" for _ in steps)
    return store.query(
        f"""SELECT n.enrolment_id, n.journey_id, n.step_id, n.contact_id
        FROM nurture_enrolments n WHERE n.status = 'active' AND n.due_at <= ? AND ({pairs})""",
        [now, *(x for pair in steps for x in pair)],
    )
