"""Where score triggers and conditions read lead scores: a function of the store returning (contact_id, score).

``default_scores`` reads the stored lead scores, which follow events as they arrive once a
first `polku score` has run; before it there are none and score triggers never fire (the
tick says so in its warnings).
Tests and callers may pass any ``ScoreSource`` to ``Engine`` or ``Scheduler``.
"""

from __future__ import annotations

import pyarrow as pa

from polku.store.duck import DuckStore


def default_scores(store: DuckStore) -> pa.Table | None:
    """Current lead scores as an Arrow table (contact_id: string, score: double), or None when there are none."""
    table = store.query_arrow("SELECT contact_id, score FROM lead_scores")
    return table if table.num_rows else None


def scores_from(mapping: dict[str, float]) -> pa.Table:
    """A score table from a dict (for tests and scripts)."""
    return pa.table({"contact_id": pa.array(list(mapping), pa.string()), "score": pa.array(list(mapping.values()), pa.float64())})
