"""Account scores for buying groups: in B2B the account buys, not the person.

An account's engagement is the mean engagement of its ``top_k`` most engaged contacts,
plus points for buying-group coverage among contacts active within ``active_within``:
a decision-maker (role decision_maker or executive) engaged, each organisational level
and each role active beyond the first; capped at 100. Its fit is its best-fitting
contact's (fit already includes the account's industry, size and country). Score and
grade combine them as for contacts. The predicted probability, when the model scored
the contacts, is that at least one of them gets there: 1 - prod(1 - p), treating
contacts as independent (an optimistic roll-up, documented as such).

``account_card`` rolls up one account from its members (the incremental path);
``score_accounts`` does every account at once; both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from polku.scoring import grades
from polku.scoring.engagement import DAY_US, epoch_us
from polku.scoring.features import DECISION_ROLES
from polku.scoring.reasons import Reason, plural
from polku.scoring.rescore import ContactScores
from polku.scoring.rules import ScoringRules


@dataclass(frozen=True)
class Member:
    """What the roll-up needs of one contact of the account."""

    contact_id: str
    role: str | None
    org_level: str | None
    fit: float
    engagement: float
    last_touch_us: int | None
    probability: float | None = None


@dataclass(frozen=True)
class Coverage:
    """Who in the buying group is active."""

    contacts: int
    active: int
    decision_maker_engaged: bool
    executive_engaged: bool
    roles: tuple[str, ...]
    levels: tuple[str, ...]


@dataclass(frozen=True)
class AccountCard:
    """The score of one account, its buying-group coverage and reasons."""

    account_id: str
    as_of: datetime
    fit: float
    engagement: float
    score: float
    grade: str
    coverage: Coverage
    probability: float | None = None
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        c = self.coverage
        return {
            "account_id": self.account_id,
            "as_of": self.as_of.isoformat(),
            "fit": round(self.fit, 2),
            "engagement": round(self.engagement, 2),
            "score": round(self.score, 2),
            "grade": self.grade,
            "probability": None if self.probability is None else round(self.probability, 4),
            "coverage": {
                "contacts": c.contacts, "active": c.active,
                "decision_maker_engaged": c.decision_maker_engaged,
                "executive_engaged": c.executive_engaged,
                "roles": list(c.roles), "levels": list(c.levels),
            },
            "reasons": [r.as_dict() for r in self.reasons],
        }


def _bonus(rules: ScoringRules, dm: bool, n_levels: int, n_roles: int) -> tuple[float, float, float]:
    a = rules.accounts
    return (a.decision_maker_points * dm, a.level_points * max(0, n_levels - 1),
            a.role_points * max(0, n_roles - 1))


def _reasons(rules: ScoringRules, cov: Coverage, top_mean: float) -> tuple[Reason, ...]:
    share = 1.0 - rules.grades.fit_weight
    window = int(round(rules.accounts.active_within))
    dm, lv, ro = _bonus(rules, cov.decision_maker_engaged, len(cov.levels), len(cov.roles))
    out = [
        Reason("buying_group", "top_contacts", f"most engaged contacts average {top_mean:.0f} of 100", top_mean * share),
        Reason("buying_group", "decision_maker",
               f"decision-maker engaged in the last {window} days" if cov.decision_maker_engaged
               else f"no decision-maker engaged in the last {window} days", dm * share),
        Reason("buying_group", "levels",
               f"{plural(len(cov.levels), 'organisational level')} active" + (f": {', '.join(cov.levels)}" if cov.levels else ""),
               lv * share),
        Reason("buying_group", "roles",
               f"{plural(len(cov.roles), 'buying-group role')} active" + (f": {', '.join(cov.roles)}" if cov.roles else ""),
               ro * share),
        Reason("buying_group", "active",
               f"{cov.active} of {plural(cov.contacts, 'contact')} active in the last {window} days", 0.0),
    ]
    return tuple(sorted(out, key=lambda r: -abs(r.weight)))


def account_card(account_id: str, members: Sequence[Member], rules: ScoringRules, as_of: datetime) -> AccountCard:
    """Roll up one account from its members."""
    a = rules.accounts
    since = epoch_us(as_of) - int(a.active_within * DAY_US)
    active = [m for m in members if m.last_touch_us is not None and m.last_touch_us >= since]
    cov = Coverage(
        contacts=len(members),
        active=len(active),
        decision_maker_engaged=any(m.role in DECISION_ROLES for m in active),
        executive_engaged=any(m.org_level == "executive" for m in active),
        roles=tuple(sorted({m.role for m in active if m.role})),
        levels=tuple(sorted({m.org_level for m in active if m.org_level})),
    )
    top = sorted((m.engagement for m in members), reverse=True)[: a.top_k]
    top_mean = float(np.mean(top)) if top else 0.0
    engagement = float(min(100.0, top_mean + sum(_bonus(rules, cov.decision_maker_engaged, len(cov.levels), len(cov.roles)))))
    fit = max((m.fit for m in members), default=0.0)
    probs = [m.probability for m in members if m.probability is not None]
    return AccountCard(
        account_id=account_id,
        as_of=as_of,
        fit=fit,
        engagement=engagement,
        score=float(grades.combined(fit, engagement, rules.grades)),
        grade=grades.grade(fit, engagement, rules.grades),
        coverage=cov,
        probability=float(1.0 - np.prod([1.0 - p for p in probs])) if probs else None,
        reasons=_reasons(rules, cov, top_mean),
    )


@dataclass(frozen=True)
class AccountScores:
    """Every account's roll-up, column by column, with cards built on demand."""

    rules: ScoringRules
    as_of: datetime
    table: pd.DataFrame  # one row per account

    def __len__(self) -> int:
        """Number of accounts."""
        return len(self.table)

    def card(self, account_id: str) -> AccountCard:
        """The card of one account (KeyError if it has no scored contacts)."""
        r = self.table.loc[account_id]
        cov = Coverage(int(r["contacts"]), int(r["active"]), bool(r["decision_maker_engaged"]),
                       bool(r["executive_engaged"]), tuple(r["roles"]), tuple(r["levels"]))
        p = r["probability"]
        return AccountCard(account_id, self.as_of, float(r["fit"]), float(r["engagement"]), float(r["score"]),
                           str(r["grade"]), cov, None if pd.isna(p) else float(p),
                           _reasons(self.rules, cov, float(r["top_mean"])))


def score_accounts(
    scores: ContactScores, probability: pd.Series | None = None
) -> AccountScores:
    """Roll up every account with scored contacts; ``probability`` (indexed by contact id)
    adds the model's account probability."""
    rules, a = scores.rules, scores.rules.accounts
    since = epoch_us(scores.as_of) - int(a.active_within * DAY_US)
    df = pd.DataFrame({
        "account_id": scores.account_id,
        "contact_id": scores.contact_id,
        "fit": scores.fit,
        "engagement": scores.engagement,
        "role": scores.traits["role"],
        "org_level": scores.traits["org_level"],
        "active": scores.last_touch_us >= max(since, 0),
    })
    df = df[df["account_id"].notna()]
    p = probability.reindex(df["contact_id"]).to_numpy() if probability is not None else np.full(len(df), np.nan)
    df["log_miss"] = np.log1p(-np.minimum(p, 1.0 - 1e-12))  # log P(this contact does not)
    df["dm"] = df["active"] & df["role"].isin(DECISION_ROLES)
    df["ex"] = df["active"] & (df["org_level"] == "executive")
    df = df.sort_values(["account_id", "engagement"], ascending=[True, False], kind="stable")
    df["rank"] = df.groupby("account_id", sort=False).cumcount()
    g = df.groupby("account_id", sort=True)
    out = pd.DataFrame({
        "contacts": g.size(),
        "active": g["active"].sum(),
        "decision_maker_engaged": g["dm"].any(),
        "executive_engaged": g["ex"].any(),
        "top_mean": df[df["rank"] < a.top_k].groupby("account_id")["engagement"].mean(),
        "fit": g["fit"].max(),
        "probability": 1.0 - np.exp(g["log_miss"].sum(min_count=1)),
    })
    for col, trait in (("roles", "role"), ("levels", "org_level")):
        pairs = df.loc[df["active"] & df[trait].notna(), ["account_id", trait]].drop_duplicates()
        lists = pairs.sort_values(["account_id", trait]).groupby("account_id")[trait].agg(tuple)
        out[col] = lists.reindex(out.index)
        out[col] = out[col].apply(lambda v: v if isinstance(v, tuple) else ())
    n_levels = out["levels"].apply(len).to_numpy()
    n_roles = out["roles"].apply(len).to_numpy()
    bonus = (a.decision_maker_points * out["decision_maker_engaged"].to_numpy()
             + a.level_points * np.maximum(0, n_levels - 1) + a.role_points * np.maximum(0, n_roles - 1))
    out["engagement"] = np.minimum(100.0, out["top_mean"].to_numpy() + bonus)
    out["score"] = grades.combined(out["fit"].to_numpy(), out["engagement"].to_numpy(), rules.grades)
    out["grade"] = np.char.add(grades.fit_grades(out["fit"].to_numpy(), rules.grades),
                               grades.engagement_grades(out["engagement"].to_numpy(), rules.grades))
    return AccountScores(rules, scores.as_of, out)


def members_of(scores: ContactScores, account_id: str, probability: pd.Series | None = None) -> list[Member]:
    """The members of one account as ``account_card`` takes them, from bulk scores."""
    rows = np.flatnonzero(scores.account_id == account_id)
    out = []
    for i in rows:
        last = int(scores.last_touch_us[i])
        cid = str(scores.contact_id[i])
        p = None if probability is None or cid not in probability.index else float(probability[cid])
        out.append(Member(cid, scores.traits["role"][i], scores.traits["org_level"][i], float(scores.fit[i]),
                          float(scores.engagement[i]), None if last < 0 else last, p))
    return out


def probabilities(values: npt.ArrayLike, contact_ids: npt.ArrayLike) -> pd.Series:
    """Model probabilities indexed by contact id, as the roll-ups take them."""
    return pd.Series(np.asarray(values, dtype=np.float64), index=np.asarray(contact_ids, dtype=object))
