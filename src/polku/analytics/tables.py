"""The tables analytics read, as engine-neutral Ibis expressions.

The store builds them from its event log and derived tables (``Workspace.tables()``);
tests build them from small hand-made frames with ``from_records``. Analytics never
open a database themselves.

Two of them are summaries of the contacts' journeys that a store may keep up to date at
refresh time, so that variants and transitions need not order every touchpoint on each
request: ``journey_heads`` (the first runs of each contact's journey) and
``journey_transitions`` (counts of consecutive touchpoint pairs). Their meaning is the
Ibis definition here (``define_journey_heads``, ``define_journey_transitions``); a
``Tables`` without them computes them from the touchpoints with that definition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from polku.analytics.journeys import HEAD_RUNS, head_ts, head_type

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

_UTC: Final = dt.Timestamp(timezone="UTC")

# One row per contact with touchpoints: the type and start time of the first HEAD_RUNS
# runs of its journey, in (ts, seq) order; null slots when the journey has fewer runs.
JOURNEY_HEADS_SCHEMA: Final = ibis.schema(
    {
        "contact_id": "string",
        **{
            name: dtype
            for k in range(1, HEAD_RUNS + 1)
            for name, dtype in ((head_type(k), "string"), (head_ts(k), _UTC))
        },
    }
)

# Consecutive touchpoints in the contacts' journeys, (ts, seq) order: how many times a
# touchpoint of source type and channel is followed right away by one of target type and channel.
JOURNEY_TRANSITIONS_SCHEMA: Final = ibis.schema(
    {
        "source_type": "string",
        "source_channel": "string",
        "target_type": "string",
        "target_channel": "string",
        "count": "int64",
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
    """What an analytic may read: touchpoints, stage history, contacts and accounts, and
    optionally the journey summaries a store keeps (computed from touchpoints when absent)."""

    touchpoints: ir.Table
    stages: ir.Table
    contacts: ir.Table
    accounts: ir.Table
    journey_heads: ir.Table | None = None
    journey_transitions: ir.Table | None = None

    def heads(self) -> ir.Table:
        """The contacts' journey heads: the stored table, or its definition over touchpoints."""
        if self.journey_heads is not None:
            return self.journey_heads
        return define_journey_heads(self.touchpoints)

    def transitions(self) -> ir.Table:
        """The transition counts of contact journeys: stored, or defined over touchpoints."""
        if self.journey_transitions is not None:
            return self.journey_transitions
        return define_journey_transitions(self.touchpoints)


def _journey_order(t: ir.Table) -> ibis.expr.builders.LegacyWindowBuilder:
    """Each contact's touchpoints in journey order: time, then ingest order."""
    return ibis.window(group_by=t.contact_id, order_by=[t.ts, t.seq])


def define_journey_heads(touchpoints: ir.Table) -> ir.Table:
    """What ``journey_heads`` holds, as an expression over touchpoints (JOURNEY_HEADS_SCHEMA)."""
    tp = touchpoints.select("contact_id", "ts", "seq", "type")
    tp = tp.mutate(prev=tp.type.lag().over(_journey_order(tp)))
    starts = tp.filter(tp.prev.isnull() | (tp.type != tp.prev))
    starts = starts.mutate(run=ibis.row_number().over(_journey_order(starts)) + 1)
    starts = starts.filter(starts.run <= HEAD_RUNS)
    slots: dict[str, ir.Value] = {}
    for k in range(1, HEAD_RUNS + 1):
        slots[head_type(k)] = starts.type.min(where=starts.run == k)
        slots[head_ts(k)] = starts.ts.min(where=starts.run == k)
    return starts.group_by("contact_id").aggregate(**slots)


def define_journey_transitions(touchpoints: ir.Table) -> ir.Table:
    """What ``journey_transitions`` holds, over touchpoints (JOURNEY_TRANSITIONS_SCHEMA)."""
    tp = touchpoints.select("contact_id", "ts", "seq", "type", "channel")
    w = _journey_order(tp)
    pairs = tp.select(
        source_type=tp.type.lag().over(w), source_channel=tp.channel.lag().over(w),
        target_type=tp.type, target_channel=tp.channel,
    )
    pairs = pairs.filter(pairs.source_type.notnull())
    return pairs.group_by(["source_type", "source_channel", "target_type", "target_channel"]).aggregate(
        count=pairs.count()
    )


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
