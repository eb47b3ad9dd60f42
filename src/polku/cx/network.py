"""The touchpoint network of an account: from which organisational levels and roles we hear, and how recently.

B2B experience is shaped across levels (executives agree the partnership, managers organise
the cooperation, operational staff work with us daily), so a health score resting on one level
can mislead. Pure: contacts, per-contact activity and answers in, one record per account out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import pandas as pd

from polku.model import OrgLevel

LEVELS: Final[tuple[str, ...]] = tuple(level.value for level in OrgLevel)
KEY_ROLES: Final[tuple[str, ...]] = ("decision_maker",)  # a gap here is worth a reason of its own


def _signal(last: Any, as_of: datetime, recent_days: int, lookback_days: int) -> str:
    """recent (heard within recent_days), stale (within the lookback), old (before it) or none."""
    if last is None or pd.isna(last):
        return "none"
    age = as_of - last
    if age <= timedelta(days=recent_days):
        return "recent"
    return "stale" if age <= timedelta(days=lookback_days) else "old"


def _groups(frame: pd.DataFrame, key: str, as_of: datetime, recent_days: int, lookback_days: int,
            ) -> dict[str, dict[str, dict[str, Any]]]:
    """Per account and value of ``key`` (org_level or role): counts and recency of its people."""
    agg = frame.groupby(["account_id", key], dropna=False).agg(
        contacts=("contact_id", "size"), heard_from=("heard", "sum"), touches=("touches", "sum"),
        answers=("answers", "sum"), last_touch=("last_ts", "max"), last_answer=("last_answer", "max"),
    ).reset_index()
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in agg.to_dict("records"):
        touch, answer = _time(r["last_touch"]), _time(r["last_answer"])
        last = max((t for t in (touch, answer) if t is not None), default=None)
        out.setdefault(str(r["account_id"]), {})[str(r[key])] = {
            "contacts": int(r["contacts"]), "heard_from": int(r["heard_from"]), "touches": int(r["touches"]),
            "answers": int(r["answers"]), "last_touch": None if touch is None else touch.isoformat(),
            "last_answer": None if answer is None else answer.isoformat(),
            "signal": _signal(last, as_of, recent_days, lookback_days),
        }
    return out


def touchpoint_network(
    people: pd.DataFrame, activity: pd.DataFrame, answers: pd.DataFrame, *, as_of: datetime,
    recent_days: int = 90, lookback_days: int = 365,
) -> dict[str, dict[str, Any]]:
    """Per account (with known people): signal by org level and by role, and the gaps as reasons.

    ``people``: contact_id, account_id, role, org_level; ``activity``: contact_id, lookback
    (touches within ``lookback_days``), last_ts; ``answers``: answer rows. Touches are the
    people's own actions (what health counts as activity); answers are survey answers.
    """
    known = people[people["account_id"].notna()][["contact_id", "account_id", "role", "org_level"]]
    acts = activity[["contact_id", "lookback", "last_ts"]].rename(columns={"lookback": "touches"})
    done = answers[answers["ts"] < as_of]
    per_answer = done.groupby("contact_id").agg(answers=("event_id", "nunique"), last_answer=("ts", "max"))
    frame = known.merge(acts, on="contact_id", how="left").merge(per_answer, on="contact_id", how="left")
    frame["touches"] = frame["touches"].fillna(0).astype(int)
    frame["answers"] = frame["answers"].fillna(0).astype(int)
    frame["heard"] = ((frame["touches"] > 0) | (frame["answers"] > 0)).astype(int)
    frame["org_level"] = frame["org_level"].fillna("unknown")
    frame["role"] = frame["role"].fillna("unknown")
    by_level = _groups(frame, "org_level", as_of, recent_days, lookback_days)
    by_role = _groups(frame, "role", as_of, recent_days, lookback_days)
    empty = {"contacts": 0, "heard_from": 0, "touches": 0, "answers": 0, "last_touch": None, "last_answer": None,
             "signal": "none"}
    out: dict[str, dict[str, Any]] = {}
    for account_id, found in by_level.items():
        levels = {level: found.get(level, dict(empty)) for level in LEVELS}
        roles = by_role.get(account_id, {})
        reasons = []
        for level, g in levels.items():
            if g["contacts"] == 0:
                reasons.append(f"no signal from {level} level: nobody known there")
            elif g["signal"] == "none":
                reasons.append(f"no signal from {level} level: {g['contacts']} known, none heard from")
            elif g["signal"] != "recent":
                reasons.append(f"no recent signal from {level} level: last heard {_ago(g, as_of)}")
        for role in KEY_ROLES:
            if role not in roles:
                reasons.append(f"no {role.replace('_', ' ')} known in the buying group")
        answering = [lv for lv in LEVELS if levels[lv]["answers"]]
        silent = [lv for lv in LEVELS if not levels[lv]["answers"] and levels[lv]["contacts"]]
        if answering and silent:
            reasons.append(f"answers only from {', '.join(answering)} level; none from {', '.join(silent)}")
        covered = sum(g["signal"] == "recent" for g in levels.values())
        out[account_id] = {"account_id": account_id, "levels": levels, "roles": roles,
                           "level_unknown": found.get("unknown", {}).get("contacts", 0),
                           "levels_with_recent_signal": covered, "reasons": reasons}
    return out


def _time(value: Any) -> pd.Timestamp | None:
    """A timestamp, or None for missing."""
    return None if value is None or pd.isna(value) else pd.Timestamp(value)


def _ago(group: dict[str, Any], as_of: datetime) -> str:
    """When a level was last heard from, in days."""
    times = [pd.Timestamp(t) for t in (group["last_touch"], group["last_answer"]) if t]
    days = int((as_of - max(times)).total_seconds() // 86_400)
    return f"{days} days ago"
