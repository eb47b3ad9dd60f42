"""Lifecycle rules: which touchpoints move a contact to which stage.

A rule names a stage and a condition on events (types, channels, topics, properties,
value). A contact enters a stage at the first event matching one of its rules; stages
only move forward, and every move is kept with its reason. Defaults follow DOMAIN.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from polku.model import EVENT_TYPE_PATTERN, STAGE_ORDER, Channel
from polku.yamlfile import load_model

_PROPERTY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class PropertyTest(BaseModel):
    """A test on one event property; exactly one of the fields is set."""

    model_config = ConfigDict(extra="forbid")

    equals: str | float | bool | None = None
    contains: str | None = None
    one_of: list[str] | None = None

    @model_validator(mode="after")
    def _one_test(self) -> PropertyTest:
        if sum(v is not None for v in (self.equals, self.contains, self.one_of)) != 1:
            raise ValueError("give exactly one of equals, contains, one_of")
        return self


class Rule(BaseModel):
    """Move a contact to ``stage`` at the first event that matches every given condition."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    stage: Literal["prospect", "lead", "opportunity", "customer"]
    types: list[str] = Field(min_length=1)
    channels: list[Channel] | None = None
    topics: list[str] | None = None
    properties: dict[str, PropertyTest] = Field(default_factory=dict)
    min_value: float | None = None

    @field_validator("types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not re.match(EVENT_TYPE_PATTERN, t)]
        if bad:
            raise ValueError(f"not event type names: {bad}")
        return v

    @field_validator("properties")
    @classmethod
    def _keys(cls, v: dict[str, PropertyTest]) -> dict[str, PropertyTest]:
        bad = [k for k in v if not _PROPERTY_KEY.match(k)]
        if bad:
            raise ValueError(f"property names must be letters, digits and _: {bad}")
        return v


class LifecycleConfig(BaseModel):
    """The lifecycle section of the workspace file."""

    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]


class WorkspaceFile(BaseModel):
    """The workspace file, polku.yaml. Sections are optional; defaults apply."""

    model_config = ConfigDict(extra="forbid")

    lifecycle: LifecycleConfig | None = None
    scoring: dict[str, Any] | None = None  # read and checked by polku.scoring


DEFAULT_RULES: Final[tuple[Rule, ...]] = (
    Rule(name="showed interest in an offering", stage="prospect",
         types=["content_download", "form_submit", "webinar_registered", "webinar_attended", "event_attended"]),
    Rule(name="viewed pricing", stage="prospect", types=["page_view"],
         properties={"path": PropertyTest(contains="pricing")}),
    Rule(name="sales-ready signal", stage="lead",
         types=["demo_requested", "lead_qualified", "meeting_held"]),
    Rule(name="quote requested or accepted by sales", stage="opportunity",
         types=["quote_requested", "sales_accepted"]),
    Rule(name="placed an order", stage="customer", types=["order_placed", "contract_renewed"]),
)

# Identification is built in: it is what separates a visitor from a suspect.
IDENTIFIED_RULE: Final[str] = "identified"
FIRST_SEEN_RULE: Final[str] = "first seen"


def load_rules(path: Path) -> tuple[Rule, ...]:
    """The lifecycle rules of a workspace file, or the defaults when it sets none."""
    if not path.exists():
        return DEFAULT_RULES
    cfg = load_model(path, WorkspaceFile)
    return tuple(cfg.lifecycle.rules) if cfg.lifecycle else DEFAULT_RULES


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def rule_predicate(rule: Rule) -> str:
    """The rule's condition as a SQL predicate over the events table's columns."""
    parts = ["type IN (" + ", ".join(_lit(t) for t in rule.types) + ")"]
    if rule.channels:
        parts.append("channel IN (" + ", ".join(_lit(c.value) for c in rule.channels) + ")")
    if rule.topics:
        parts.append("topic IN (" + ", ".join(_lit(t) for t in rule.topics) + ")")
    if rule.min_value is not None:
        parts.append(f"value >= {float(rule.min_value)!r}")
    for key, test in rule.properties.items():
        prop = f"json_extract_string(properties, {_lit('$.' + key)})"
        if test.contains is not None:
            parts.append(f"contains(lower({prop}), {_lit(test.contains.lower())})")
        elif test.one_of is not None:
            parts.append(f"{prop} IN (" + ", ".join(_lit(v) for v in test.one_of) + ")")
        else:
            val = test.equals
            parts.append(f"{prop} = {_lit(str(val).lower() if isinstance(val, bool) else str(val))}")
    return " AND ".join(parts)


STAGE_RANK_SQL: Final[str] = (
    "CASE stage " + " ".join(f"WHEN {_lit(s)} THEN {i}" for i, s in enumerate(STAGE_ORDER)) + " END"
)
