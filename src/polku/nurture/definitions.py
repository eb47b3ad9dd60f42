"""The journey file format: trigger, audience, steps, goal, holdout, priority and re-entry.

A journey is one YAML file in the workspace's ``journeys/`` folder (or a body sent to
``PUT /v1/journeys/{id}``). See docs/nurture.md for the format with examples.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from polku.model import EVENT_TYPE_PATTERN, Channel
from polku.nurture.conditions import Condition, Stage, StageTest
from polku.nurture.duration import Duration

ID_PATTERN: Final[str] = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_ID = re.compile(ID_PATTERN)
_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)
END: Final[str] = "end"  # `next: end` finishes the journey
# The event a set_stage step appends: the lifecycle rules turn it into the stage.
STAGE_EVENTS: Final[dict[str, str]] = {"lead": "lead_qualified"}
STEP_KINDS: Final[tuple[str, ...]] = (
    "send", "wait", "wait_for", "branch", "split", "notify_owner", "webhook", "set_stage", "enrol", "exit",
)


def check_id(value: str, what: str) -> str:
    """An id of lower-case letters, digits, - and _ (it becomes part of message ids)."""
    if not _ID.match(value) or value == END:
        raise ValueError(f"{what} {value!r} must be 1-63 lower-case letters, digits, - or _ (and not 'end')")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class EventTrigger(_Strict):
    """Enrol when a matching event arrives (events stored after the journey was first loaded)."""

    event: str
    topic: str | list[str] | None = None
    channel: Channel | None = None
    lookback: Duration = 0  # on first load, also count events this far back

    @field_validator("event")
    @classmethod
    def _type(cls, v: str) -> str:
        if not _EVENT_TYPE.match(v):
            raise ValueError(f"{v!r} is not an event type name (snake_case)")
        return v


class StageTrigger(_Strict):
    """Enrol when a contact reaches a lifecycle stage."""

    stage: Stage | StageTest
    existing: Literal["include", "skip"] = "include"


class ScoreTrigger(_Strict):
    """Enrol when a contact's lead score crosses a threshold upwards."""

    score: float = Field(description="the threshold: enrol at a score of at least this")
    existing: Literal["include", "skip"] = "include"


class SegmentTrigger(_Strict):
    """Enrol when a contact enters a segment (a saved condition on traits and behaviour)."""

    segment: Condition
    existing: Literal["include", "skip"] = "include"


class ManualTrigger(_Strict):
    """Enrol only by request (`polku nurture enrol`, the API, or an enrol step)."""

    manual: Literal[True]


TRIGGER_KINDS: Final[tuple[str, ...]] = ("event", "stage", "score", "segment", "manual")


def _trigger_kind(value: Any) -> str | None:
    """Which trigger a mapping is, by its one kind key (tags are bracketed so error paths can drop them)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True)
    kinds = [k for k in TRIGGER_KINDS if isinstance(value, dict) and k in value]
    return f"[{kinds[0]}]" if len(kinds) == 1 else None


Trigger = Annotated[
    Annotated[EventTrigger, Tag("[event]")]
    | Annotated[StageTrigger, Tag("[stage]")]
    | Annotated[ScoreTrigger, Tag("[score]")]
    | Annotated[SegmentTrigger, Tag("[segment]")]
    | Annotated[ManualTrigger, Tag("[manual]")],
    Discriminator(
        _trigger_kind,
        custom_error_type="trigger_kind",
        custom_error_message="a trigger needs exactly one of event, stage, score, segment, manual",
    ),
]


class Audience(_Strict):
    """Who may enter: traits that must be present (templates may use them freely) and a condition."""

    requires: list[str] = Field(default_factory=list)
    where: Condition | None = None

    @field_validator("requires")
    @classmethod
    def _vars(cls, v: list[str]) -> list[str]:
        for name in v:
            ns, _, attr = name.partition(".")
            if ns not in ("contact", "account") or not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", attr):
                raise ValueError(f"{name!r}: write requirements as contact.<trait> or account.<trait>")
        return v


class Goal(_Strict):
    """What the journey is for: an event (or stage) within a window after enrolment."""

    did: str | list[str] | None = None
    topic: str | list[str] | None = None
    stage: Stage | None = None
    within: Duration = 30 * 86400

    @model_validator(mode="after")
    def _one(self) -> Goal:
        if (self.did is None) == (self.stage is None):
            raise ValueError("a goal needs exactly one of did (event types) or stage")
        if self.topic is not None and self.did is None:
            raise ValueError("topic goes with did")
        for t in [self.did] if isinstance(self.did, str) else self.did or []:
            if not _EVENT_TYPE.match(t):
                raise ValueError(f"{t!r} is not an event type name (snake_case)")
        if self.within <= 0:
            raise ValueError("within must be longer than zero")
        return self

    def types(self) -> list[str]:
        """The goal's event types."""
        return [self.did] if isinstance(self.did, str) else list(self.did or [])


class WaitFor(_Strict):
    """Wait until a condition holds (e.g. an event after the wait began), or time out."""

    until: Condition
    timeout: Duration
    on_timeout: str | None = None


class Branch(_Strict):
    """Go to one step or another by a condition."""

    if_: Condition = Field(alias="if")
    then: str | None = None
    else_: str | None = Field(default=None, alias="else")


class Variant(_Strict):
    """One arm of a random split."""

    name: str
    weight: float = Field(gt=0)
    next: str | None = None


class NotifyOwner(_Strict):
    """Tell the account owner (an internal e-mail; the fallback when the account has none)."""

    template: str
    fallback: str | None = None


class Webhook(_Strict):
    """POST the contact, account and step as JSON (e.g. to create a CRM task)."""

    url: str = Field(pattern=r"^https?://\S+$")
    secret_env: str | None = Field(default=None, description="environment variable holding an HMAC key")


class Step(_Strict):
    """One step: an id, exactly one action, and optionally where to go next."""

    id: str
    send: str | None = None
    wait: Duration | None = None
    wait_for: WaitFor | None = None
    branch: Branch | None = None
    split: list[Variant] | None = Field(default=None, min_length=2)
    notify_owner: NotifyOwner | None = None
    webhook: Webhook | None = None
    set_stage: Literal["lead"] | None = None
    enrol: str | None = None
    exit: bool | str | None = None
    next: str | None = None
    survey: str | None = Field(default=None, description="with send: the survey whose link {{ survey_url }} shows")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_id(v, "step id")

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(actions) != 1:
            found = ", ".join(actions) if actions else "none"
            raise ValueError(f"a step needs exactly one action of {', '.join(STEP_KINDS)} (found {found})")
        if self.exit is False:
            raise ValueError("write exit: true (or a reason), or leave the step out")
        if self.kind in ("branch", "split", "exit") and self.next is not None:
            raise ValueError(f"a {self.kind} step chooses its own next step; remove next")
        if self.split is not None and len({v.name for v in self.split}) != len(self.split):
            raise ValueError("split variant names must differ")
        if self.survey is not None and (self.send is None or not _ID.match(self.survey)):
            raise ValueError("survey goes with send (a template showing {{ survey_url }}) and names a survey id")
        return self

    @property
    def kind(self) -> str:
        """The step's action."""
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)

    def targets(self) -> list[tuple[str, str]]:
        """(field, step id) of every step this one may jump to."""
        out = [("next", self.next)] if self.next else []
        if self.branch is not None:
            out += [(f, t) for f, t in (("branch.then", self.branch.then), ("branch.else", self.branch.else_)) if t]
        if self.wait_for is not None and self.wait_for.on_timeout:
            out.append(("wait_for.on_timeout", self.wait_for.on_timeout))
        for i, v in enumerate(self.split or []):
            if v.next:
                out.append((f"split.{i}.next", v.next))
        return [(f, t) for f, t in out if t != END]

    def conditions(self) -> list[Condition]:
        """Conditions the step evaluates."""
        if self.branch is not None:
            return [self.branch.if_]
        if self.wait_for is not None:
            return [self.wait_for.until]
        return []


class Journey(_Strict):
    """A nurture journey as written in its file."""

    id: str
    name: str | None = None
    description: str | None = None
    status: Literal["active", "paused"] = "active"
    priority: int = 0
    exclusive: bool = True
    trigger: Trigger
    audience: Audience = Field(default_factory=Audience)
    holdout: float = Field(default=0.0, ge=0.0, lt=1.0)
    seed: str | None = None
    reentry: Literal["never", "after_exit"] | Duration = "never"
    goal: Goal | None = None
    steps: list[Step] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return check_id(v, "journey id")

    @property
    def title(self) -> str:
        """The name, or the id."""
        return self.name or self.id

    @property
    def holdout_seed(self) -> str:
        """The seed of the holdout assignment (the journey id unless set)."""
        return self.seed or self.id

    def step(self, step_id: str) -> Step:
        """A step by id."""
        return next(s for s in self.steps if s.id == step_id)

    def sends_marketing(self) -> bool:
        """Whether the journey sends marketing e-mail (so consent is needed to enter)."""
        return any(s.send is not None for s in self.steps)

    def successors(self, index: int) -> dict[str, str | None]:
        """Where the step at ``index`` may go, by outcome (None: the journey is completed)."""
        step = self.steps[index]
        following = self.steps[index + 1].id if index + 1 < len(self.steps) else None
        after = resolve(step.next, following)
        if step.branch is not None:
            return {"then": resolve(step.branch.then, following), "else": resolve(step.branch.else_, following)}
        if step.split is not None:
            return {v.name: resolve(v.next, following) for v in step.split}
        if step.wait_for is not None:
            return {"event": after, "timeout": resolve(step.wait_for.on_timeout, after)}
        if step.exit is not None:
            return {}
        return {"next": after}


def resolve(target: str | None, default: str | None) -> str | None:
    """A jump target: `end` finishes, None takes the default (the following step)."""
    if target is None:
        return default
    return None if target == END else target
