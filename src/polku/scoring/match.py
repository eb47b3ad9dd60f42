"""Which touchpoints a rule selects, written twice and kept equal: as an Ibis predicate for
whole tables and as a Python test for one event arriving (the incremental path).

Property tests follow the JSON type: ``equals: 3`` matches the number 3 (or 3.0),
``equals: "3"`` the string "3", ``equals: true`` the boolean; ``contains`` is a
case-insensitive substring test and ``one_of`` an exact test on strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from polku.lifecycle.rules import PropertyTest
from polku.scoring.rules import EngagementRule


@dataclass(frozen=True)
class Touch:
    """One touchpoint as the incremental path sees it."""

    ts: datetime
    type: str
    channel: str
    topic: str | None = None
    value: float | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Touch:
        """A touch from a touchpoints row (properties as JSON text or a mapping)."""
        props = row.get("properties")
        if isinstance(props, str):
            props = json.loads(props) if props else {}
        return cls(
            ts=row["ts"], type=row["type"], channel=row["channel"], topic=row.get("topic"),
            value=row.get("value"), properties=props if isinstance(props, Mapping) else {},
        )


def _property_expr(props: ir.JSONValue, key: str, test: PropertyTest) -> ir.BooleanValue:
    value = props[key]
    if test.contains is not None:
        return value.str.lower().contains(test.contains.lower())
    if test.one_of is not None:
        return value.str.isin(test.one_of)
    if isinstance(test.equals, bool):
        return value.unwrap_as("boolean") == test.equals
    if isinstance(test.equals, int | float):
        return value.unwrap_as("float64") == float(test.equals)
    return value.str == str(test.equals)


_SAFE = re.compile(r"^[A-Za-z0-9 _./:-]+$")  # texts JSON writes as they are, unescaped


def _raw_hint(props_text: ir.StringValue, test: PropertyTest) -> ir.BooleanValue | None:
    """A cheap test on the raw JSON text that every match passes, or None when unsafe
    (a needle JSON might escape). Lets engines skip parsing most rows."""
    if test.contains is not None and _SAFE.match(test.contains):
        return props_text.ilike(f"%{test.contains}%")
    if test.one_of is not None and all(_SAFE.match(v) for v in test.one_of):
        return ibis.or_(*(props_text.contains(f'"{v}"') for v in test.one_of))
    if isinstance(test.equals, str) and _SAFE.match(test.equals):
        return props_text.contains(f'"{test.equals}"')
    return None


def rule_predicate(t: ir.Table, rule: EngagementRule) -> ir.BooleanValue:
    """The rule's condition over a touchpoints table, for filtering (NULL means no match).

    Column tests come first; JSON properties are parsed only for rows that pass them and
    a cheap test on the raw text (a CASE, which engines evaluate lazily)."""
    cheap: list[ir.BooleanValue] = []
    if rule.types:
        cheap.append(t.type.isin(list(rule.types)))
    if rule.channels:
        cheap.append(t.channel.isin([c.value for c in rule.channels]))
    if rule.topics:
        cheap.append(t.topic.isin(list(rule.topics)))
    if rule.min_value is not None:
        cheap.append((t.value >= rule.min_value) & ~t.value.isnan())
    if not rule.properties:
        return ibis.and_(*cheap) if cheap else ibis.literal(True)
    hints = [h for h in (_raw_hint(t.properties, v) for v in rule.properties.values()) if h is not None]
    props = t.properties.cast("json")
    tests = ibis.and_(*(_property_expr(props, k, v) for k, v in rule.properties.items()))
    return ibis.ifelse(ibis.and_(*cheap, *hints).fill_null(False), tests.fill_null(False), False)


def _property_ok(props: Mapping[str, Any], key: str, test: PropertyTest) -> bool:
    value = props.get(key)
    if test.contains is not None:
        return isinstance(value, str) and test.contains.lower() in value.lower()
    if test.one_of is not None:
        return isinstance(value, str) and value in test.one_of
    if isinstance(test.equals, bool):
        return isinstance(value, bool) and value == test.equals
    if isinstance(test.equals, int | float):
        return isinstance(value, int | float) and not isinstance(value, bool) and float(value) == float(test.equals)
    return isinstance(value, str) and value == str(test.equals)


def matches(rule: EngagementRule, touch: Touch) -> bool:
    """Whether one touchpoint meets every condition of the rule."""
    if rule.types and touch.type not in rule.types:
        return False
    if rule.channels and touch.channel not in rule.channels:  # Channel is a str enum
        return False
    if rule.topics and touch.topic not in rule.topics:
        return False
    if rule.min_value is not None and (touch.value is None or not touch.value >= rule.min_value):
        # NaN fails this test too, as it does in the engine thanks to the isnan guard
        return False
    return all(_property_ok(touch.properties, k, v) for k, v in rule.properties.items())
