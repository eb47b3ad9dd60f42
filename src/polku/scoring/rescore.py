"""Rescoring every contact from the tables: one engine pass over the touchpoints, then
vectorised arithmetic. A change of rules rescoring everyone is one call.

The engine does the heavy part (matching rules, decaying, grouping by contact and rule)
as Ibis expressions; NumPy applies points, caps, scales and grades to the per-rule sums.
Reasons are built per contact on demand (``ContactScores.card``), or for all at once by
``ContactScores.to_arrow(reasons=True)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from polku.analytics.tables import Tables
from polku.scoring import engagement as eng
from polku.scoring import grades
from polku.scoring.card import RuleNumbers, ScoreCard, build_card
from polku.scoring.fit import TRAITS, fit_expr, traits_table
from polku.scoring.match import rule_predicate
from polku.scoring.positions import positions_table, with_positions
from polku.scoring.rules import Decay, ScoringRules
from polku.scoring.timecol import epoch_us


def rule_matches(touchpoints: ir.Table, rules: ScoringRules, as_of: datetime) -> ir.Table:
    """Per contact and engagement rule it matched (``rule``, its position): the decayed
    weight sum ``v``, the recent match count ``n`` and the first recent UTC day ``d``,
    over touchpoints up to ``as_of``.

    One pass: each touchpoint becomes one row per rule it matches (an array of rule
    positions, unnested), then one plain grouped sum. Long rather than wide: engines run
    this far faster than dozens of filtered aggregates over every touchpoint.
    """
    settings = rules.engagement
    now_us = eng.epoch_us(as_of)
    today = eng.day_of(now_us)
    tp = touchpoints
    hits = ibis.array([
        ibis.ifelse(rule_predicate(tp, rule).fill_null(False), ibis.literal(i, type="int16"), ibis.null("int16"))
        for i, rule in enumerate(settings.rules)
    ])
    t = tp.select(contact_id=tp.contact_id, us=epoch_us(tp.ts), rule=hits.filter(lambda x: x.notnull()).unnest())
    t = t.filter(t.us <= now_us)
    day = t.us // eng.DAY_US
    by_decay: dict[Decay, list[int]] = {}
    for i, rule in enumerate(settings.rules):
        by_decay.setdefault(settings.decay_of(rule), []).append(i)
    p = t.select(
        "contact_id",
        "rule",
        w=ibis.cases(*((t.rule.isin(ids), eng.weight_expr(d, now_us - t.us, today - day)) for d, ids in by_decay.items())),
        recent=ibis.cases(*((t.rule.isin(ids), eng.recent_expr(d, today - day)) for d, ids in by_decay.items())),
        day=day,
    )
    return p.group_by(["contact_id", "rule"]).aggregate(
        v=p.w.sum(), n=p.day.count(where=p.recent), d=p.day.min(where=p.recent)
    )


def last_touches(touchpoints: ir.Table, as_of: datetime) -> ir.Table:
    """Per contact: its last touchpoint up to ``as_of``, in µs since the epoch."""
    # times compared as integers: engines may evaluate a time-zone-aware literal row by row
    t = touchpoints.select("contact_id", us=epoch_us(touchpoints.ts))
    t = t.filter(t.us <= eng.epoch_us(as_of))
    return t.group_by("contact_id").aggregate(last_us=t.us.max())


def fit_table(tables: Tables, rules: ScoringRules) -> ir.Table:
    """Every contact with its traits and fit points ``f<j>`` per fit rule."""
    traits = traits_table(tables.contacts, tables.accounts)
    return traits.mutate(**{f"f{j}": fit_expr(traits, r) for j, r in enumerate(rules.fit.rules)})


def _matrix(table: pa.Table, prefix: str, n: int) -> npt.NDArray[np.float64]:
    """Columns prefix0..prefix{n-1} as one (rows x n) array, nulls as 0."""
    out = np.zeros((table.num_rows, n), dtype=np.float64)
    for i in range(n):
        out[:, i] = table.column(f"{prefix}{i}").fill_null(0).to_numpy()
    return out


@dataclass(frozen=True)
class ContactScores:
    """Rule scores of many contacts, column by column (row ``i`` is one contact)."""

    rules: ScoringRules
    as_of: datetime
    contact_id: npt.NDArray[np.object_]
    account_id: npt.NDArray[np.object_]
    fit: npt.NDArray[np.float64]
    engagement: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    grade: npt.NDArray[np.str_]
    points: npt.NDArray[np.float64]  # engagement points per rule, after caps
    counts: npt.NDArray[np.int64]  # recent matches per rule
    first_day: npt.NDArray[np.int64]  # first recent UTC day per rule, -1 if none
    fit_points: npt.NDArray[np.float64]
    last_touch_us: npt.NDArray[np.int64]  # -1: never
    traits: dict[str, npt.NDArray[np.object_]]

    def __len__(self) -> int:
        """Number of contacts scored."""
        return len(self.contact_id)

    def position(self, contact_id: str) -> int:
        """The row of a contact (KeyError if it was not scored)."""
        hits = np.flatnonzero(self.contact_id == contact_id)
        if not len(hits):
            raise KeyError(contact_id)
        return int(hits[0])

    def numbers(self, i: int) -> RuleNumbers:
        """The per-rule numbers of row ``i``."""
        last = int(self.last_touch_us[i])
        return RuleNumbers(self.points[i], self.counts[i], self.first_day[i], self.fit_points[i],
                           None if last < 0 else last)

    def card(self, i: int, k: int = 3) -> ScoreCard:
        """The score card of row ``i``, with its reasons."""
        traits = {name: col[i] for name, col in self.traits.items() if col[i] is not None}
        account = self.account_id[i]
        return build_card(self.rules, str(self.contact_id[i]), account, self.numbers(i), traits, self.as_of, k)

    def cards(self, k: int = 3) -> Iterator[ScoreCard]:
        """Every contact's score card, in row order."""
        for i in range(len(self)):
            yield self.card(i, k)

    def to_arrow(self, *, reasons: bool = False, k: int = 3) -> pa.Table:
        """The scores as a table (for storage); with the reason texts when asked."""
        fit_g = np.array([g[0] for g in self.grade]) if len(self) else np.array([], dtype=str)
        cols: dict[str, Any] = {
            "contact_id": pa.array(self.contact_id, pa.string()),
            "account_id": pa.array(self.account_id, pa.string()),
            "fit": self.fit,
            "engagement": self.engagement,
            "score": self.score,
            "grade": pa.array(self.grade, pa.string()),
            "fit_grade": pa.array(fit_g, pa.string()),
        }
        if reasons:
            cols["reasons"] = pa.array([[r.text for r in c.reasons] for c in self.cards(k)],
                                       pa.list_(pa.string()))
        return pa.table(cols)


def _per_rule(long: pa.Table, n: int, n_rules: int) -> tuple[npt.NDArray[Any], ...]:
    """The long per-(contact position, rule) sums spread into (contacts x rules) arrays."""
    weights = np.zeros((n, n_rules))
    counts = np.zeros((n, n_rules), dtype=np.int64)
    first_day = np.full((n, n_rules), -1, dtype=np.int64)
    row, col = long.column("pos").to_numpy(), long.column("rule").to_numpy().astype(np.int64)
    weights[row, col] = long.column("v").to_numpy()
    counts[row, col] = long.column("n").to_numpy()
    first_day[row, col] = long.column("d").fill_null(-1).to_numpy()
    return weights, counts, first_day


def score_contacts(tables: Tables, rules: ScoringRules, as_of: datetime) -> ContactScores:
    """Rule scores of every contact as of ``as_of``, from touchpoints up to that time."""
    people = fit_table(tables, rules).to_pyarrow()
    index = people.column("contact_id").combine_chunks()
    positions = positions_table(index)
    long = with_positions(rule_matches(tables.touchpoints, rules, as_of), positions).to_pyarrow()
    weights, counts, first_day = _per_rule(long, len(index), len(rules.engagement.rules))
    last = with_positions(last_touches(tables.touchpoints, as_of), positions).to_pyarrow()
    last_touch = np.full(len(index), -1, dtype=np.int64)
    last_touch[last.column("pos").to_numpy()] = last.column("last_us").to_numpy()

    points = eng.capped(weights * eng.rule_points(rules.engagement), eng.rule_caps(rules.engagement))
    fit_points = _matrix(people, "f", len(rules.fit.rules))
    engagement = eng.to_score(points.sum(axis=1), rules.engagement.scale)
    fit = eng.to_score(fit_points.sum(axis=1), rules.fit.scale)
    letter = grades.fit_grades(fit, rules.grades)
    digit = grades.engagement_grades(engagement, rules.grades)
    return ContactScores(
        rules=rules,
        as_of=as_of,
        contact_id=index.to_numpy(zero_copy_only=False).astype(object),
        account_id=people.column("account_id").to_numpy(zero_copy_only=False).astype(object),
        fit=fit,
        engagement=engagement,
        score=grades.combined(fit, engagement, rules.grades),
        grade=np.char.add(letter, digit),
        points=points,
        counts=counts,
        first_day=first_day,
        fit_points=fit_points,
        last_touch_us=last_touch,
        traits={name: _objects(people.column(name)) for name in TRAITS},
    )


def _objects(column: pa.ChunkedArray) -> npt.NDArray[np.object_]:
    """A column as Python values, None for null (numbers stay numbers)."""
    out = column.to_numpy(zero_copy_only=False).astype(object)
    out[column.is_null().to_numpy(zero_copy_only=False)] = None
    return out
