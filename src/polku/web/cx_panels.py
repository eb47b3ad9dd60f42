"""The CX panels of the 360° pages: an account's CX health with its touchpoint network, a contact's survey answers.

The account panel is the health card of ``GET /v1/cx/accounts/{key}/health``
(``measure_ops.account_card`` over the cached health view) and appears when the account has
CX data (its health rests on more than activity, or its people answered a survey). The
network grid crosses organisational level with role by running the measurement's own
``touchpoint_network`` on each role's people, so a cell means exactly what the card's
levels mean. The contact panel is ``GET /v1/cx/contacts/{key}/answers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from polku.model import Role
from polku.web import cx_data
from polku.web.cx_tables import SIGNAL_TEXT, answers_table, components_table, health_facts, network_table, reasons_table
from polku.web.pages import Panel, Registry
from polku.web.tables import Table

if TYPE_CHECKING:
    from polku.cx.measure_ops import HealthView
    from polku.workspace import Workspace

ALL_ROLES: Final = "all"
ROLE_ORDER: Final = {r.value: i for i, r in enumerate(Role)}


def has_answers_of(ws: Workspace, subject: str, subject_id: str) -> bool:
    """Whether a contact (or anyone at an account) has a stored survey answer (one indexed look-up)."""
    column = "account_id" if subject == "account" else "contact_id"
    rows = ws.store.query(
        f"""SELECT 1 AS x FROM events e JOIN identities i ON i.identity = e.identity
            WHERE e.type = '{cx_data.ANSWER_EVENT}'
              AND e.identity_key IN (SELECT hash(identity) FROM identities
                                     WHERE contact_id IN (SELECT contact_id FROM contacts WHERE {column} = ?))
            LIMIT 1""",
        [subject_id],
    )
    return bool(rows)


def _cell(level: str, role: str, group: Mapping[str, Any] | None) -> dict[str, Any]:
    """One grid cell (a row of the network table) from a network group."""
    g = dict(group or {})
    contacts = int(g.get("contacts", 0))
    signal = "nobody" if contacts == 0 else str(g.get("signal", "none"))
    heard = [t for t in (g.get("last_touch"), g.get("last_answer")) if t]
    return {"org_level": level, "role": role, "role_label": "all roles" if role == ALL_ROLES else role.replace("_", " "),
            "contacts": contacts, "heard_from": int(g.get("heard_from", 0)), "touches": int(g.get("touches", 0)),
            "answers": int(g.get("answers", 0)), "last_heard": max(heard) if heard else None, "signal": signal,
            "signal_text": SIGNAL_TEXT.get(signal, signal)}


def network_grid(view: HealthView, account_id: str, network: Mapping[str, Any]) -> dict[str, Any]:
    """The account's touchpoint network as a level × role grid (and an all-roles column from the card itself)."""
    from polku.cx.network import KEY_ROLES, LEVELS, touchpoint_network

    h = view.config.health
    people = view.inputs.people[view.inputs.people["account_id"] == account_id]
    ids = set(people["contact_id"])
    activity = view.inputs.activity[view.inputs.activity["contact_id"].isin(ids)]
    answers = view.inputs.answers[view.inputs.answers["contact_id"].isin(ids)]
    roles = sorted(set(network.get("roles", {})) | set(KEY_ROLES), key=lambda r: (ROLE_ORDER.get(r, 99), r))
    # one call for every role: each role's people count as an account of their own ("role" as the key)
    by_role = people.assign(account_id=people["role"].fillna("unknown"))
    found = touchpoint_network(by_role, activity, answers, as_of=view.as_of, recent_days=h.window_days,
                               lookback_days=h.lookback_days)
    cells: dict[str, dict[str, dict[str, Any]]] = {level: {} for level in LEVELS}
    for role in roles:
        levels = found.get(role, {}).get("levels", {})
        for level in LEVELS:
            cells[level][role] = _cell(level, role, levels.get(level))
    for level in LEVELS:
        cells[level][ALL_ROLES] = _cell(level, ALL_ROLES, network.get("levels", {}).get(level))
    return {"levels": list(LEVELS), "roles": [*roles, ALL_ROLES], "cells": cells,
            "unknown_level": int(network.get("level_unknown", 0)), "recent_days": h.window_days,
            "lookback_days": h.lookback_days}


def account_health_tables(ws: Workspace, account_id: str) -> list[Table]:
    """The health panel's tables for one account, or none when the account has no CX data."""
    from polku.cx.measure_ops import account_card
    from polku.cx.risk import has_customer_signal

    view = cx_data.health_view(ws)
    health = view.now.get(account_id)
    if not ((health is not None and has_customer_signal(health)) or has_answers_of(ws, "account", account_id)):
        return []
    card = account_card(view, account_id)  # GET /v1/cx/accounts/{key}/health
    grid = network_grid(view, account_id, card["network"])
    return [health_facts(card, view.config.health.at_risk_below), components_table(card), reasons_table(card),
            network_table(grid)]


def contact_answers_tables(ws: Workspace, contact_id: str) -> list[Table]:
    """The contact's survey answers, newest first, or none when they never answered.

    ``GET /v1/cx/contacts/{key}/answers`` reads the contact's rows of ``answers_of``; the page takes
    them from the shared answers instead of a query of its own, and shapes them with the same ``records``.
    """
    from polku.cx.measure_ops import records

    if not has_answers_of(ws, "contact", contact_id):
        return []
    rows = cx_data.answers(ws)
    mine = rows[rows["contact_id"] == contact_id].sort_values("ts", ascending=False)
    return [answers_table({"contact_id": contact_id, "answers": records(mine)})]


def has_cx(ws: Workspace) -> bool:
    """Whether the workspace has CX data to judge health by: survey answers, or a cx.yaml set up for it."""
    return cx_data.has_answers(ws) or cx_data.has_config(ws)


def register(registry: Registry) -> None:
    """Add the CX health panel (accounts, under the profile) and the answers panel (contacts), once."""
    panels = (
        Panel("cx_health", "CX health", tables=lambda ws, s, i: account_health_tables(ws, i), subjects=("account",),
              available=has_cx, place="top", template="cx_health_panel.html"),
        Panel("cx_answers", "Survey answers", tables=lambda ws, s, i: contact_answers_tables(ws, i),
              subjects=("contact",), available=cx_data.has_answers),
    )
    for panel in panels:
        if not any(p.slug == panel.slug for p in registry.panels):
            registry.add_panel(panel)
