"""The touchpoint network of an account: from which organisational levels and roles we hear, and how recently.

B2B experience is shaped across levels (executives agree the partnership, managers organise
the cooperation, operational staff work with us daily), so a health score resting on one level
can mislead. Pure: contacts, per-contact activity and answers in, one record per account out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd

from polku.model import OrgLevel

LEVELS: Final[tuple[str, ...]] = tuple(level.value for level in OrgLevel)
KEY_ROLES: Final[tuple[str, ...]] = ("decision_maker",)  # a gap here is worth a reason of its own
_DAY_US: Final = 86_400_000_000


def _summary(frame: pd.DataFrame, key: str, as_of: datetime, recent_days: int, lookback_days: int) -> pd.DataFrame:
    """Per account and value of ``key`` (org_level or role): counts, last touch and answer, signal and days since heard.

    The signal is recent (heard within ``recent_days``), stale (within the lookback), old
    (before it) or none; computed for all groups at once.
    """
    grouped = frame.groupby(["account_id", key], sort=True)
    agg = grouped[["heard", "touches", "answers"]].sum()
    agg["contacts"] = grouped.size()
    agg["last_touch"] = grouped["last_ts"].max()
    agg["last_answer"] = grouped["last_answer"].max()
    agg = agg.reset_index()
    touch, answer = agg["last_touch"], agg["last_answer"]
    last = touch.where(answer.isna() | (touch >= answer), answer)
    age = pd.Timestamp(as_of) - last
    agg["signal"] = np.select(
        [last.isna().to_numpy(), (age <= timedelta(days=recent_days)).to_numpy(),
         (age <= timedelta(days=lookback_days)).to_numpy()],
        ["none", "recent", "stale"], "old")
    agg["days"] = (age.to_numpy(dtype="timedelta64[us]").astype("int64") // _DAY_US)
    return agg


def _iso(*columns: pd.Series) -> list[list[str | None]]:
    """ISO 8601 texts of UTC timestamps (as ``Timestamp.isoformat`` writes them), None for missing.

    Each distinct time is written once: the groups by level and by role share most of theirs.
    """
    micros = [c.to_numpy(dtype="datetime64[us]").astype("int64") for c in columns]
    missing = np.iinfo("int64").min  # NaT
    distinct = np.unique(np.concatenate(micros))
    distinct = distinct[distinct != missing]
    stamps = pd.to_datetime(distinct, unit="us", utc=True).to_pydatetime()
    texts: dict[int, str | None] = dict(zip(distinct.tolist(), [t.isoformat() for t in stamps], strict=True))
    texts[missing] = None
    return [[texts[m] for m in column.tolist()] for column in micros]


def _groups(summary: pd.DataFrame, key: str, touched: list[str | None], answered: list[str | None],
            ) -> dict[str, dict[str, dict[str, Any]]]:
    """The summary as nested records: account -> value of ``key`` -> counts, last times (texts) and signal."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    columns = zip(summary["account_id"].astype(str).tolist(), summary[key].astype(str).tolist(),
                  summary["contacts"].tolist(), summary["heard"].tolist(), summary["touches"].tolist(),
                  summary["answers"].tolist(), touched, answered, summary["signal"].tolist(), strict=True)
    for account, value, contacts, heard, touches, answers, touch, answer, signal in columns:
        out.setdefault(account, {})[value] = {  # the counts are Python ints already (tolist)
            "contacts": contacts, "heard_from": heard, "touches": touches, "answers": answers,
            "last_touch": touch, "last_answer": answer, "signal": signal,
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
    for column in ("last_ts", "last_answer"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    levels_frame = _summary(frame, "org_level", as_of, recent_days, lookback_days)
    roles_frame = _summary(frame, "role", as_of, recent_days, lookback_days)
    times = _iso(levels_frame["last_touch"], levels_frame["last_answer"], roles_frame["last_touch"],
                 roles_frame["last_answer"])
    by_level = _groups(levels_frame, "org_level", times[0], times[1])
    by_role = _groups(roles_frame, "role", times[2], times[3])
    keys = zip(levels_frame["account_id"].astype(str).tolist(), levels_frame["org_level"].astype(str).tolist())
    days = dict(zip(keys, levels_frame["days"].tolist(), strict=True))  # since each level was last heard from
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
                reasons.append(f"no recent signal from {level} level: last heard {days[account_id, level]} days ago")
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
