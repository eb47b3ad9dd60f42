"""The insight registry: names, validation with field names, JSON and table conversions."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest

from polku.analytics import registry
from polku.analytics.tables import from_records
from polku.errors import InvalidInput, NotFound

UTC = dt.UTC


def _tables() -> object:
    day = dt.datetime(2025, 3, 1, tzinfo=UTC)
    rows = [
        {"event_id": "e1", "ts": day, "type": "page_view", "channel": "web", "contact_id": "c1"},
        {"event_id": "e2", "ts": day + dt.timedelta(hours=2), "type": "form_submit", "channel": "web", "contact_id": "c1"},
        {"event_id": "e3", "ts": day, "type": "page_view", "channel": "web", "contact_id": "c2"},
    ]
    return from_records(rows)


def test_every_insight_has_a_query_model_and_a_summary() -> None:
    names = list(registry.insights())
    assert names == ["funnel", "velocity", "paths", "variants", "pain-points", "attribution"]
    for insight in registry.insights().values():
        assert hasattr(insight.query, "run") and insight.summary


def test_unknown_insights_and_bad_fields_are_named() -> None:
    with pytest.raises(NotFound, match="known: funnel"):
        registry.insight("retention")
    with pytest.raises(InvalidInput, match="window") as caught:
        registry.parse("funnel", {"steps": [{"event": "page_view"}], "window": "-3d"})
    assert caught.value.details[0]["field"] == "window"


def test_results_become_json_and_tables() -> None:
    result = registry.run("funnel", {"steps": [{"event": "page_view"}, {"event": "form_submit"}]}, _tables())
    body = registry.payload(result)
    json.dumps(body)  # plain JSON types only
    assert [s["converted"] for s in body["steps"]] == [2, 1]
    assert body["steps"][0]["median_seconds"] is None  # NaN becomes null
    assert body["steps"][1]["median_seconds"] == 7200.0
    assert registry.frames(result)["steps"]["converted"].tolist() == [2, 1]


def test_jsonable_handles_the_types_results_hold() -> None:
    frame = pd.DataFrame({"x": [1.5, math.nan]}, index=pd.Index(["a", "b"], name="channel"))
    assert registry.jsonable(frame) == [{"channel": "a", "x": 1.5}, {"channel": "b", "x": None}]
    assert registry.jsonable({"n": np.int64(3), "t": dt.datetime(2025, 1, 1, tzinfo=UTC),
                              "d": dt.timedelta(minutes=2), "inf": math.inf, "nat": pd.NaT}) == {
        "n": 3, "t": "2025-01-01T00:00:00+00:00", "d": 120.0, "inf": None, "nat": None,
    }
