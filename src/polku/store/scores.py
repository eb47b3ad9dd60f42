"""Stored lead and account scores (as of the last rescore), and one contact's touchpoints for rescoring it alone."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pyarrow as pa

from polku.scoring.fit import TRAITS
from polku.scoring.match import Touch
from polku.store.duck import DuckStore

def replace(store: DuckStore, contacts: pa.Table, accounts: list[dict[str, Any]], as_of: datetime) -> None:
    """Swap in a rescore's results (contact score columns, account cards) in one transaction."""
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
        store.insert_arrow(
            "lead_scores",
            "SELECT contact_id, account_id, fit, engagement, score, grade, fit_grade, NULL, probability, ? FROM _in",
            contacts, [as_of],
        )
        store.insert_arrow(
            "account_scores",
            "SELECT account_id, score, grade, card::JSON, ? FROM _in",
            account_table, [as_of],
        )


def touches_of(store: DuckStore, contact_id: str) -> tuple[list[Touch], dict[str, Any], str | None]:
    """A contact's touchpoints (identify calls left out), its fit traits and its account."""
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
