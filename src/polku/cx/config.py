"""The workspace's ``cx.yaml``: target experiences, scale conventions, health weights and alert rules.

Loaded with line numbers, so every problem names the file and line. A workspace without the
file gets the defaults (no targets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from polku.cx.measures import ANSWER_SCALES, MEASURES, Better, MeasureDef, with_conventions
from polku.model import OrgLevel, Role
from polku.yamlfile import load_model

CX_FILE: Final = "cx.yaml"
Phase = Literal["pre-purchase", "purchase", "post-purchase"]
_PHASE_SPELLINGS: Final = {"pre_purchase": "pre-purchase", "post_purchase": "post-purchase"}
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class _Strict(BaseModel):
    """A config block that rejects unknown keys (a typo is an error, not a silent default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Convention(_Strict):
    """Which end of an answer scale is better."""

    better: Better


class Dimension(_Strict):
    """One measurable dimension of a target: a measure, a target value and which side is good."""

    measure: str
    target: float
    direction: Literal["at_most", "at_least"]

    @model_validator(mode="after")
    def _known_measure(self) -> Dimension:
        m = MEASURES.get(self.measure)
        if m is None:
            raise ValueError(f"unknown measure {self.measure!r}; measures: {', '.join(MEASURES)}")
        lo, hi = m.value_range
        if not lo <= self.target <= hi:
            raise ValueError(f"target {self.target:g} is outside {self.measure}'s range {lo:g} to {hi:g}")
        return self


class Attribution(_Strict):
    """Whose experience: roles and/or organisational levels in the customer firm (both must match)."""

    roles: list[Role] = Field(default_factory=list)
    org_levels: list[OrgLevel] = Field(default_factory=list)

    def text(self) -> str:
        """The attribution in words."""
        parts = [", ".join(r.value for r in self.roles), ", ".join(o.value + " level" for o in self.org_levels)]
        return " at ".join(p for p in parts if p) or "everyone"


class Scope(_Strict):
    """Where the experience happens: one touchpoint (event type or survey), one journey phase, or the whole business."""

    touchpoint: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | None = None
    survey: str | None = None
    phase: Phase | None = None
    business: bool = False
    within_days: float = Field(default=7.0, gt=0, description="an answer without a recorded trigger belongs to a "
                               "touchpoint of this type by the same contact this many days before it")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if data == "business":
            return {"business": True}
        if isinstance(data, dict) and isinstance(data.get("phase"), str):
            return {**data, "phase": _PHASE_SPELLINGS.get(data["phase"], data["phase"])}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Scope:
        given = [k for k in ("touchpoint", "survey", "phase") if getattr(self, k) is not None] + (
            ["business"] if self.business else [])
        if len(given) != 1:
            raise ValueError("a scope is exactly one of touchpoint (event type), survey, phase or business"
                             + (f"; got {', '.join(given)}" if given else ""))
        return self

    @property
    def kind(self) -> str:
        """touchpoint, survey, phase or business."""
        return next(k for k in ("touchpoint", "survey", "phase") if getattr(self, k) is not None) if not self.business else "business"

    def text(self) -> str:
        """The scope in words."""
        if self.business:
            return "the customer's whole business"
        if self.phase:
            return f"the {self.phase} phase"
        return f"survey {self.survey}" if self.survey else f"touchpoint {self.touchpoint}"


class Target(_Strict):
    """A target experience: granularity (dimensions), attribution (whose) and scope (where)."""

    id: Name
    title: str | None = None
    granularity: list[Dimension] = Field(min_length=1)
    attribution: Attribution = Field(default_factory=Attribution)
    scope: Scope
    min_n: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _one_dimension(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("granularity"), dict):
            return {**data, "granularity": [data["granularity"]]}
        return data


class HealthWeights(_Strict):
    """Weights of the health components; components without data drop out and the rest are rescaled."""

    nps: float = Field(default=0.25, ge=0)
    csat: float = Field(default=0.10, ge=0)
    ces: float = Field(default=0.10, ge=0)
    activity: float = Field(default=0.10, ge=0)
    tickets: float = Field(default=0.10, ge=0)
    reopened: float = Field(default=0.05, ge=0)
    resolution: float = Field(default=0.05, ge=0)
    promise: float = Field(default=0.10, ge=0)
    product: float = Field(default=0.15, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> HealthWeights:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one health weight must be above 0")
        return self


class ProductSignal(_Strict):
    """Readings from installed devices that tell the product's condition (e.g. wear)."""

    event: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")] = "sensor_reading"
    kind_property: str = "sensor"  # readings are compared within a kind (vibration with vibration)
    higher_is_worse: bool = True


class Health(_Strict):
    """How account CX health is computed."""

    weights: HealthWeights = Field(default_factory=HealthWeights)
    half_life_days: float = Field(default=180.0, gt=0, description="an answer this old counts half")
    prior_answers: float = Field(default=2.0, ge=0, description="pseudo-answers pulling few answers to the average")
    window_days: int = Field(default=90, ge=7, description="activity: the last window against the one before")
    lookback_days: int = Field(default=365, ge=30, description="tickets, deliveries, readings and signals this old count")
    activity_exclude: list[str] = Field(default_factory=lambda: [
        "email_sent", "email_bounce", "lead_qualified", "sales_accepted", "lead_rejected", "survey_answered",
        "sensor_reading"])
    product: ProductSignal = Field(default_factory=ProductSignal)
    at_risk_below: float = Field(default=35.0, ge=0, le=100)


class DetractorRule(_Strict):
    """An answer on this measure's bad side of the threshold is a detractor answer."""

    measure: Literal["nps", "csat", "ces"]
    at_most: float | None = None
    at_least: float | None = None

    @model_validator(mode="after")
    def _one_side(self) -> DetractorRule:
        if (self.at_most is None) == (self.at_least is None):
            raise ValueError("a detractor rule has exactly one of at_most or at_least")
        return self


class Alerts(_Strict):
    """When an alert goes to the account owner, and what else happens."""

    detractor: list[DetractorRule] = Field(default_factory=lambda: [
        DetractorRule(measure="nps", at_most=6), DetractorRule(measure="csat", at_most=2)])
    health_drop: float = Field(default=15.0, gt=0, description="points lost within drop_days")
    drop_days: int = Field(default=30, ge=1)
    since_days: int = Field(default=30, ge=1, description="only answers this recent raise alerts")
    journey: str | None = Field(default=None, description="a nurture journey detractors are enrolled in")


class CxConfig(_Strict):
    """The whole cx.yaml."""

    measures: dict[Literal["ces"], Convention] = Field(default_factory=dict)
    min_n: int = Field(default=30, ge=1, description="fewer answers than this: not enough data")
    confidence: float = Field(default=0.95, gt=0, lt=1)
    trend_days: int = Field(default=90, ge=7)
    targets: list[Target] = Field(default_factory=list)
    health: Health = Field(default_factory=Health)
    alerts: Alerts = Field(default_factory=Alerts)

    @field_validator("targets")
    @classmethod
    def _unique_ids(cls, targets: list[Target]) -> list[Target]:
        seen: set[str] = set()
        for t in targets:
            if t.id in seen:
                raise ValueError(f"target id {t.id!r} is used twice")
            seen.add(t.id)
        return targets

    @field_validator("alerts")
    @classmethod
    def _rules_match_scales(cls, alerts: Alerts, info: ValidationInfo) -> Alerts:
        conventions = info.data.get("measures", {})
        for i, rule in enumerate(alerts.detractor):
            convention = conventions.get(rule.measure)
            better = convention.better if convention else MEASURES[ANSWER_SCALES[rule.measure]].better
            if (better == "higher") != (rule.at_most is not None):
                side = "at_most" if better == "higher" else "at_least"
                raise ValueError(f"detractor.{i}: on {rule.measure} {better} is better, so its rule uses {side}")
        return alerts

    def measure_defs(self) -> dict[str, MeasureDef]:
        """The measures with this workspace's scale conventions."""
        return with_conventions({k: v.better for k, v in self.measures.items()})


def load_config(home: Path) -> CxConfig:
    """The workspace's cx.yaml, or the defaults when it has none; a bad file is a ConfigError naming file:line."""
    path = Path(home) / CX_FILE
    if not path.exists():
        return CxConfig()
    return load_model(path, CxConfig)
