"""The layout of the journey summaries a store keeps for analytics, without Ibis.

``polku.analytics.tables`` defines what ``journey_heads`` and ``journey_transitions``
hold; the store builds them at refresh time. Both need these names, and the store must
not import Ibis (it would slow every CLI command down).
"""

from __future__ import annotations

from typing import Final

# How many runs of each contact's journey ``journey_heads`` keeps (a run is a stretch of
# touchpoints of one type in a row): enough for variants of up to HEAD_RUNS - 1 nodes,
# and one more telling whether a variant was cut.
HEAD_RUNS: Final = 16


def head_type(k: int) -> str:
    """The column holding the type of run ``k`` (1-based) in ``journey_heads``."""
    return f"type_{k}"


def head_ts(k: int) -> str:
    """The column holding the start time of run ``k`` (1-based) in ``journey_heads``."""
    return f"ts_{k}"
