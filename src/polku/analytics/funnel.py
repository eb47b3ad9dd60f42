"""Funnels: how many contacts (or accounts) go through ordered steps within a window.

A step is a touchpoint matching a filter (``{"event": "demo_requested", "channel": "web"}``)
or the entry into a lifecycle stage (``{"stage": "opportunity"}``, met by that stage or
any later one). The semantics, chosen so that every count can be checked by hand:

- A journey enters the funnel at its first step-1 touchpoint inside the date range (only
  step 1 must be in the range; later steps may fall after ``date_to``).
- Step k is met by the earliest matching item strictly after the item that met step k-1,
  in journey order (``ts``, then ``seq`` for equal timestamps; a stage entry comes just
  after the touchpoints of its own timestamp), and no later than step 1's time plus the
  window (inclusive). One touchpoint meets at most one step, so a funnel that repeats a
  step (``page_view`` twice) needs two touchpoints.
- Earliest-match is greedy from the first entry: a journey that fails from its first
  step-1 touchpoint is not retried from a later one.
- At account level the items of all the account's contacts form one journey, so an
  account meets a step when any member of its buying group does.

It is computed the way ARCHITECTURE.md measured fastest: per step, one join of the
step's candidates to the journeys that reached the step before, plus ``min(ts)``. No
window functions and no combined (ts, seq) key: equal timestamps are settled by a small
extra join of the rare candidates that share the previous step's exact time (``seq``
must be below 2**62, which any ingest counter is). The candidates of all steps are read
in one pass over the touchpoints (one relation with a match flag per step), not one per step.

Row k of the result is the move into step k: ``entered`` counts journeys that reached
step k-1 (for step 1, those that entered the funnel), ``converted`` those that went on to
reach step k, ``dropped`` the difference; ``rate`` is converted/entered and ``overall``
converted/started, each with a Wilson interval; ``median_seconds``/``p90_seconds`` are
the times from step k-1 to step k of the converted journeys.

A step that matches nothing is not an error: the funnel comes back with zeros and a
warning naming the step, so an event type that has not happened yet still gives an answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from polku.analytics.query import (
    DateRange,
    Duration,
    EventStep,
    StageStep,
    Step,
    Subject,
    entity_column,
    entity_touchpoints,
    seconds_between,
    stage_entries,
    stage_rank,
    to_frame,
)
from polku.analytics.stats import rate, wilson_interval
from polku.analytics.tables import Tables

__all__ = ["BREAKDOWNS", "FunnelQuery", "FunnelResult", "funnel"]

# Breakdown name -> where its value comes from: the step-1 touchpoint, the contact or the account.
BREAKDOWNS: Final[dict[str, Literal["touchpoint", "contact", "account"]]] = {
    "channel": "touchpoint",
    "topic": "touchpoint",
    "role": "contact",
    "org_level": "contact",
    "industry": "account",
    "country": "account",
    "owner": "account",
}
Breakdown = Literal["channel", "topic", "role", "org_level", "industry", "country", "owner"]
NONE_GROUP: Final = "(none)"
_TS_TYPE: Final = dt.Timestamp(timezone="UTC")
_TIE_SPAN: Final = 2**62  # stage entries (tie 1) sort after every touchpoint seq

STEP_COLUMNS: Final[tuple[str, ...]] = (
    "step", "name", "entered", "converted", "dropped", "rate", "rate_low", "rate_high",
    "overall", "overall_low", "overall_high", "median_seconds", "p90_seconds",
)


class FunnelQuery(DateRange):
    """A funnel request: ordered steps, a conversion window, a subject and a breakdown."""

    steps: list[Step] = Field(min_length=1, max_length=20, description="ordered funnel steps")
    window: Duration = Field(timedelta(days=30), description="time allowed from step 1 to the last step")
    subject: Subject = "contact"
    breakdown: Breakdown | None = Field(None, description="split the funnel by this trait")
    breakdown_limit: int = Field(25, ge=1, le=1000, description="largest groups kept")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)

    @model_validator(mode="after")
    def _breakdown_fits(self) -> FunnelQuery:
        source = BREAKDOWNS.get(self.breakdown or "")
        if source == "touchpoint" and not isinstance(self.steps[0], EventStep):
            raise ValueError(f"breakdown '{self.breakdown}' needs step 1 to be an event, not a stage")
        if source == "contact" and self.subject == "account":
            raise ValueError(f"breakdown '{self.breakdown}' is a contact trait; use subject 'contact'")
        return self

    def run(self, tables: Tables) -> FunnelResult:
        """Compute the funnel on ``tables`` (one query, plus checks when a step is empty)."""
        frame = to_frame(self.summary(tables))
        overall = _step_table(self, frame[frame["total"]], None)
        groups, warnings = None, []
        if self.breakdown is not None:
            groups, note = _group_table(self, frame[~frame["total"]])
            warnings += note
        warnings += _empty_step_warnings(self, tables, overall)
        return FunnelResult(query=self, steps=overall, groups=groups, warnings=tuple(warnings))

    def journeys(self, tables: Tables) -> ir.Table:
        """Per journey that entered the funnel, when it reached each step (for drill-down).

        Columns: entity, ``group`` when broken down, and ``ts_1`` ... ``ts_n`` (null when
        the step was not reached).
        """
        levels = _levels(self, tables)
        group = {"group": "grp"} if self.breakdown is not None else {}
        wide = levels[0].select("entity", ts_1="last_ts", **group)
        for k, level in enumerate(levels[1:], start=2):
            wide = wide.left_join(level.select("entity", **{f"ts_{k}": "last_ts"}), "entity")
            wide = wide.drop(*(c for c in wide.columns if c.endswith("_right")))
        return wide

    def summary(self, tables: Tables) -> ir.Table:
        """Per step (and group): converted count and the median/p90 seconds from the step before."""
        parts = []
        none = ibis.literal(None, "float64")
        for k, level in enumerate(_levels(self, tables), start=1):
            gap = seconds_between(level.last_ts, level.prev_ts)
            scopes = [True] if self.breakdown is None else [True, False]
            for total in scopes:
                key = ibis.literal(None, "string") if total else level.grp
                parts.append(
                    level.group_by(key=key, step=ibis.literal(k, "int64"), total=ibis.literal(total))
                    .aggregate(
                        converted=level.count(),
                        median_seconds=gap.quantile(0.5) if k > 1 else none,
                        p90_seconds=gap.quantile(0.9) if k > 1 else none,
                    )
                )
        return ibis.union(*parts, distinct=False)


@dataclass(frozen=True)
class FunnelResult:
    """A computed funnel: one row per step overall, per group and step when broken down."""

    query: FunnelQuery
    steps: pd.DataFrame
    groups: pd.DataFrame | None
    warnings: tuple[str, ...] = ()

    @property
    def started(self) -> int:
        """How many journeys entered the funnel."""
        return int(self.steps["converted"].iloc[0])

    @property
    def completed(self) -> int:
        """How many journeys reached the last step."""
        return int(self.steps["converted"].iloc[-1])


def funnel(
    tables: Tables,
    steps: Sequence[str | dict[str, Any] | EventStep | StageStep],
    *,
    window: str | timedelta = "30d",
    subject: Subject = "contact",
    breakdown: Breakdown | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> FunnelResult:
    """Notebook form of ``FunnelQuery``: a plain string step is an event type."""
    query = FunnelQuery.model_validate(
        {
            "steps": [{"event": s} if isinstance(s, str) else s for s in steps],
            "window": window,
            "subject": subject,
            "breakdown": breakdown,
            "date_from": date_from,
            "date_to": date_to,
        }
    )
    return query.run(tables)


# ---------------------------------------------------------------------------------------
# the expression


def _items(q: FunnelQuery, tables: Tables) -> ir.Table:
    """Everything that may meet a step, read once: entity, ts, tie, seq, ``value`` (the
    breakdown's touchpoint column, when it has one) and ``m1`` ... ``mn``, whether the item
    matches step k's filter.

    Touchpoints have tie 0 and their own seq; stage entries have tie 1 and their stage rank
    as seq, so they come after the touchpoints of the same timestamp. Every step reads this
    one relation (the engine scans the touchpoints once, not once per step).
    """
    with_value = q.breakdown is not None and BREAKDOWNS[q.breakdown] == "touchpoint"
    parts = []
    types = sorted({s.event for s in q.steps if isinstance(s, EventStep)})
    if types:
        tp = tables.touchpoints
        entity = tp[entity_column(q.subject)]
        hits = tp.filter(tp.type.isin(types), entity.notnull())
        flags = {
            f"m{k}": step.predicate(hits) if isinstance(step, EventStep) else ibis.literal(False)
            for k, step in enumerate(q.steps, start=1)
        }
        value = {"value": hits[q.breakdown or ""]} if with_value else {}
        parts.append(
            hits.select(
                entity=hits[entity_column(q.subject)], ts=hits.ts, tie=ibis.literal(0, "int64"), seq=hits.seq,
                **value, **flags,
            )
        )
    stage_steps = [s for s in q.steps if isinstance(s, StageStep)]
    if stage_steps:
        st = stage_entries(tables, q.subject, sorted({n for s in stage_steps for n in s.stages}))
        flags = {
            f"m{k}": st.stage.isin(step.stages) if isinstance(step, StageStep) else ibis.literal(False)
            for k, step in enumerate(q.steps, start=1)
        }
        value = {"value": ibis.literal(None, "string")} if with_value else {}
        parts.append(
            st.select(
                "entity", "ts", tie=ibis.literal(1, "int64"), seq=stage_rank(st.stage).cast("int64"),
                **value, **flags,
            )
        )
    return parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)


def _sub(t: ir.Table) -> ir.IntegerValue:
    """The order of items sharing a timestamp: touchpoints by seq, then stage entries."""
    return t.tie * _TIE_SPAN + t.seq


def _groups(q: FunnelQuery, tables: Tables, first: ir.Table, items: ir.Table) -> ir.Table:
    """The step-1 reach table with its breakdown group in ``grp``."""
    source = BREAKDOWNS[q.breakdown or ""]
    if source == "touchpoint":
        # The group is the value of the item that met step 1: the first (by seq) at time t1.
        at = items.join(first.select("entity", "last_ts"), [items.entity == first.entity, items.ts == first.last_ts])
        at = at.filter(items.m1, q.in_range(items.ts)).select(items.entity, sub=_sub(items), grp=items.value)
        chosen = at.group_by("entity").aggregate(sub=at.sub.min())
        picked = at.join(chosen, [at.entity == chosen.entity, at.sub == chosen.sub]).select(at.entity, at.grp)
        joined = first.left_join(picked, "entity")
        return joined.select(*first.columns, grp=joined.grp.fill_null(NONE_GROUP))
    if source == "contact":
        traits = _contact_traits(tables, q.breakdown or "")
    else:
        traits = _account_traits(tables, q.subject, q.breakdown or "")
    joined = first.left_join(traits, "entity")
    return joined.select(*first.columns, grp=joined.grp.fill_null(NONE_GROUP))


def _contact_traits(tables: Tables, column: str) -> ir.Table:
    c = tables.contacts
    return c.group_by(entity=c.contact_id).aggregate(grp=c[column].min())


def _account_traits(tables: Tables, subject: Subject, column: str) -> ir.Table:
    a = tables.accounts
    per_account = a.group_by(account_id=a.account_id).aggregate(grp=a[column].min())
    if subject == "account":
        return per_account.rename(entity="account_id")
    c = tables.contacts
    members = c.group_by(entity=c.contact_id).aggregate(account_id=c.account_id.min())
    joined = members.join(per_account, "account_id")
    return joined.select("entity", "grp")


def _levels(q: FunnelQuery, tables: Tables) -> list[ir.Table]:
    """Per step, the journeys that reached it: entity, t1, last_ts, prev_ts (and grp).

    A step's time is the minimum ``ts`` of the items that may meet it. Which of several
    items at exactly that time met it matters only to a next-step item at that same time:
    such an item counts when some item at that time met the step with a smaller
    (tie, seq). So ties are settled by a small join of those rare same-time candidates,
    and no engine has to order by a combined key or turn timestamps into numbers.

    Every filter on ``items`` comes after a join or inside an aggregate, never straight on
    it: Ibis would merge such a filter into the scan, and each step would read the
    touchpoints again.
    """
    items = _items(q, tables)
    met_first = items.m1 & q.in_range(items.ts)
    first = items.group_by("entity").aggregate(t1=items.ts.min(where=met_first))
    first = first.filter(first.t1.notnull())
    first = first.select("entity", "t1", last_ts=first.t1, prev_ts=ibis.literal(None, _TS_TYPE))
    if q.breakdown is not None:
        first = _groups(q, tables, first, items)
    carried = ["grp"] if q.breakdown is not None else []
    window = ibis.interval(seconds=int(q.window.total_seconds()))
    levels = [first]
    valid: ir.Table | None = None  # the items that met the step before (past step 1)
    for k in range(2, len(q.steps) + 1):
        j = items.join(levels[-1], "entity")
        j = j.filter(j[f"m{k}"], j.ts >= j.last_ts, j.ts <= j.t1 + window)
        j = j.select("entity", "ts", "tie", "seq", "t1", "last_ts", *carried)
        later = j.filter(j.ts > j.last_ts)
        same = j.filter(j.ts == j.last_ts)
        met = items if valid is None else valid
        tied = same.join(met, [same.entity == met.entity, same.ts == met.ts])
        tied = tied.filter(_sub(met) < _sub(same), *([items.m1, q.in_range(items.ts)] if valid is None else []))
        valid = ibis.union(later, tied.select(*(same[c] for c in later.columns)), distinct=False)
        levels.append(
            valid.group_by("entity").aggregate(
                t1=valid.t1.min(), last_ts=valid.ts.min(), prev_ts=valid.last_ts.min(),
                **{c: valid[c].min() for c in carried},
            )
        )
    return levels


# ---------------------------------------------------------------------------------------
# assembling the result


def _counts(q: FunnelQuery, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per step with converted and times, zeros for steps nobody reached."""
    steps = pd.DataFrame({"step": np.arange(1, len(q.steps) + 1, dtype=np.int64)})
    got = frame[["step", "converted", "median_seconds", "p90_seconds"]]
    out = steps.merge(got, on="step", how="left")
    out["converted"] = out["converted"].fillna(0).astype(np.int64)
    return out


def _step_table(q: FunnelQuery, frame: pd.DataFrame, group: str | None) -> pd.DataFrame:
    """The per-step table of one scope (overall or one group) from its summary rows."""
    out = _counts(q, frame)
    converted = out["converted"].to_numpy()
    entered = np.concatenate([converted[:1], converted[:-1]])
    started = np.full_like(converted, converted[0])
    low, high = wilson_interval(converted, entered, q.confidence)
    o_low, o_high = wilson_interval(converted, started, q.confidence)
    table = pd.DataFrame(
        {
            "step": out["step"],
            "name": [s.name for s in q.steps],
            "entered": entered,
            "converted": converted,
            "dropped": entered - converted,
            "rate": rate(converted, entered),
            "rate_low": low,
            "rate_high": high,
            "overall": rate(converted, started),
            "overall_low": o_low,
            "overall_high": o_high,
            "median_seconds": out["median_seconds"].astype("float64"),
            "p90_seconds": out["p90_seconds"].astype("float64"),
        }
    )
    if group is not None:
        table.insert(0, "group", group)
    return table


def _group_table(q: FunnelQuery, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Per-group step tables, largest groups first, cut at ``breakdown_limit``."""
    starts = frame[frame["step"] == 1].sort_values(["converted", "key"], ascending=[False, True])
    names = starts["key"].tolist()
    kept = names[: q.breakdown_limit]
    warnings = []
    if len(names) > len(kept):
        warnings.append(
            f"breakdown '{q.breakdown}': {len(names) - len(kept)} smaller groups left out "
            f"(breakdown_limit {q.breakdown_limit})"
        )
    tables = [_step_table(q, frame[frame["key"] == name], name) for name in kept]
    if not tables:
        columns = ["group", *STEP_COLUMNS]
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns}), warnings
    return pd.concat(tables, ignore_index=True), warnings


def _empty_step_warnings(q: FunnelQuery, tables: Tables, steps: pd.DataFrame) -> list[str]:
    """Explain zero counts: steps whose filter matches nothing at all, or an empty range."""
    if int(steps["converted"].iloc[-1]) > 0:
        return []
    warnings = []
    for k, step in enumerate(q.steps, start=1):
        if int(steps["converted"].iloc[k - 1]) == 0 and not _matches_anything(q, tables, step):
            warnings.append(f"step {k} ({step.name}) matches no {_what(step)} in the data")
    if int(steps["converted"].iloc[0]) == 0 and not warnings:
        scope = " in the date range" if q.date_from or q.date_to else ""
        warnings.append(f"no {q.subject} entered the funnel{scope}")
    return warnings


def _what(step: EventStep | StageStep) -> str:
    return "touchpoint" if isinstance(step, EventStep) else "stage entry"


def _matches_anything(q: FunnelQuery, tables: Tables, step: EventStep | StageStep) -> bool:
    """Whether any touchpoint (or stage entry) of the subject meets the step, at any time."""
    if isinstance(step, EventStep):
        tp = entity_touchpoints(tables, q.subject)
        hits = tp.filter(step.predicate(tp))
    else:
        hits = stage_entries(tables, q.subject, step.stages)
    return int(hits.limit(1).count().to_pyarrow().as_py()) > 0
