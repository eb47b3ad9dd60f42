"""Velocity: how long contacts (or accounts) spend in each lifecycle stage, how each monthly
cohort of stage entries moves on, and where deals stall.

Read from the stage history (``Tables.stages``), which only moves forward and may skip
stages. For each entry into a stage:

- its *time in stage* runs to the entity's next stage entry (any later stage); an entry
  with no later one is *current*;
- it *advanced* when a later entry exists (within ``within`` of the entry when given);
- a current entry is *stalled* when it has lasted longer than the p90 time in that stage
  of the entries that did move on (the last stage, customer, never stalls).

Entries at the same timestamp are ordered by stage rank, so a contact identified and
qualified at once spends zero seconds as a suspect. The date range selects entries by
their entry time for the stage times and cohorts; stalls are about now (``as_of``, by
default the latest timestamp in the touchpoints and the stage history) and ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from polku.analytics.query import (
    DateRange,
    Duration,
    Subject,
    as_utc,
    entity_touchpoints,
    seconds_between,
    stage_entries,
    stage_rank,
    to_frame,
)
from polku.analytics.stats import rate, wilson_interval
from polku.analytics.tables import Tables
from polku.model import STAGE_ORDER, STAGE_RANK

__all__ = ["VelocityQuery", "VelocityResult", "stage_cohorts", "stalls", "time_in_stage", "velocity"]

DAY: Final = 86_400.0
_FINAL_STAGE: Final = STAGE_ORDER[-1]


class VelocityQuery(DateRange):
    """A velocity request: the subject, optional cohort horizon and the 'now' for stalls."""

    subject: Subject = "contact"
    within: Duration | None = Field(
        None, description="count an entry as advanced only if the next stage came within this time"
    )
    as_of: datetime | None = Field(None, description="'now' for stalls (naive = UTC)")
    stalled_limit: int = Field(100, ge=0, le=10_000, description="most overdue stalled entities listed")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)

    @field_validator("as_of")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)

    def run(self, tables: Tables) -> VelocityResult:
        """Stage times, cohorts and stalls in three small queries."""
        as_of = self.as_of or _latest(tables, self.subject)
        times = time_in_stage(tables, self.subject, query=self)
        cohorts = stage_cohorts(tables, self.subject, query=self, as_of=as_of)
        summary, stalled = stalls(
            tables, self.subject, as_of=as_of, limit=self.stalled_limit
        ) if as_of is not None else (_empty_stalls(), _empty_stalled())
        warnings = () if as_of is not None else ("no stage history or touchpoints: nothing to measure",)
        return VelocityResult(
            query=self, as_of=as_of, stages=times, cohorts=cohorts, stalls=summary,
            stalled=stalled, warnings=warnings,
        )


@dataclass(frozen=True)
class VelocityResult:
    """Time in stage, cohort conversion and stalls; ``as_of`` is the 'now' used for stalls."""

    query: VelocityQuery
    as_of: datetime | None
    stages: pd.DataFrame
    cohorts: pd.DataFrame
    stalls: pd.DataFrame
    stalled: pd.DataFrame
    warnings: tuple[str, ...] = ()


def velocity(
    tables: Tables, *, subject: Subject = "contact", within: str | timedelta | None = None,
    as_of: datetime | None = None, date_from: datetime | None = None, date_to: datetime | None = None,
) -> VelocityResult:
    """Notebook form of ``VelocityQuery``."""
    return VelocityQuery.model_validate(
        {"subject": subject, "within": within, "as_of": as_of, "date_from": date_from, "date_to": date_to}
    ).run(tables)


# ---------------------------------------------------------------------------------------
# expressions


def entries(tables: Tables, subject: Subject) -> ir.Table:
    """Stage entries with the entity's next entry: entity, stage, rank, ts, next_stage, next_ts."""
    st = stage_entries(tables, subject)
    st = st.mutate(rank=stage_rank(st.stage))
    st = st.filter(st.rank.notnull())
    w = ibis.window(group_by=st.entity, order_by=[st.ts, st.rank])
    return st.mutate(next_stage=st.stage.lead().over(w), next_ts=st.ts.lead().over(w))


def time_in_stage(tables: Tables, subject: Subject = "contact", *, query: VelocityQuery | None = None) -> pd.DataFrame:
    """Per stage: entries, how many moved on or are still there, median and p90 days in it."""
    q = query or VelocityQuery(subject=subject)
    e = entries(tables, subject)
    e = e.filter(q.in_range(e.ts))
    days = seconds_between(e.next_ts, e.ts) / DAY
    agg = e.group_by("stage").aggregate(
        entered=e.count(),
        moved_on=e.next_ts.count(),
        median_days=days.quantile(0.5),
        p90_days=days.quantile(0.9),
        mean_days=days.mean(),
    )
    frame = _by_stage(to_frame(agg))
    frame["current"] = frame["entered"] - frame["moved_on"]
    return frame[["stage", "entered", "moved_on", "current", "median_days", "p90_days", "mean_days"]]


def stage_cohorts(
    tables: Tables, subject: Subject = "contact", *, query: VelocityQuery | None = None,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """Per stage and month of entry: entered, advanced (to any later stage), rate with CI.

    With ``within``, ``complete`` says whether every entry of the cohort had that long to
    advance before ``as_of`` (recent cohorts look worse only because they are young).
    """
    q = query or VelocityQuery(subject=subject)
    e = entries(tables, subject)
    e = e.filter(q.in_range(e.ts), e.stage != _FINAL_STAGE)
    advanced = e.next_ts.notnull()
    if q.within is not None:
        advanced = advanced & (e.next_ts <= e.ts + ibis.interval(seconds=int(q.within.total_seconds())))
    agg = e.group_by(stage=e.stage, cohort=e.ts.truncate("M")).aggregate(
        entered=e.count(), advanced=advanced.cast("int64").sum()
    )
    frame = to_frame(agg)
    if frame.empty:
        return _empty_cohorts()
    frame["cohort"] = pd.to_datetime(frame["cohort"], utc=True)
    frame["rank"] = frame["stage"].map(STAGE_RANK)
    frame = frame.sort_values(["rank", "cohort"]).drop(columns="rank").reset_index(drop=True)
    low, high = wilson_interval(frame["advanced"], frame["entered"], q.confidence)
    frame["rate"] = rate(frame["advanced"], frame["entered"])
    frame["rate_low"], frame["rate_high"] = low, high
    if q.within is not None and as_of is not None:
        month_end = frame["cohort"] + pd.offsets.MonthBegin(1)
        frame["complete"] = (month_end + q.within) <= pd.Timestamp(as_of)
    else:
        frame["complete"] = pd.Series([None] * len(frame), dtype="object")
    frame["cohort"] = frame["cohort"].dt.strftime("%Y-%m")
    frame["advanced"] = frame["advanced"].astype("int64")
    return frame[["stage", "cohort", "entered", "advanced", "rate", "rate_low", "rate_high", "complete"]]


def stalls(
    tables: Tables, subject: Subject = "contact", *, as_of: datetime, limit: int = 100
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per stage: current entities, the p90 threshold and how many are past it; plus the
    ``limit`` most overdue entities (entity, stage, since, age_days, threshold_days)."""
    e = entries(tables, subject).filter(lambda t: t.stage != _FINAL_STAGE)
    moved = e.filter(e.next_ts.notnull())
    thresholds = moved.group_by("stage").aggregate(
        threshold_days=(seconds_between(moved.next_ts, moved.ts) / DAY).quantile(0.9)
    )
    current = e.filter(e.next_ts.isnull(), e.ts <= as_of)
    current = current.mutate(age_days=seconds_between(ibis.literal(as_of), current.ts) / DAY)
    current = current.left_join(thresholds, "stage").select(
        "entity", "stage", "age_days", "threshold_days", since="ts"
    )
    overdue = current.threshold_days.notnull() & (current.age_days > current.threshold_days)
    summary = current.group_by("stage").aggregate(
        current=current.count(),
        stalled=overdue.cast("int64").sum(),
        threshold_days=current.threshold_days.max(),
        median_age_days=current.age_days.quantile(0.5),
    )
    frame = _by_stage(to_frame(summary), stages=STAGE_ORDER[:-1])
    frame["stalled"] = frame["stalled"].astype("int64")
    frame["stalled_share"] = rate(frame["stalled"], frame["current"])
    frame = frame[["stage", "current", "stalled", "stalled_share", "threshold_days", "median_age_days"]]
    listed = current.filter(overdue).mutate(overdue=current.age_days / current.threshold_days)
    listed = listed.order_by([ibis.desc("overdue"), "entity"]).limit(limit)
    stalled = to_frame(listed.select("entity", "stage", "since", "age_days", "threshold_days"))
    return frame, stalled


def _latest(tables: Tables, subject: Subject) -> datetime | None:
    """The data's 'now': the latest touchpoint or stage entry of the subject."""
    tp = entity_touchpoints(tables, subject)
    st = stage_entries(tables, subject)
    found = [
        v for v in (tp.ts.max().to_pyarrow().as_py(), st.ts.max().to_pyarrow().as_py()) if v is not None
    ]
    return max(found) if found else None


def _by_stage(frame: pd.DataFrame, stages: tuple[str, ...] = STAGE_ORDER) -> pd.DataFrame:
    """One row per stage in lifecycle order; counts 0 and times NaN where nothing happened."""
    out = pd.DataFrame({"stage": list(stages)}).merge(frame, on="stage", how="left")
    for column in out.columns:
        if column == "stage":
            continue
        if column in {"entered", "moved_on", "current", "stalled"}:
            out[column] = out[column].fillna(0).astype("int64")
        else:
            out[column] = out[column].astype("float64")
    return out


def _empty_cohorts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stage": pd.Series(dtype="str"), "cohort": pd.Series(dtype="str"),
            "entered": pd.Series(dtype="int64"), "advanced": pd.Series(dtype="int64"),
            "rate": pd.Series(dtype="float64"), "rate_low": pd.Series(dtype="float64"),
            "rate_high": pd.Series(dtype="float64"), "complete": pd.Series(dtype="object"),
        }
    )


def _empty_stalls() -> pd.DataFrame:
    frame = pd.DataFrame({"stage": list(STAGE_ORDER[:-1])})
    frame["current"] = np.zeros(len(frame), dtype=np.int64)
    frame["stalled"] = np.zeros(len(frame), dtype=np.int64)
    for column in ("stalled_share", "threshold_days", "median_age_days"):
        frame[column] = np.nan
    return frame


def _empty_stalled() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity": pd.Series(dtype="str"), "stage": pd.Series(dtype="str"),
            "since": pd.Series(dtype="datetime64[us, UTC]"), "age_days": pd.Series(dtype="float64"),
            "threshold_days": pd.Series(dtype="float64"),
        }
    )
