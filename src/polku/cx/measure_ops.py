"""CX measurement over a workspace: what the CLI, the API and the alert check share.

Reads the workspace's Ibis tables and cx.yaml, then calls the pure analytics (measures,
targets, health, network, risk). Nothing here writes; the last health view of each workspace
is kept in memory for a few minutes (``health_view``).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from polku import profiles
from polku.cx.answers import ANSWER_COLUMNS, answers_of
from polku.cx.config import CX_FILE, CxConfig, load_config
from polku.cx.health import AccountHealth, HealthInputs, account_health, load_inputs_at
from polku.cx.measures import summarise
from polku.cx.network import touchpoint_network
from polku.cx.risk import accounts_at_risk, health_drop
from polku.cx.targets import evaluate_targets, touchpoint_types, trigger_touches
from polku.errors import InvalidInput, NotFound
from polku.model import utcnow

if TYPE_CHECKING:
    from polku.analytics.tables import Tables
    from polku.workspace import Workspace

GROUPINGS: Final = ("role", "org_level", "phase", "survey", "language", "trigger_type")
HEALTH_CACHE_SECONDS: float = 300.0  # how long a health view computed "now" is reused (unchanged data and cx.yaml)
_CACHE_WORKSPACES: Final = 4  # workspaces whose last health view is kept


@dataclass(frozen=True)
class HealthView:
    """Health of every account now and ``drop_days`` earlier, with the touchpoint networks."""

    config: CxConfig
    as_of: datetime
    inputs: HealthInputs
    now: dict[str, AccountHealth]
    before: dict[str, AccountHealth]
    networks: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class _Kept:
    """A kept health view: the key it was computed under and when (monotonic seconds)."""

    key: tuple[str, int | None]
    made: float
    view: HealthView


_views: dict[Path, _Kept] = {}  # per workspace folder, least recently stored first
_computing: dict[Path, threading.Lock] = {}
_cache_lock = threading.Lock()
_gc_lock = threading.Lock()
_gc_pauses = 0  # views being built right now (garbage collection resumes when none is)
_gc_was_enabled = True


def _utc(t: datetime | None) -> datetime | None:
    """A timezone-aware time (naive times are UTC)."""
    if t is None:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def scores(ws: Workspace, *, by: str | None = None, start: datetime | None = None, end: datetime | None = None,
           ) -> dict[str, Any]:
    """NPS, CSAT and CES over answers in [start, end), overall or per role, org level, phase or survey."""
    if by is not None and by not in GROUPINGS:
        raise InvalidInput(f"--by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    config = load_config(ws.home)
    answers = _between(answers_of(ws.tables()), _utc(start), _utc(end))
    rows = summarise(answers, config.measure_defs(), by=by, confidence=config.confidence, min_n=config.min_n)
    return {"from": start, "to": end, "by": by, "answers": int(answers["event_id"].nunique()),
            "min_n": config.min_n, "confidence": config.confidence, "rows": rows}


def targets(ws: Workspace, *, as_of: datetime | None = None, start: datetime | None = None) -> dict[str, Any]:
    """Every target experience of cx.yaml measured: value, gap, trend, interval, n and flags."""
    config = load_config(ws.home)
    as_of = _utc(as_of) or utcnow()
    tables = ws.tables()
    answers = answers_of(tables)
    triggers = trigger_touches(tables.touchpoints, touchpoint_types(config), as_of)
    return {"as_of": as_of, "from": start, "file": CX_FILE if (ws.home / CX_FILE).exists() else None,
            "targets": evaluate_targets(config, answers, triggers, as_of=as_of, start=_utc(start))}


def check_config(ws: Workspace) -> dict[str, Any]:
    """Load cx.yaml (a ConfigError names file:line) and say what it defines."""
    path = ws.home / CX_FILE
    config = load_config(ws.home)
    return {"file": str(path), "exists": path.exists(), "targets": [t.id for t in config.targets],
            "ces_better": config.measure_defs()["ces"].better, "min_n": config.min_n,
            "weights": config.health.weights.model_dump(), "alert_journey": config.alerts.journey}


def health_view(ws: Workspace, *, as_of: datetime | None = None, tables: Tables | None = None) -> HealthView:
    """Health of every account as of ``as_of`` and ``alerts.drop_days`` before, with the networks.

    Without ``as_of`` (and ``tables``) the workspace's last view is reused for up to
    ``HEALTH_CACHE_SECONDS`` while its data and cx.yaml are unchanged (see ``_cached_view``);
    with them it is computed afresh. The view is shared: treat it as read-only.
    """
    if as_of is None and tables is None:
        return _cached_view(ws)
    return _compute_view(ws, _utc(as_of) or utcnow(), tables or ws.tables())


def clear_health_cache() -> None:
    """Forget every kept health view (the next ``health_view`` without ``as_of`` computes afresh)."""
    with _cache_lock:
        _views.clear()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Cyclic garbage collection paused for the block (and resumed after the last of overlapping blocks).

    A health view is a few hundred thousand small objects that all stay alive; while it is
    built they would set off full collections over the whole heap, about a third of the time
    on a 10,000-account workspace. Nothing is lost: collection resumes at the end.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def _compute_view(ws: Workspace, as_of: datetime, tables: Tables) -> HealthView:
    """Read the inputs for now and ``drop_days`` earlier in one pass, then score both and map the networks."""
    with _gc_paused():
        return _build_view(ws, as_of, tables)


def _build_view(ws: Workspace, as_of: datetime, tables: Tables) -> HealthView:
    """``_compute_view``'s work."""
    config = load_config(ws.home)
    answers = answers_of(tables)
    earlier = as_of - timedelta(days=config.alerts.drop_days)
    inputs, before = load_inputs_at(tables, config, [as_of, earlier], answers)
    networks = touchpoint_network(inputs.people, inputs.activity, inputs.answers, as_of=as_of,
                                  recent_days=config.health.window_days, lookback_days=config.health.lookback_days)
    return HealthView(config, as_of, inputs, account_health(inputs, config), account_health(before, config), networks)


def _cached_view(ws: Workspace) -> HealthView:
    """The workspace's health view as of now, reused while its data version and cx.yaml stay the same.

    The key is the workspace's data version (``Workspace._state_token``: newest event, CRM and
    identity changes, rules) and cx.yaml's modification time; a kept view older than
    ``HEALTH_CACHE_SECONDS`` is recomputed, since "now" moves on. One computation per
    workspace at a time: concurrent callers wait for it rather than repeat it.
    """
    where = ws.home.resolve()
    with _cache_lock:
        lock = _computing.setdefault(where, threading.Lock())
    with lock:
        key = (ws._state_token(), _config_stamp(ws))
        with _cache_lock:
            kept = _views.get(where)
        if kept is not None and kept.key == key and time.monotonic() - kept.made < HEALTH_CACHE_SECONDS:
            return kept.view
        made = time.monotonic()
        view = _compute_view(ws, utcnow(), ws.tables())
        with _cache_lock:
            _views.pop(where, None)
            _views[where] = _Kept(key, made, view)
            while len(_views) > _CACHE_WORKSPACES:
                _views.pop(next(iter(_views)))
        return view


def _config_stamp(ws: Workspace) -> int | None:
    """cx.yaml's modification time in nanoseconds (None without the file): part of the cache key."""
    try:
        return (ws.home / CX_FILE).stat().st_mtime_ns
    except FileNotFoundError:
        return None


def account_card(view: HealthView, account_id: str) -> dict[str, Any]:
    """One account's health card: score, components, reasons, drop, and its touchpoint network."""
    info = view.inputs.accounts.set_index("account_id")
    if account_id not in info.index:
        raise NotFound(f"no account {account_id!r}")
    card = view.now.get(account_id)
    network = view.networks.get(account_id, {"levels": {}, "roles": {}, "reasons": ["no contacts known"]})
    drop = health_drop(card, view.before.get(account_id)) if card else None
    row = info.loc[account_id]
    base = card.to_dict() if card else {"account_id": account_id, "health": None, "coverage": 0.0,
                                        "components": [], "reasons": ["no answers or activity to judge by"]}
    return {
        **base, "name": _none(row["name"]), "owner": _none(row["owner"]), "stage": _none(row["stage"]),
        "as_of": view.as_of, "drop": None if drop is None else round(drop, 1), "drop_days": view.config.alerts.drop_days,
        "reasons": base["reasons"] + network["reasons"], "network": network,
    }


def find_account(ws: Workspace, key: str, tables: Tables | None = None) -> str:
    """An account id from its id or domain."""
    acc = (tables or ws.tables()).accounts
    key = key.strip()
    hit = acc.filter((acc.account_id == key) | (acc.domain.lower() == key.lower())).select("account_id").limit(1).execute()
    if hit.empty:
        raise NotFound(f"no account with id or domain {key!r}")
    return str(hit["account_id"].iloc[0])


def health(ws: Workspace, key: str, *, as_of: datetime | None = None) -> dict[str, Any]:
    """One account's health card, found by id or domain.

    Without ``as_of`` the kept view answers an account id by itself (no query); a domain, or
    an id it does not know, is looked up in the workspace.
    """
    if as_of is not None:
        account_id = find_account(ws, key)
        return account_card(health_view(ws, as_of=as_of), account_id)
    view = health_view(ws)
    known = view.inputs.accounts["account_id"]
    account_id = key.strip() if bool((known == key.strip()).any()) else find_account(ws, key)
    return account_card(view, account_id)


def health_list(ws: Workspace, *, as_of: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Accounts with a health score, least healthy first (score, drop, coverage and the first reasons)."""
    view = health_view(ws, as_of=as_of)
    accounts = view.inputs.accounts
    names = dict(zip(accounts["account_id"].tolist(), accounts["name"].tolist(), strict=True))
    rows = []
    for account_id, card in view.now.items():
        if card.health is None:
            continue
        drop = health_drop(card, view.before.get(account_id))
        rows.append({"account_id": account_id, "name": _none(names.get(account_id)),
                     "health": round(card.health, 1), "drop": None if drop is None else round(drop, 1),
                     "coverage": round(card.coverage, 2), "reasons": card.reasons[:2]})
    rows.sort(key=lambda r: (r["health"], r["account_id"]))
    return rows[:limit]


def risks(ws: Workspace, *, as_of: datetime | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Accounts at risk, worst first, with reasons."""
    view = health_view(ws, as_of=as_of)
    return accounts_at_risk(view.now, view.before, view.networks, view.inputs.accounts, view.config, limit=limit)


def contact_answers(ws: Workspace, key: str) -> dict[str, Any]:
    """A contact's survey answers (one row per answer and measure), newest first."""
    if not ws.is_fresh():
        ws.refresh()
    contact_id = profiles.find_contact_id(ws.store, key)
    rows = answers_of(ws.tables(), contact_id=contact_id).sort_values("ts", ascending=False)
    return {"contact_id": contact_id, "answers": records(rows)}


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Answer rows as JSON-ready dicts (missing values as None)."""
    return [{c: _none(r[c]) for c in ANSWER_COLUMNS} for r in frame.to_dict("records")]


def _between(answers: pd.DataFrame, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    """Answers in [start, end)."""
    mask = pd.Series(True, index=answers.index)
    if start is not None:
        mask &= answers["ts"] >= start
    if end is not None:
        mask &= answers["ts"] < end
    return answers[mask]


def _none(value: Any) -> Any:
    """None for pandas' missing values; timestamps as datetimes."""
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value
