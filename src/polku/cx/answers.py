"""Survey answers as rows: one per (answer event, measure), read from ``survey_answered`` touchpoints.

Reads both property shapes (the CX contract's ``{"scores": {...}}`` and the simulator's older
``{"survey": "nps", "score": 8}``) so every CX analytic starts from the same frame.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, Final

import ibis.expr.types as ir
import pandas as pd

from polku.analytics.tables import Tables

ANSWER_EVENT: Final = "survey_answered"
# The columns of ``answer_rows``, in order (the contract in the CX helpers' brief).
ANSWER_COLUMNS: Final[tuple[str, ...]] = (
    "event_id",
    "ts",
    "contact_id",
    "account_id",
    "role",
    "org_level",
    "survey",
    "measure",
    "score",
    "comment",
    "language",
    "trigger_type",
    "phase",
)
# Surveys whose name is their measure in the simulator's older shape.
_LEGACY_MEASURES: Final = frozenset({"nps", "csat", "ces"})
_PHASES: Final = {"pre_purchase": "pre-purchase", "post_purchase": "post-purchase"}


def normalise_phase(phase: object) -> str | None:
    """A journey phase in the contract's spelling (``pre-purchase``); ``pre_purchase`` is accepted."""
    if not isinstance(phase, str) or not phase:
        return None
    return _PHASES.get(phase, phase)


def answer_rows(touchpoints: ir.Table) -> pd.DataFrame:
    """One row per (survey_answered event, measure) with the answer's context; see ``ANSWER_COLUMNS``.

    Role and org level come from the answer's properties when it recorded them, else from the
    contact. If the table carries a ``phase`` column (``analytics.paths.with_phase``), it fills
    answers that did not record their phase.
    """
    answered = touchpoints.filter(touchpoints.type == ANSWER_EVENT)
    wanted = ["event_id", "ts", "contact_id", "account_id", "role", "org_level", "properties", "seq"]
    if "phase" in touchpoints.columns:
        wanted.append("phase")
    raw = answered.select(*wanted).order_by(["ts", "seq"]).execute()
    rows = [row for record in raw.to_dict("records") for row in _rows_of(record)]
    columns: dict[str, pd.Series] = {}
    for name in ANSWER_COLUMNS:
        values = [row[name] for row in rows]
        if name == "ts":
            columns[name] = pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[us, UTC]")
        elif name == "score":
            columns[name] = pd.Series(values, dtype="float64")
        else:  # object columns keep None for missing text (not NaN)
            columns[name] = pd.Series(values, dtype="object")
    return pd.DataFrame(columns)


def answers_of(tables: Tables, *, contact_id: str | None = None) -> pd.DataFrame:
    """``answer_rows`` of the workspace tables, with each answer's journey phase filled in.

    An answer that did not record its phase gets the account's phase at the time (from the
    account's stage history: before opportunity pre-purchase, then purchase, from customer on
    post-purchase). ``contact_id`` narrows to one contact's answers.
    """
    from polku.analytics.paths import with_phase  # the analytics package loads only when used

    tp = tables.touchpoints.filter(tables.touchpoints.type == ANSWER_EVENT)
    if contact_id is not None:
        tp = tp.filter(tp.contact_id == contact_id)
    return answer_rows(with_phase(replace(tables, touchpoints=tp), "account"))


def _rows_of(record: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The answer rows of one event record (none when its properties hold no usable score)."""
    props = _properties(record.get("properties"))
    trigger = props.get("trigger")
    trigger_type = trigger.get("type") if isinstance(trigger, Mapping) else None
    base = {
        "event_id": record["event_id"],
        "ts": record["ts"],
        "contact_id": record["contact_id"],
        "account_id": _text(record.get("account_id")),
        "role": _text(props.get("role")) or _text(record.get("role")),
        "org_level": _text(props.get("org_level")) or _text(record.get("org_level")),
        "survey": _text(props.get("survey")),
        "comment": _text(props.get("comment")),
        "language": _text(props.get("language")),
        "trigger_type": _text(trigger_type),
        "phase": normalise_phase(props.get("phase")) or normalise_phase(record.get("phase")),
    }
    for measure, score in _scores(props):
        yield {**base, "measure": measure, "score": score}


def _scores(props: Mapping[str, Any]) -> Iterator[tuple[str, float]]:
    """(measure, score) pairs of either property shape, skipping non-numeric answers."""
    scores = props.get("scores")
    if isinstance(scores, Mapping):
        for measure, value in scores.items():
            number = _number(value)
            if number is not None:
                yield str(measure), number
        return
    survey = props.get("survey")
    if survey in _LEGACY_MEASURES:
        number = _number(props.get("score"))
        if number is not None:
            yield str(survey), number


def _properties(text: object) -> dict[str, Any]:
    """The properties JSON object, or an empty dict when it is missing or not an object."""
    if isinstance(text, Mapping):
        return dict(text)
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    """A finite number (not a bool), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: object) -> str | None:
    """A non-empty string, or None (pandas NA and NaN included)."""
    return value if isinstance(value, str) and value else None
