"""Target experiences measured: for each target and dimension the value, gap, trend, interval, n and flags.

A target (``config.Target``) has a granularity (dimensions: measure, target value, direction),
an attribution (whose answers: roles and/or org levels) and a scope (a touchpoint, a survey, a
journey phase, or the whole business). Pure: answers and trigger touches in, plain dicts out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from polku.cx.config import Attribution, CxConfig, Dimension, Scope, Target
from polku.cx.measures import Estimate, MeasureDef, z_value

TRIGGER_COLUMNS: Final = ["contact_id", "ts", "type"]


def touchpoint_types(config: CxConfig) -> list[str]:
    """The event types that touchpoint scopes name (their touches are needed to place answers)."""
    return sorted({t.scope.touchpoint for t in config.targets if t.scope.touchpoint is not None})


def trigger_touches(touchpoints: ir.Table, types: list[str], until: datetime | None = None) -> pd.DataFrame:
    """Touches of the given types (contact_id, ts, type), to place answers that did not record their trigger."""
    if not types:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in TRIGGER_COLUMNS})
    tp = touchpoints.filter(touchpoints.type.isin(types))
    if until is not None:
        tp = tp.filter(tp.ts < until)
    frame = tp.select(*TRIGGER_COLUMNS).execute()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def attributed(answers: pd.DataFrame, attribution: Attribution) -> pd.Series:
    """Which answers come from the attributed people (every role and level given must match)."""
    mask = pd.Series(True, index=answers.index)
    if attribution.roles:
        mask &= answers["role"].isin([r.value for r in attribution.roles])
    if attribution.org_levels:
        mask &= answers["org_level"].isin([o.value for o in attribution.org_levels])
    return mask


def in_scope(answers: pd.DataFrame, scope: Scope, triggers: pd.DataFrame) -> pd.Series:
    """Which answers are about the scope.

    Touchpoint: the answer's recorded trigger has that event type, or (no trigger recorded) the
    same contact had such a touch within ``scope.within_days`` before answering. Survey: the
    survey id. Phase: the journey phase at answering. Business: every answer.
    """
    if scope.business:
        return pd.Series(True, index=answers.index)
    if scope.survey is not None:
        return answers["survey"] == scope.survey
    if scope.phase is not None:
        return answers["phase"] == scope.phase
    recorded = answers["trigger_type"] == scope.touchpoint
    unknown = answers["trigger_type"].isna()
    touches = triggers.loc[triggers["type"] == scope.touchpoint, ["contact_id", "ts"]]
    if not unknown.any() or touches.empty:
        return recorded
    left = answers.loc[unknown, ["contact_id", "ts"]].reset_index().sort_values("ts")
    right = touches.assign(hit=True).sort_values("ts")
    for side in (left, right):
        side["ts"] = side["ts"].astype("datetime64[us, UTC]")
        side["contact_id"] = side["contact_id"].astype(str)
    placed = pd.merge_asof(left, right, on="ts", by="contact_id", direction="backward",
                           tolerance=pd.Timedelta(days=scope.within_days))
    inferred = pd.Series(False, index=answers.index)
    inferred.loc[placed.loc[placed["hit"].eq(True), "index"]] = True
    return recorded | inferred


def dimension_status(est: Estimate, dim: Dimension, min_n: int) -> str:
    """not_enough_data, met or missed (the interval is wholly on one side), else uncertain."""
    if est.value is None or est.n < min_n:
        return "not_enough_data"
    lo = est.ci_low if est.ci_low is not None else est.value
    hi = est.ci_high if est.ci_high is not None else est.value
    good_side = (lo >= dim.target) if dim.direction == "at_least" else (hi <= dim.target)
    bad_side = (hi < dim.target) if dim.direction == "at_least" else (lo > dim.target)
    return "met" if good_side else "missed" if bad_side else "uncertain"


def gap_of(value: float | None, dim: Dimension) -> float | None:
    """How far the value is on the good side of the target (negative: short of it), in the measure's units."""
    if value is None:
        return None
    return value - dim.target if dim.direction == "at_least" else dim.target - value


def trend(
    scores: pd.DataFrame, m: MeasureDef, dim: Dimension, as_of: datetime, days: int, confidence: float, min_n: int,
) -> dict[str, Any]:
    """The last ``days`` against the ``days`` before: both values, the change, and improving/worsening/steady.

    A change counts only when it is larger than its own confidence interval (the two windows'
    standard errors combined); otherwise the trend is steady. Without answers in both windows it is unknown.
    """
    span = timedelta(days=days)
    recent = m.estimate(_scores_between(scores, as_of - span, as_of), confidence, min_n)
    previous = m.estimate(_scores_between(scores, as_of - 2 * span, as_of - span), confidence, min_n)
    out: dict[str, Any] = {"window_days": days, "recent": _short(recent), "previous": _short(previous),
                           "change": None, "direction": "unknown"}
    if recent.value is None or previous.value is None:
        return out
    change = recent.value - previous.value
    out["change"] = round(change, 3)
    if recent.se is None or previous.se is None:
        return out
    se = float(np.hypot(recent.se, previous.se))
    better = change > 0 if dim.direction == "at_least" else change < 0
    clear = abs(change) > z_value(confidence) * se if se > 0 else change != 0
    out["direction"] = "steady" if not clear else "improving" if better else "worsening"
    out["small_sample"] = recent.n < min_n or previous.n < min_n
    return out


def by_month(scores: pd.DataFrame, m: MeasureDef, confidence: float, min_n: int) -> list[dict[str, Any]]:
    """The measure per calendar month (UTC) of answering."""
    months = scores["ts"].dt.strftime("%Y-%m")
    return [{"month": month, **_short(m.estimate(part["score"].tolist(), confidence, min_n))}
            for month, part in scores.groupby(months, sort=True)]


def evaluate_target(
    target: Target, answers: pd.DataFrame, triggers: pd.DataFrame, measures: dict[str, MeasureDef], *,
    as_of: datetime, start: datetime | None = None, confidence: float = 0.95, min_n: int = 30, trend_days: int = 90,
) -> dict[str, Any]:
    """One target measured on answers before ``as_of`` (and from ``start``): every dimension and an overall status."""
    need = target.min_n or min_n
    chosen = answers[attributed(answers, target.attribution) & in_scope(answers, target.scope, triggers)]
    chosen = chosen[chosen["ts"] < as_of]
    dims = []
    for dim in target.granularity:
        m = measures[dim.measure]
        on_scale = chosen[(chosen["measure"] == m.answer) & chosen["score"].between(m.low, m.high)]
        history = on_scale
        period = history if start is None else history[history["ts"] >= start]
        est = m.estimate(period["score"].tolist(), confidence, need)
        status = dimension_status(est, dim, need)
        dims.append({
            "measure": dim.measure, "target": dim.target, "direction": dim.direction, "better": m.better,
            "unit": m.unit, "value": None if est.value is None else round(est.value, 3),
            "gap": None if est.value is None else round(gap_of(est.value, dim) or 0.0, 3),
            "met": None if est.value is None else (gap_of(est.value, dim) or 0.0) >= 0,
            "status": status, "not_enough_data": status == "not_enough_data", "n": est.n, "min_n": need,
            "ci": est.to_dict()["ci"], "confidence": confidence,
            "trend": trend(history, m, dim, as_of, trend_days, confidence, need),
            "by_month": by_month(period, m, confidence, need),
        })
    statuses = {d["status"] for d in dims}
    overall = next(s for s in ("not_enough_data", "missed", "uncertain", "met") if s in statuses)
    return {
        "id": target.id, "title": target.title or target.id, "status": overall,
        "not_enough_data": overall == "not_enough_data",
        "granularity": len(target.granularity), "attribution": target.attribution.text(),
        "attribution_detail": target.attribution.model_dump(mode="json"),
        "scope": target.scope.text(), "scope_kind": target.scope.kind,
        "answers": int(chosen["event_id"].nunique()), "dimensions": dims,
    }


def evaluate_targets(
    config: CxConfig, answers: pd.DataFrame, triggers: pd.DataFrame, *, as_of: datetime, start: datetime | None = None,
) -> list[dict[str, Any]]:
    """Every target of the config, measured; see ``evaluate_target``."""
    measures = config.measure_defs()
    return [
        evaluate_target(t, answers, triggers, measures, as_of=as_of, start=start, confidence=config.confidence,
                        min_n=config.min_n, trend_days=config.trend_days)
        for t in config.targets
    ]


def _scores_between(scores: pd.DataFrame, lo: datetime, hi: datetime) -> list[float]:
    """Scores answered in [lo, hi)."""
    return scores.loc[(scores["ts"] >= lo) & (scores["ts"] < hi), "score"].tolist()


def _short(est: Estimate) -> dict[str, Any]:
    """Value, n and interval of an estimate."""
    d = est.to_dict()
    return {"value": d["value"], "n": d["n"], "ci": d["ci"]}
