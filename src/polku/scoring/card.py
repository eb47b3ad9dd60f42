"""A contact's rule score card: fit, engagement, the combined score, the grade and reasons.

Built from per-rule numbers (decayed points, recent counts) by one function, whether
they come from a whole-table rescore or from a contact's incremental state, so both
paths show the same score and the same reasons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from polku.scoring import engagement as eng
from polku.scoring import grades
from polku.scoring.fit import fit_points
from polku.scoring.reasons import Reason, engagement_text, fit_text, inactivity_text
from polku.scoring.rules import ScoringRules

_MIN_IMPACT = 0.05  # reasons below this share of a score point are noise


@dataclass(frozen=True)
class ScoreCard:
    """The rule-based score of one contact at one time, with its reasons (largest first).

    A reason's ``weight`` is its impact on the combined 0-100 score.
    """

    contact_id: str
    as_of: datetime
    fit: float
    engagement: float
    score: float
    grade: str  # fit letter + engagement digit, e.g. "A1"
    reasons: tuple[Reason, ...] = field(default_factory=tuple)
    account_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "contact_id": self.contact_id,
            "account_id": self.account_id,
            "as_of": self.as_of.isoformat(),
            "fit": round(self.fit, 2),
            "engagement": round(self.engagement, 2),
            "score": round(self.score, 2),
            "grade": self.grade,
            "reasons": [r.as_dict() for r in self.reasons],
        }


@dataclass(frozen=True)
class RuleNumbers:
    """Per-rule numbers of one contact: engagement points after caps, recent counts, the
    first recent UTC day (-1: none), fit points, and the last touch (µs, None: never)."""

    points: npt.NDArray[np.float64]
    counts: npt.NDArray[np.int64]
    first_day: npt.NDArray[np.int64]
    fit_points: npt.NDArray[np.float64]
    last_touch_us: int | None


def _shares(rules: ScoringRules) -> tuple[float, float]:
    """Combined-score points per engagement point and per fit point."""
    g = rules.grades
    return (1.0 - g.fit_weight) * 100.0 / rules.engagement.scale, g.fit_weight * 100.0 / rules.fit.scale


def reasons_for(
    rules: ScoringRules, n: RuleNumbers, traits: Mapping[str, Any], as_of_us: int, k: int = 3
) -> tuple[Reason, ...]:
    """The top ``k`` engagement and fit reasons by impact, then inactivity if it applies."""
    per_eng, per_fit = _shares(rules)
    today = eng.day_of(as_of_us)
    out: list[Reason] = []
    for i in np.argsort(-np.abs(n.points), kind="stable")[:k]:
        impact = float(n.points[i]) * per_eng
        if abs(impact) < _MIN_IMPACT:
            break
        rule = rules.engagement.rules[i]
        days = today - int(n.first_day[i]) + 1 if n.first_day[i] >= 0 else 0
        recent = rules.engagement.decay_of(rule).recent_days
        text = engagement_text(rule, int(n.counts[i]), days, float(n.points[i]), recent)
        out.append(Reason("engagement", rule.name, text, impact))
    for j in np.argsort(-np.abs(n.fit_points), kind="stable")[:k]:
        impact = float(n.fit_points[j]) * per_fit
        if abs(impact) < _MIN_IMPACT:
            break
        rule = rules.fit.rules[j]
        out.append(Reason("fit", rule.name, fit_text(rule, traits), impact))
    out.sort(key=lambda r: -abs(r.weight))
    idle = None if n.last_touch_us is None else (as_of_us - n.last_touch_us) // eng.DAY_US
    if idle is None or idle >= rules.engagement.inactive_after:
        out.append(Reason("activity", "inactive", inactivity_text(idle), 0.0))
    return tuple(out)


def build_card(
    rules: ScoringRules, contact_id: str, account_id: str | None, n: RuleNumbers,
    traits: Mapping[str, Any], as_of: datetime, k: int = 3,
) -> ScoreCard:
    """The score card of one contact from its per-rule numbers."""
    as_of_us = eng.epoch_us(as_of)
    engagement = float(eng.to_score(float(n.points.sum()), rules.engagement.scale))
    fit = float(eng.to_score(float(n.fit_points.sum()), rules.fit.scale))
    return ScoreCard(
        contact_id=contact_id,
        account_id=account_id,
        as_of=as_of,
        fit=fit,
        engagement=engagement,
        score=float(grades.combined(fit, engagement, rules.grades)),
        grade=grades.grade(fit, engagement, rules.grades),
        reasons=reasons_for(rules, n, traits, as_of_us, k),
    )


def fit_vector(rules: ScoringRules, traits: Mapping[str, Any]) -> npt.NDArray[np.float64]:
    """Each fit rule's points for one contact's traits, in rule order."""
    return np.array([fit_points(r, traits) for r in rules.fit.rules], dtype=np.float64)


def traits_of(row: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The named traits of a row, without nulls."""
    return {k: row[k] for k in names if row.get(k) is not None}
