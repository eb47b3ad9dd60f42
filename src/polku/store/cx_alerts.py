"""The cx_alerts table: alerts to account owners (detractor answers, falling health) and what was done about them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from polku.store.duck import DuckStore

COLUMNS: Final = ("alert_id", "kind", "account_id", "contact_id", "event_id", "reason", "owner", "status",
                  "journey_id", "actions", "created_at", "updated_at")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row with its actions as a list."""
    actions = row.get("actions")
    return {**row, "actions": json.loads(actions) if isinstance(actions, str) else (actions or [])}


def existing(store: DuckStore, alert_ids: list[str]) -> set[str]:
    """Which of these alert ids are already stored."""
    if not alert_ids:
        return set()
    rows = store.query("SELECT alert_id FROM cx_alerts WHERE list_contains(?, alert_id)", [alert_ids])
    return {r["alert_id"] for r in rows}


def active_accounts(store: DuckStore, kind: str) -> set[str]:
    """Accounts with an open or acknowledged alert of this kind."""
    rows = store.query("SELECT DISTINCT account_id FROM cx_alerts WHERE kind = ? AND status <> 'closed'", [kind])
    return {r["account_id"] for r in rows if r["account_id"] is not None}


def insert(store: DuckStore, rows: list[dict[str, Any]]) -> list[str]:
    """Store the alerts that are not stored yet (by alert_id); returns the ids it added. One transaction."""
    with store.transaction():
        known = existing(store, [r["alert_id"] for r in rows])
        added = []
        for r in rows:
            if r["alert_id"] in known:
                continue
            store.execute(
                f"INSERT INTO cx_alerts ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::JSON, ?, ?)",
                [*(r[c] for c in COLUMNS[:9]), json.dumps(r["actions"], default=str), r["created_at"], r["updated_at"]],
            )
            known.add(r["alert_id"])
            added.append(r["alert_id"])
    return added


def get(store: DuckStore, alert_id: str) -> dict[str, Any] | None:
    """One alert, or None."""
    rows = store.query("SELECT * FROM cx_alerts WHERE alert_id = ?", [alert_id])
    return _decode(rows[0]) if rows else None


def listing(
    store: DuckStore, *, status: str | None = None, account_id: str | None = None, owner: str | None = None,
    kind: str | None = None, limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts, newest first, optionally narrowed by status, account, owner and kind."""
    where, params = [], []
    for column, value in (("status", status), ("account_id", account_id), ("owner", owner), ("kind", kind)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = "SELECT * FROM cx_alerts" + (" WHERE " + " AND ".join(where) if where else "")
    rows = store.query(sql + " ORDER BY created_at DESC, alert_id LIMIT ?", [*params, limit])
    return [_decode(r) for r in rows]


def record(store: DuckStore, alert_id: str, action: dict[str, Any], *, status: str | None = None,
           journey_id: str | None = None, at: datetime) -> None:
    """Append an action to an alert's log (and optionally set its status or journey), in one transaction."""
    with store.transaction():
        row = get(store, alert_id)
        if row is None:
            raise KeyError(alert_id)
        actions = [*row["actions"], action]
        store.execute(
            "UPDATE cx_alerts SET actions = ?::JSON, status = ?, journey_id = ?, updated_at = ? WHERE alert_id = ?",
            [json.dumps(actions, default=str), status or row["status"], journey_id or row["journey_id"], at, alert_id],
        )
