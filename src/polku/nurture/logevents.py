"""Events the nurture engine itself appends to the log (stage changes, sends), with stable ids."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pyarrow as pa

from polku.collect.columns import EVENT_SCHEMA
from polku.store.duck import DuckStore


def identity_columns(crm_id: str | None, email: str | None, anchor: str | None) -> dict[str, str | None]:
    """The contact's strongest identifier as event columns (CRM id, else e-mail, else its anchor)."""
    cols: dict[str, str | None] = {"anonymous_id": None, "email": None, "crm_id": None}
    if crm_id:
        cols["crm_id"] = crm_id
    elif email:
        cols["email"] = email
    elif anchor:
        kind, _, value = anchor.partition(":")
        cols[{"crm": "crm_id", "email": "email", "anon": "anonymous_id"}[kind]] = value
    return cols


def event_row(
    event_id: str, ts: datetime, type_: str, channel: str, ids: dict[str, str | None], properties: dict[str, Any],
    *, topic: str | None = None, account_id: str | None = None,
) -> dict[str, Any]:
    """One row of the event log in the import schema."""
    return {
        "event_id": event_id, "ts": ts, "type": type_, "channel": channel, **ids, "account_id": account_id,
        "topic": topic, "value": None, "properties": json.dumps(properties, sort_keys=True),
    }


def append(store: DuckStore, rows: list[dict[str, Any]]) -> int:
    """Append rows (their ids make a repeat a no-op); returns how many were new."""
    if not rows:
        return 0
    return store.append_events(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA), "nurture", validated=True).inserted
