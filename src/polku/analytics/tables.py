"""The tables analytics read, as engine-neutral Ibis expressions.

The store builds them from its event log and derived tables (``Workspace.tables()``);
tests build them from small hand-made frames with ``from_records``. Analytics never
open a database themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

# Resolved touchpoints: one row per stored event except identify calls.
TOUCHPOINTS_SCHEMA: Final = ibis.schema(
    {
        "event_id": "string",
        "seq": "int64",  # ingest order; breaks ties between equal timestamps
        "ts": dt.Timestamp(timezone="UTC"),
        "type": "string",
        "channel": "string",
        "topic": "string",
        "value": "float64",
        "properties": "string",  # JSON object text, or null
        "contact_id": "string",  # the resolved contact; never null
        "account_id": "string",  # the contact's account, or null
        "role": "string",
        "org_level": "string",
    }
)

# Lifecycle stage changes of contacts and accounts (the stage history).
STAGES_SCHEMA: Final = ibis.schema(
    {
        "subject": "string",  # "contact" or "account"
        "subject_id": "string",
        "stage": "string",
        "from_stage": "string",
        "ts": dt.Timestamp(timezone="UTC"),
        "rule": "string",
        "reason": "string",
    }
)

CONTACTS_SCHEMA: Final = ibis.schema(
    {
        "contact_id": "string",
        "account_id": "string",
        "email": "string",
        "name": "string",
        "role": "string",
        "org_level": "string",
        "first_seen": dt.Timestamp(timezone="UTC"),
        "last_seen": dt.Timestamp(timezone="UTC"),
        "stage": "string",
        "stage_since": dt.Timestamp(timezone="UTC"),
        "journey_stage": "string",
    }
)

ACCOUNTS_SCHEMA: Final = ibis.schema(
    {
        "account_id": "string",
        "name": "string",
        "domain": "string",
        "industry": "string",
        "employees": "int64",
        "country": "string",
        "owner": "string",
        "stage": "string",
        "stage_since": dt.Timestamp(timezone="UTC"),
        "journey_stage": "string",
    }
)


@dataclass(frozen=True)
class Tables:
    """What an analytic may read: touchpoints, stage history, contacts and accounts."""

    touchpoints: ir.Table
    stages: ir.Table
    contacts: ir.Table
    accounts: ir.Table


def _memtable(rows: Sequence[Mapping[str, Any]], schema: ibis.Schema) -> ir.Table:
    """An in-memory table of ``rows`` with exactly ``schema``; missing fields are null."""
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return ibis.memtable(pa.table(columns, schema=schema.to_pyarrow()))


def from_records(
    touchpoints: Sequence[Mapping[str, Any]],
    stages: Sequence[Mapping[str, Any]] = (),
    contacts: Sequence[Mapping[str, Any]] = (),
    accounts: Sequence[Mapping[str, Any]] = (),
) -> Tables:
    """Tables from plain records (for tests and notebooks); ``seq`` defaults to row order."""
    numbered = [{"seq": i, **row} for i, row in enumerate(touchpoints)]
    return Tables(
        touchpoints=_memtable(numbered, TOUCHPOINTS_SCHEMA),
        stages=_memtable(stages, STAGES_SCHEMA),
        contacts=_memtable(contacts, CONTACTS_SCHEMA),
        accounts=_memtable(accounts, ACCOUNTS_SCHEMA),
    )
