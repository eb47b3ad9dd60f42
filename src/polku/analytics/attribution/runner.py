"""Run an attribution query: journeys in the engine, models on the aggregated paths."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Final

import ibis.expr.types as ir
import pandas as pd

from polku.analytics.attribution.extract import (
    RULE_BASED,
    conversions_in_range,
    journey_touches,
    path_counts,
    rule_based_credit,
)
from polku.analytics.attribution.markov import markov
from polku.analytics.attribution.pathset import PathSet
from polku.analytics.attribution.result import AttributionResult
from polku.analytics.attribution.shapley import shapley
from polku.analytics.tables import Tables

if TYPE_CHECKING:
    from polku.analytics.attribution.query import AttributionQuery

DataDrivenFn = Callable[[PathSet, "AttributionQuery"], pd.Series]

DATA_DRIVEN: Final[dict[str, DataDrivenFn]] = {
    "markov": lambda paths, q: markov(paths, q.markov_order)["credit"],
    "shapley": lambda paths, q: shapley(paths)["credit"],
}


def journey_end(tables: Tables, query: AttributionQuery) -> datetime | None:
    """Where non-converting journeys end for the lookback: date_to, else the latest touchpoint."""
    if query.lookback_days is None or query.date_to is not None:
        return None
    latest = tables.touchpoints.ts.max().execute()
    return None if pd.isna(latest) else pd.Timestamp(latest).to_pydatetime()


def journeys_of(tables: Tables, query: AttributionQuery) -> ir.Table:
    """The journeys' touchpoints (see ``journey_touches``), ending where the query says."""
    return journey_touches(tables, query, journey_end(tables, query))


def run_query(query: AttributionQuery, tables: Tables) -> AttributionResult:
    """Credit the conversions of ``tables`` by every model of ``query``, side by side."""
    conversions = int(conversions_in_range(tables, query).count().execute())
    journeys = journeys_of(tables, query)
    paths = path_counts(journeys).execute()
    attributed = int(round(float(paths["conversions"].sum()))) if len(paths) else 0
    notes = describe(query, conversions, attributed, paths)
    columns: dict[str, pd.Series] = {}
    if attributed > 0:
        rule = [m for m in query.models if m in RULE_BASED]
        if rule:
            frame = rule_based_credit(journeys, query, rule).execute().set_index("label")
            columns.update({m: frame[m].astype("float64") for m in rule})
        data = [m for m in query.models if m in DATA_DRIVEN]
        if data:
            pathset = PathSet.from_frame(paths)
            columns.update({m: DATA_DRIVEN[m](pathset, query) for m in data})
    credits = _frame(columns, query)
    return AttributionResult(
        query=query,
        credits=credits,
        conversions=conversions,
        attributed=attributed,
        journeys=int(round(float(paths["conversions"].sum() + paths["nulls"].sum()))) if len(paths) else 0,
        distinct_paths=len(paths),
        notes=tuple(notes),
    )


def _frame(columns: dict[str, pd.Series], query: AttributionQuery) -> pd.DataFrame:
    """One row per label (sorted), one column per model in the query's order; missing credit is 0."""
    if not columns:
        return pd.DataFrame(
            {m: pd.Series(dtype="float64") for m in query.models},
            index=pd.Index([], dtype=object, name=query.by),
        )
    frame = pd.DataFrame(columns).fillna(0.0)[list(query.models)]
    frame.index = pd.Index([str(x) for x in frame.index], dtype=object, name=query.by)
    return frame.sort_index()


def describe(query: AttributionQuery, conversions: int, attributed: int, paths: pd.DataFrame) -> list[str]:
    """Notes on what the numbers cover: empty results, conversions no model credits, one-sided data."""
    what = _conversion_text(query)
    notes = []
    if conversions == 0:
        notes.append(f"no conversions ({what}) at {query.level} level{_range_text(query)}; nothing to attribute")
        return notes
    if attributed < conversions:
        notes.append(
            f"{conversions - attributed} of {conversions} conversions had no touchpoint in the chosen "
            "channels before them (within the lookback); no model credits them"
        )
    if attributed > 0 and float(paths["nulls"].sum()) == 0 and {"markov", "shapley"} & set(query.models):
        notes.append(
            "every journey converted: Markov and Shapley see no non-converting journeys, "
            "so they measure presence on converting paths, not lift"
        )
    return notes


def _conversion_text(query: AttributionQuery) -> str:
    """The conversion in words."""
    c = query.conversion
    if c.event_type is not None:
        return f"first {c.event_type!r} touchpoint"
    return f"first reaching stage {c.stage!r}" + (" or a later one" if c.later_stages else "")


def _range_text(query: AttributionQuery) -> str:
    """The date range in words."""
    start = query.date_from.isoformat() if query.date_from else "the beginning"
    end = query.date_to.isoformat() if query.date_to else "the latest data"
    return f" from {start} to {end}"
