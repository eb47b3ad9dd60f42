"""Cross-channel attribution: which channels (or touchpoint types) earned the conversions.

Rule-based models (first touch, last touch, linear, time decay, position based) weigh
each touchpoint in the engine; data-driven models (Markov removal effect, Shapley
value) are fitted in NumPy/SciPy on the journeys aggregated to distinct paths, so a
million journeys stay cheap. ``AttributionQuery(...).run(tables)`` runs them side by
side; the functions below serve notebooks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from polku.analytics.attribution.extract import RULE_BASED, path_counts, rule_based_credit
from polku.analytics.attribution.markov import markov
from polku.analytics.attribution.pathset import SEP, PathSet
from polku.analytics.attribution.query import MODELS, AttributionQuery, Conversion
from polku.analytics.attribution.result import AttributionResult
from polku.analytics.attribution.runner import journeys_of
from polku.analytics.attribution.shapley import shapley
from polku.analytics.tables import Tables
from polku.errors import InvalidInput

__all__ = [
    "MODELS",
    "SEP",
    "AttributionQuery",
    "AttributionResult",
    "Conversion",
    "PathSet",
    "attribute",
    "conversion_paths",
    "markov",
    "rule_based",
    "shapley",
]


def attribute(tables: Tables, **fields: Any) -> AttributionResult:
    """Run an attribution query given as keyword arguments (the fields of AttributionQuery)."""
    return AttributionQuery.parse(fields).run(tables)


def conversion_paths(tables: Tables, **fields: Any) -> pd.DataFrame:
    """The journeys as distinct paths ("web > email > meeting") with their conversions and nulls."""
    query = AttributionQuery.parse(fields)
    paths = path_counts(journeys_of(tables, query)).execute()
    return paths.sort_values(["conversions", "nulls", "path"], ascending=[False, False, True], ignore_index=True)


def rule_based(tables: Tables, **fields: Any) -> pd.DataFrame:
    """Credit per channel by the query's rule-based models (all five unless ``models`` names some)."""
    query = AttributionQuery.parse(fields)
    models = [m for m in query.models if m in RULE_BASED]
    if not models:
        raise InvalidInput(f"models: none of {query.models} is rule-based ({sorted(RULE_BASED)})")
    frame = rule_based_credit(journeys_of(tables, query), query, models).execute()
    return frame.set_index("label").rename_axis(query.by).sort_index()
