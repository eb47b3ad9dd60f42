"""The model's reasons in plain words: per-feature contributions grouped and worded.

Reasons come from the model's exact per-feature contributions (log-odds against the
average contact). Features that count the same thing over several windows (meetings in
7, 30 and 90 days) form one family and give one reason, worded from the family member
that weighed most, so a salesperson reads "had 2 meetings in the last 30 days" once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import pandas as pd

from polku.model import STANDARD_EVENTS
from polku.scoring.features import FeatureSpec, recency_cap
from polku.scoring.reasons import Reason, plural, touches_phrase

_MIN_LOGODDS: Final[float] = 0.05  # contributions smaller than this are not worth a reason
_WINDOW = re.compile(r"\d+d")  # the suffix of a windowed count, e.g. 90d
_CHANNEL_NOUNS: Final[dict[str, tuple[str, str]]] = {
    "web": ("web visit", "web visits"),
    "email": ("e-mail interaction", "e-mail interactions"),
    "portal": ("portal visit", "portal visits"),
    "event": ("event touch (webinar, trade fair)", "event touches (webinars, trade fairs)"),
    "meeting": ("meeting", "meetings"),
    "phone": ("phone call", "phone calls"),
    "service": ("service contact", "service contacts"),
    "social": ("social media interaction", "social media interactions"),
    "product": ("product usage record", "product usage records"),
}


def _split(feature: str) -> tuple[str, str | None]:
    """A feature name as (head, window days), e.g. ("meeting_held", "30"); days None if none."""
    head, _, tail = feature.rpartition("_")
    return (head, tail[:-1]) if head and _WINDOW.fullmatch(tail) else (feature, None)


def family(feature: str, spec: FeatureSpec) -> str:
    """The family of a feature: its event type for per-window type counts, else itself."""
    head, days = _split(feature)
    return head if days and head in spec.types else feature


def channel_of(feature: str) -> str | None:
    """The channel whose touches a feature (or feature family) counts, if it counts some."""
    head, _ = _split(feature)
    if head.startswith("other_") and head[6:] in _CHANNEL_NOUNS:
        return head[6:]
    if head in STANDARD_EVENTS:
        return STANDARD_EVENTS[head][0]
    return None


def describe(feature: str, row: Mapping[str, Any], positive: bool, spec: FeatureSpec) -> str:
    """A plain sentence for one feature of one contact; ``positive``: it raised the score."""
    v = row.get(feature)
    head, days = _split(feature)
    if days and head.startswith("other_") and head[6:] in _CHANNEL_NOUNS:
        one, many = _CHANNEL_NOUNS[head[6:]]
        return f"{plural(v, 'other ' + one, 'other ' + many)} in the last {days} days"
    if days and head in spec.types:
        return f"{touches_phrase(head, int(v))} in the last {days} days"
    if days and head.startswith("topic_"):
        return f"{plural(v, 'touch', 'touches')} on topic {head[6:].replace('_', ' ')} in the last {days} days"
    if feature == "days_since_last":
        return _recency(float(v), positive, recency_cap(spec))
    return _describe_other(feature, head, days, v, row)


def _recency(v: float, positive: bool, cap: int) -> str:
    if v >= cap:
        return f"no activity in the last {cap} days"
    if not positive and v >= 30:
        return f"no activity for {int(v)} days"
    return {0: "active today", 1: "active yesterday"}.get(int(v), f"last active {int(v)} days ago")


def _describe_other(feature: str, head: str, days: str | None, v: Any, row: Mapping[str, Any]) -> str:
    words = {
        "channels": lambda: f"used {plural(v, 'channel')} in the last {days} days",
        "topics": lambda: f"read about {plural(v, 'topic')} in the last {days} days",
        "group_active": lambda: f"{plural(v, 'person', 'people')} at the account active in the last {days} days",
        "group_roles": lambda: f"{plural(v, 'buying-group role')} active at the account",
        "group_levels": lambda: f"{plural(v, 'organisational level')} active at the account",
        "group_decision_maker": lambda: "decision-maker engaged" if v else "no decision-maker engaged",
        "group_touches": lambda: f"the account had {plural(v, 'touch', 'touches')} in the last {days} days",
        "velocity": lambda: ("activity rising over the last 30 days" if v > 0 else
                             "activity falling over the last 30 days" if v < 0 else "steady activity"),
        "log_employees": lambda: _size(row.get("employees")),
        "role": lambda: f"role: {str(v).replace('_', '-' if v == 'decision_maker' else ' ')}",
        "org_level": lambda: f"{v} level",
        "industry": lambda: f"industry: {v}",
    }
    phrase = words.get(head if days else feature)
    return phrase() if phrase else f"{feature}: {v}"


def _size(employees: Any) -> str:
    return f"company of {int(employees):,} employees" if employees is not None and employees == employees else (
        "company size unknown")


def model_reasons(contrib: pd.Series, row: pd.Series, spec: FeatureSpec, k: int = 3) -> tuple[Reason, ...]:
    """The ``k`` largest contributions of one contact, by family, in plain words."""
    families = [family(f, spec) for f in contrib.index]
    totals = contrib.groupby(families, sort=False).sum()
    ranked = totals.reindex(totals.abs().sort_values(ascending=False, kind="stable").index)
    out = []
    for name, total in ranked.items():
        if abs(total) < _MIN_LOGODDS or len(out) >= k:
            break
        members = contrib[[f == name for f in families]]
        lead = str(members.abs().idxmax())
        out.append(Reason("model", str(name), describe(lead, row, bool(total > 0), spec), float(total)))
    return tuple(out)
