"""The scoring rules: the ``scoring:`` section of the workspace file, validated once at load.

Engagement rules give points for touchpoints (by type, channel, topic, properties,
value) that fade with time; fit rules give points for who the contact is (role,
organisational level) and what their account is (industry, size, country). Grades,
account roll-up and the predictive model's training settings live in the same section.
Every rule set is checked when it is loaded: an unknown event type, a misspelt field or
an unparseable decay is a ``ConfigError`` naming the file, the line and the reason.

Event types must be standard (``polku.model.STANDARD_EVENTS``) or declared under
``scoring.custom_events``: a typo such as ``page_veiw`` would otherwise score nothing,
silently, for ever.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from polku.errors import ConfigError
from polku.lifecycle.rules import PropertyTest
from polku.model import EVENT_TYPE_PATTERN, STAGE_ORDER, STANDARD_EVENTS, Channel, OrgLevel, Role
from polku.yamlfile import load_model

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|d|w)\s*$")
_UNIT_DAYS: Final[dict[str, float]] = {"h": 1.0 / 24.0, "d": 1.0, "w": 7.0}
_PROPERTY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)

# Event types declared by the section being validated (set while it validates).
_CUSTOM_EVENTS: ContextVar[frozenset[str]] = ContextVar("custom_events", default=frozenset())


def parse_days(value: Any) -> float:
    """A duration such as ``30d``, ``12h`` or ``2w`` as days; anything else is a clear error."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"write a duration with a unit, such as 30d, 12h or 2w (got {value!r})")
    if value.strip().startswith("-"):
        raise ValueError(f"a duration must be positive (got {value!r})")
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"cannot read {value!r} as a duration; write e.g. 30d, 12h or 2w")
    days = float(m.group(1)) * _UNIT_DAYS[m.group(2)]
    if days <= 0:
        raise ValueError(f"a duration must be positive (got {value!r})")
    return days


Days = Annotated[float, BeforeValidator(parse_days)]


def _decay_days(kind: str, value: Any) -> float:
    """The duration of a decay, with an error that says what was wrong with it."""
    what = kind.replace("_", "-")
    if isinstance(value, str) and value.strip().startswith("-"):
        raise ValueError(f"a {what} must be positive (got {value!r})")
    if not isinstance(value, str) or not _DURATION.match(value):
        raise ValueError(
            f"unparseable decay {value!r}: write a half-life such as 30d, or none, "
            "{window: 90d} or {linear: 90d} (units h, d, w)"
        )
    return parse_days(value)


class Decay(BaseModel):
    """How a touchpoint's points fade with its age.

    ``half_life``: exponential, halving every ``days``. ``window``: full points while the
    event's UTC day is within the last ``days`` days, then none. ``linear``: fading
    linearly to zero over ``days`` whole UTC days. ``none``: points never fade.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["half_life", "window", "linear", "none"]
    days: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """Accept ``30d`` (a half-life), ``none``, or ``{half_life|window|linear: 30d}``."""
        if isinstance(data, Decay):
            return data
        if isinstance(data, str):
            if data.strip().lower() == "none":
                return {"kind": "none"}
            return {"kind": "half_life", "days": _decay_days("half_life", data)}
        if isinstance(data, Mapping) and len(data) == 1 and "kind" not in data:
            (kind, days), = data.items()
            if kind not in ("half_life", "window", "linear"):
                raise ValueError(f"unknown decay {kind!r}; use half_life, window, linear or none")
            return {"kind": kind, "days": _decay_days(kind, days)}
        if isinstance(data, Mapping) and "kind" in data:
            return data
        raise ValueError(f"unparseable decay {data!r}: write e.g. 30d (a half-life), none, "
                         "{window: 90d} or {linear: 90d}")

    @model_validator(mode="after")
    def _days_given(self) -> Decay:
        if self.kind != "none" and (self.days is None or not self.days > 0):
            raise ValueError(f"a {self.kind} decay needs a positive duration")
        return self

    @property
    def recent_days(self) -> int | None:
        """Whole days within which events are counted in reasons (None: all time)."""
        if self.kind == "none" or self.days is None:
            return None
        span = 2.0 * self.days if self.kind == "half_life" else self.days
        return max(1, math.ceil(span - 1e-9))


def _known_type(value: str) -> str:
    """An event type a rule may name: standard or declared, never identify."""
    if value == "identify":
        raise ValueError("identify is not a touchpoint; score traits with fit rules")
    if value in STANDARD_EVENTS or value in _CUSTOM_EVENTS.get():
        return value
    if not _EVENT_TYPE.match(value):
        raise ValueError(f"{value!r} is not an event type name (snake_case)")
    raise ValueError(
        f"unknown event type {value!r}: not a standard type; declare custom types under "
        "scoring.custom_events"
    )


EventType = Annotated[str, AfterValidator(_known_type)]
_TEMPLATE_FIELDS: Final[frozenset[str]] = frozenset({"count", "days", "points"})


def _template(value: str | None) -> str | None:
    """A reason template may use {count}, {days} and {points}, nothing else."""
    if value is None:
        return None
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
    except ValueError as exc:
        raise ValueError(f"not a valid reason template: {exc}") from None
    unknown = names - _TEMPLATE_FIELDS
    if unknown:
        raise ValueError(f"a reason may use {{count}}, {{days}} and {{points}}, not {sorted(unknown)}")
    return value


class EngagementRule(BaseModel):
    """Points for each touchpoint matching every given condition, fading by ``decay``.

    Every matching rule adds its points (an event may match several rules). ``cap`` bounds
    the rule's total (after decay), so a busy reader of one page type cannot look sales-ready.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=120)
    types: list[EventType] | None = Field(default=None, min_length=1)
    channels: list[Channel] | None = Field(default=None, min_length=1)
    topics: list[str] | None = Field(default=None, min_length=1)
    properties: dict[str, PropertyTest] = Field(default_factory=dict)
    min_value: float | None = None
    points: float = Field(ge=-1000, le=1000)
    cap: float | None = Field(default=None, gt=0)
    decay: Decay | None = None
    says: Annotated[str | None, AfterValidator(_template)] = Field(default=None, max_length=200)

    @field_validator("properties")
    @classmethod
    def _keys(cls, v: dict[str, PropertyTest]) -> dict[str, PropertyTest]:
        bad = [k for k in v if not _PROPERTY_KEY.match(k)]
        if bad:
            raise ValueError(f"property names must be letters, digits and _: {bad}")
        return v

    @model_validator(mode="after")
    def _selects(self) -> EngagementRule:
        if not self.types and not self.channels:
            raise ValueError("a rule needs types or channels to select touchpoints")
        if self.points == 0:
            raise ValueError("points must not be 0")
        return self


FitField = Literal["role", "org_level", "industry", "employees", "country"]
_ALLOWED_VALUES: Final[dict[str, frozenset[str]]] = {
    "role": frozenset(r.value for r in Role),
    "org_level": frozenset(o.value for o in OrgLevel),
}


class FitRule(BaseModel):
    """Points when a trait of the contact or its account passes a test.

    ``one_of`` for role, org_level, industry and country (case-insensitive); ``min``
    and/or ``max`` (inclusive) for employees, e.g. a company-size band.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=120)
    field: FitField
    one_of: list[str] | None = Field(default=None, min_length=1)
    min: float | None = None
    max: float | None = None
    points: float = Field(ge=-1000, le=1000)
    says: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_test(self) -> FitRule:
        if self.field == "employees":
            if self.one_of is not None or (self.min is None and self.max is None):
                raise ValueError("employees is tested with min and/or max, e.g. min: 50, max: 1000")
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError("min must not exceed max")
        else:
            if self.one_of is None or self.min is not None or self.max is not None:
                raise ValueError(f"{self.field} is tested with one_of: [...]")
            allowed = _ALLOWED_VALUES.get(self.field)
            if allowed is not None:
                bad = [v for v in self.one_of if v not in allowed]
                if bad:
                    raise ValueError(f"unknown {self.field} values {bad}; use {sorted(allowed)}")
        return self

    @property
    def values(self) -> frozenset[str]:
        """The lower-cased values of ``one_of``."""
        return frozenset(v.lower() for v in self.one_of or ())


def _unique_names(rules: list[Any], what: str) -> None:
    seen: set[str] = set()
    for r in rules:
        if r.name in seen:
            raise ValueError(f"two {what} rules are named {r.name!r}; names must be unique")
        seen.add(r.name)


class EngagementSettings(BaseModel):
    """Engagement (what the contact does): rules, default decay and the 0-100 scale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: float = Field(default=100.0, gt=0)  # points at which engagement reaches 100
    decay: Decay = Decay(kind="half_life", days=30.0)
    inactive_after: Days = 60.0
    rules: list[EngagementRule]

    @model_validator(mode="after")
    def _names(self) -> EngagementSettings:
        _unique_names(self.rules, "engagement")
        return self

    def decay_of(self, rule: EngagementRule) -> Decay:
        """The rule's own decay, or the section default."""
        return rule.decay or self.decay


class FitSettings(BaseModel):
    """Fit (who the contact is): rules and the points at which fit reaches 100."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: float = Field(default=100.0, gt=0)
    rules: list[FitRule]

    @model_validator(mode="after")
    def _names(self) -> FitSettings:
        _unique_names(self.rules, "fit")
        return self


def _descending(v: list[float]) -> list[float]:
    if any(not 0 <= x <= 100 for x in v) or any(a <= b for a, b in zip(v, v[1:], strict=False)):
        raise ValueError("give three thresholds between 0 and 100, highest first, e.g. [75, 50, 25]")
    return v


Thresholds = Annotated[list[float], Field(min_length=3, max_length=3), AfterValidator(_descending)]


class GradeSettings(BaseModel):
    """Grades: fit A-D and engagement 1-4 by thresholds; the combined score's fit weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fit: Thresholds = [75.0, 50.0, 25.0]  # A at or above the first, B, C; D below
    engagement: Thresholds = [75.0, 50.0, 25.0]  # 1, 2, 3; 4 below
    fit_weight: float = Field(default=0.4, ge=0, le=1)


class AccountSettings(BaseModel):
    """How an account's score rolls up its buying group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_k: int = Field(default=3, ge=1, le=50)  # engagement: mean of the k most engaged
    active_within: Days = 30.0  # a contact is active with a touchpoint this recent
    decision_maker_points: float = Field(default=15.0, ge=0, le=100)
    level_points: float = Field(default=5.0, ge=0, le=100)  # per active org level beyond one
    role_points: float = Field(default=3.0, ge=0, le=100)  # per active role beyond one


class ModelSettings(BaseModel):
    """Training of the predictive model: horizon, snapshots and the minimum history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon: Days = 90.0
    target_stage: Literal["lead", "opportunity", "customer"] = "opportunity"
    cutoffs: int = Field(default=6, ge=1, le=60)  # training snapshots before the hold-out
    cutoff_step: Days = 30.0
    min_positives: int = Field(default=50, ge=1)
    min_holdout_positives: int = Field(default=10, ge=1)
    max_rows: int = Field(default=300_000, ge=1_000)  # negatives are sampled beyond this
    refit: bool = True  # refit on every complete period after the hold-out evaluation

    @property
    def target_rank(self) -> int:
        """Rank of the target stage in the lifecycle order."""
        return STAGE_ORDER.index(self.target_stage)


class ScoringRules(BaseModel):
    """The whole ``scoring:`` section; any part left out takes the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    custom_events: list[str] = Field(default_factory=list)
    engagement: EngagementSettings = Field(default_factory=lambda: default_rules().engagement)
    fit: FitSettings = Field(default_factory=lambda: default_rules().fit)
    grades: GradeSettings = Field(default_factory=GradeSettings)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    # a prospect whose combined score reaches this becomes a lead (MQL) at rescore; null: never
    mql_threshold: float | None = Field(default=60.0, ge=0, le=100)

    @model_validator(mode="wrap")
    @classmethod
    def _declared_types(cls, data: Any, handler: Any) -> Any:
        """Make the declared custom event types known while the rules validate."""
        declared = data.get("custom_events") if isinstance(data, Mapping) else None
        names = frozenset(x for x in declared or () if isinstance(x, str))
        token = _CUSTOM_EVENTS.set(names)
        try:
            return handler(data)
        finally:
            _CUSTOM_EVENTS.reset(token)

    @field_validator("custom_events")
    @classmethod
    def _snake_case(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not _EVENT_TYPE.match(t) or t == "identify"]
        if bad:
            raise ValueError(f"custom event types must be snake_case names other than identify: {bad}")
        return v


class _WorkspaceScoring(BaseModel):
    """The workspace file as scoring reads it: its own section; others are not its business."""

    model_config = ConfigDict(extra="ignore")

    scoring: ScoringRules | None = None


DEFAULT_SCORING_YAML: Final[str] = """\
scoring:
  engagement:
    scale: 100            # points at which engagement reaches 100
    decay: 30d            # default: points halve every 30 days
    inactive_after: 60d   # "no activity for N days" from then on
    rules:
      - {name: meeting, types: [meeting_held], points: 20, cap: 60}
      - {name: phone call, types: [call_held], points: 10, cap: 30}
      - {name: trade fair or seminar, types: [event_attended], points: 12, cap: 36}
      - {name: webinar attended, types: [webinar_attended], points: 10, cap: 30}
      - {name: webinar registration, types: [webinar_registered], points: 4, cap: 12}
      - {name: demo request, types: [demo_requested], points: 25, cap: 50}
      - name: pricing page
        types: [page_view]
        properties: {path: {contains: pricing}}
        points: 8
        cap: 24
      - {name: document download, types: [content_download], points: 6, cap: 30}
      - {name: form, types: [form_submit], points: 5, cap: 15}
      - {name: e-mail click, types: [email_click], points: 3, cap: 15}
      - {name: e-mail open, types: [email_open], points: 1, cap: 5}
      - {name: page view, types: [page_view], points: 1, cap: 10}
      - {name: social engagement, types: [social_engagement], points: 1, cap: 5}
      - {name: unsubscribed, types: [unsubscribe], points: -20, decay: none}
      - {name: bounced e-mail, types: [email_bounce], points: -5, decay: 90d}
  fit:
    scale: 80             # points at which fit reaches 100
    rules:
      - {name: decision-maker, field: role, one_of: [decision_maker, executive], points: 30}
      - {name: influencer, field: role, one_of: [influencer, champion], points: 20}
      - {name: purchaser, field: role, one_of: [purchaser], points: 15}
      - {name: end user, field: role, one_of: [user], points: 5}
      - {name: executive level, field: org_level, one_of: [executive], points: 25}
      - {name: management level, field: org_level, one_of: [management], points: 15}
      - {name: operational level, field: org_level, one_of: [operational], points: 5}
      - {name: mid-size or large company, field: employees, min: 50, max: 5000, points: 25}
      - {name: very large company, field: employees, min: 5001, points: 15}
      - {name: small company, field: employees, min: 10, max: 49, points: 10}
"""


def _defaults() -> ScoringRules:
    section = yaml.safe_load(DEFAULT_SCORING_YAML)["scoring"]
    engagement = EngagementSettings.model_validate(section["engagement"])
    fit = FitSettings.model_validate(section["fit"])
    return ScoringRules(engagement=engagement, fit=fit)


_DEFAULT: ScoringRules | None = None


def default_rules() -> ScoringRules:
    """The default rule set of DOMAIN.md: sales touches weigh most, decision-makers fit best."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = _defaults()
    return _DEFAULT


def load_scoring_rules(path: Path) -> ScoringRules:
    """The ``scoring:`` section of a workspace file, or the defaults when there is none."""
    if not path.exists():
        return default_rules()
    return load_model(path, _WorkspaceScoring).scoring or default_rules()


def parse_scoring_rules(mapping: Mapping[str, Any] | None, source: str = "<scoring>") -> ScoringRules:
    """A ``scoring:`` section given as a mapping; problems name ``source`` and the field."""
    try:
        return ScoringRules.model_validate(dict(mapping or {}))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in ("scoring", *err["loc"]))
            reason = err["msg"].removeprefix("Value error, ")
            problems.append({"file": source, "line": None, "field": where, "reason": reason})
        raise ConfigError(
            "\n".join(f"{p['file']}: {p['field']}: {p['reason']}" for p in problems), details=problems
        ) from exc
