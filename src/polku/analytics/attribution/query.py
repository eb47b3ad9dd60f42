"""The attribution request: a typed, JSON-friendly query, and how it runs.

``AttributionQuery`` is what the API accepts as a POST body and the CLI builds from its
options; ``run(tables)`` extracts the journeys in the engine and fits the models on
the aggregated paths. Defaults, and why:

- conversion: a contact (or account) first reaching lifecycle stage ``opportunity``;
  the stage history does not record stages a subject skipped, so a contact that went
  from lead straight to customer is not counted unless ``later_stages`` is set.
- channels: every channel except ``crm`` and ``product`` (when include_channels names
  channels, exactly those count, less any exclude_channels). ``crm`` rows are the firm's
  own records (lead qualified, sales accepted, orders): crediting them would credit
  the conversion to its own bookkeeping. ``product`` rows are usage and sensor
  readings, machine data of existing customers rather than touches of a journey.
- lookback: none (every touchpoint in the date range counts); half-life 7 days;
  position-based weights 40/20/40; first-order Markov chain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from polku.analytics.attribution.result import AttributionResult
from polku.analytics.attribution.runner import run_query
from polku.analytics.tables import Tables
from polku.errors import InvalidInput
from polku.model import CHANNELS, EVENT_TYPE_PATTERN, STAGE_ORDER

ModelName = Literal[
    "first_touch", "last_touch", "linear", "time_decay", "position_based", "markov", "shapley"
]
MODELS: Final[tuple[str, ...]] = get_args(ModelName)
DEFAULT_EXCLUDED: Final[tuple[str, ...]] = ("crm", "product")
# every subject starts as a visitor, so reaching "visitor" is no conversion
ConvertingStage = Literal["suspect", "prospect", "lead", "opportunity", "customer"]


class Conversion(BaseModel):
    """What counts as converting: reaching a lifecycle stage, or a first event of a type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: ConvertingStage | None = Field(
        default=None, description="lifecycle stage; 'opportunity' when neither field is given"
    )
    event_type: str | None = Field(
        default=None, pattern=EVENT_TYPE_PATTERN, description="a touchpoint type, e.g. demo_requested"
    )
    later_stages: bool = Field(
        default=False, description="also count reaching a stage after `stage` without passing it"
    )

    @model_validator(mode="before")
    @classmethod
    def _default_stage(cls, data: Any) -> Any:
        """Reaching opportunity, when neither a stage nor an event type is given."""
        if isinstance(data, dict) and data.get("stage") is None and data.get("event_type") is None:
            return {**data, "stage": "opportunity"}
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Conversion:
        """Exactly one of stage and event_type; an identify call is not a touchpoint."""
        if self.stage is not None and self.event_type is not None:
            raise ValueError("give either stage or event_type, not both")
        if self.event_type == "identify":
            raise ValueError("identify calls are not touchpoints; choose another event_type")
        if self.event_type is not None and self.later_stages:
            raise ValueError("later_stages applies to a stage conversion only")
        return self

    def stages(self) -> list[str]:
        """The lifecycle stages whose first entry is a conversion."""
        assert self.stage is not None
        rank = STAGE_ORDER.index(self.stage)
        return list(STAGE_ORDER[rank:]) if self.later_stages else [self.stage]


class AttributionQuery(BaseModel):
    """Credit per channel (or touchpoint type) for conversions, by several models side by side."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    conversion: Conversion = Field(default_factory=Conversion, description="what counts as converting")
    level: Literal["contact", "account"] = Field(
        default="contact", description="account: the buying group's touchpoints merged in time order"
    )
    by: Literal["channel", "type"] = Field(default="channel", description="credit channels or touchpoint types")
    models: list[ModelName] = Field(default_factory=lambda: list(MODELS), min_length=1)
    date_from: datetime | None = Field(default=None, description="inclusive; naive means UTC")
    date_to: datetime | None = Field(default=None, description="exclusive; naive means UTC")
    lookback_days: int | None = Field(
        default=None, ge=1, le=3650, description="only touchpoints this many days before a journey's end"
    )
    max_touches: int | None = Field(
        default=None, ge=1, le=10_000, description="only the last N touchpoints of each journey"
    )
    include_channels: list[str] | None = Field(default=None, min_length=1, description="default: all")
    exclude_channels: list[str] | None = Field(
        default=None, description="default: crm and product, unless include_channels is given"
    )
    half_life_days: float = Field(default=7.0, gt=0, le=3650, description="of the time-decay model")
    position_weights: tuple[float, float, float] = Field(
        default=(0.4, 0.2, 0.4), description="first, middle (shared), last touchpoint; adding up to 1"
    )
    markov_order: int = Field(default=1, ge=1, le=4, description="states remember this many channels")

    @field_validator("models")
    @classmethod
    def _unique_models(cls, v: list[str]) -> list[str]:
        """Each model once."""
        if len(set(v)) != len(v):
            raise ValueError("a model is named more than once")
        return v

    @field_validator("include_channels", "exclude_channels")
    @classmethod
    def _known_channels(cls, v: list[str] | None) -> list[str] | None:
        """Only channels Polku knows."""
        bad = sorted(set(v or ()) - CHANNELS)
        if bad:
            raise ValueError(f"unknown channels {bad}; known: {sorted(CHANNELS)}")
        return v

    @field_validator("date_from", "date_to")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        """Naive times are UTC; every bound is held in UTC."""
        if v is None:
            return None
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)

    @field_validator("position_weights")
    @classmethod
    def _weights(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        """Three non-negative weights (first, middle, last) that add up to 1."""
        if any(not math.isfinite(w) or w < 0 for w in v):
            raise ValueError("weights must be finite and non-negative")
        if not math.isclose(sum(v), 1.0, abs_tol=1e-9):
            raise ValueError(f"weights (first, middle, last) must add up to 1, got {sum(v):g}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> AttributionQuery:
        """A non-empty date range and channel selection."""
        if self.date_from and self.date_to and self.date_from >= self.date_to:
            raise ValueError("date_from must be before date_to")
        if not self.channels(sorted(CHANNELS)):
            raise ValueError("include_channels and exclude_channels leave no channel")
        return self

    def channels(self, known: list[str]) -> list[str]:
        """The channels whose touchpoints count: those included (default: ``known``) less those excluded.

        The default exclusions (crm, product) apply only when no channels are named for inclusion.
        """
        if self.include_channels is not None:
            return [c for c in self.include_channels if c not in (self.exclude_channels or ())]
        dropped = DEFAULT_EXCLUDED if self.exclude_channels is None else self.exclude_channels
        return [c for c in known if c not in dropped]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> AttributionQuery:
        """A query from plain data (JSON, keyword arguments); problems raise InvalidInput."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            details = [
                {
                    "field": ".".join(str(p) for p in e["loc"]) or "query",
                    "reason": e["msg"].removeprefix("Value error, "),
                }
                for e in exc.errors()
            ]
            message = "; ".join(f"{d['field']}: {d['reason']}" for d in details)
            raise InvalidInput(f"invalid attribution query: {message}", details=details) from exc

    def run(self, tables: Tables) -> AttributionResult:
        """Extract the journeys from ``tables`` and credit their conversions by each model."""
        return run_query(self, tables)
