"""Incremental rule scoring: a contact's score state, updated by one event at a time.

The state keeps, per engagement rule, what its decay needs and nothing more:

- half-life: the decayed sum as of the newest matching event (one float and a time);
  reading at a later time multiplies by one factor, so nothing is rescanned;
- window and linear: matches per UTC day, only for the days still inside the window;
- none: a plain count.

Every rule also keeps its recent matches per day (for reasons such as "3 documents in 14
days"), pruned as they age out. Applying an event costs one test per rule; reading costs
one term per rule and per recent day. Both are independent of the contact's history.
A state is tied to the rules it was built with (``rules_key``); after a change of rules,
rebuild states with a full rescore or ``state_from_touches``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from polku.scoring import engagement as eng
from polku.scoring.card import RuleNumbers, ScoreCard, build_card, fit_vector
from polku.scoring.fit import TRAITS
from polku.scoring.match import Touch, matches
from polku.scoring.rules import Decay, ScoringRules

_LN2 = math.log(2.0)


_KEYS: dict[int, tuple[ScoringRules, str]] = {}


def rules_key(rules: ScoringRules) -> str:
    """A short fingerprint of the engagement and fit rules a state depends on (remembered
    per rules object, which is immutable, so the hot path does not re-serialise them)."""
    known = _KEYS.get(id(rules))
    if known is not None and known[0] is rules:
        return known[1]
    text = rules.engagement.model_dump_json() + rules.fit.model_dump_json()
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    if len(_KEYS) > 64:
        _KEYS.clear()
    _KEYS[id(rules)] = (rules, key)
    return key


@dataclass
class RuleState:
    """What one rule remembers of a contact's matching events."""

    value: float = 0.0  # half-life: decayed sum as of ``as_of_us``; none: count
    as_of_us: int = 0
    days: dict[int, int] = field(default_factory=dict)  # UTC day -> matches (recent only)
    count: int = 0  # none decay: all matches ever
    first_day: int = -1  # none decay: day of the first match


@dataclass
class ContactState:
    """A contact's incremental rule-score state (mutable; ``apply_event`` updates it in place)."""

    contact_id: str
    rules_key: str
    rules: list[RuleState]
    account_id: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    last_touch_us: int | None = None
    newest_day: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for storage."""
        return {
            "contact_id": self.contact_id,
            "rules_key": self.rules_key,
            "account_id": self.account_id,
            "traits": dict(self.traits),
            "last_touch_us": self.last_touch_us,
            "newest_day": self.newest_day,
            "rules": [
                {"value": r.value, "as_of_us": r.as_of_us, "days": {str(d): c for d, c in r.days.items()},
                 "count": r.count, "first_day": r.first_day}
                for r in self.rules
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContactState:
        """The state ``to_dict`` wrote."""
        return cls(
            contact_id=data["contact_id"],
            rules_key=data["rules_key"],
            account_id=data.get("account_id"),
            traits=dict(data.get("traits") or {}),
            last_touch_us=data.get("last_touch_us"),
            newest_day=data.get("newest_day"),
            rules=[
                RuleState(r["value"], r["as_of_us"], {int(d): int(c) for d, c in r["days"].items()},
                          r["count"], r["first_day"])
                for r in data["rules"]
            ],
        )


def new_state(
    contact_id: str, rules: ScoringRules, *, account_id: str | None = None,
    traits: Mapping[str, Any] | None = None,
) -> ContactState:
    """An empty state: no events yet; traits (role, org_level, industry, employees,
    country) feed the fit score."""
    return ContactState(
        contact_id=contact_id,
        rules_key=rules_key(rules),
        rules=[RuleState() for _ in rules.engagement.rules],
        account_id=account_id,
        traits={k: v for k, v in (traits or {}).items() if k in TRAITS and v is not None},
    )


def _check(state: ContactState, rules: ScoringRules) -> None:
    if state.rules_key != rules_key(rules):
        raise ValueError(
            f"the score state of {state.contact_id} was built with other rules; rebuild it"
        )


def _add_day(rs: RuleState, day: int, span: int, newest: int) -> None:
    """Count a match on ``day`` and forget days that have left the span."""
    if newest - day < span:
        rs.days[day] = rs.days.get(day, 0) + 1
    stale = [d for d in rs.days if newest - d >= span]
    for d in stale:
        del rs.days[d]


@dataclass(frozen=True)
class _RulePlan:
    """What the hot path needs of one rule's decay, worked out once per rule set."""

    decay: Decay
    kind: str
    hl_us: float  # half-life in µs (0 unless half_life)
    span: int  # days of matches kept: the window, or the reason horizon


def _plan(rules: ScoringRules) -> tuple[_RulePlan, ...]:
    known = _PLANS.get(id(rules))
    if known is not None and known[0] is rules:
        return known[1]
    settings = rules.engagement
    plan = []
    for rule in settings.rules:
        d = settings.decay_of(rule)
        hl = float(d.days or 0.0) * eng.DAY_US if d.kind == "half_life" else 0.0
        plan.append(_RulePlan(d, d.kind, hl, d.recent_days or 1))
    if len(_PLANS) > 64:
        _PLANS.clear()
    _PLANS[id(rules)] = (rules, tuple(plan))
    return tuple(plan)


_PLANS: dict[int, tuple[ScoringRules, tuple[_RulePlan, ...]]] = {}


def _apply(rs: RuleState, p: _RulePlan, t_us: int, day: int, newest: int) -> None:
    if p.kind == "none":
        rs.value += 1.0
        rs.count += 1
        rs.first_day = day if rs.first_day < 0 else min(rs.first_day, day)
        return
    if p.kind == "half_life":
        if rs.value == 0.0:
            rs.value, rs.as_of_us = 1.0, t_us
        elif t_us >= rs.as_of_us:
            rs.value = rs.value * math.exp(-_LN2 * (t_us - rs.as_of_us) / p.hl_us) + 1.0
            rs.as_of_us = t_us
        else:  # an event older than the newest: decay it to the state's time instead
            rs.value += math.exp(-_LN2 * (rs.as_of_us - t_us) / p.hl_us)
    _add_day(rs, day, p.span, newest)


def apply_event(state: ContactState, touch: Touch, rules: ScoringRules) -> ContactState:
    """Fold one touchpoint into the state (in place; also returned). Costs one test per rule."""
    _check(state, rules)
    t_us = eng.epoch_us(touch.ts)
    day = eng.day_of(t_us)
    state.last_touch_us = t_us if state.last_touch_us is None else max(state.last_touch_us, t_us)
    state.newest_day = day if state.newest_day is None else max(state.newest_day, day)
    for rs, rule, p in zip(state.rules, rules.engagement.rules, _plan(rules), strict=True):
        if matches(rule, touch):
            _apply(rs, p, t_us, day, state.newest_day)
    return state


def set_traits(state: ContactState, traits: Mapping[str, Any], account_id: str | None = None) -> ContactState:
    """Replace the traits fit is computed from (after an identify call or a CRM update)."""
    state.traits = {k: v for k, v in traits.items() if k in TRAITS and v is not None}
    if account_id is not None:
        state.account_id = account_id
    return state


def _numbers(state: ContactState, rules: ScoringRules, at_us: int) -> RuleNumbers:
    settings = rules.engagement
    today = eng.day_of(at_us)
    n = len(settings.rules)
    weights = np.zeros(n)
    counts = np.zeros(n, dtype=np.int64)
    first = np.full(n, -1, dtype=np.int64)
    for i, (rs, p) in enumerate(zip(state.rules, _plan(rules), strict=True)):
        if p.kind == "none":
            weights[i], counts[i], first[i] = rs.value, rs.count, rs.first_day
            continue
        if p.kind == "half_life":
            if rs.value:
                weights[i] = rs.value * math.exp(-_LN2 * (at_us - rs.as_of_us) / p.hl_us)
        else:
            weights[i] = sum(c * eng.weight(p.decay, 0, today - d) for d, c in rs.days.items())
        recent = [d for d in rs.days if today - d < p.span]
        if recent:
            counts[i] = sum(rs.days[d] for d in recent)
            first[i] = min(recent)
    points = eng.capped(weights * eng.rule_points(settings), eng.rule_caps(settings))
    return RuleNumbers(points, counts, first, fit_vector(rules, state.traits), state.last_touch_us)


def read_score(state: ContactState, rules: ScoringRules, at: datetime, k: int = 3) -> ScoreCard:
    """The contact's score card at ``at`` (not before its newest event), without a rescan."""
    _check(state, rules)
    at_us = eng.epoch_us(at)
    if state.last_touch_us is not None and at_us < state.last_touch_us:
        raise ValueError("cannot read a score at a time before the state's newest event")
    return build_card(rules, state.contact_id, state.account_id, _numbers(state, rules, at_us),
                      state.traits, at, k)


def state_from_touches(
    contact_id: str, touches: Iterable[Touch], rules: ScoringRules, *,
    account_id: str | None = None, traits: Mapping[str, Any] | None = None,
) -> ContactState:
    """Build a contact's state by replaying its touchpoints (in time order)."""
    state = new_state(contact_id, rules, account_id=account_id, traits=traits)
    for touch in sorted(touches, key=lambda t: t.ts):
        apply_event(state, touch, rules)
    return state
