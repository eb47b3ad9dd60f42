"""Journey variants (process-mining style): the ordered sequence of touchpoint types of each
contact (or account), the most frequent sequences, their share and conversion rate.

A journey's variant is its nodes (types, or ``channel:type``) in ``ts``/``seq`` order,
with immediate repeats collapsed by default (``a a b`` is ``a > b``) and cut after
``max_length`` nodes (a cut variant ends in ``> …``). A journey converts when it reaches
the goal (default: the opportunity stage or a later one; or a touchpoint matching an
event filter). With ``until_goal`` (the default) a converted journey's variant holds only
the touchpoints strictly before its first conversion, so a variant describes the way to
the goal and not what followed; journeys with no touchpoint before the goal are left out.
The date range selects the touchpoints that make up the variants.

The usual shape (contacts, type nodes, repeats collapsed, no exclusions, no ``date_from``,
``max_length`` below ``HEAD_RUNS``) reads the journey heads a store keeps at refresh time
(``Tables.heads()``): the first runs of each journey with their start times, cut here at
the goal and at ``date_to`` (both keep a prefix of the journey, and collapsing a prefix
gives a prefix of the collapsed journey). Any other shape orders the touchpoints
themselves; both give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import ibis
import ibis.expr.types as ir
import pandas as pd
from pydantic import Field, field_validator

from polku.analytics.query import (
    DateRange,
    EventStep,
    Goal,
    NodeBy,
    StageStep,
    Subject,
    check_event_types,
    entity_touchpoints,
    goal_times,
    node_expr,
    to_frame,
)
from polku.analytics.journeys import HEAD_RUNS, head_ts, head_type
from polku.analytics.stats import rate, wilson_interval
from polku.analytics.tables import Tables
from polku.model import LifecycleStage

__all__ = ["SEPARATOR", "TRUNCATED", "VariantsQuery", "VariantsResult", "variants"]

SEPARATOR: Final = " > "
TRUNCATED: Final = "…"


class VariantsQuery(DateRange):
    """A variants request: how to build each journey's sequence and what counts as converting."""

    subject: Subject = "contact"
    node_by: NodeBy = "type"
    collapse_repeats: bool = True
    max_length: int = Field(10, ge=1, le=50, description="nodes kept per variant")
    top: int = Field(20, ge=1, le=1000, description="most frequent variants returned")
    goal: Goal = Field(default_factory=lambda: StageStep(stage=LifecycleStage.opportunity))
    until_goal: bool = Field(True, description="a converted journey's variant stops before the goal")
    exclude: list[str] = Field(
        default_factory=list, max_length=100, description="touchpoint types left out of variants"
    )
    confidence: float = Field(0.95, gt=0.5, lt=1.0)

    @field_validator("exclude")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        return check_event_types(value)

    def run(self, tables: Tables) -> VariantsResult:
        """The top variants and the totals they are shares of, in one query."""
        frame = to_frame(self.summary(tables))
        total_row = frame[frame["total"]]
        journeys = int(total_row["journeys"].fillna(0).iloc[0]) if len(total_row) else 0
        converted = int(total_row["converted"].fillna(0).iloc[0]) if len(total_row) else 0
        table = _variant_table(self, frame[~frame["total"]].reset_index(drop=True), journeys)
        warnings = () if journeys else ("no journeys to build variants from",)
        return VariantsResult(
            query=self, journeys=journeys, converted=converted,
            conversion_rate=converted / journeys if journeys else float("nan"),
            variants=table, warnings=warnings,
        )

    def summary(self, tables: Tables) -> ir.Table:
        """The ``top`` variants (total false) and one row of totals over all journeys (total true)."""
        grouped = self.counts(self.journeys(tables))
        top = grouped.order_by([ibis.desc("journeys"), *self._slots(), "cut"]).limit(self.top)
        totals = grouped.aggregate(
            **{n: ibis.literal(None, "string") for n in self._slots()},
            cut=ibis.literal(False),
            journeys=grouped.journeys.sum(),
            converted=grouped.converted.sum(),
        )
        return ibis.union(
            top.mutate(total=ibis.literal(False)), totals.mutate(total=ibis.literal(True)), distinct=False
        )

    def _slots(self) -> list[str]:
        return [f"n{i}" for i in range(self.max_length)]

    def journeys(self, tables: Tables) -> ir.Table:
        """One row per journey: entity, length (its nodes, counted up to one past the cut),
        converted, and n0..n{max-1}."""
        if self.reads_heads():
            return self.journeys_from_heads(tables)
        return self.journeys_from_touchpoints(tables)

    def reads_heads(self) -> bool:
        """Whether the journey heads hold all this query needs (see the module docstring)."""
        return (
            self.subject == "contact" and self.node_by == "type" and self.collapse_repeats
            and not self.exclude and self.date_from is None and self.max_length < HEAD_RUNS
        )

    def journeys_from_heads(self, tables: Tables) -> ir.Table:
        """``journeys`` from the journey heads: a run counts when it starts before the goal
        (with ``until_goal``) and before ``date_to``."""
        heads = tables.heads()
        goals = goal_times(tables, "contact", self.goal)
        j = heads.left_join(goals, heads.contact_id == goals.entity)

        def kept(k: int) -> ir.BooleanValue:
            start = j[head_ts(k)]
            cond = start.notnull() & self.in_range(start)
            if self.until_goal:
                cond = cond & (j.goal_ts.isnull() | (start < j.goal_ts))
            return cond

        j = j.filter(kept(1))
        none = ibis.literal(None, "string")
        slots = {f"n{i}": kept(i + 1).ifelse(j[head_type(i + 1)], none) for i in range(self.max_length)}
        length = sum((kept(k).cast("int64") for k in range(2, self.max_length + 2)), kept(1).cast("int64"))
        return j.select(entity=j.contact_id, length=length, converted=j.goal_ts.notnull(), **slots)

    def journeys_from_touchpoints(self, tables: Tables) -> ir.Table:
        """``journeys`` computed by ordering each journey's touchpoints (any query shape)."""
        tp = entity_touchpoints(tables, self.subject)
        tp = tp.filter(self.in_range(tp.ts))
        if self.exclude:
            tp = tp.filter(tp.type.notin(self.exclude))
        goals = goal_times(tables, self.subject, self.goal)
        tp = tp.left_join(goals, "entity")
        if self.until_goal:
            tp = tp.filter(tp.goal_ts.isnull() | (tp.ts < tp.goal_ts))
        tp = tp.select("entity", "ts", "seq", "goal_ts", node=node_expr(tp, self.node_by))
        if self.collapse_repeats:
            w = ibis.window(group_by=tp.entity, order_by=[tp.ts, tp.seq])
            tp = tp.mutate(prev=tp.node.lag().over(w))
            tp = tp.filter(tp.prev.isnull() | (tp.node != tp.prev))
        w = ibis.window(group_by=tp.entity, order_by=[tp.ts, tp.seq])
        tp = tp.mutate(pos=ibis.row_number().over(w))
        tp = tp.filter(tp.pos <= self.max_length)  # one past the cut tells a cut variant apart
        # One column per position: portable (no ordered string aggregation, which Spark lacks).
        slots = {f"n{i}": tp.node.min(where=tp.pos == i) for i in range(self.max_length)}
        return tp.group_by("entity").aggregate(
            length=tp.count(), converted=tp.goal_ts.notnull().any(), **slots
        )

    def counts(self, per_journey: ir.Table) -> ir.Table:
        """Journeys and conversions per variant (its slots and whether it was cut)."""
        cut = per_journey.length > self.max_length
        return per_journey.group_by([*self._slots(), cut.name("cut")]).aggregate(
            journeys=per_journey.count(), converted=per_journey.converted.cast("int64").sum()
        )


@dataclass(frozen=True)
class VariantsResult:
    """The top variants (rank, variant, length, journeys, share, converted, rate with CI)."""

    query: VariantsQuery
    journeys: int
    converted: int
    conversion_rate: float
    variants: pd.DataFrame
    warnings: tuple[str, ...] = ()


def variants(
    tables: Tables, *, top: int = 20, goal: str | dict[str, Any] | EventStep | StageStep = "opportunity",
    subject: Subject = "contact", node_by: NodeBy = "type", collapse_repeats: bool = True,
    max_length: int = 10, until_goal: bool = True,
    date_from: datetime | None = None, date_to: datetime | None = None,
) -> VariantsResult:
    """Notebook form of ``VariantsQuery``: a plain string goal is a lifecycle stage."""
    return VariantsQuery.model_validate(
        {
            "top": top, "goal": {"stage": goal} if isinstance(goal, str) else goal,
            "subject": subject, "node_by": node_by, "collapse_repeats": collapse_repeats,
            "max_length": max_length, "until_goal": until_goal,
            "date_from": date_from, "date_to": date_to,
        }
    ).run(tables)


def _variant_table(q: VariantsQuery, frame: pd.DataFrame, journeys: int) -> pd.DataFrame:
    """Join each variant's slots into one text and add shares and conversion rates."""
    frame = frame.sort_values("journeys", ascending=False, kind="stable").reset_index(drop=True)
    slots = [f"n{i}" for i in range(q.max_length)]
    names = []
    lengths = []
    for row in frame[slots].itertuples(index=False):
        nodes = [n for n in row if isinstance(n, str)]
        names.append(SEPARATOR.join(nodes))
        lengths.append(len(nodes))
    cut = frame["cut"].astype(bool).to_numpy() if len(frame) else []
    names = [f"{n}{SEPARATOR}{TRUNCATED}" if c else n for n, c in zip(names, cut, strict=True)]
    count = frame["journeys"].astype("int64").to_numpy()
    conv = frame["converted"].astype("int64").to_numpy()
    low, high = wilson_interval(conv, count, q.confidence)
    return pd.DataFrame(
        {
            "rank": range(1, len(frame) + 1),
            "variant": pd.Series(names, dtype="str"),
            "length": pd.Series(lengths, dtype="int64"),
            "truncated": pd.Series(cut, dtype="bool"),
            "journeys": count,
            "share": rate(count, [journeys] * len(count)),
            "converted": conv,
            "conversion_rate": rate(conv, count),
            "rate_low": low,
            "rate_high": high,
        }
    )
