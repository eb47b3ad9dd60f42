"""Pain points: touchpoints (and transitions) after which journeys drop out far more often
than after the others, ranked by the size of the effect and its uncertainty.

A touchpoint is a *drop-out* when its journey never reaches the goal (default: the
opportunity stage or later) and has no further touchpoint within ``inactivity`` after it.
Only touchpoints before a converted journey's first conversion count (what follows a
conversion is not a way of dropping out), and a touchpoint whose ``inactivity`` window
runs past ``as_of`` with nothing after it yet is left out as undecided (censored).

Each touchpoint type (or ``channel:type``) and each transition (previous node -> node,
judged on its second touchpoint) is compared with all the *other* touchpoints
(transitions): ``rate`` vs ``baseline``, with their difference (Newcombe interval) and
ratio (Katz log interval). Rows below ``min_support`` touchpoints are dropped; rows with
fewer than 10 drop-outs or 10 stays are flagged ``small_sample`` (the intervals are rough
there). Touchpoints of one journey are not independent, so read the intervals as a guide,
not a test; ``significant`` means the difference's interval lies above zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from polku.analytics.query import (
    DateRange,
    Duration,
    EventStep,
    Goal,
    NodeBy,
    StageStep,
    Subject,
    as_utc,
    check_event_types,
    entity_touchpoints,
    goal_times,
    node_expr,
    to_frame,
)
from polku.analytics.stats import rate, rate_difference_interval, risk_ratio_interval
from polku.analytics.tables import Tables
from polku.model import LifecycleStage

__all__ = ["PainPointsQuery", "PainPointsResult", "pain_points"]

SMALL_SAMPLE: Final = 10
COLUMNS: Final[tuple[str, ...]] = (
    "kind", "previous", "node", "touchpoints", "dropouts", "rate", "baseline", "difference",
    "difference_low", "difference_high", "ratio", "ratio_low", "ratio_high", "significant",
    "small_sample",
)


class PainPointsQuery(DateRange):
    """A pain-points request: what counts as dropping out and as converting, and how to rank."""

    subject: Subject = "contact"
    inactivity: Duration = Field(timedelta(days=30), description="no touchpoint for this long = gone")
    goal: Goal = Field(default_factory=lambda: StageStep(stage=LifecycleStage.opportunity))
    node_by: NodeBy = "type"
    transitions: bool = Field(True, description="also rank transitions (previous -> node)")
    min_support: int = Field(30, ge=1, le=1_000_000, description="fewest touchpoints for a row")
    top: int = Field(50, ge=1, le=10_000)
    exclude: list[str] = Field(default_factory=list, max_length=100)
    as_of: datetime | None = Field(None, description="end of observation; default the latest touchpoint")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)

    @field_validator("exclude")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        return check_event_types(value)

    @field_validator("as_of")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)

    def run(self, tables: Tables) -> PainPointsResult:
        """Rank touchpoints and transitions by how much more often journeys drop out after them."""
        as_of = self.as_of or _latest(tables, self.subject)
        if as_of is None:
            return PainPointsResult(self, None, 0, 0, float("nan"), _empty(), ("no touchpoints",))
        frame = to_frame(self.counts(tables, as_of))
        frames = [frame[frame["kind"] == kind].reset_index(drop=True) for kind in ("touchpoint", "transition")]
        touch = frames[0]
        total, dropped = int(touch["touchpoints"].sum()), int(touch["dropouts"].sum())
        ranked = pd.concat([_rank(self, f) for f in frames if len(f)], ignore_index=True)
        if ranked.empty:
            ranked = _empty()
        ranked = ranked.sort_values(
            ["difference", "touchpoints", "kind", "node"], ascending=[False, False, True, True]
        ).head(self.top).reset_index(drop=True)
        warnings = () if total else ("no touchpoint could be judged (all undecided or none in range)",)
        return PainPointsResult(
            query=self, as_of=as_of, touchpoints=total, dropouts=dropped,
            dropout_rate=dropped / total if total else float("nan"), ranked=ranked[list(COLUMNS)],
            warnings=warnings,
        )

    def counts(self, tables: Tables, as_of: datetime) -> ir.Table:
        """Touchpoints and drop-outs per node (kind touchpoint) and per transition, in one query."""
        judged = self.judged(tables, as_of)
        metrics = {"touchpoints": judged.count(), "dropouts": judged.dropout.cast("int64").sum()}
        parts = [
            judged.group_by(
                kind=ibis.literal("touchpoint"), previous=ibis.literal(None, "string"), node=judged.node
            ).aggregate(**metrics)
        ]
        if self.transitions:
            pairs = judged.filter(judged.previous.notnull())
            parts.append(
                pairs.group_by(kind=ibis.literal("transition"), previous=pairs.previous, node=pairs.node)
                .aggregate(touchpoints=pairs.count(), dropouts=pairs.dropout.cast("int64").sum())
            )
        return ibis.union(*parts, distinct=False)

    def judged(self, tables: Tables, as_of: datetime) -> ir.Table:
        """Touchpoints that can be judged: entity, ts, node, previous node, dropout (bool)."""
        tp = entity_touchpoints(tables, self.subject)
        if self.exclude:
            tp = tp.filter(tp.type.notin(self.exclude))
        tp = tp.select("entity", "ts", "seq", node=node_expr(tp, self.node_by))
        w = ibis.window(group_by=tp.entity, order_by=[tp.ts, tp.seq])
        tp = tp.mutate(previous=tp.node.lag().over(w), next_ts=tp.ts.lead().over(w))
        tp = tp.left_join(goal_times(tables, self.subject, self.goal), "entity")
        horizon = tp.ts + ibis.interval(seconds=int(self.inactivity.total_seconds()))
        gone = tp.next_ts.isnull() | (tp.next_ts > horizon)
        undecided = tp.goal_ts.isnull() & tp.next_ts.isnull() & (horizon > as_of)
        tp = tp.filter(
            self.in_range(tp.ts), tp.ts <= as_of, tp.goal_ts.isnull() | (tp.ts < tp.goal_ts), ~undecided
        )
        return tp.select("entity", "ts", "node", "previous", dropout=tp.goal_ts.isnull() & gone)


@dataclass(frozen=True)
class PainPointsResult:
    """Ranked pain points and the overall drop-out rate they are compared with."""

    query: PainPointsQuery
    as_of: datetime | None
    touchpoints: int
    dropouts: int
    dropout_rate: float
    ranked: pd.DataFrame
    warnings: tuple[str, ...] = ()


def pain_points(
    tables: Tables, *, inactivity: str | timedelta = "30d",
    goal: str | dict[str, Any] | EventStep | StageStep = "opportunity", subject: Subject = "contact",
    node_by: NodeBy = "type", min_support: int = 30, as_of: datetime | None = None,
) -> PainPointsResult:
    """Notebook form of ``PainPointsQuery``: a plain string goal is a lifecycle stage."""
    return PainPointsQuery.model_validate(
        {
            "inactivity": inactivity, "goal": {"stage": goal} if isinstance(goal, str) else goal,
            "subject": subject, "node_by": node_by, "min_support": min_support, "as_of": as_of,
        }
    ).run(tables)


def _latest(tables: Tables, subject: Subject) -> datetime | None:
    """The latest touchpoint time: the end of observation when none is given."""
    tp = entity_touchpoints(tables, subject)
    value = tp.ts.max().to_pyarrow().as_py()
    return value if isinstance(value, datetime) else None


def _rank(q: PainPointsQuery, frame: pd.DataFrame) -> pd.DataFrame:
    """Rates against the rest of the same kind, with intervals; rows under min_support dropped."""
    n = frame["touchpoints"].to_numpy(dtype=np.int64)
    k = frame["dropouts"].fillna(0).to_numpy(dtype=np.int64)
    rest_n, rest_k = n.sum() - n, k.sum() - k
    diff, d_low, d_high = rate_difference_interval(k, n, rest_k, rest_n, q.confidence)
    ratio, r_low, r_high = risk_ratio_interval(k, n, rest_k, rest_n, q.confidence)
    out = frame.assign(
        dropouts=k, rate=rate(k, n), baseline=rate(rest_k, rest_n), difference=diff,
        difference_low=d_low, difference_high=d_high, ratio=ratio, ratio_low=r_low, ratio_high=r_high,
    )
    out["significant"] = out["difference_low"] > 0
    out["small_sample"] = (k < SMALL_SAMPLE) | (n - k < SMALL_SAMPLE)
    return out[out["touchpoints"] >= q.min_support]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
