"""Request pieces the analytic queries share: subjects, durations, date ranges, event
filters, funnel steps and conversion goals, and the Ibis helpers that apply them.

Everything here is JSON-friendly (the API's POST bodies are the query models) and every
helper builds engine-neutral Ibis expressions over ``polku.analytics.tables.Tables``.

Conventions shared by every analytic:

- ``subject`` is ``"contact"`` (one journey per resolved contact) or ``"account"`` (one
  journey per account: the touchpoints of all its contacts together, so an account
  reaches a step when any member of its buying group does). Touchpoints without an
  account are left out of account-level analytics.
- Touchpoints are ordered by ``ts`` and then ``seq`` (ingest order), so equal timestamps
  have one deterministic order. A stage entry happens just after the touchpoints of its
  own timestamp (the touchpoint that caused it comes first).
- Reaching a lifecycle stage means entering it *or any later stage*: stages can be
  skipped (a quote request can make a suspect an opportunity directly).
- Durations are texts ``"<n><unit>"`` with unit ``s``, ``m``, ``h``, ``d`` or ``w``
  (``"30d"``, ``"12h"``); in Python a ``timedelta`` works too. They must be positive.
- Date ranges are half-open, ``date_from <= ts < date_to``; a naive datetime is UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from polku.analytics.tables import Tables
from polku.lifecycle.rules import PropertyTest
from polku.model import EVENT_TYPE_PATTERN, STAGE_ORDER, STAGE_RANK, Channel, LifecycleStage

__all__ = [
    "AnalyticsQuery",
    "DateRange",
    "Duration",
    "EventFilter",
    "EventStep",
    "Goal",
    "NodeBy",
    "StageStep",
    "Step",
    "Subject",
    "as_utc",
    "check_event_types",
    "earliest",
    "entity_column",
    "entity_touchpoints",
    "format_duration",
    "goal_times",
    "node_expr",
    "node_name",
    "parse_duration",
    "seconds_between",
    "stage_entries",
    "stage_rank",
    "to_frame",
]

Subject = Literal["contact", "account"]
NodeBy = Literal["type", "channel_type"]

_UNIT_SECONDS: Final[dict[str, int]] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION_RE: Final = re.compile(r"^\s*(\d{1,9})\s*([smhdw])\s*$")
_DURATION_HELP: Final = "a positive duration like '30d', '12h', '90m', '45s' or '2w'"
_PROPERTY_KEY: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def parse_duration(value: Any) -> timedelta:
    """A positive timedelta from a text like '30d' (or a timedelta); ValueError otherwise."""
    if isinstance(value, timedelta):
        delta = value
    elif isinstance(value, str) and (match := _DURATION_RE.match(value)):
        delta = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    else:
        raise ValueError(f"expected {_DURATION_HELP}, got {value!r}")
    if delta <= timedelta(0):
        raise ValueError(f"must be {_DURATION_HELP}; a window of zero matches nothing")
    return delta


def format_duration(delta: timedelta) -> str:
    """The shortest exact text of a duration in the largest unit that divides it ('30d')."""
    seconds = int(delta.total_seconds())
    for unit, size in _UNIT_SECONDS.items():
        if seconds % size == 0 and unit != "w":
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": _DURATION_RE.pattern, "examples": ["30d", "12h"]}
    ),
]


def as_utc(value: datetime | None) -> datetime | None:
    """A naive datetime read as UTC; aware ones and None pass unchanged."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class AnalyticsQuery(BaseModel):
    """Base of every typed analytic request: strict fields, immutable once made."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DateRange(AnalyticsQuery):
    """An optional half-open date range, ``date_from <= ts < date_to``."""

    date_from: datetime | None = Field(None, description="first instant included (naive = UTC)")
    date_to: datetime | None = Field(None, description="first instant excluded (naive = UTC)")

    @field_validator("date_from", "date_to")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.date_from and self.date_to and self.date_to <= self.date_from:
            raise ValueError("date_to must be after date_from")
        return self

    def in_range(self, ts: ir.TimestampValue) -> ir.BooleanValue:
        """Whether ``ts`` falls in the range (always true without bounds)."""
        cond: ir.BooleanValue = ibis.literal(True)
        if self.date_from is not None:
            cond = cond & (ts >= self.date_from)
        if self.date_to is not None:
            cond = cond & (ts < self.date_to)
        return cond


class EventFilter(AnalyticsQuery):
    """Touchpoints of one type, optionally of one channel and topic, with property tests."""

    event: str = Field(pattern=EVENT_TYPE_PATTERN, description="touchpoint type, e.g. page_view")
    channel: Channel | None = None
    topic: str | None = Field(None, min_length=1, max_length=200)
    properties: dict[str, PropertyTest] = Field(
        default_factory=dict,
        description="tests on top-level keys of the touchpoint's properties JSON",
    )

    @field_validator("properties")
    @classmethod
    def _keys(cls, value: dict[str, PropertyTest]) -> dict[str, PropertyTest]:
        bad = [k for k in value if not _PROPERTY_KEY.match(k)]
        if bad:
            raise ValueError(f"property names must be letters, digits and _: {bad}")
        return value

    def predicate(self, t: ir.Table) -> ir.BooleanValue:
        """The filter as a boolean expression over a touchpoints table."""
        cond: ir.BooleanValue = t.type == self.event
        if self.channel is not None:
            cond = cond & (t.channel == self.channel.value)
        if self.topic is not None:
            cond = cond & (t.topic == self.topic)
        if self.properties:
            doc = t.properties.cast("json")
            for key, test in self.properties.items():
                cond = cond & _property_test(doc[key], test)
        return cond

    def describe(self) -> str:
        """A short human name of the filter, e.g. 'page_view (web, path contains pricing)'."""
        parts = [p for p in (self.channel and self.channel.value, self.topic) if p]
        for key, test in self.properties.items():
            if test.contains is not None:
                parts.append(f"{key} contains {test.contains}")
            elif test.one_of is not None:
                parts.append(f"{key} in {'/'.join(test.one_of)}")
            else:
                parts.append(f"{key} = {test.equals}")
        return f"{self.event} ({', '.join(parts)})" if parts else self.event


def _property_test(value: ir.JSONValue, test: PropertyTest) -> ir.BooleanValue:
    """One property test on a JSON value; a missing key or another JSON type never matches."""
    if test.contains is not None:
        return value.str.lower().contains(test.contains.lower()).fill_null(False)
    if test.one_of is not None:
        return value.str.isin(test.one_of).fill_null(False)
    if isinstance(test.equals, bool):
        return (value.bool == test.equals).fill_null(False)
    if isinstance(test.equals, int | float):
        return (value.float == float(test.equals)).fill_null(False)
    return (value.str == test.equals).fill_null(False)


class EventStep(EventFilter):
    """A funnel step or goal met by a touchpoint matching the filter."""

    label: str | None = Field(None, max_length=120, description="display name of the step")

    @property
    def kind(self) -> Literal["event"]:
        return "event"

    @property
    def name(self) -> str:
        return self.label or self.describe()


class StageStep(AnalyticsQuery):
    """A funnel step or goal met by entering a lifecycle stage (or any later one)."""

    stage: LifecycleStage
    label: str | None = Field(None, max_length=120, description="display name of the step")

    @property
    def kind(self) -> Literal["stage"]:
        return "stage"

    @property
    def name(self) -> str:
        return self.label or f"stage {self.stage.value}"

    @property
    def stages(self) -> list[str]:
        """The stages whose entry meets the step: this one and every later one."""
        return list(STAGE_ORDER[STAGE_RANK[self.stage.value]:])


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "stage" if "stage" in value else "event"
    return getattr(value, "kind", None)


Step = Annotated[
    Annotated[EventStep, Tag("event")] | Annotated[StageStep, Tag("stage")],
    Discriminator(
        _step_kind,
        custom_error_type="invalid_step",
        custom_error_message="a step names either an 'event' (with optional filters) or a 'stage'",
    ),
]
# A conversion goal has the same two forms: {"stage": "opportunity"} or {"event": "order_placed"}.
Goal = Step


def check_event_types(value: list[str]) -> list[str]:
    """Validate a list of event type names (for ``exclude`` fields)."""
    bad = [t for t in value if not re.match(EVENT_TYPE_PATTERN, t)]
    if bad:
        raise ValueError(f"not event type names: {bad}")
    return value


def entity_column(subject: Subject) -> str:
    """The touchpoint column that identifies a journey of this subject."""
    return "contact_id" if subject == "contact" else "account_id"


def entity_touchpoints(tables: Tables, subject: Subject) -> ir.Table:
    """The touchpoints with an ``entity`` column (contact or account id); no null entities."""
    tp = tables.touchpoints
    entity = tp[entity_column(subject)]
    return tp.filter(entity.notnull()).mutate(entity=entity)


def stage_entries(tables: Tables, subject: Subject, stages: list[str] | None = None) -> ir.Table:
    """Stage-history rows of the subject (optionally only the given stages) as entity, stage, ts."""
    st = tables.stages.filter(tables.stages.subject == subject)
    if stages is not None:
        st = st.filter(st.stage.isin(stages))
    return st.select(entity=st.subject_id, stage=st.stage, ts=st.ts)


def stage_rank(stage: ir.StringValue) -> ir.IntegerValue:
    """The lifecycle rank of a stage name (visitor = 0 ... customer = 5); null if unknown."""
    return stage.cases(*((name, rank) for name, rank in STAGE_RANK.items()), else_=None)


def goal_times(tables: Tables, subject: Subject, goal: EventStep | StageStep) -> ir.Table:
    """Per entity that reached the goal, the first time it did: columns entity, goal_ts."""
    if isinstance(goal, StageStep):
        src = stage_entries(tables, subject, goal.stages)
    else:
        tp = entity_touchpoints(tables, subject)
        src = tp.filter(goal.predicate(tp))
    return src.group_by("entity").aggregate(goal_ts=src.ts.min())


def node_expr(t: ir.Table, node_by: NodeBy) -> ir.StringValue:
    """A touchpoint's node name in paths and variants: its type, or 'channel:type'."""
    return node_name(t.type, t.channel, node_by)


def node_name(kind: ir.StringValue, channel: ir.StringValue, node_by: NodeBy) -> ir.StringValue:
    """The node name of a touchpoint type and channel: the type, or 'channel:type'."""
    if node_by == "type":
        return kind
    return channel.fill_null("unknown").concat(":", kind)


def earliest(
    t: ir.Table, sub: Callable[[ir.Table], ir.IntegerValue], **carry: Callable[[ir.Table], ir.Value]
) -> ir.Table:
    """Per entity, the earliest row in (ts, sub) order: columns entity, last_ts, last_sub, *carry.

    Two plain aggregations instead of one over a combined key: the minimum ``ts`` first,
    then the smallest ``sub`` among the rows at exactly that time. Ties are rare, but this
    keeps the choice deterministic on every engine without turning timestamps into
    numbers (slow for time-zone-aware timestamps in DuckDB) or ordered aggregates (which
    Spark lacks). ``carry`` maps output names to aggregates over the rows at that time.
    """
    firsts = t.group_by("entity").aggregate(first_ts=t.ts.min())
    at = t.join(firsts, [t.entity == firsts.entity, t.ts == firsts.first_ts])
    return at.group_by("entity").aggregate(
        last_ts=at.ts.min(), last_sub=sub(at).min(), **{k: f(at) for k, f in carry.items()}
    )


def seconds_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """Seconds from ``earlier`` to ``later`` (millisecond precision)."""
    return later.delta(earlier, unit="millisecond").cast("float64") / 1000.0


def to_frame(expr: ir.Table) -> pd.DataFrame:
    """Execute an expression on its own backend and return a fresh-indexed DataFrame."""
    return expr.to_pandas().reset_index(drop=True)
