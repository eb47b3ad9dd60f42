"""The analytic insights by name, so the API, the CLI and the dashboard share one list.

Each insight is a typed query (a pydantic model whose ``run(tables)`` returns a result);
this module turns any result into JSON-ready data and into named tables for printing
or CSV, so no shell needs to know an insight's internals.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from importlib import import_module
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from polku.analytics.tables import Tables
from polku.errors import InvalidInput, NotFound


class Query(Protocol):
    """What every insight's query offers."""

    def run(self, tables: Tables) -> Any: ...


@dataclass(frozen=True)
class Insight:
    """One named analytic: its query model and a line saying what it answers."""

    name: str
    query: type[BaseModel]
    summary: str


# name -> (module, query class, summary); imported on first use, as Ibis is heavy.
_INSIGHTS: dict[str, tuple[str, str, str]] = {
    "funnel": ("polku.analytics.funnel", "FunnelQuery", "conversion through ordered steps, with intervals and times"),
    "velocity": (
        "polku.analytics.velocity",
        "VelocityQuery",
        "time in each lifecycle stage, stage conversion by monthly cohort, and stalled deals",
    ),
    "paths": ("polku.analytics.paths", "PathsQuery", "most common next or previous touchpoints, Sankey-ready"),
    "variants": (
        "polku.analytics.variants",
        "VariantsQuery",
        "most frequent journey variants with their share and conversion rate",
    ),
    "pain-points": (
        "polku.analytics.painpoints",
        "PainPointsQuery",
        "touchpoints and transitions after which journeys drop out more than usual",
    ),
    "attribution": (
        "polku.analytics.attribution",
        "AttributionQuery",
        "credit per channel or touchpoint type by seven models side by side",
    ),
}


@cache
def insights() -> dict[str, Insight]:
    """Every insight, by name, in a stable order."""
    out = {}
    for name, (module, cls, summary) in _INSIGHTS.items():
        out[name] = Insight(name, getattr(import_module(module), cls), summary)
    return out


def insight(name: str) -> Insight:
    """The insight called ``name``; NotFound lists the known ones."""
    found = insights().get(name)
    if found is None:
        raise NotFound(f"no analytic {name!r}; known: {', '.join(insights())}")
    return found


def parse(name: str, body: Mapping[str, Any]) -> BaseModel:
    """A validated query for ``name``; InvalidInput names each wrong field."""
    model = insight(name).query
    try:
        return model.model_validate(dict(body))
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or name, "reason": e["msg"].removeprefix("Value error, ")}
            for e in exc.errors()
        ]
        message = f"bad {name} query: " + "; ".join(f"{d['field']}: {d['reason']}" for d in details)
        raise InvalidInput(message, details=details) from exc


def run(name: str, body: Mapping[str, Any] | BaseModel, tables: Tables) -> Any:
    """Validate and run one insight on ``tables``."""
    query = body if isinstance(body, BaseModel) else parse(name, body)
    return query.run(tables)  # type: ignore[attr-defined]


def frames(result: Any) -> dict[str, pd.DataFrame]:
    """The result's tables by name (for printing and CSV): its own ``frames()`` or its DataFrame fields."""
    own = getattr(result, "frames", None)
    if callable(own):
        return dict(own())
    if not dataclasses.is_dataclass(result):
        raise TypeError(f"{type(result).__name__} is not an analytics result")
    return {
        f.name: value
        for f in dataclasses.fields(result)
        if isinstance(value := getattr(result, f.name), pd.DataFrame)
    }


def payload(result: Any) -> dict[str, Any]:
    """The result as JSON-ready data: its own ``to_dict()``, or its fields with tables as row lists."""
    own = getattr(result, "to_dict", None)
    if callable(own):
        return jsonable(own())
    if not dataclasses.is_dataclass(result):
        raise TypeError(f"{type(result).__name__} is not an analytics result")
    return {f.name: jsonable(getattr(result, f.name)) for f in dataclasses.fields(result)}


def jsonable(value: Any) -> Any:
    """Plain JSON types from frames, models, NumPy scalars and times (NaN becomes null)."""
    if isinstance(value, pd.DataFrame):
        frame = value.reset_index() if not isinstance(value.index, pd.RangeIndex) else value
        return [jsonable(row) for row in frame.to_dict(orient="records")]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if value is pd.NaT or value is pd.NA or value is None:
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value
