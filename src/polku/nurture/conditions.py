"""Conditions on a contact's traits, account, stage, score and behaviour, compiled to SQL.

One small language serves segments, audiences, branches, waits and goals:

    all: [...] / any: [...] / not: {...}
    trait: role, in: [decision_maker, executive]      (also equals, contains, present, at_least, below)
    account: industry, equals: manufacturing
    stage: lead  |  stage: {at_least: prospect}  |  stage: {in: [lead, opportunity]}
    did: content_download, topic: automation, within: 30d, at_least: 2
    score: {at_least: 60}
    opened: intro  |  clicked: intro                  (a send step of the same journey)

A condition compiles to a SQL predicate over a row ``x`` with the columns listed in
``ROW_COLUMNS``; behaviour is read from the per-tick table of contact events.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from polku.model import EVENT_TYPE_PATTERN, STAGE_ORDER, Channel
from polku.nurture.duration import Duration

NAME_PATTERN: Final[str] = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)
Stage = Literal["visitor", "suspect", "prospect", "lead", "opportunity", "customer"]

# Columns of the row a compiled condition reads (alias x).
ROW_COLUMNS: Final[tuple[str, ...]] = (
    "contact_id", "since", "msg_prefix", "c_traits", "c_stage", "c_score", "a_name", "a_domain", "a_industry",
    "a_employees", "a_country", "a_owner", "a_traits",
)
ACCOUNT_COLUMNS: Final[frozenset[str]] = frozenset({"name", "domain", "industry", "employees", "country", "owner"})
CONTACT_EVENTS: Final[str] = "nurture_x_ce"  # per-tick: contact_id, type, topic, channel, ts, message_id
OPEN_TYPES: Final[tuple[str, ...]] = ("email_open", "email_click")


def lit(value: Any) -> str:
    """A SQL literal of a string, number or boolean."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(float(value))
    return "'" + str(value).replace("'", "''") + "'"


def ts_lit(ts: datetime) -> str:
    """A SQL TIMESTAMPTZ literal."""
    return f"TIMESTAMPTZ '{ts.isoformat()}'"


class StageTest(BaseModel):
    """A test on the lifecycle stage: exactly one of is, at_least, in."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    is_: Stage | None = Field(default=None, alias="is")
    at_least: Stage | None = None
    in_: list[Stage] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _one(self) -> StageTest:
        if sum(v is not None for v in (self.is_, self.at_least, self.in_)) != 1:
            raise ValueError("a stage test needs exactly one of is, at_least, in")
        return self


class ScoreTest(BaseModel):
    """A test on the lead score: at_least and/or below."""

    model_config = ConfigDict(extra="forbid")

    at_least: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _some(self) -> ScoreTest:
        if self.at_least is None and self.below is None:
            raise ValueError("a score test needs at_least or below")
        return self


_KINDS: Final[tuple[str, ...]] = ("all_", "any_", "not_", "trait", "account", "stage", "did", "score", "opened", "clicked")
_VALUE_TESTS: Final[tuple[str, ...]] = ("in_", "equals", "contains", "present", "at_least", "below")
_EVENT_MODIFIERS: Final[tuple[str, ...]] = ("topic", "channel", "within")


class Condition(BaseModel):
    """One condition; exactly one kind key (all, any, not, trait, account, stage, did, score, opened, clicked)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    all_: list[Condition] | None = Field(default=None, alias="all")
    any_: list[Condition] | None = Field(default=None, alias="any")
    not_: Condition | None = Field(default=None, alias="not")
    trait: str | None = None
    account: str | None = None
    stage: Stage | StageTest | None = None
    did: str | list[str] | None = None
    score: ScoreTest | None = None
    opened: str | None = None
    clicked: str | None = None
    # tests of trait and account values
    in_: list[str | float] | None = Field(default=None, alias="in")
    equals: str | float | bool | None = None
    contains: str | None = None
    present: bool | None = None
    below: float | None = None
    at_least: float | None = None  # a number for trait and account; a count of events for did
    # modifiers of did
    topic: str | list[str] | None = None
    channel: Channel | None = None
    within: Duration | None = None

    @field_validator("trait", "account")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError(f"{v!r} is not a trait name (letters, digits and _)")
        return v

    @field_validator("did")
    @classmethod
    def _types(cls, v: str | list[str] | None) -> str | list[str] | None:
        types = [v] if isinstance(v, str) else v or []
        bad = [t for t in types if not _EVENT_TYPE.match(t)]
        if bad or (v is not None and not types):
            raise ValueError(f"did needs event type names (snake_case), got {v!r}")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        kinds = [k.rstrip("_") for k in _KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            named = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                "a condition needs exactly one of all, any, not, trait, account, stage, did, score, opened, "
                f"clicked (found {named})"
            )
        kind = kinds[0]
        tests = [k.rstrip("_") for k in _VALUE_TESTS if getattr(self, k) is not None]
        mods = [k for k in _EVENT_MODIFIERS if getattr(self, k) is not None]
        if kind in ("trait", "account"):
            if len(tests) != 1:
                raise ValueError(f"{kind} needs exactly one test: in, equals, contains, present, at_least or below")
            if mods:
                raise ValueError(f"{', '.join(mods)} only go with did")
        elif kind == "did":
            wrong = [t for t in tests if t != "at_least"]
            if wrong:
                raise ValueError(f"{', '.join(wrong)} only go with trait or account")
            if self.at_least is not None and (self.at_least < 1 or self.at_least != int(self.at_least)):
                raise ValueError("at_least with did counts events: a whole number of at least 1")
        elif tests or mods:
            raise ValueError(f"{', '.join(tests + mods)} cannot go with {kind}")
        return self

    @property
    def kind(self) -> str:
        """Which kind of condition this is."""
        return next(k.rstrip("_") for k in _KINDS if getattr(self, k) is not None)

    def children(self) -> list[Condition]:
        """The nested conditions of all, any and not."""
        if self.all_ is not None:
            return self.all_
        if self.any_ is not None:
            return self.any_
        return [self.not_] if self.not_ is not None else []

    def walk(self) -> list[Condition]:
        """This condition and every nested one."""
        out = [self]
        for child in self.children():
            out.extend(child.walk())
        return out

    def event_types(self) -> set[str]:
        """Event types this condition reads from the contact events."""
        types: set[str] = set()
        for c in self.walk():
            if c.did is not None:
                types.update([c.did] if isinstance(c.did, str) else c.did)
            if c.opened is not None or c.clicked is not None:
                types.update(OPEN_TYPES)
        return types

    def steps_named(self) -> list[str]:
        """Send steps named by opened/clicked (they must exist in the journey)."""
        return [s for c in self.walk() for s in (c.opened, c.clicked) if s is not None]

    def uses_scores(self) -> bool:
        """Whether the condition reads the lead score."""
        return any(c.score is not None for c in self.walk())

    def lookback(self) -> int | None:
        """Seconds of history the condition reads when not tied to an enrolment (None: all)."""
        longest = 0
        for c in self.walk():
            if c.did is not None:
                if c.within is None:
                    return None
                longest = max(longest, c.within)
        return longest

    def sql(self, now: datetime) -> str:
        """The condition as a SQL predicate over the row x at time ``now``."""
        return _compile(self, now)


Condition.model_rebuild()

_STAGE_RANK_SQL = "CASE x.c_stage " + " ".join(f"WHEN {lit(s)} THEN {i}" for i, s in enumerate(STAGE_ORDER)) + " END"


def _text(value: str | float) -> str:
    """A listed value as the trait text it matches (YAML's 3 is the trait "3", not "3.0")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _value_sql(c: Condition, expr: str) -> str:
    if c.present is not None:
        return f"({expr} IS {'NOT ' if c.present else ''}NULL)"
    if c.in_ is not None:
        return f"coalesce({expr} IN ({', '.join(lit(_text(v)) for v in c.in_)}), FALSE)"
    if c.contains is not None:
        return f"coalesce(contains(lower({expr}), {lit(c.contains.lower())}), FALSE)"
    if c.at_least is not None:
        return f"coalesce(TRY_CAST({expr} AS DOUBLE) >= {lit(c.at_least)}, FALSE)"
    if c.below is not None:
        return f"coalesce(TRY_CAST({expr} AS DOUBLE) < {lit(c.below)}, FALSE)"
    value = c.equals
    if isinstance(value, bool):
        return f"coalesce(lower({expr}) = {lit(str(value).lower())}, FALSE)"
    if isinstance(value, float | int):
        return f"coalesce(TRY_CAST({expr} AS DOUBLE) = {lit(value)}, FALSE)"
    return f"coalesce({expr} = {lit(value)}, FALSE)"


def _did_sql(c: Condition, now: datetime) -> str:
    types = [c.did] if isinstance(c.did, str) else list(c.did or [])
    parts = [
        "e.contact_id = x.contact_id",
        f"e.type IN ({', '.join(lit(t) for t in types)})",
        f"e.ts <= {ts_lit(now)}",
        "(x.since IS NULL OR e.ts >= x.since)",
    ]
    if c.topic is not None:
        topics = [c.topic] if isinstance(c.topic, str) else c.topic
        parts.append(f"e.topic IN ({', '.join(lit(t) for t in topics)})")
    if c.channel is not None:
        parts.append(f"e.channel = {lit(c.channel.value)}")
    if c.within is not None:
        parts.append(f"e.ts >= {ts_lit(now)} - INTERVAL {int(c.within)} SECOND")
    where = " AND ".join(parts)
    if (c.at_least or 1) == 1:
        return f"EXISTS (SELECT 1 FROM {CONTACT_EVENTS} e WHERE {where})"
    return f"((SELECT count(*) FROM {CONTACT_EVENTS} e WHERE {where}) >= {int(c.at_least or 1)})"


def _compile(c: Condition, now: datetime) -> str:
    kind = c.kind
    if kind == "all":
        return "(" + " AND ".join(_compile(k, now) for k in c.children()) + ")" if c.children() else "TRUE"
    if kind == "any":
        return "(" + " OR ".join(_compile(k, now) for k in c.children()) + ")" if c.children() else "FALSE"
    if kind == "not":
        return f"(NOT {_compile(c.children()[0], now)})"
    if kind == "trait":
        return _value_sql(c, f"json_extract_string(x.c_traits, {lit('$.' + str(c.trait))})")
    if kind == "account":
        name = str(c.account)
        expr = f"CAST(x.a_{name} AS VARCHAR)" if name in ACCOUNT_COLUMNS else f"json_extract_string(x.a_traits, {lit('$.' + name)})"
        return _value_sql(c, expr)
    if kind == "stage":
        test = c.stage if isinstance(c.stage, StageTest) else StageTest(is_=c.stage)
        if test.is_ is not None:
            return f"coalesce(x.c_stage = {lit(test.is_)}, FALSE)"
        if test.at_least is not None:
            return f"coalesce({_STAGE_RANK_SQL} >= {STAGE_ORDER.index(test.at_least)}, FALSE)"
        return f"coalesce(x.c_stage IN ({', '.join(lit(s) for s in test.in_ or [])}), FALSE)"
    if kind == "did":
        return _did_sql(c, now)
    if kind == "score":
        assert c.score is not None
        score = "x.c_score"
        parts = []
        if c.score.at_least is not None:
            parts.append(f"{score} >= {lit(c.score.at_least)}")
        if c.score.below is not None:
            parts.append(f"{score} < {lit(c.score.below)}")
        return "coalesce(" + " AND ".join(parts) + ", FALSE)"
    step = c.opened if kind == "opened" else c.clicked
    types = OPEN_TYPES if kind == "opened" else ("email_click",)  # a click proves an open, too
    return (
        f"EXISTS (SELECT 1 FROM {CONTACT_EVENTS} e WHERE e.contact_id = x.contact_id "
        f"AND e.type IN ({', '.join(lit(t) for t in types)}) AND e.message_id = x.msg_prefix || {lit('.' + str(step))})"
    )
