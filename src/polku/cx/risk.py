"""Accounts at risk: low or falling CX health, ranked, each with its reasons in plain words.

Pure: health cards (now and ``drop_days`` earlier), touchpoint networks and the accounts table in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from polku.cx.config import CxConfig
from polku.cx.health import AccountHealth


def has_customer_signal(card: AccountHealth) -> bool:
    """Whether the health rests on more than activity alone (answers, tickets, deliveries or devices)."""
    return any(c.name != "activity" for c in card.components)


def health_drop(now: AccountHealth, before: AccountHealth | None) -> float | None:
    """Points lost since the earlier card (negative: gained), on the components both cards have.

    Comparing like with like keeps a new kind of signal (say, a first answer) from reading as a
    drop by itself; None without a shared component.
    """
    if before is None:
        return None
    old = {c.name: c for c in before.components}
    shared = [c for c in now.components if c.name in old]
    weight = sum(c.weight for c in shared)
    if not shared or weight <= 0:
        return None
    return sum(c.weight * (old[c.name].score - c.score) for c in shared) / weight


def accounts_at_risk(
    now: Mapping[str, AccountHealth], before: Mapping[str, AccountHealth], networks: Mapping[str, dict[str, Any]],
    accounts: pd.DataFrame, config: CxConfig, *, limit: int | None = None,
) -> list[dict[str, Any]]:
    """Accounts whose health is under ``health.at_risk_below`` or fell by ``alerts.health_drop`` points, worst first.

    Risk = (100 − health) + the points lost; only accounts whose health rests on more than activity
    are considered (a prospect's web visits say little about its experience).
    """
    info = {a: (name, owner, stage) for a, name, owner, stage in zip(
        accounts["account_id"].tolist(), accounts["name"].tolist(), accounts["owner"].tolist(),
        accounts["stage"].tolist(), strict=True)}
    below, drop_limit, days = config.health.at_risk_below, config.alerts.health_drop, config.alerts.drop_days
    out = []
    for account_id, card in now.items():
        if card.health is None or not has_customer_signal(card):
            continue
        drop = health_drop(card, before.get(account_id))
        falling = drop is not None and drop >= drop_limit
        if card.health >= below and not falling:
            continue
        reasons = []
        if falling:
            reasons.append(f"health fell {drop:.0f} points in {days} days")
        if card.health < below:
            reasons.append(f"health {card.health:.0f} is under {below:g}")
        reasons += [c.reason for c in sorted(card.components, key=lambda c: c.weight * (c.score - 50))
                    if c.tone == "concern"]
        reasons += networks.get(account_id, {}).get("reasons", [])[:3]
        name, owner, stage = info.get(account_id, (None, None, None))
        out.append({
            "account_id": account_id,
            "name": None if pd.isna(name) else name,
            "owner": None if pd.isna(owner) else owner,
            "stage": None if pd.isna(stage) else stage,
            "health": round(card.health, 1), "drop": None if drop is None else round(drop, 1),
            "risk": round(100 - card.health + max(drop or 0.0, 0.0), 1), "reasons": reasons,
        })
    out.sort(key=lambda r: (-r["risk"], r["account_id"]))
    return out if limit is None else out[:limit]
