"""Row positions of contacts, joined in the engine, so per-contact results come back as
integers that index NumPy arrays directly (no string lookups in Python)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa


def positions_table(ids: pa.Array) -> ir.Table:
    """An in-memory table of (contact_id, pos): each id's position in ``ids``."""
    return ibis.memtable(pa.table({"contact_id": ids, "pos": pa.array(np.arange(len(ids), dtype=np.int64))}))


def with_positions(t: ir.Table, positions: ir.Table) -> ir.Table:
    """``t`` keyed by ``pos`` instead of ``contact_id`` (rows of unknown contacts dropped)."""
    j = t.join(positions, t.contact_id == positions.contact_id)
    return j.select(positions.pos, *(t[c] for c in t.columns if c != "contact_id"))
