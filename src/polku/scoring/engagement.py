"""Engagement points: how a rule's matches fade with age, and how points become a 0-100 score.

The same arithmetic serves the whole-table rescore (as Ibis expressions) and the
incremental path (plain floats), so both give the same numbers. Time is measured in
microseconds since the Unix epoch; windows and linear fades count whole UTC days.

Normalisation: each rule's decayed points are bounded by its ``cap`` (in absolute value),
summed over rules, clipped to [0, scale] and mapped to 0-100.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt

from polku.scoring.rules import Decay, EngagementSettings

DAY_US: Final[int] = 86_400_000_000
EPOCH: Final[datetime] = datetime(1970, 1, 1, tzinfo=UTC)
_LN2: Final[float] = math.log(2.0)


def epoch_us(ts: datetime) -> int:
    """Microseconds since the Unix epoch of an aware (or UTC-naive) datetime."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def day_of(us: int) -> int:
    """The UTC day number of a microsecond timestamp."""
    return us // DAY_US


def weight(decay: Decay, age_us: int, day_age: int) -> float:
    """What one event's points are worth now: age in microseconds and in whole UTC days."""
    if decay.kind == "none":
        return 1.0
    days = float(decay.days or 0.0)
    if decay.kind == "half_life":
        return math.exp(-_LN2 * age_us / (days * DAY_US))
    if decay.kind == "window":
        return 1.0 if day_age < days else 0.0
    return max(0.0, 1.0 - day_age / days)


def is_recent(decay: Decay, day_age: int) -> bool:
    """Whether an event of this age is counted in the rule's reason ("3 downloads in 14 days")."""
    span = decay.recent_days
    return span is None or day_age < span


def weight_expr(decay: Decay, age_us: ir.IntegerValue, day_age: ir.IntegerValue) -> ir.FloatingValue:
    """``weight`` as an engine expression."""
    if decay.kind == "none":
        return ibis.literal(1.0)
    days = float(decay.days or 0.0)
    if decay.kind == "half_life":
        return (age_us.cast("float64") * (-_LN2 / (days * DAY_US))).exp()
    if decay.kind == "window":
        return ibis.ifelse(day_age < days, 1.0, 0.0)
    return ibis.greatest(ibis.literal(0.0), 1.0 - day_age.cast("float64") / days)


def recent_expr(decay: Decay, day_age: ir.IntegerValue) -> ir.BooleanValue:
    """``is_recent`` as an engine expression."""
    span = decay.recent_days
    return ibis.literal(True) if span is None else day_age < span


def capped(points: npt.NDArray[np.float64], caps: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each rule's points bounded by its cap in absolute value (inf: no cap)."""
    return np.sign(points) * np.minimum(np.abs(points), caps)


def rule_caps(settings: EngagementSettings) -> npt.NDArray[np.float64]:
    """The caps of the rules, in rule order (inf where none)."""
    return np.array([r.cap if r.cap is not None else np.inf for r in settings.rules], dtype=np.float64)


def rule_points(settings: EngagementSettings) -> npt.NDArray[np.float64]:
    """The points of the rules, in rule order."""
    return np.array([r.points for r in settings.rules], dtype=np.float64)


def to_score(total: npt.NDArray[np.float64] | float, scale: float) -> npt.NDArray[np.float64]:
    """Summed points as a 0-100 score: clipped to [0, scale], then scaled."""
    return np.clip(np.asarray(total, dtype=np.float64), 0.0, scale) * (100.0 / scale)
