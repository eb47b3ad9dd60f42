"""The analytics tables (``polku.analytics.tables.Tables``) over the store's own tables.

Written as Ibis expressions, like the analytics that read them, so a server-mode store
can offer the same tables from another engine.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis.common.exceptions import TableNotFound

from polku.analytics.tables import (
    ACCOUNTS_SCHEMA,
    CONTACTS_SCHEMA,
    JOURNEY_HEADS_SCHEMA,
    JOURNEY_TRANSITIONS_SCHEMA,
    STAGES_SCHEMA,
    TOUCHPOINTS_SCHEMA,
    Tables,
)


def _conform(table: ir.Table, schema: ibis.Schema) -> ir.Table:
    """``table`` with exactly the columns of ``schema``, in order and cast to its types."""
    return table.select(*(table[name].cast(dtype).name(name) for name, dtype in schema.items()))


def touchpoints(backend: ibis.BaseBackend) -> ir.Table:
    """Every stored event except identify calls, with its resolved contact and account."""
    events = backend.table("events")
    identities = backend.table("identities")
    contacts = backend.table("contacts")
    touches = events.filter(events.type != "identify")
    resolved = touches.join(identities, touches.identity == identities.identity).select(
        touches.event_id,
        touches.seq,
        touches.ts,
        touches.type,
        touches.channel,
        touches.topic,
        touches.value,
        touches.properties,
        identities.contact_id,
    )
    people = contacts.select("contact_id", "account_id", "role", "org_level")
    joined = resolved.left_join(people, resolved.contact_id == people.contact_id).select(
        resolved, people.account_id, people.role, people.org_level
    )
    return _conform(joined, TOUCHPOINTS_SCHEMA)


def _summary(backend: ibis.BaseBackend, name: str, schema: ibis.Schema) -> ir.Table | None:
    """A journey summary table, or None in a file of an older schema opened read-only
    (the analytics then compute it from the touchpoints)."""
    try:
        return _conform(backend.table(name), schema)
    except TableNotFound:
        return None


def analytics_tables(backend: ibis.BaseBackend) -> Tables:
    """Touchpoints, stage history, contacts, accounts and the journey summaries (kept by
    ``polku.store.derive`` at refresh) as the analytics expect them."""
    return Tables(
        touchpoints=touchpoints(backend),
        stages=_conform(backend.table("stage_history"), STAGES_SCHEMA),
        contacts=_conform(backend.table("contacts"), CONTACTS_SCHEMA),
        accounts=_conform(backend.table("accounts"), ACCOUNTS_SCHEMA),
        journey_heads=_summary(backend, "journey_heads", JOURNEY_HEADS_SCHEMA),
        journey_transitions=_summary(backend, "journey_transitions", JOURNEY_TRANSITIONS_SCHEMA),
    )
