"""Closing the loop: detractor answers and falling health become alerts to the account owner, with a log of what was done.

``check_alerts(ws)`` finds new causes and stores one alert per cause (a detractor answer's event,
or an account's health drop in one ISO week, and never while that account has an unclosed
health-drop alert), so running it again adds nothing. When ``alerts.journey`` is set, the
detractor is queued for that nurture journey; a journey whose first step is ``notify_owner``
also e-mails the owner. Owners acknowledge and close alerts with a note.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

import pandas as pd

from polku.cx.config import CxConfig, DetractorRule
from polku.cx.health import AccountHealth
from polku.cx.measure_ops import health_view
from polku.cx.risk import has_customer_signal, health_drop
from polku.errors import InvalidInput, NotFound, PolkuError
from polku.model import utcnow
from polku.store import cx_alerts as sql

if TYPE_CHECKING:
    from polku.workspace import Workspace

SYSTEM: Final = "polku"
STATUSES: Final = ("open", "acknowledged", "closed")
ACTIONS: Final[dict[str, tuple[tuple[str, ...], str]]] = {
    # action -> (statuses it may follow, the status it leads to)
    "ack": (("open",), "acknowledged"),
    "close": (("open", "acknowledged"), "closed"),
    "note": (STATUSES, ""),
}
_LABEL: Final = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}


def alert_id(kind: str, cause: str) -> str:
    """The alert's id, derived from its kind and cause, so the same cause never makes two alerts."""
    return "cxa_" + hashlib.sha1(f"{kind}|{cause}".encode()).hexdigest()[:16]


def is_detractor(rule: DetractorRule, score: float) -> bool:
    """Whether a score is on the rule's bad side."""
    return score <= rule.at_most if rule.at_most is not None else score >= (rule.at_least or 0.0)


def detractor_alerts(
    answers: pd.DataFrame, config: CxConfig, people: pd.DataFrame, owners: Mapping[str, str | None], *,
    since: datetime, now: datetime,
) -> list[dict[str, Any]]:
    """One alert per answer event in [since, now) with a score on a detractor rule's bad side."""
    recent = answers[(answers["ts"] >= since) & (answers["ts"] < now)]
    names = people.set_index("contact_id")["name"].to_dict() if not people.empty else {}
    hits: dict[str, list[str]] = {}
    first: dict[str, dict[str, Any]] = {}
    for rule in config.alerts.detractor:
        rows = recent[recent["measure"] == rule.measure]
        for r in rows.to_dict("records"):
            if is_detractor(rule, r["score"]):
                hits.setdefault(r["event_id"], []).append(f"{_LABEL[rule.measure]} {r['score']:g}")
                first.setdefault(r["event_id"], r)
    out = []
    for event_id, what in hits.items():
        r = first[event_id]
        who = names.get(r["contact_id"]) or r["contact_id"]
        place = ", ".join(x for x in (r["role"], r["org_level"] and f"{r['org_level']} level") if x)
        comment = f': "{_clip(r["comment"])}"' if r["comment"] else ""
        reason = (f"{' and '.join(what)} from {who}" + (f" ({place})" if place else "")
                  + f" on {r['ts']:%Y-%m-%d}" + (f" in survey {r['survey']}" if r["survey"] else "") + comment)
        out.append(_alert("detractor", event_id, r["account_id"], r["contact_id"], event_id, reason,
                          owners.get(r["account_id"]) if r["account_id"] else None, now))
    return out


def drop_alerts(
    now_cards: Mapping[str, AccountHealth], before: Mapping[str, AccountHealth], config: CxConfig,
    owners: Mapping[str, str | None], *, now: datetime, skip: set[str],
) -> list[dict[str, Any]]:
    """One alert per account whose health fell by ``alerts.health_drop`` points (cause: account and ISO week)."""
    year, week, _ = now.isocalendar()
    out = []
    for account_id, card in now_cards.items():
        if account_id in skip or not has_customer_signal(card):
            continue
        drop = health_drop(card, before.get(account_id))
        if drop is None or drop < config.alerts.health_drop:
            continue
        worst = [c.reason for c in sorted(card.components, key=lambda c: c.weight * (c.score - 50)) if c.tone == "concern"]
        reason = (f"health fell {drop:.0f} points in {config.alerts.drop_days} days, to {card.health:.0f}"
                  + (f": {worst[0]}" if worst else ""))
        out.append(_alert("health_drop", f"{account_id}|{year}-W{week:02d}", account_id, None, None, reason,
                          owners.get(account_id), now))
    return out


def check_alerts(ws: Workspace, *, now: datetime | None = None) -> dict[str, Any]:
    """Find new detractor answers and health drops, store their alerts, enrol detractors; idempotent.

    Called by ``polku cx tick``. Returns what it did: the new alerts' ids and the enrolments.
    """
    now = now or utcnow()
    if not ws.is_fresh():
        ws.refresh()
    view = health_view(ws, as_of=now)
    config = view.config
    owners = {str(k): (None if pd.isna(v) else str(v))
              for k, v in view.inputs.accounts.set_index("account_id")["owner"].items()}
    candidates = detractor_alerts(view.inputs.answers, config, view.inputs.people, owners,
                                  since=now - timedelta(days=config.alerts.since_days), now=now)
    candidates += drop_alerts(view.now, view.before, config, owners, now=now,
                              skip=sql.active_accounts(ws.store, "health_drop"))
    added = set(sql.insert(ws.store, candidates))
    enrolled = []
    for alert in candidates:
        if alert["alert_id"] in added and config.alerts.journey and alert["kind"] == "detractor" and alert["contact_id"]:
            enrolled.append(_enrol(ws, alert, config.alerts.journey, now))
    return {"checked_at": now, "created": sorted(added), "enrolled": enrolled,
            "open": len(sql.listing(ws.store, status="open", limit=100_000))}


def list_alerts(ws: Workspace, *, status: str | None = None, account: str | None = None, owner: str | None = None,
                kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Alerts, newest first, optionally narrowed."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    if kind is not None and kind not in ("detractor", "health_drop"):
        raise InvalidInput(f"kind must be detractor or health_drop, got {kind!r}")
    return sql.listing(ws.store, status=status, account_id=account, owner=owner, kind=kind, limit=limit)


def update_alert(ws: Workspace, alert_id: str, action: Literal["ack", "close", "note"], *, note: str | None = None,
                 by: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Acknowledge or close an alert (or just add a note); the action and note join its log."""
    if action not in ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    if note is not None and len(note) > 4000:
        raise InvalidInput("the note is over 4,000 characters")
    if action == "note" and not (note and note.strip()):
        raise InvalidInput("a note needs some text")
    row = sql.get(ws.store, alert_id)
    if row is None:
        raise NotFound(f"no alert {alert_id!r}")
    allowed, status = ACTIONS[action]
    done = {"ack": "acknowledged", "close": "closed", "note": "noted"}[action]
    if row["status"] not in allowed:
        raise InvalidInput(f"alert {alert_id} is {row['status']}; it cannot be {done} again" if row["status"] == status
                           else f"alert {alert_id} is {row['status']}; it cannot be {done}")
    now = now or utcnow()
    entry = {"at": now.isoformat(), "by": by or "user", "action": done if action != "note" else "note", "note": note}
    sql.record(ws.store, alert_id, entry, status=status or None, at=now)
    return sql.get(ws.store, alert_id) or {}


def _enrol(ws: Workspace, alert: dict[str, Any], journey_id: str, now: datetime) -> dict[str, Any]:
    """Queue the detractor for the journey and log it on the alert (a failure is logged, not raised)."""
    from polku.nurture.ops import request_enrolment  # nurture loads only when a journey is configured

    try:
        queued = request_enrolment(ws, journey_id, [alert["contact_id"]], source=f"cx-alert:{alert['alert_id']}", now=now)
        entry = {"at": now.isoformat(), "by": SYSTEM, "action": "enrolled",
                 "note": f"queued for journey {journey_id} (request {queued[0]['request_id']})"}
        sql.record(ws.store, alert["alert_id"], entry, journey_id=journey_id, at=now)
        return {"alert_id": alert["alert_id"], "journey_id": journey_id, "request_id": queued[0]["request_id"]}
    except PolkuError as exc:
        entry = {"at": now.isoformat(), "by": SYSTEM, "action": "enrol_failed", "note": f"{journey_id}: {exc.message}"}
        sql.record(ws.store, alert["alert_id"], entry, at=now)
        return {"alert_id": alert["alert_id"], "journey_id": journey_id, "error": exc.message}


def _alert(kind: str, cause: str, account_id: str | None, contact_id: str | None, event_id: str | None, reason: str,
           owner: str | None, now: datetime) -> dict[str, Any]:
    """A new alert row with its first log entry."""
    note = f"for {owner}" if owner else "the account has no owner: assign one to route this alert"
    return {"alert_id": alert_id(kind, cause), "kind": kind, "account_id": account_id, "contact_id": contact_id,
            "event_id": event_id, "reason": reason, "owner": owner, "status": "open", "journey_id": None,
            "actions": [{"at": now.isoformat(), "by": SYSTEM, "action": "created", "note": note}],
            "created_at": now, "updated_at": now}


def _clip(text: str, limit: int = 160) -> str:
    """A comment shortened for a one-line reason."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
